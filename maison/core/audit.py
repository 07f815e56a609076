"""The audit trail: every access to health data, append-only, each record chained to the previous.

Who (person, structure, software), what action, which patient, why (purpose), outcome, when.
The trail is both the security record and the data source of the indicators (INSi monthly
statistics by département, vendor and establishment — seed 003 L316-322 — are counted from it).

Each record stores `hash = sha256(prev_hash ‖ canonical record)`; `verify_chain` recomputes the
chain, so a record changed, removed or inserted afterwards is detected. A writing action's records
are chained in its own transaction (`Trail.write(conn, …)`), so an action and its trace commit or
roll back together. The chain head is one row, locked for the length of the writing transaction:
this serialises audit writes, which is the price of a single verifiable chain.

Everything outside this module writes through one object, `Trail` (end of this module): `write` and
`write_security` in the caller's transaction, `read` group-committed through the journal, `refused`,
`security`, and `entry` / `security_entry` for group-commit bodies. `append` below is their
machinery (and the journal's and the group commit's, which chain whole batches);
`tests/core/test_audit_coverage.py` checks that every service method touching patient data leaves
its record.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from maison.core.actor import Actor
from maison.core.storage import metadata

if TYPE_CHECKING:
    from concurrent.futures import Future

    from maison.core.audit_journal import Journal
    from maison.core.storage import Database

GENESIS = "0" * 64
# the connection's `info` key under which a group commit (`core.group_commit`) collects the records its
# bodies write, to chain them once at the batch's commit
BATCH_KEY = "maison.audit.batch"

audit_event = sa.Table(
    "audit_event",
    metadata,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=False),
    sa.Column("recorded_at", sa.String(32), nullable=False),
    sa.Column("actor_person", sa.String(128), nullable=False),
    sa.Column("actor_structure", sa.String(128), nullable=False),
    sa.Column("actor_software", sa.String(128), nullable=False),
    sa.Column("action", sa.String(96), nullable=False),
    sa.Column("patient", sa.String(64)),
    sa.Column("purpose", sa.String(64), nullable=False),
    sa.Column("outcome", sa.String(32), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Index("ix_audit_event_action_time", "action", "recorded_at"),
    sa.Index("ix_audit_event_patient", "patient"),
)

audit_head = sa.Table(
    "audit_head",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)


SYSTEM = Actor(person="system:maison", structure="maison", software="maison")


def _canonical(row: dict[str, Any]) -> bytes:
    keys = (
        "seq",
        "recorded_at",
        "actor_person",
        "actor_structure",
        "actor_software",
        "action",
        "patient",
        "purpose",
        "outcome",
        "detail",
    )
    return orjson.dumps({k: row[k] for k in keys}, option=orjson.OPT_SORT_KEYS)


def _chain(prev_hash: str, row: dict[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + _canonical(row)).hexdigest()


def _entry(
    actor: Actor,
    action: str,
    *,
    outcome: str = "success",
    patient: str | None = None,
    purpose: str = "TREAT",
    detail: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One record before it is chained (`Trail.entry`)."""
    info = dict(actor.extra)
    if actor.role or actor.profession:  # a professional without a role is recorded by his profession
        info["role"] = actor.role or actor.profession
    if actor.department:
        info["department"] = actor.department
    return {
        "recorded_at": datetime.now(UTC).isoformat(timespec="microseconds"),
        "actor_person": actor.person,
        "actor_structure": actor.structure,
        "actor_software": actor.software,
        "action": action,
        "patient": patient,
        "purpose": purpose,
        "outcome": outcome,
        "detail": orjson.dumps({"actor": info, **(detail or {})}, option=orjson.OPT_SORT_KEYS).decode(),
    }


_HEAD = sa.select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1).with_for_update()
_INSERT = audit_event.insert()
_MOVE_HEAD = audit_head.update().where(audit_head.c.id == 1).values(seq=sa.bindparam("s"), hash=sa.bindparam("h"))


def append(conn: Connection, entries: list[dict[str, Any]]) -> int:
    """Chain and insert `entries` in the caller's write transaction; returns the last sequence number."""
    head = conn.execute(_HEAD).first()
    if head is None:
        conn.execute(audit_head.insert().values(id=1, seq=0, hash=GENESIS))
        seq, prev_hash = 0, GENESIS
    else:
        seq, prev_hash = head
    for row in entries:
        seq += 1
        row["seq"], row["prev_hash"] = seq, prev_hash
        row["hash"] = prev_hash = _chain(prev_hash, row)
    conn.execute(_INSERT, entries)
    conn.execute(_MOVE_HEAD, {"s": seq, "h": prev_hash})
    return seq


def events(
    conn: Connection,
    *,
    patient: str | None = None,
    action_prefix: str | None = None,
    since: str | None = None,
    until: str | None = None,
    structure: str | None = None,
    limit: int | None = None,
    offset: int = 0,
    newest_first: bool = False,
    mentioning: Sequence[str] = (),
) -> Iterator[dict[str, Any]]:
    """The records meeting these filters, in `seq` order (`newest_first`: reversed); `limit` and
    `offset` cut a page in SQL (a patient's history page reads only its own rows). `mentioning`: only
    the records whose detail text contains one of these strings — a cheap prefilter in SQL (a LIKE,
    case-insensitive on SQLite), which the caller confirms on the parsed detail."""
    query = sa.select(audit_event).order_by(audit_event.c.seq.desc() if newest_first else audit_event.c.seq)
    if patient is not None:
        query = query.where(audit_event.c.patient == patient)
    if structure is not None:
        query = query.where(audit_event.c.actor_structure == structure)
    if action_prefix:
        query = query.where(audit_event.c.action.startswith(action_prefix))
    if since:
        query = query.where(audit_event.c.recorded_at >= since)
    if until:
        query = query.where(audit_event.c.recorded_at < until)
    if mentioning:
        query = query.where(sa.or_(*(audit_event.c.detail.contains(m, autoescape=True) for m in mentioning)))
    if limit:
        query = query.limit(limit)
    if offset:
        query = query.offset(offset)
    for r in conn.execute(query).mappings():
        yield dict(r)


def tally(
    conn: Connection,
    *,
    actions: Sequence[str],
    since: str | None = None,
    until: str | None = None,
    distinct: str | None = None,
) -> int:
    """How many successful records of `actions` the trail holds in [since, until); with `distinct`
    (an actor column: actor_person, actor_structure, actor_software), how many different actors.

    The services' activity counters (the ordonnance base's 001 L424-462) are computed from the
    trail, never from a table of their own (DESIGN.md: the trail is both the security record and the
    data source); this is the one place that reads it for them."""
    if distinct not in (None, "actor_person", "actor_structure", "actor_software"):
        raise ValueError(f"distinct={distinct!r}: an actor column")
    counted = sa.func.count() if distinct is None else sa.func.count(sa.distinct(audit_event.c[distinct]))
    query = sa.select(counted).where(audit_event.c.action.in_(list(actions)), audit_event.c.outcome == "success")
    if since:
        query = query.where(audit_event.c.recorded_at >= since)
    if until:
        query = query.where(audit_event.c.recorded_at < until)
    return int(conn.execute(query).scalar_one())


def records_after(conn: Connection, after: int, upto: int, actions: Sequence[str] | None) -> list[dict[str, Any]]:
    """The records of `actions` (None: of every action) with `after < seq <= upto`, in chain order:
    how a report folds the trail incrementally (issue 23: a cursor on `seq`, never a rescan). A window
    of sequence numbers, not of matches, bounds what one call reads, whatever the share of these
    actions in it."""
    columns = [c for c in audit_event.c if c.name not in ("prev_hash", "hash")]  # the chain is verify_chain's
    query = sa.select(*columns).where(audit_event.c.seq > after, audit_event.c.seq <= upto)
    if actions is not None:
        query = query.where(audit_event.c.action.in_(list(actions)))
    query = query.order_by(audit_event.c.seq)
    names = [c.name for c in columns]
    # rows zipped with their names: 1.5x faster than .mappings() (100 000 records, SQLite); fetched at
    # once (.all()), not by a fetchone per row: a quarter less again
    return [dict(zip(names, row, strict=True)) for row in conn.execute(query).all()]


def last_seq(conn: Connection) -> int:
    """The sequence number of the newest record (0 for an empty trail)."""
    return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(audit_event.c.seq), 0))).scalar_one())


def head(conn: Connection) -> tuple[int, str]:
    """(seq, hash) of the chain's head: the position a report computed now is signed at."""
    row = conn.execute(sa.select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)).first()
    return (int(row.seq), str(row.hash)) if row is not None else (0, GENESIS)


def detail_of(row: dict[str, Any]) -> dict[str, Any]:
    """The record's detail (what the action said of itself, plus `actor` extras) as a dict."""
    detail: dict[str, Any] = orjson.loads(row["detail"])
    return detail


def verify_chain(conn: Connection, since: tuple[int, str] | None = None) -> tuple[bool, int | None]:
    """Recompute the chain. Returns (intact, seq of the first broken record or None).

    `since`: the (seq, hash) a signed checkpoint vouches for (`audit_anchor.last_anchor`): the record
    at that seq must still carry that hash, and only the records after it are recomputed — what keeps
    the observatory's check before signing a report fast on a long trail (issue 23 §5)."""
    prev_hash, expected_seq, query = GENESIS, 1, sa.select(audit_event).order_by(audit_event.c.seq)
    if since is not None:
        anchored = conn.execute(sa.select(audit_event.c.hash).where(audit_event.c.seq == since[0])).scalar()
        if anchored != since[1]:
            return False, since[0]
        prev_hash, expected_seq, query = since[1], since[0] + 1, query.where(audit_event.c.seq > since[0])
    last_seq = expected_seq - 1
    names = [c.name for c in audit_event.columns]
    # plain rows zipped with the names: a RowMapping per record cost half of a 10 M records' check
    for values in conn.execute(query.execution_options(yield_per=5000)):
        row = dict(zip(names, values, strict=True))
        if row["seq"] != expected_seq or row["prev_hash"] != prev_hash or _chain(prev_hash, row) != row["hash"]:
            return False, row["seq"]
        prev_hash, expected_seq, last_seq = row["hash"], expected_seq + 1, row["seq"]
    head = conn.execute(sa.select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)).first()
    if head is not None and (head.seq != last_seq or head.hash != prev_hash):
        return False, last_seq + 1
    return True, None


_OUTCOME = {"success": "0", "minor-failure": "4", "failure": "8", "error": "12"}


def as_fhir_audit_event(row: dict[str, Any], *, action_system: str, chain_extension: str) -> dict[str, Any]:
    """One record as a FHIR R4 AuditEvent (the form the patient's access history is exported in). The
    code system of the house's actions and the extension carrying the record's chained hash are
    Maison's own: their URLs come from the deployment's namespace (`maison.formats.namespace`, issue 21
    §3.3; they were `urn:maison:…`, an unregistered URN namespace), which core does not know."""
    detail = orjson.loads(row["detail"])
    verb = row["action"].rsplit(".", 1)[-1]
    crud = (
        "C"
        if verb.startswith(("create", "provide", "admit", "record"))
        else (
            "U"
            if verb.startswith(("update", "qualify", "merge", "split", "validate", "transition"))
            else ("D" if verb.startswith("delete") else "E" if verb.startswith(("rechercher", "search")) else "R")
        )
    )
    event = {
        "resourceType": "AuditEvent",
        "id": str(row["seq"]),
        "type": {"system": action_system, "code": row["action"]},
        "action": crud,
        "recorded": row["recorded_at"],
        "outcome": _OUTCOME.get(row["outcome"], "8"),
        "outcomeDesc": row["outcome"],
        "purposeOfEvent": [
            {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": row["purpose"]}]}
        ],
        "agent": [
            {  # R4 json.html: an identifier without a value is left out, never sent as ""
                **({"who": {"identifier": {"value": row["actor_person"]}}} if row["actor_person"] else {}),
                "requestor": True,
                **({"location": {"identifier": {"value": row["actor_structure"]}}} if row["actor_structure"] else {}),
                **({"role": [{"text": detail["actor"]["role"]}]} if detail.get("actor", {}).get("role") else {}),
            }
        ],
        "source": {"observer": {"display": row["actor_software"] or "Maison"}},
        "extension": [{"url": chain_extension, "valueString": row["hash"]}],
    }
    if row["patient"]:
        event["entity"] = [
            {
                "what": {"identifier": {"value": row["patient"]}},
                "type": {
                    "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
                    "code": "1",
                    "display": "Person",
                },
            }
        ]
    return event


# --- security events ---------------------------------------------------------------------------------
# IHE BALP / ATNA record security events beside data accesses: authentications (DICOM 110114
# "User Authentication", with its subtypes login/logout), security alerts (110113: lockouts,
# credentials issued or revoked, identity providers registered, forged or invalid tokens) and
# refused accesses (110110-style "Security Alert" on an access decision). Maison writes them into the
# same chained trail under `securite.<event>`, so that they are as tamper-evident as data accesses
# and the observatory can count them.

SECURITY_EVENTS: dict[str, str] = {
    "connexion": "110114",  # a login succeeded (PSC, Mon espace santé, SMTP AUTH, IMAP LOGIN)
    "connexion-echec": "110114",  # a login failed (wrong password, code, unknown account)
    "verrouillage": "110113",  # an account or a source locked out after repeated failures
    "deconnexion": "110114",
    "jeton-invalide": "110113",  # a bearer token refused (forged, expired, wrong issuer or audience)
    "acces-refuse": "110113",  # an authenticated or anonymous caller refused by an access rule
    "cle-emise": "110113",  # a structure API key issued
    "cle-revoquee": "110113",
    "idp-enregistre": "110113",  # a structure's own identity provider registered (IAM.80)
    "certificat-refuse": "110113",  # a TLS client certificate refused (INSi, MSSanté)
    "bris-de-glace": "110113",  # an emergency access used (kept as a security event too)
}


def _security_fields(
    event: str, *, outcome: str = "success", patient: str | None = None, detail: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The fields of a record of the security event `securite.<event>`."""
    if event not in SECURITY_EVENTS:
        raise ValueError(f"unknown security event {event!r}")
    return {
        "outcome": outcome,
        "patient": patient,
        "purpose": "SECURITY",
        "detail": {"dicom": SECURITY_EVENTS[event], **(detail or {})},
    }


def anonymous(source: str = "", software: str = "") -> Actor:
    """The actor of a caller not (yet) identified: its network source stands for the person."""
    return Actor(person=f"anonyme:{source}" if source else "anonyme", structure="", software=software)


# --- the one audit API ---------------------------------------------------------------------------------


class Trail:
    """The one way a service leaves a trace (DESIGN.md §Rules): `write`, `read`, `refused`, `security`.

    Two ways to commit a record, chosen by the action's shape, never by its caller's taste:
    - an action that writes carries its record in its own write transaction (`write(conn, …)`), so
      the change and its trace commit or roll back together (as Zulip's `do_*` actions);
    - an action that only reads has no transaction of its own: its record is group-committed through
      the journal (`read(…)`), which returns once the record is durable. Opening a write transaction
      per read only to audit it would serialise every reader on the chain head; the journal's group
      commit is what keeps INSi and DMP reads fast (bench/insi.py, bench/dmp.py).
    A refusal (`refused`) and a security event (`security`) take either way: in the caller's
    transaction when it has one that will commit, through the journal otherwise (the refused action's
    own transaction has rolled back). Group-commit bodies (`core.group_commit`) return `entry(…)`
    rows, chained by the batch's single commit.
    """

    def __init__(self, db: Database, journal: Journal | None = None) -> None:
        self.db = db
        self._journal = journal

    @property
    def journal(self) -> Journal:
        """The group-commit writer of read records, started on first use (one per house when shared)."""
        if self._journal is None:
            from maison.core.audit_journal import Journal  # the journal builds on this module

            self._journal = Journal(self.db)
        return self._journal

    @staticmethod
    def entry(actor: Actor, action: str, **fields: Any) -> dict[str, Any]:
        """A record for a group-commit body's list of audit entries (chained by the batch's commit)."""
        return _entry(actor, action, **fields)

    @staticmethod
    def security_entry(
        event: str,
        actor: Actor,
        *,
        outcome: str = "success",
        patient: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The security event `securite.<event>` as a group-commit body's entry."""
        return _entry(
            actor, f"securite.{event}", **_security_fields(event, outcome=outcome, patient=patient, detail=detail)
        )

    @staticmethod
    def write(conn: Connection, actor: Actor, action: str, **fields: Any) -> int:
        """Record an action in the caller's write transaction (commits or rolls back with it). Inside
        a group commit's body the record joins the batch's entries, chained once by its commit (the
        head read and moved once per batch, not per record); it returns 0 then."""
        entry = _entry(actor, action, **fields)
        batch = conn.info.get(BATCH_KEY)
        if batch is not None:
            batch.append(entry)
            return 0
        return append(conn, [entry])

    @staticmethod
    def write_entries(conn: Connection, entries: list[dict[str, Any]]) -> int:
        """Chain records made beforehand with `entry` in the caller's write transaction (a batch that
        decides its records before it commits, as the PFI's integration)."""
        return append(conn, entries) if entries else 0

    @staticmethod
    def write_security(
        conn: Connection,
        event: str,
        actor: Actor,
        *,
        outcome: str = "success",
        patient: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> int:
        """Record the security event `securite.<event>` in the caller's write transaction (a lockout
        counted, a key issued: the event and what it changed commit together)."""
        return append(conn, [Trail.security_entry(event, actor, outcome=outcome, patient=patient, detail=detail)])

    def read(self, actor: Actor, action: str, **fields: Any) -> None:
        """Record a read-only action; returns once the record is committed (group commit)."""
        self.journal.append(actor, action, **fields)

    def read_later(self, actor: Actor, action: str, **fields: Any) -> Future[None]:
        """As `read`, but returns the journal's future (async callers await it without a thread)."""
        return self.journal.submit(actor, action, **fields)

    def refused(
        self,
        actor: Actor,
        action: str,
        *,
        code: str,
        conn: Connection | None = None,
        patient: str | None = None,
        purpose: str = "TREAT",
        detail: dict[str, Any] | None = None,
        outcome: str = "failure",
    ) -> None:
        """Record a refused action (outcome `failure`, the refusal's `code` in the detail). The ordonnance
        says `refused`, so that its national counters (successes only) read apart from failures."""
        fields: dict[str, Any] = {
            "outcome": outcome,
            "patient": patient,
            "purpose": purpose,
            "detail": {"code": code, **(detail or {})},
        }
        if conn is not None:
            self.write(conn, actor, action, **fields)
        else:
            self.journal.append(actor, action, **fields)

    def security(
        self,
        event: str,
        actor: Actor,
        *,
        conn: Connection | None = None,
        outcome: str = "success",
        patient: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Record the security event `securite.<event>` (login, lockout, token refused, …): in `conn`
        when given, through the journal otherwise."""
        if conn is not None:
            self.write_security(conn, event, actor, outcome=outcome, patient=patient, detail=detail)
        else:
            fields = _security_fields(event, outcome=outcome, patient=patient, detail=detail)
            self.journal.append(actor, f"securite.{event}", **fields)

    def security_later(
        self,
        event: str,
        actor: Actor,
        *,
        outcome: str = "success",
        patient: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> Future[None]:
        """As `security` through the journal, returning its future (an async guard answers without
        waiting on a thread)."""
        fields = _security_fields(event, outcome=outcome, patient=patient, detail=detail)
        return self.journal.submit(actor, f"securite.{event}", **fields)

    def close(self) -> None:
        """Flush the journal (every answered read's record committed) when this trail owns one."""
        if self._journal is not None:
            self._journal.close()
