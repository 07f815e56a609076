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


def listed_mailbox_type(conn: sa.Connection, address: str, rtype: str) -> str | None:
    """The type (PER/ORG/APP/CAB) under which a resource of `rtype` lists `address` (lower case)
    outside the liste rouge, or None."""
    return conn.execute(_MAILBOX_TYPE, {"address": address, "rtype": rtype}).scalar()
