"""Persistence of the patients' logins: accounts, one-time codes, the outbox, legal representation."""

from __future__ import annotations

import sqlalchemy as sa

from maison.core.storage import metadata

mes_account = sa.Table(
    "mes_account",
    metadata,
    sa.Column("login", sa.String(100), primary_key=True),
    sa.Column("ins", sa.String(15), nullable=False, unique=True),  # matricule INS with its key
    sa.Column("birth_date", sa.String(10), nullable=False),
    sa.Column("password_hash", sa.String(200), nullable=False),
    sa.Column("email", sa.String(200)),
    sa.Column("phone", sa.String(20)),
    sa.Column("created_at", sa.String(32), nullable=False),
)

mes_otp = sa.Table(
    "mes_otp",
    metadata,
    sa.Column("transaction", sa.String(64), primary_key=True),  # sha256 of the transaction id
    sa.Column("login", sa.String(100), nullable=False),
    sa.Column("code_hash", sa.String(64), nullable=False),
    sa.Column("expires_at", sa.Integer, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("used", sa.Boolean, nullable=False, server_default=sa.false()),
)

# What would be sent by e-mail or SMS: tests and the demo read it here.
mes_outbox = sa.Table(
    "mes_outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("channel", sa.String(5), nullable=False),  # email / sms
    sa.Column("recipient", sa.String(200), nullable=False),
    sa.Column("subject", sa.String(200), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", sa.String(32), nullable=False),
)

# A legal representative (parent, guardian) may act for a minor.
mes_representation = sa.Table(
    "mes_representation",
    metadata,
    sa.Column("representative", sa.String(15), primary_key=True),  # INS
    sa.Column("represented", sa.String(15), primary_key=True),  # INS of the minor
    sa.Column("quality", sa.String(40), nullable=False),  # parent / tuteur
    sa.Column("since", sa.String(10), nullable=False),
)
