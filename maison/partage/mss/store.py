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
    sa.Column("submissions_port", sa.Integer),  # its users' SMTP over implicit TLS (RFC 8314, port 465 role)
    sa.Column("imaps_port", sa.Integer),  # its IMAP over implicit TLS (RFC 8314, port 993 role)
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

INBOX = "INBOX"  # where mail is delivered; a mailbox's other folders are the person's (IMAP CREATE, APPEND, COPY)

mss_message = sa.Table(
    "mss_message",
    metadata,
    sa.Column("address", sa.String(256), primary_key=True),
    sa.Column("folder", sa.String(200), primary_key=True, server_default=INBOX),
    sa.Column("uid", sa.Integer, primary_key=True),  # IMAP UID, strictly increasing per folder
    sa.Column("message_id", sa.String(256), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),  # the blob
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("sender", sa.String(256), nullable=False),  # envelope MAIL FROM
    sa.Column("flags", sa.String(200), nullable=False, server_default=""),  # space-separated IMAP flags
    sa.Column("received_at", sa.String(32), nullable=False),
    sa.Column("expunged", sa.Boolean, nullable=False, server_default=sa.false()),
    # a message is delivered once (to the INBOX); copies in the owner's folders keep its Message-ID
    sa.Index(
        "uq_mss_message_id",
        "address",
        "message_id",
        unique=True,
        sqlite_where=sa.text("folder = 'INBOX'"),
        postgresql_where=sa.text("folder = 'INBOX'"),
    ),
    # the messages not expunged, by UID: counts, `*` and sequence numbers read this index alone
    sa.Index("ix_mss_message_live", "address", "folder", "expunged", "uid"),
)

mss_folder = sa.Table(
    "mss_folder",
    metadata,
    sa.Column("address", sa.String(256), primary_key=True),
    sa.Column("name", sa.String(200), primary_key=True),  # Unicode; modified UTF-7 on the wire (RFC 3501 §5.1.3)
    sa.Column("uidvalidity", sa.Integer, nullable=False),
    sa.Column("uidnext", sa.Integer, nullable=False),
    sa.Column("created_at", sa.String(32), nullable=False),
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
    """One message of a mailbox's INBOX, unless expunged."""
    m = mss_message.c
    return conn.execute(
        sa.select(mss_message).where(m.address == address, m.folder == INBOX, m.uid == uid, m.expunged.is_(False))
    ).first()


def messages(conn: sa.Connection, address: str) -> list[sa.Row]:
    """A mailbox's messages in its INBOX not expunged, newest (highest UID) first."""
    m = mss_message.c
    return list(
        conn.execute(
            sa.select(mss_message)
            .where(m.address == address, m.folder == INBOX, m.expunged.is_(False))
            .order_by(m.uid.desc())
        )
    )


def set_flags(conn: sa.Connection, address: str, uid: int, flags: str, folder: str = INBOX) -> None:
    m = mss_message.c
    conn.execute(mss_message.update().where(m.address == address, m.folder == folder, m.uid == uid).values(flags=flags))


def set_flags_of(conn: sa.Connection, address: str, flags_by_uid: dict[int, str], folder: str = INBOX) -> None:
    """Several messages' flags in one statement executed for each (an IMAP STORE on a set)."""
    if flags_by_uid:
        m = mss_message.c
        conn.execute(
            mss_message.update()
            .where(m.address == address, m.folder == folder, m.uid == sa.bindparam("b_uid"))
            .values(flags=sa.bindparam("b_flags")),
            [{"b_uid": uid, "b_flags": flags} for uid, flags in flags_by_uid.items()],
        )


def mailbox_extent(conn: sa.Connection, address: str, folder: str = INBOX) -> tuple[int, int]:
    """(how many messages the mailbox holds, not expunged; their highest UID, 0 if none): what `*`
    stands for in an IMAP sequence set or UID set (RFC 3501 §6.4.8, §9 `seq-number`). Two
    statements, each answered from `ix_mss_message_live` alone (SQLite's plan for both aggregates in
    one statement reads every row)."""
    m = mss_message.c
    live = (m.address == address, m.folder == folder, m.expunged.is_(False))
    count = conn.execute(sa.select(sa.func.count()).select_from(mss_message).where(*live)).scalar_one()
    top = conn.execute(sa.select(sa.func.max(m.uid)).where(*live)).scalar_one()
    return int(count), int(top or 0)


def messages_in(
    conn: sa.Connection, address: str, ranges: list[tuple[int, int]], *, by_uid: bool, folder: str = INBOX
) -> list[tuple[int, sa.Row]]:
    """The mailbox's messages whose UID (`by_uid`) or sequence number lies in one of the closed
    `ranges`, in UID order, each with its sequence number: its rank among the messages not expunged
    (RFC 3501 §2.3.1.2). Per range, the rows it names, and the rank of its first from a count of the
    UIDs below it in `ix_mss_message_live` — so a FETCH or STORE reads only the rows its set names
    (a PFI's mailbox keeps every message it integrated; ranking every row took 9 ms a command at
    2 000 messages)."""
    m = mss_message.c
    live = (m.address == address, m.folder == folder, m.expunged.is_(False))
    found: dict[int, tuple[int, sa.Row]] = {}
    for low, high in ranges:
        low, high = max(low, 1), max(high, 1)
        if by_uid:
            rows = conn.execute(sa.select(mss_message).where(*live, m.uid.between(low, high)).order_by(m.uid)).all()
            if not rows:
                continue
            below = conn.execute(
                sa.select(sa.func.count()).select_from(mss_message).where(*live, m.uid < rows[0].uid)
            ).scalar_one()
            first_seq = int(below) + 1
        else:
            rows = conn.execute(
                sa.select(mss_message).where(*live).order_by(m.uid).offset(low - 1).limit(high - low + 1)
            ).all()
            first_seq = low
        for seq, row in enumerate(rows, first_seq):
            found[row.uid] = (seq, row)
    return [found[uid] for uid in sorted(found)]


def flags_by_uid(conn: sa.Connection, address: str, folder: str = INBOX) -> list[sa.Row]:
    """(uid, flags, sha256) of a folder's messages not expunged, in UID order: what a SEARCH reads."""
    m = mss_message.c
    return list(
        conn.execute(
            sa.select(m.uid, m.flags, m.sha256)
            .where(m.address == address, m.folder == folder, m.expunged.is_(False))
            .order_by(m.uid)
        )
    )


# Operators (the trust space)


def operator(conn: sa.Connection, id_: str) -> sa.Row | None:
    return conn.execute(sa.select(mss_operator).where(mss_operator.c.id == id_)).first()


def operator_exists(conn: sa.Connection, id_: str) -> bool:
    return conn.execute(sa.select(mss_operator.c.id).where(mss_operator.c.id == id_)).first() is not None


def domains_of_others(conn: sa.Connection, id_: str) -> set[str]:
    """The domains served by every operator but `id_`."""
    Op = mss_operator
    return {d for r in conn.execute(sa.select(Op.c.domains).where(Op.c.id != id_)).scalars() for d in r.split(",")}


def insert_operator(conn: sa.Connection, id_: str, created_at: str, **values) -> None:
    conn.execute(mss_operator.insert().values(id=id_, created_at=created_at, **values))


def update_operator(conn: sa.Connection, id_: str, **values) -> None:
    conn.execute(mss_operator.update().where(mss_operator.c.id == id_).values(**values))


def active_operators(conn: sa.Connection) -> list[sa.Row]:
    Op = mss_operator
    return list(conn.execute(sa.select(Op).where(Op.c.active.is_(True)).order_by(Op.c.id)))


def active_operator_rights(conn: sa.Connection, id_: str) -> sa.Row | None:
    """An active operator's domains and whether it is local."""
    Op = mss_operator
    return conn.execute(sa.select(Op.c.domains, Op.c.local).where(Op.c.id == id_, Op.c.active.is_(True))).first()


# Mailboxes and their accesses


def mailbox(conn: sa.Connection, address: str) -> sa.Row | None:
    return conn.execute(sa.select(mss_mailbox).where(mss_mailbox.c.address == address)).first()


def mailbox_one(conn: sa.Connection, address: str) -> sa.Row:
    """A mailbox's row, which must exist (sa.exc.NoResultFound otherwise)."""
    return conn.execute(sa.select(mss_mailbox).where(mss_mailbox.c.address == address)).one()


def mailbox_exists(conn: sa.Connection, address: str) -> bool:
    M = mss_mailbox
    return conn.execute(sa.select(M.c.address).where(M.c.address == address)).first() is not None


def mailbox_hosting(conn: sa.Connection, address: str) -> sa.Row | None:
    """Who hosts a mailbox and whose it is: operator, kind, owner, active."""
    M = mss_mailbox
    return conn.execute(sa.select(M.c.operator, M.c.kind, M.c.owner, M.c.active).where(M.c.address == address)).first()


def mailboxes_owned_by(conn: sa.Connection, owner: str) -> list[sa.Row]:
    """A structure's (or a professional's) mailboxes, by address (ix_mss_mailbox_owner)."""
    M = mss_mailbox
    return list(conn.execute(sa.select(M).where(M.c.owner == owner).order_by(M.c.address)))


def insert_mailbox(conn: sa.Connection, **values) -> None:
    conn.execute(mss_mailbox.insert().values(**values))


def mailboxes_to_publish(conn: sa.Connection, operator: str, citizen_kind: str) -> list[sa.Row]:
    """An operator's active mailboxes still to be published in the Annuaire, oldest first."""
    M = mss_mailbox
    return list(
        conn.execute(
            sa.select(M)
            .where(
                M.c.operator == operator, M.c.annuaire == "a-publier", M.c.kind != citizen_kind, M.c.active.is_(True)
            )
            .order_by(M.c.created_at)
        ).all()
    )


def set_publication(conn: sa.Connection, address: str, annuaire: str, error: str | None) -> None:
    M = mss_mailbox
    conn.execute(M.update().where(M.c.address == address).values(annuaire=annuaire, annuaire_error=error))


def set_password_hash(conn: sa.Connection, address: str, password_hash: str) -> None:
    M = mss_mailbox
    conn.execute(M.update().where(M.c.address == address).values(password_hash=password_hash))


def insert_access(conn: sa.Connection, **values) -> None:
    conn.execute(mss_mailbox_access.insert().values(**values))


def delete_access(conn: sa.Connection, address: str, person: str, *, keep_titulaire: bool = False) -> None:
    """Remove a person's access to a mailbox (a titulaire's kept if `keep_titulaire`)."""
    A = mss_mailbox_access
    where = [A.c.address == address, A.c.person == person]
    if keep_titulaire:
        where.append(A.c.role != "titulaire")
    conn.execute(A.delete().where(*where))


def role(conn: sa.Connection, address: str, person: str) -> str | None:
    A = mss_mailbox_access
    return conn.execute(sa.select(A.c.role).where(A.c.address == address, A.c.person == person)).scalar()


def accessible_mailboxes(conn: sa.Connection, person: str) -> list[sa.Row]:
    """Every active mailbox a person may open, with a `role` column."""
    M, A = mss_mailbox, mss_mailbox_access
    return list(
        conn.execute(
            sa.select(M, A.c.role)
            .join(A, A.c.address == M.c.address)
            .where(A.c.person == person, M.c.active.is_(True))
            .order_by(M.c.address)
        ).all()
    )


# Delivery (run inside the group commit's transaction) and the relay's outbox

DELIVER = mss_message.insert()  # a delivered message's row, inserted with its batch
QUEUE = mss_outbox.insert()  # a message waiting for the relay, inserted with its batch


def lock_mailbox(conn: sa.Connection, address: str) -> sa.Row | None:
    """A mailbox's `uidnext` and `active`, its row locked until the transaction ends."""
    M = mss_mailbox
    return conn.execute(sa.select(M.c.uidnext, M.c.active).where(M.c.address == address).with_for_update()).first()


def delivered(conn: sa.Connection, address: str, message_id: str) -> sa.Row | None:
    """The `uid` and `sha256` of the message of that Message-ID already delivered (INBOX), if any."""
    m = mss_message.c
    return conn.execute(
        sa.select(m.uid, m.sha256).where(m.address == address, m.folder == INBOX, m.message_id == message_id)
    ).first()


def set_uidnext(conn: sa.Connection, address: str, uidnext: int) -> None:
    M = mss_mailbox
    conn.execute(M.update().where(M.c.address == address).values(uidnext=uidnext))


def due(conn: sa.Connection, operator: str, now: str, limit: int) -> list[sa.Row]:
    """An operator's pending outbox entries whose next attempt is due, earliest first."""
    O = mss_outbox.c  # noqa: E741
    return list(
        conn.execute(
            sa.select(mss_outbox)
            .where(O.operator == operator, O.status == "pending", O.next_attempt_at <= now)
            .order_by(O.next_attempt_at)
            .limit(limit)
        ).all()
    )


def update_outbox(conn: sa.Connection, id_: str, **values) -> None:
    conn.execute(mss_outbox.update().where(mss_outbox.c.id == id_).values(**values))


def outbox_sent(conn: sa.Connection, attempts_by_id: dict[str, int]) -> None:
    """Relayed messages marked sent, with their attempt counts: one statement executed for each."""
    if attempts_by_id:
        conn.execute(
            mss_outbox.update()
            .where(mss_outbox.c.id == sa.bindparam("b_id"))
            .values(status="sent", attempts=sa.bindparam("b_attempts"), last_error=None),
            [{"b_id": id_, "b_attempts": attempts} for id_, attempts in attempts_by_id.items()],
        )


# IMAP


def messages_by_uid(conn: sa.Connection, address: str, folder: str = INBOX) -> list[sa.Row]:
    """A folder's messages not expunged, in UID order (the IMAP sequence)."""
    m = mss_message.c
    return list(
        conn.execute(
            sa.select(mss_message)
            .where(m.address == address, m.folder == folder, m.expunged.is_(False))
            .order_by(m.uid)
        ).all()
    )


def expunge(conn: sa.Connection, address: str, uids: list[int], folder: str = INBOX) -> None:
    m = mss_message.c
    conn.execute(
        mss_message.update().where(m.address == address, m.folder == folder, m.uid.in_(uids)).values(expunged=True)
    )


def count_flagged(conn: sa.Connection, address: str, flag: str, *, present: bool, folder: str = INBOX) -> int:
    """How many of a folder's messages carry `flag` (or lack it): SELECT's RECENT, STATUS's UNSEEN."""
    m = mss_message.c
    escaped = flag.replace("!", "!!").replace("%", "!%").replace("_", "!_")
    has = (sa.literal(" ") + m.flags + sa.literal(" ")).like(f"% {escaped} %", escape="!")
    return int(
        conn.execute(
            sa.select(sa.func.count())
            .select_from(mss_message)
            .where(m.address == address, m.folder == folder, m.expunged.is_(False), has if present else ~has)
        ).scalar_one()
    )


# Folders (IMAP CREATE, DELETE, RENAME, APPEND, COPY, MOVE; RFC 3501 §6.3, RFC 6851)


def folders(conn: sa.Connection, address: str) -> list[sa.Row]:
    """A mailbox's folders other than INBOX, by name."""
    F = mss_folder.c
    return list(conn.execute(sa.select(mss_folder).where(F.address == address).order_by(F.name)))


def folder(conn: sa.Connection, address: str, name: str, *, lock: bool = False) -> sa.Row | None:
    """One folder (its UIDVALIDITY and UIDNEXT), its row locked until the transaction ends with `lock`."""
    F = mss_folder.c
    query = sa.select(mss_folder).where(F.address == address, F.name == name)
    return conn.execute(query.with_for_update() if lock else query).first()


def create_folder(conn: sa.Connection, address: str, name: str, uidvalidity: int, now: str) -> None:
    conn.execute(
        mss_folder.insert().values(address=address, name=name, uidvalidity=uidvalidity, uidnext=1, created_at=now)
    )


def set_folder_uidnext(conn: sa.Connection, address: str, name: str, uidnext: int) -> None:
    F = mss_folder.c
    conn.execute(mss_folder.update().where(F.address == address, F.name == name).values(uidnext=uidnext))


def delete_folder(conn: sa.Connection, address: str, name: str) -> int:
    """The folder and its messages gone (their blobs stay while another row names them); how many."""
    F, m = mss_folder.c, mss_message.c
    gone = conn.execute(mss_message.delete().where(m.address == address, m.folder == name)).rowcount
    conn.execute(mss_folder.delete().where(F.address == address, F.name == name))
    return int(gone or 0)


def rename_folder(conn: sa.Connection, address: str, old: str, new: str) -> None:
    """The folder and its messages under the new name (UIDs and UIDVALIDITY kept, RFC 3501 §6.3.5)."""
    F, m = mss_folder.c, mss_message.c
    conn.execute(mss_folder.update().where(F.address == address, F.name == old).values(name=new))
    conn.execute(mss_message.update().where(m.address == address, m.folder == old).values(folder=new))


def insert_messages(conn: sa.Connection, rows: list[dict]) -> None:
    """Messages APPENDed or copied into a folder (each row names its folder and UID)."""
    if rows:
        conn.execute(mss_message.insert(), rows)
