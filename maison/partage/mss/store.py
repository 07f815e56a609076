"""MSSanté tables: the trust space's operators, mailboxes and who may use them, messages, relay queue
(the hospital PFI's tables are its own: maison/etablissement/pfi/store.py).

A message's bytes are a blob (maison.core.blobs, named by SHA-256), written and fsynced before the
row that names it commits: an accepted message (SMTP 250) is never half-stored.
"""

from __future__ import annotations

import sqlalchemy as sa

from maison.core.storage import metadata

mss_operator = sa.Table(
    "mss_operator",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),  # e.g. "chu-test"
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("domains", sa.Text, nullable=False),  # comma-separated mail domains it serves
    sa.Column("certificate_sha256", sa.String(64), nullable=False),  # its TLS certificate (server and relay client)
    sa.Column("relay_host", sa.String(200), nullable=False),  # where other operators deliver to it
    sa.Column("relay_port", sa.Integer, nullable=False),
    sa.Column("local", sa.Boolean, nullable=False),  # run by this house
    sa.Column("submission_port", sa.Integer),  # a local operator's users' SMTP port
    sa.Column("imap_port", sa.Integer),  # a local operator's IMAP port
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", sa.String(32), nullable=False),
)

mss_mailbox = sa.Table(
    "mss_mailbox",
    metadata,
    sa.Column("address", sa.String(256), primary_key=True),  # lower case
    sa.Column("operator", sa.String(40), nullable=False),
    sa.Column("kind", sa.String(3), nullable=False),  # PER / ORG / APP / CAB (002 L469-489)
    sa.Column("owner", sa.String(64), nullable=False),  # IdNatPS (PER) or the structure (ORG, APP, CAB), or INS
    sa.Column("display_name", sa.String(200), nullable=False),
    sa.Column("password_hash", sa.String(200)),  # applicative mailboxes log in by password
    sa.Column("liste_rouge", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("uidvalidity", sa.Integer, nullable=False),
    sa.Column("uidnext", sa.Integer, nullable=False),
    sa.Column("created_at", sa.String(32), nullable=False),
    # the operator's publication in the Annuaire: a-publier → publiee; citizen mailboxes non-publiee
    sa.Column("annuaire", sa.String(12), nullable=False, server_default="a-publier"),
    sa.Column("annuaire_error", sa.String(500)),  # the Annuaire's last refusal, retried at the next pass
    sa.Index("ix_mss_mailbox_owner", "owner"),
)

mss_mailbox_access = sa.Table(
    "mss_mailbox_access",
    metadata,
    sa.Column("address", sa.String(256), primary_key=True),
    sa.Column("person", sa.String(20), primary_key=True),  # IdNatPS
    sa.Column("role", sa.String(16), nullable=False),  # titulaire / co-titulaire / delegue
    sa.Column("granted_by", sa.String(20), nullable=False),
    sa.Column("granted_at", sa.String(32), nullable=False),
    sa.Index("ix_mss_mailbox_access_person", "person"),
)

mss_message = sa.Table(
    "mss_message",
    metadata,
    sa.Column("address", sa.String(256), primary_key=True),
    sa.Column("uid", sa.Integer, primary_key=True),  # IMAP UID, strictly increasing per mailbox
    sa.Column("message_id", sa.String(256), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),  # the blob
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("sender", sa.String(256), nullable=False),  # envelope MAIL FROM
    sa.Column("flags", sa.String(200), nullable=False, server_default=""),  # space-separated IMAP flags
    sa.Column("received_at", sa.String(32), nullable=False),
    sa.Column("expunged", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.UniqueConstraint("address", "message_id", name="uq_mss_message_id"),  # a message is delivered once
)

mss_outbox = sa.Table(
    "mss_outbox",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("operator", sa.String(40), nullable=False),  # the local operator relaying it
    sa.Column("sender", sa.String(256), nullable=False),
    sa.Column("recipients", sa.Text, nullable=False),  # JSON list, all of one destination operator
    sa.Column("destination", sa.String(40), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", sa.String(32), nullable=False),
    sa.Column("status", sa.String(12), nullable=False),  # pending / sent / failed
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", sa.String(32), nullable=False),
    sa.Index("ix_mss_outbox_due", "status", "next_attempt_at"),
)


def message(conn: sa.Connection, address: str, uid: int) -> sa.Row | None:
    """One message of a mailbox, unless expunged."""
    m = mss_message.c
    return conn.execute(sa.select(mss_message).where(m.address == address, m.uid == uid, m.expunged.is_(False))).first()


def messages(conn: sa.Connection, address: str) -> list[sa.Row]:
    """A mailbox's messages not expunged, newest (highest UID) first."""
    m = mss_message.c
    return list(
        conn.execute(sa.select(mss_message).where(m.address == address, m.expunged.is_(False)).order_by(m.uid.desc()))
    )


def set_flags(conn: sa.Connection, address: str, uid: int, flags: str) -> None:
    m = mss_message.c
    conn.execute(mss_message.update().where(m.address == address, m.uid == uid).values(flags=flags))
