"""Persistence of the Annuaire: each resource as the JSON it is served as, plus what searches need.

A resource is stored whole (`resource`, the FHIR JSON) next to the columns and rows its searches
use: normalised names and address parts on the resource's own table, every token (identifiers,
qualification and role codes, types) in `ann_token`, every MSSanté mailbox in `ann_mailbox`.
These are always derived from the JSON by `index.py`, so a PATCH that changes the JSON re-derives
them and nothing can drift. Ids sort as strings; paging walks them in order (keyset).
"""

from __future__ import annotations

import sqlalchemy as sa

from maison.core.storage import metadata

ann_practitioner = sa.Table(
    "ann_practitioner",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("last_updated", sa.String(32), nullable=False),
    sa.Column("family", sa.String(200), nullable=False, server_default=""),  # folded (see index.fold)
    sa.Column("given", sa.String(200), nullable=False, server_default=""),
    sa.Column("family_exact", sa.String(200), nullable=False, server_default=""),  # as written, for :exact
    sa.Column("given_exact", sa.String(200), nullable=False, server_default=""),
    sa.Column("resource", sa.Text, nullable=False),
    sa.Index("ix_ann_practitioner_family", "family", "id"),  # (value, id): ids found without the rows
    sa.Index("ix_ann_practitioner_given", "given", "id"),
    sa.Index("ix_ann_practitioner_family_exact", "family_exact", "id"),
    sa.Index("ix_ann_practitioner_updated", "last_updated"),
)

ann_organization = sa.Table(
    "ann_organization",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("last_updated", sa.String(32), nullable=False),
    sa.Column("name", sa.String(300), nullable=False, server_default=""),  # folded
    sa.Column("name_exact", sa.String(300), nullable=False, server_default=""),
    sa.Column("city", sa.String(100), nullable=False, server_default=""),  # folded
    sa.Column("postal_code", sa.String(10), nullable=False, server_default=""),
    sa.Column("insee", sa.String(5), nullable=False, server_default=""),
    sa.Column("line", sa.String(300), nullable=False, server_default=""),
    sa.Column("partof", sa.String(64)),
    sa.Column("resource", sa.Text, nullable=False),
    sa.Index("ix_ann_organization_name", "name", "id"),
    sa.Index("ix_ann_organization_city", "city", "id"),
    sa.Index("ix_ann_organization_postal_code", "postal_code", "id"),
    sa.Index("ix_ann_organization_partof", "partof"),
    sa.Index("ix_ann_organization_updated", "last_updated"),
)

ann_role = sa.Table(
    "ann_role",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("last_updated", sa.String(32), nullable=False),
    sa.Column("practitioner", sa.String(64)),
    sa.Column("organization", sa.String(64)),
    sa.Column("resource", sa.Text, nullable=False),
    sa.Index("ix_ann_role_practitioner", "practitioner"),
    sa.Index("ix_ann_role_organization", "organization"),
    sa.Index("ix_ann_role_updated", "last_updated"),
)

# Activités sanitaires régulées (HealthcareService), each provided by one établissement.
ann_service = sa.Table(
    "ann_service",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("last_updated", sa.String(32), nullable=False),
    sa.Column("organization", sa.String(64)),
    sa.Column("resource", sa.Text, nullable=False),
    sa.Index("ix_ann_service_organization", "organization"),
    sa.Index("ix_ann_service_updated", "last_updated"),
)

# Token search parameters (identifier, identifier-type, qualification-code, role, type, …).
ann_token = sa.Table(
    "ann_token",
    metadata,
    sa.Column("rtype", sa.String(24), nullable=False),
    sa.Column("rid", sa.String(64), nullable=False),
    sa.Column("param", sa.String(32), nullable=False),
    sa.Column("system", sa.String(200), nullable=False),
    sa.Column("code", sa.String(100), nullable=False),
    sa.Index("ix_ann_token_lookup", "param", "code", "rtype", "system", "rid"),
    sa.Index("ix_ann_token_resource", "rtype", "rid"),
)

# MSSanté mailboxes, for `mailbox-mss` and `mailbox-mss-type` (address kept lower case).
ann_mailbox = sa.Table(
    "ann_mailbox",
    metadata,
    sa.Column("rtype", sa.String(24), nullable=False),
    sa.Column("rid", sa.String(64), nullable=False),
    sa.Column("address", sa.String(256), nullable=False),  # lower case
    sa.Column("address_exact", sa.String(256), nullable=False),
    sa.Column("type", sa.String(3), nullable=False),
    sa.Column("liste_rouge", sa.Boolean, nullable=False),
    sa.Index("ix_ann_mailbox_address", "address", "rtype", "rid"),
    sa.Index("ix_ann_mailbox_resource", "rtype", "rid"),
)

TABLES = {
    "Practitioner": ann_practitioner,
    "Organization": ann_organization,
    "PractitionerRole": ann_role,
    "HealthcareService": ann_service,
}

# Bulk $export jobs (FHIR Bulk Data): who asked, what, and where the NDJSON files are.
ann_export = sa.Table(
    "ann_export",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("requester", sa.String(200), nullable=False),
    sa.Column("request", sa.String(1000), nullable=False),
    sa.Column("types", sa.String(200), nullable=False),
    sa.Column("since", sa.String(40)),
    sa.Column("status", sa.String(12), nullable=False),  # en-cours / termine / erreur / annule
    sa.Column("created_at", sa.String(32), nullable=False),
    sa.Column("finished_at", sa.String(32)),
    sa.Column("output", sa.Text, nullable=False, server_default="[]"),
    sa.Column("error", sa.Text, nullable=False, server_default=""),
)

# RPPS+ declarations: who an employer declared (registering again finds the first one), pending
# until the registry validates it; the Practitioner and its role exist only once validated.
ann_rpps_plus = sa.Table(
    "ann_rpps_plus",
    metadata,
    sa.Column("employer", sa.String(64), primary_key=True),
    sa.Column("person", sa.String(300), primary_key=True),  # folded names and birth date
    sa.Column("declaration", sa.String(32), nullable=False),
    sa.Column("status", sa.String(12), nullable=False, server_default="validee"),  # en-attente / validee / refusee
    sa.Column("declared", sa.Text, nullable=False, server_default="{}"),  # what the employer declared (JSON)
    sa.Column("practitioner", sa.String(64)),
    sa.Column("role", sa.String(64)),
    sa.Column("registered_at", sa.String(32), nullable=False),
    sa.Column("decided_at", sa.String(32)),
    sa.Column("decided_by", sa.String(128)),
    sa.Index("ix_ann_rpps_plus_declaration", "declaration", unique=True),
)


# --- the reads other services make (through service.py), built once: PSC runs them on every call ----

_PRACTITIONER = sa.select(ann_practitioner.c.resource).where(ann_practitioner.c.id == sa.bindparam("id"))
_ACTIVE_ROLES = (
    sa.select(ann_role.c.resource)
    .where(ann_role.c.practitioner == sa.bindparam("practitioner"), ann_role.c.active.is_(True))
    .order_by(ann_role.c.id)
)
_ORGANIZATIONS = sa.select(ann_organization.c.resource).where(
    ann_organization.c.id.in_(sa.bindparam("ids", expanding=True))
)
_PRACTITIONERS = sa.select(ann_practitioner.c.resource).where(
    ann_practitioner.c.id.in_(sa.bindparam("ids", expanding=True))
)
_MAILBOX_TYPE = sa.select(ann_mailbox.c.type).where(
    ann_mailbox.c.address == sa.bindparam("address"),
    ann_mailbox.c.rtype == sa.bindparam("rtype"),
    ann_mailbox.c.liste_rouge.is_(False),
)


def practitioner_json(conn: sa.Connection, idnatps: str) -> str | None:
    """The Practitioner's stored JSON, or None."""
    return conn.execute(_PRACTITIONER, {"id": idnatps}).scalar()


def active_roles_json(conn: sa.Connection, practitioner: str) -> list[str]:
    """The JSON of the practitioner's active PractitionerRoles, in id order."""
    return list(conn.execute(_ACTIVE_ROLES, {"practitioner": practitioner}).scalars())


def organizations_json(conn: sa.Connection, ids: list[str]) -> list[str]:
    """The JSON of these Organizations (those that exist)."""
    return list(conn.execute(_ORGANIZATIONS, {"ids": ids}).scalars()) if ids else []


def practitioners_json(conn: sa.Connection, ids: list[str]) -> list[str]:
    """The JSON of these Practitioners (those that exist), in one query."""
    return list(conn.execute(_PRACTITIONERS, {"ids": ids}).scalars()) if ids else []


def listed_mailbox_type(conn: sa.Connection, address: str, rtype: str) -> str | None:
    """The type (PER/ORG/APP/CAB) under which a resource of `rtype` lists `address` (lower case)
    outside the liste rouge, or None."""
    return conn.execute(_MAILBOX_TYPE, {"address": address, "rtype": rtype}).scalar()


# --- resources and what their searches use (written by index.put, always together) -----------------


def delete_resources(conn: sa.Connection, rtype: str, ids: list[str]) -> None:
    """Delete these resources of `rtype` with their tokens and mailboxes."""
    table = TABLES[rtype]
    conn.execute(table.delete().where(table.c.id.in_(ids)))
    conn.execute(ann_token.delete().where(ann_token.c.rtype == rtype, ann_token.c.rid.in_(ids)))
    conn.execute(ann_mailbox.delete().where(ann_mailbox.c.rtype == rtype, ann_mailbox.c.rid.in_(ids)))


def insert_resources(conn: sa.Connection, rtype: str, rows: list[dict], tokens: list[dict], boxes: list[dict]) -> None:
    """Insert resources of `rtype` (their rows), their tokens and their mailboxes (executemany each)."""
    conn.execute(TABLES[rtype].insert(), rows)
    if tokens:
        conn.execute(ann_token.insert(), tokens)
    if boxes:
        conn.execute(ann_mailbox.insert(), boxes)


def resource_json(conn: sa.Connection, rtype: str, rid: str) -> str | None:
    """A resource's stored JSON, or None."""
    table = TABLES[rtype]
    return conn.execute(sa.select(table.c.resource).where(table.c.id == rid)).scalar()


def ids_by_identifier(conn: sa.Connection, rtype: str, code: str, system: str | None) -> list[str]:
    """The ids of the resources of `rtype` carrying the identifier `code` (of `system`, if given), sorted."""
    t = ann_token
    cond = [t.c.rtype == rtype, t.c.param == "identifier", t.c.code == code]
    if system:
        cond.append(t.c.system == system)
    return sorted(set(conn.execute(sa.select(t.c.rid).where(*cond)).scalars()))


def mailbox_publisher(conn: sa.Connection, address: str) -> sa.Row | None:
    """The resource (`rtype`, `rid`) publishing a mailbox (address lower case), if any."""
    m = ann_mailbox
    return conn.execute(sa.select(m.c.rtype, m.c.rid).where(m.c.address == address)).first()


def organization_exists(conn: sa.Connection, id_: str | None) -> bool:
    o = ann_organization
    return conn.execute(sa.select(o.c.id).where(o.c.id == id_)).scalar() is not None


# --- RPPS+ declarations -----------------------------------------------------------------------------


def last_practitioner_id(conn: sa.Connection, prefix: str) -> str | None:
    """The greatest Practitioner id starting with `prefix`."""
    p = ann_practitioner
    return conn.execute(sa.select(sa.func.max(p.c.id)).where(p.c.id.like(f"{prefix}%"))).scalar()


def declaration_of(conn: sa.Connection, employer: str, person: str) -> sa.Row | None:
    """The employer's declaration of that person (folded names and birth date), if any."""
    r = ann_rpps_plus
    return conn.execute(sa.select(r).where(r.c.employer == employer, r.c.person == person)).first()


def declaration(conn: sa.Connection, declaration: str) -> sa.Row | None:
    r = ann_rpps_plus
    return conn.execute(sa.select(r).where(r.c.declaration == declaration)).first()


def insert_declaration(conn: sa.Connection, **values) -> None:
    conn.execute(ann_rpps_plus.insert().values(**values))


def update_declaration(conn: sa.Connection, declaration: str, **values) -> None:
    r = ann_rpps_plus
    conn.execute(r.update().where(r.c.declaration == declaration).values(**values))


def declared_role(conn: sa.Connection, declaration: str) -> sa.Row | None:
    """The row (`role`) naming the PractitionerRole a declaration made."""
    r = ann_rpps_plus
    return conn.execute(sa.select(r.c.role).where(r.c.declaration == declaration)).first()


# --- bulk $export jobs ------------------------------------------------------------------------------


def insert_export(conn: sa.Connection, **values) -> None:
    conn.execute(ann_export.insert().values(**values))


def export(conn: sa.Connection, job: str) -> sa.Row | None:
    return conn.execute(sa.select(ann_export).where(ann_export.c.id == job)).first()


def export_status(conn: sa.Connection, job: str) -> str | None:
    return conn.execute(sa.select(ann_export.c.status).where(ann_export.c.id == job)).scalar()


def update_export(conn: sa.Connection, job: str, *, only_if_status: str | None = None, **values) -> None:
    """Update a job (only while in `only_if_status`, if given)."""
    E = ann_export
    where = [E.c.id == job]
    if only_if_status is not None:
        where.append(E.c.status == only_if_status)
    conn.execute(E.update().where(*where).values(**values))


def listed_in_red(conn: sa.Connection, rtype: str) -> set[str]:
    """The ids of the resources of `rtype` with a mailbox on the liste rouge."""
    m = ann_mailbox
    return set(conn.execute(sa.select(m.c.rid).where(m.c.rtype == rtype, m.c.liste_rouge.is_(True))).scalars())


def stream_resources(conn: sa.Connection, rtype: str, since: str | None) -> sa.CursorResult:
    """Every resource of `rtype` (`id`, `resource`), updated after `since` if given, in id order,
    streamed by batches of 5000."""
    table = TABLES[rtype]
    query = sa.select(table.c.id, table.c.resource).order_by(table.c.id)
    if since:
        query = query.where(table.c.last_updated > since)
    return conn.execution_options(stream_results=True, yield_per=5000).execute(query)


# --- FHIR search (search.py validates the parameters; here their SQL) ------------------------------
# Each *_condition builds one parameter's condition on a resource type's table; a search's page, its
# total and its includes take the list of them, ANDed.

P, R, Org = ann_practitioner, ann_role, ann_organization


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _starts(column: sa.ColumnElement, value: str) -> sa.ColumnElement:
    # The range lets the index do the work; LIKE keeps the answer exact under any collation.
    return sa.and_(column >= value, column < value + "\uffff", column.like(_escape_like(value) + "%", escape="\\"))


def _string(column, exact_column, modifier: str, value: str, folded: str) -> sa.ColumnElement:
    """`value` (and its folded form, not empty unless `modifier` is exact) on a string column."""
    if modifier == "exact":
        if exact_column is None:
            return column == folded
        return exact_column == value
    if modifier == "contains":
        return column.like("%" + _escape_like(folded) + "%", escape="\\")
    return _starts(column, folded)


def id_condition(rtype: str, values: list[str]) -> sa.ColumnElement:
    return TABLES[rtype].c.id.in_(values)


def bool_condition(rtype: str, column: str, value: bool) -> sa.ColumnElement:
    return TABLES[rtype].c[column] == value


def date_condition(rtype: str, column: str, prefix: str, low: str, high: str) -> sa.ColumnElement:
    """A FHIR date comparison (`prefix` eq, ne, gt, sa, ge, lt, eb, le) against the range [low, high)."""
    c = TABLES[rtype].c[column]
    return {
        "eq": sa.and_(c >= low, c < high),
        "ne": sa.or_(c < low, c >= high),
        "gt": c >= high,
        "sa": c >= high,
        "ge": c >= low,
        "lt": c < low,
        "eb": c < low,
        "le": c < high,
    }[prefix]


def token_condition(rtype: str, param: str, values: list[tuple[str | None, str]], *, negate: bool) -> sa.ColumnElement:
    """Resources carrying (or, `negate`, not carrying) any of the tokens (system, code) of `param`;
    a system None or an empty code matches any."""
    t = ann_token
    clauses = []
    for system, code in values:
        cond = [t.c.rtype == rtype, t.c.param == param]
        if system is not None:
            cond.append(t.c.system == system)
        if code:
            cond.append(t.c.code == code)
        clauses.append(sa.and_(*cond))
    inner = sa.select(t.c.rid).where(sa.or_(*clauses))
    table = TABLES[rtype]
    return table.c.id.in_(inner) if not negate else table.c.id.not_in(inner)


def mailbox_condition(rtype: str, values: list[str], modifier: str, by_type: bool) -> sa.ColumnElement:
    """Resources publishing, outside the liste rouge, a mailbox of one of these addresses (starting
    with, `exact`, `contains`) or, `by_type`, of one of these types (PER, ORG, APP, CAB)."""
    m = ann_mailbox
    clauses = []
    for value in values:
        if by_type:
            _system, _bar, code = value.rpartition("|")
            clauses.append(m.c.type == code.upper())
        elif modifier == "exact":
            clauses.append(m.c.address_exact == value)
        elif modifier == "contains":
            clauses.append(m.c.address.like("%" + _escape_like(value.lower()) + "%", escape="\\"))
        else:
            clauses.append(_starts(m.c.address, value.lower()))
    return TABLES[rtype].c.id.in_(
        sa.select(m.c.rid).where(m.c.rtype == rtype, m.c.liste_rouge.is_(False), sa.or_(*clauses))
    )


def reference_condition(rtype: str, column: str, ids: list[str]) -> sa.ColumnElement:
    return TABLES[rtype].c[column].in_(ids)


def prefix_condition(rtype: str, column: str, values: list[str]) -> sa.ColumnElement:
    """The column starts with any of the values."""
    table = TABLES[rtype]
    return sa.or_(*(_starts(table.c[column], v) for v in values))


def string_condition(
    rtype: str, column: str, exact_column: str | None, modifier: str, values: list[tuple[str, str]]
) -> sa.ColumnElement:
    """Any of the (value, folded value) on a string parameter's folded column (and its as-written one)."""
    table = TABLES[rtype]
    return sa.or_(
        *(_string(table.c[column], table.c[exact_column] if exact_column else None, modifier, v, f) for v, f in values)
    )


def name_condition(modifier: str, values: list[tuple[str, str]]) -> sa.ColumnElement:
    """A Practitioner's family or given name matching any of the (value, folded value)."""
    return sa.or_(
        *(
            sa.or_(
                _string(P.c.family, P.c.family_exact, modifier, v, f),
                _string(P.c.given, P.c.given_exact, modifier, v, f),
            )
            for v, f in values
        )
    )


def address_condition(modifier: str, values: list[tuple[str, str]]) -> sa.ColumnElement:
    """An Organization's city, line or postal code matching any of the (value, folded value)."""
    return sa.or_(
        *(
            sa.or_(
                _string(Org.c.city, None, modifier, v, f),
                _string(Org.c.line, None, modifier, v, f),
                _starts(Org.c.postal_code, v),
            )
            for v, f in values
        )
    )


def search_ids(conn: sa.Connection, rtype: str, filters: list, after: str | None, limit: int) -> list[str]:
    """The ids of the resources matching every filter, after `after`, in id order (from the indexes alone)."""
    table = TABLES[rtype]
    where = sa.and_(*filters) if filters else sa.true()
    page_query = sa.select(table.c.id).where(where)
    if after is not None:
        page_query = page_query.where(table.c.id > after)
    return list(conn.execute(page_query.order_by(table.c.id).limit(limit)).scalars())


def search_total(conn: sa.Connection, rtype: str, filters: list) -> int:
    """How many resources match every filter."""
    table = TABLES[rtype]
    where = sa.and_(*filters) if filters else sa.true()
    return conn.execute(sa.select(sa.func.count()).select_from(table).where(where)).scalar_one()


def resources_json_in(conn: sa.Connection, rtype: str, ids: list[str]) -> list[str]:
    """The JSON of these resources (those that exist), in id order."""
    table = TABLES[rtype]
    return list(conn.execute(sa.select(table.c.resource).where(table.c.id.in_(ids)).order_by(table.c.id)).scalars())


def referenced(conn: sa.Connection, rtype: str, column: str, ids: list[str]) -> list[str | None]:
    """What these resources reference in `column` (an _include)."""
    table = TABLES[rtype]
    return list(conn.execute(sa.select(table.c[column]).where(table.c.id.in_(ids))).scalars())


def referring_json(conn: sa.Connection, rtype: str, column: str, ids: list[str]) -> list[str]:
    """The JSON of the resources of `rtype` whose `column` references one of `ids` (a _revinclude), in id order."""
    src = TABLES[rtype]
    return list(conn.execute(sa.select(src.c.resource).where(src.c[column].in_(ids)).order_by(src.c.id)).scalars())
