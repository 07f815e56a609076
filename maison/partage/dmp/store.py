"""Persistence of the DMP: dossiers, the patient's choices, submission sets and document entries.

Every hot query is keyed by the patient's INS (the DMP pivot, seed 000 L2076) or by an identifier
(uniqueId, entry id), so the tables shard by INS at national scale (DESIGN "Scale"). Document bytes
live in the blob store; a row names its blob only once the blob is durably on disk.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from maison.core.storage import metadata
from maison.partage.dmp.model import DateFilter, DocumentQuery, DocumentStatus, DossierState

dmp_dossier = sa.Table(
    "dmp_dossier",
    metadata,
    sa.Column("ins", sa.String(15), primary_key=True),  # matricule INS with its key
    sa.Column("state", sa.String(10), nullable=False),  # DossierState
    sa.Column("created_at", sa.String(32), nullable=False),
    sa.Column("updated_at", sa.String(32), nullable=False),
    sa.Column("medecin_traitant", sa.String(20)),  # IdNatPS declared by the patient
    sa.Column("oppose_bris_de_glace", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("oppose_centre_15", sa.Boolean, nullable=False, server_default=sa.false()),
)

# The patient's answer to a structure's information, for the episode of care (seed 002 L535-565).
dmp_information = sa.Table(
    "dmp_information",
    metadata,
    sa.Column("ins", sa.String(15), primary_key=True),
    sa.Column("structure", sa.String(64), primary_key=True),
    sa.Column("alimentation", sa.String(20), nullable=False),  # InformationState
    sa.Column("consultation", sa.String(20), nullable=False),
    sa.Column("motif", sa.Text),  # the legitimate reason of an opposition to feeding
    sa.Column("episode", sa.String(64)),
    sa.Column("valid_until", sa.String(32)),  # end of the episode of care, when known
    sa.Column("recorded_by", sa.String(20), nullable=False),
    sa.Column("recorded_at", sa.String(32), nullable=False),
)

# Professionals the patient blocked or explicitly authorised (CSP L.1111-19; seed 000 L253, L2254).
dmp_patient_rule = sa.Table(
    "dmp_patient_rule",
    metadata,
    sa.Column("ins", sa.String(15), primary_key=True),
    sa.Column("professional", sa.String(20), primary_key=True),  # IdNatPS
    sa.Column("rule", sa.String(10), nullable=False),  # bloque / autorise
    sa.Column("since", sa.String(32), nullable=False),
)

# Temporary delegation by code to a chosen professional on chosen rubriques (seed 000 L3369-3376).
dmp_delegation_code = sa.Table(
    "dmp_delegation_code",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("ins", sa.String(15), nullable=False, index=True),
    sa.Column("professional", sa.String(20), nullable=False),
    sa.Column("code_hash", sa.String(64), nullable=False),
    sa.Column("rubriques", sa.String(200), nullable=False),  # comma separated
    sa.Column("expires_at", sa.String(32), nullable=False),
    sa.Column("revoked", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", sa.String(32), nullable=False),
)

# A secretariat acting under a doctor's authority (seed 000 L1934: "délégation de droits").
dmp_secretariat = sa.Table(
    "dmp_secretariat",
    metadata,
    sa.Column("doctor", sa.String(20), primary_key=True),
    sa.Column("secretary", sa.String(20), primary_key=True),
    sa.Column("doctor_profession", sa.String(10), nullable=False),  # the column the secretary acts under
    sa.Column("doctor_structure", sa.String(64), nullable=False),
    sa.Column("since", sa.String(32), nullable=False),
)

dmp_submission = sa.Table(
    "dmp_submission",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("unique_id", sa.String(128), nullable=False, unique=True),
    sa.Column("ins", sa.String(15), nullable=False),
    sa.Column("source_id", sa.String(128), nullable=False),
    sa.Column("author", sa.String(20), nullable=False),
    sa.Column("structure", sa.String(64), nullable=False),
    sa.Column("submitted_at", sa.String(32), nullable=False),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("archived", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("resource", sa.Text, nullable=False),
    sa.Index("ix_dmp_submission_ins", "ins", "submitted_at"),
)

dmp_document = sa.Table(
    "dmp_document",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("unique_id", sa.String(128), nullable=False, unique=True),
    sa.Column("ins", sa.String(15), nullable=False),
    sa.Column("submission", sa.String(36), nullable=False),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("archived", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("type_code", sa.String(40), nullable=False),
    sa.Column("class_code", sa.String(40), nullable=False),
    sa.Column("format_code", sa.String(80), nullable=False),
    sa.Column("level", sa.String(4), nullable=False),
    sa.Column("author", sa.String(20), nullable=False),
    sa.Column("author_structure", sa.String(64), nullable=False),
    sa.Column("confidentiality", sa.String(2), nullable=False),
    sa.Column("masque_ps", sa.Boolean, nullable=False),
    sa.Column("invisible_patient", sa.Boolean, nullable=False),
    sa.Column("invisible_representants", sa.Boolean, nullable=False),
    sa.Column("secret", sa.Boolean, nullable=False, server_default=sa.false()),  # fed in connexion secrète
    sa.Column("annonce_notifiee", sa.Boolean, nullable=False, server_default=sa.false()),  # R.1111-53 notice sent
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("sha1", sa.String(28), nullable=False),
    sa.Column("blob", sa.String(64), nullable=False),
    sa.Column("content_type", sa.String(80), nullable=False),
    sa.Column("submitted_at", sa.String(32), nullable=False),
    sa.Column("creation", sa.String(32), nullable=False),
    sa.Column("period_start", sa.String(32), nullable=False),
    sa.Column("period_end", sa.String(32)),
    sa.Column("setting", sa.String(40), nullable=False),
    sa.Column("facility", sa.String(40), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("last_updated", sa.String(32), nullable=False),
    sa.Column("transforms", sa.String(36)),  # N3 → its N1 (XFRM)
    sa.Column("replaces", sa.String(36)),  # RPLC target
    sa.Column("resource", sa.Text, nullable=False),  # the DocumentReference as submitted, with our ids
    sa.Index("ix_dmp_document_ins", "ins", "status", "submitted_at"),
    sa.Index("ix_dmp_document_transforms", "transforms"),
)


# --- queries ------------------------------------------------------------------------------------

_CODE_CRITERIA = ("type_code", "class_code", "format_code", "setting", "facility")
_DATE_CRITERIA = ("creation", "period_start", "period_end", "submitted_at")


def _date(column: sa.Column, criterion: DateFilter) -> sa.ColumnElement[bool]:
    """FHIR date search on an ISO instant kept as text: the date given is a prefix of the instants."""
    value = criterion.value
    return {
        "ge": lambda: column >= value,
        "gt": lambda: column > value,
        "le": lambda: column <= value + "\uffff",
        "lt": lambda: column < value,
        "eq": lambda: column.startswith(value),
    }[criterion.prefix]()


def _conditions(query: DocumentQuery) -> list[sa.ColumnElement[bool]]:
    d = dmp_document.c
    where = [getattr(d, name).in_(list(codes)) for name in _CODE_CRITERIA for codes in getattr(query, name)]
    where += [_date(getattr(d, name), criterion) for name in _DATE_CRITERIA for criterion in getattr(query, name)]
    where += [sa.or_(d.unique_id == unique_id, d.id == id_) for unique_id, id_ in query.identifier]
    where += [d.archived.is_(archived) for archived in query.archived]
    where += [sa.or_(d.replaces == target, d.transforms == target) for target in query.relates_to]
    return where


def find_documents(conn: sa.Connection, ins: str, statuses: list[str], query: DocumentQuery) -> list[sa.Row]:
    """A patient's entries in these statuses that meet the query, newest first."""
    d = dmp_document.c
    return list(
        conn.execute(
            sa.select(dmp_document)
            .where(d.ins == ins, d.status.in_(statuses), *_conditions(query))
            .order_by(d.submitted_at.desc(), d.id)
        )
    )


def dossier_state(conn: sa.Connection, ins: str) -> str | None:
    """The dossier's state (DossierState's value), None while it does not exist."""
    return conn.execute(sa.select(dmp_dossier.c.state).where(dmp_dossier.c.ins == ins)).scalar()


def referenced_blobs(conn: sa.Connection) -> set[str]:
    """Every blob an entry names, whatever its status."""
    return set(conn.execute(sa.select(dmp_document.c.blob)).scalars())


def submissions(conn: sa.Connection, ins: str, statuses: list[str]) -> list[sa.Row]:
    """A patient's submission sets in these statuses, newest first."""
    s = dmp_submission.c
    return list(
        conn.execute(
            sa.select(dmp_submission).where(s.ins == ins, s.status.in_(statuses)).order_by(s.submitted_at.desc())
        )
    )


def submission(conn: sa.Connection, id_: str) -> sa.Row | None:
    """One submission set by its id."""
    return conn.execute(sa.select(dmp_submission).where(dmp_submission.c.id == id_)).first()


def undeleted_documents(conn: sa.Connection, ins: str) -> list[sa.Row]:
    """A patient's entries but those withdrawn."""
    d = dmp_document.c
    return list(conn.execute(sa.select(dmp_document).where(d.ins == ins, d.status != DocumentStatus.DELETED.value)))


def stored_for_replay(conn: sa.Connection, unique_ids: list[str], lot_unique_id: str) -> tuple[dict, str | None]:
    """The entries already stored under these uniqueIds (by uniqueId: id, sha1, ins, submission), and
    the id of the submission set stored under `lot_unique_id`."""
    d = dmp_document.c
    stored = {
        r.unique_id: r
        for r in conn.execute(
            sa.select(d.unique_id, d.id, d.sha1, d.ins, d.submission).where(d.unique_id.in_(unique_ids))
        )
    }
    lot = conn.execute(
        sa.select(dmp_submission.c.id).where(dmp_submission.c.unique_id == lot_unique_id)
    ).scalar_one_or_none()
    return stored, lot


def current_of_type(conn: sa.Connection, ins: str, type_code: str) -> str | None:
    """The id of a current entry of this type in the patient's dossier, if any."""
    d = dmp_document.c
    return conn.execute(
        sa.select(d.id).where(d.ins == ins, d.type_code == type_code, d.status == DocumentStatus.CURRENT.value)
    ).scalar()


def supersede(conn: sa.Connection, ids: list[str], now: str) -> None:
    """These entries, and the N3 that transform them, leave the current set (a replacement)."""
    d = dmp_document.c
    conn.execute(
        dmp_document.update()
        .where(sa.or_(d.id.in_(ids), d.transforms.in_(ids)))
        .values(status=DocumentStatus.SUPERSEDED.value, last_updated=now, version=d.version + 1)
    )


def patient_document(conn: sa.Connection, id_: str, ins: str) -> sa.Row | None:
    """What deciding on a patient's withdrawal of one of her entries needs."""
    d = dmp_document.c
    return conn.execute(
        sa.select(
            d.author, d.unique_id, d.status, d.invisible_patient, d.submitted_at, d.invisible_representants
        ).where(d.id == id_, d.ins == ins)
    ).first()


def withdraw_deposited(conn: sa.Connection, id_: str, now: str) -> None:
    d = dmp_document.c
    conn.execute(dmp_document.update().where(d.id == id_).values(status=DocumentStatus.DELETED.value, last_updated=now))


def document_owner(conn: sa.Connection, id_: str) -> str | None:
    """The patient whose dossier holds this entry."""
    return conn.execute(sa.select(dmp_document.c.ins).where(dmp_document.c.id == id_)).scalar_one_or_none()


# --- the dossier and the caller's standing in it -------------------------------------------------

# Statements every feed or read runs, built once (SQLAlchemy then only looks up its compiled form).
_DOSSIER_EXISTS = sa.select(dmp_dossier.c.ins).where(dmp_dossier.c.ins == sa.bindparam("ins"))
_D, _I, _R = dmp_dossier, dmp_information, dmp_patient_rule
_STANDING = (
    sa.select(
        _D,
        _I.c.alimentation,
        _I.c.consultation,
        _I.c.valid_until,
        # "bloque" > "autorise": the patient's block wins over an authorisation for the same person
        sa.select(sa.func.max(_R.c.rule))
        .where(_R.c.ins == _D.c.ins, _R.c.professional.in_(sa.bindparam("people", expanding=True)))
        .scalar_subquery()
        .label("rule"),
    )
    .select_from(_D.outerjoin(_I, sa.and_(_I.c.ins == _D.c.ins, _I.c.structure == sa.bindparam("structure"))))
    .where(_D.c.ins == sa.bindparam("ins"))
)
# The inserts of a feed, which the group commit batches by statement
INSERT_SUBMISSION = dmp_submission.insert()
INSERT_DOCUMENT = dmp_document.insert()


def ensure_dossier(conn: sa.Connection, ins: str, now: str) -> None:
    """Create the patient's dossier, active, unless it exists (or a concurrent transaction just created it)."""
    if conn.execute(_DOSSIER_EXISTS, {"ins": ins}).first() is None:
        try:
            with conn.begin_nested():
                conn.execute(
                    dmp_dossier.insert().values(
                        ins=ins, state=DossierState.ACTIVE.value, created_at=now, updated_at=now
                    )
                )
        except IntegrityError:
            pass  # created meanwhile by a concurrent submission


def standing(conn: sa.Connection, ins: str, structure: str, people: list[str]) -> sa.Row | None:
    """The dossier, the structure's information record and the patient's rule for these people
    (the strongest), in one statement; None while the dossier does not exist."""
    return conn.execute(_STANDING, {"ins": ins, "structure": structure, "people": people}).first()


def update_dossier(conn: sa.Connection, ins: str, **values: object) -> None:
    conn.execute(dmp_dossier.update().where(dmp_dossier.c.ins == ins).values(**values))


def delegation_rubriques(
    conn: sa.Connection, ins: str, professional: str, hashes: tuple[str, ...], now: str
) -> str | None:
    """The rubriques (comma separated) a valid, unrevoked delegation code of these hashes opens."""
    c = dmp_delegation_code.c
    return conn.execute(
        sa.select(c.rubriques).where(
            c.ins == ins,
            c.professional == professional,
            c.code_hash.in_(hashes),
            c.revoked.is_(False),
            c.expires_at > now,
        )
    ).scalar()


def add_delegation_code(conn: sa.Connection, **row: object) -> None:
    conn.execute(dmp_delegation_code.insert().values(**row))


def revoke_delegation_codes(conn: sa.Connection, ins: str, professional: str) -> None:
    c = dmp_delegation_code.c
    conn.execute(dmp_delegation_code.update().where(c.ins == ins, c.professional == professional).values(revoked=True))


def patient_rules(conn: sa.Connection, ins: str) -> list[sa.Row]:
    """The patient's rules (professional, rule, since), oldest first: what Mon espace santé lists."""
    r = dmp_patient_rule.c
    return list(conn.execute(sa.select(r.professional, r.rule, r.since).where(r.ins == ins).order_by(r.since)))


def live_delegation_codes(conn: sa.Connection, ins: str, now: str) -> list[sa.Row]:
    """The patient's unrevoked, unexpired delegation codes (professional, rubriques, expires_at,
    created_at; never the code's hash), newest first."""
    c = dmp_delegation_code.c
    query = sa.select(c.professional, c.rubriques, c.expires_at, c.created_at).where(
        c.ins == ins, c.revoked.is_(False), c.expires_at > now
    )
    return list(conn.execute(query.order_by(c.created_at.desc())))


def set_patient_rule(conn: sa.Connection, ins: str, professional: str, rule: str | None, since: str) -> None:
    """The patient's rule for one professional, replaced; None removes it."""
    r = dmp_patient_rule.c
    conn.execute(dmp_patient_rule.delete().where(r.ins == ins, r.professional == professional))
    if rule:
        conn.execute(dmp_patient_rule.insert().values(ins=ins, professional=professional, rule=rule, since=since))


def record_information(conn: sa.Connection, ins: str, structure: str, **values: object) -> None:
    """The structure's information record for the patient, created or replaced."""
    i = dmp_information.c
    done = conn.execute(dmp_information.update().where(i.ins == ins, i.structure == structure).values(**values))
    if not done.rowcount:
        conn.execute(dmp_information.insert().values(ins=ins, structure=structure, **values))


# --- document entries ----------------------------------------------------------------------------


def document(
    conn: sa.Connection, *, id_: str | None = None, unique_id: str | None = None, for_update: bool = False
) -> sa.Row | None:
    """One entry by its id or its uniqueId (locked for a change with `for_update`)."""
    d = dmp_document.c
    query = sa.select(dmp_document).where(d.id == id_ if unique_id is None else d.unique_id == unique_id)
    return conn.execute(query.with_for_update() if for_update else query).first()


def replacement_target(conn: sa.Connection, *, id_: str | None = None, unique_id: str | None = None) -> sa.Row | None:
    """What deciding on a replacement needs of its target, locked until the feed commits."""
    d = dmp_document.c
    query = sa.select(d.id, d.ins, d.status, d.transforms, d.author_structure).where(
        d.id == id_ if unique_id is None else d.unique_id == unique_id
    )
    return conn.execute(query.with_for_update()).first()


def change_document(conn: sa.Connection, id_: str, now: str, **values: object) -> None:
    """Change an N1 entry and the N3 that transforms it together, a new version of each."""
    d = dmp_document.c
    conn.execute(
        dmp_document.update()
        .where(sa.or_(d.id == id_, d.transforms == id_))
        .values(**values, version=d.version + 1, last_updated=now)
    )


def announcements_due(conn: sa.Connection, deposited_before: str, deposited_after: str) -> list[sa.Row]:
    """The documents awaiting a consultation d'annonce whose patient is not told yet (id, ins)."""
    d = dmp_document.c
    return list(
        conn.execute(
            sa.select(d.id, d.ins).where(
                d.invisible_patient.is_(True),
                d.annonce_notifiee.is_(False),
                d.status == DocumentStatus.CURRENT.value,
                d.submitted_at <= deposited_before,
                d.submitted_at > deposited_after,
                d.transforms.is_(None),
            )
        )
    )


def announced_awaiting(conn: sa.Connection, ins: str, deposited_after: str) -> list[str]:
    """When each document of the patient was deposited that awaits its consultation d'annonce and
    whose notice was sent (its deposit time only), oldest first."""
    d = dmp_document.c
    query = sa.select(d.submitted_at).where(
        d.ins == ins,
        d.invisible_patient.is_(True),
        d.annonce_notifiee.is_(True),
        d.status == DocumentStatus.CURRENT.value,
        d.submitted_at > deposited_after,
        d.transforms.is_(None),
    )
    return [row.submitted_at for row in conn.execute(query.order_by(d.submitted_at))]


def mark_announced(conn: sa.Connection, id_: str) -> None:
    conn.execute(dmp_document.update().where(dmp_document.c.id == id_).values(annonce_notifiee=True))


# --- secretariats ----------------------------------------------------------------------------------


def set_secretary(conn: sa.Connection, doctor: str, secretary: str, **row: object) -> None:
    """The doctor's delegation to this secretary, replaced by `row` (none: removed)."""
    s = dmp_secretariat.c
    conn.execute(dmp_secretariat.delete().where(s.doctor == doctor, s.secretary == secretary))
    if row:
        conn.execute(dmp_secretariat.insert().values(doctor=doctor, secretary=secretary, **row))


def secretariat(conn: sa.Connection, doctor: str, secretary: str) -> sa.Row | None:
    s = dmp_secretariat.c
    return conn.execute(sa.select(dmp_secretariat).where(s.doctor == doctor, s.secretary == secretary)).first()
