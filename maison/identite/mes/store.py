"""Persistence of the patients' logins: accounts, one-time codes, the outbox, legal representation."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection as Connection  # re-exported: the type the callers' transactions have

from maison.core.storage import metadata

# What the login module holds: a database row.
Row = sa.Row

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


# --- accounts ------------------------------------------------------------------------------------


def account_taken(conn: Connection, login: str, ins: str) -> bool:
    """Whether the identifier or the INS already has an account."""
    a = mes_account
    return conn.execute(sa.select(a.c.login).where(sa.or_(a.c.login == login, a.c.ins == ins))).first() is not None


def add_account(
    conn: Connection,
    *,
    login: str,
    ins: str,
    birth_date: str,
    password_hash: str,
    email: str | None,
    phone: str | None,
    created_at: str,
) -> None:
    conn.execute(
        mes_account.insert().values(
            login=login,
            ins=ins,
            birth_date=birth_date,
            password_hash=password_hash,
            email=email,
            phone=phone,
            created_at=created_at,
        )
    )


def account(conn: Connection, login: str) -> Row | None:
    return conn.execute(sa.select(mes_account).where(mes_account.c.login == login)).first()


def set_contacts(conn: Connection, login: str, *, email: str | None, phone: str | None) -> bool:
    """Replace the account's e-mail and mobile; False when no account has this identifier."""
    done = conn.execute(mes_account.update().where(mes_account.c.login == login).values(email=email, phone=phone))
    return done.rowcount == 1


def contact_of(conn: Connection, ins: str) -> Row | None:
    """The e-mail and phone of the account of this INS, or None."""
    return conn.execute(sa.select(mes_account.c.email, mes_account.c.phone).where(mes_account.c.ins == ins)).first()


def birth_date_of(conn: Connection, ins: str) -> str | None:
    """The birth date of the account of this INS, or None without an account."""
    row = conn.execute(sa.select(mes_account.c.birth_date).where(mes_account.c.ins == ins)).first()
    return row.birth_date if row is not None else None


def set_password_hash(conn: Connection, login: str, password_hash: str) -> None:
    conn.execute(mes_account.update().where(mes_account.c.login == login).values(password_hash=password_hash))


# --- one-time codes ------------------------------------------------------------------------------


def add_otp(conn: Connection, *, transaction: str, login: str, code_hash: str, expires_at: int) -> None:
    conn.execute(
        mes_otp.insert().values(transaction=transaction, login=login, code_hash=code_hash, expires_at=expires_at)
    )


def otp(conn: Connection, transaction: str) -> Row | None:
    """The code of a transaction (by the transaction's sha256), or None."""
    return conn.execute(sa.select(mes_otp).where(mes_otp.c.transaction == transaction)).first()


def record_otp_try(conn: Connection, transaction: str, *, attempts: int, used: bool) -> None:
    conn.execute(mes_otp.update().where(mes_otp.c.transaction == transaction).values(attempts=attempts, used=used))


# --- outbox --------------------------------------------------------------------------------------


def send(conn: Connection, *, channel: str, recipient: str, subject: str, body: str, created_at: str) -> None:
    """Write a message to the outbox (what would go by e-mail or SMS)."""
    conn.execute(
        mes_outbox.insert().values(
            channel=channel, recipient=recipient, subject=subject, body=body, created_at=created_at
        )
    )


def sent(conn: Connection, recipient: str | None = None, *, limit: int = 500) -> list[dict]:
    """The outbox, newest last: every message, or those to one address or number (the sandbox
    owner's `boîte d'envoi`, issue 21 §1.3); the last `limit` only."""
    query = sa.select(mes_outbox).order_by(mes_outbox.c.id.desc()).limit(limit)
    if recipient is not None:
        query = query.where(mes_outbox.c.recipient == recipient)
    return [dict(r._mapping) for r in reversed(conn.execute(query).all())]


def sent_to(conn: Connection, recipient: str) -> list[dict]:
    """What was sent to an address or number, oldest first."""
    return [
        dict(r._mapping)
        for r in conn.execute(
            sa.select(mes_outbox).where(mes_outbox.c.recipient == recipient).order_by(mes_outbox.c.id)
        )
    ]


# --- legal representation ------------------------------------------------------------------------


def add_representation(conn: Connection, *, representative: str, represented: str, quality: str, since: str) -> None:
    conn.execute(
        mes_representation.insert().values(
            representative=representative, represented=represented, quality=quality, since=since
        )
    )


def represented_by(conn: Connection, representative: str) -> list[str]:
    """The INS of the people this INS is declared legal representative of."""
    r = mes_representation
    return [
        row.represented for row in conn.execute(sa.select(r.c.represented).where(r.c.representative == representative))
    ]
