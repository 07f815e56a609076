"""What other services read from the Annuaire Santé, without touching its tables (issue 19 §2.1).

Pro Santé Connect builds a professional's UserInfo from his Practitioner, his active roles and the
structures they are exercised in; Mon espace santé's messagerie lets a patient forward only to an
organisational mailbox the Annuaire lists; the DMP reads the secteur d'activité of the structure a
professional acts in. Each function reads in the caller's transaction (`conn`): PSC reads the
token's revocation and the professional in one snapshot on every API call, the DMP reads under its
write lock, and one more transaction each time would cost a round trip for nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import orjson
from sqlalchemy.engine import Connection

from maison.identite.annuaire import index, store


@dataclass(frozen=True)
class Professional:
    """A professional as the Annuaire lists him: Practitioner, active PractitionerRoles (in id
    order) and the Organizations those roles name, by id."""

    practitioner: dict
    roles: list[dict]
    organizations: dict[str, dict]


def practitioner(conn: Connection, idnatps: str) -> dict | None:
    """The Practitioner whose id is this IdNatPS, or None."""
    text = store.practitioner_json(conn, idnatps)
    return orjson.loads(text) if text else None


def professional(conn: Connection, idnatps: str) -> Professional | None:
    """The Practitioner, his active roles and their structures; None if the Annuaire does not know him."""
    found = practitioner(conn, idnatps)
    if found is None:
        return None
    roles = [orjson.loads(x) for x in store.active_roles_json(conn, idnatps)]
    ids = {x.get("organization", {}).get("reference", "").split("/")[-1] for x in roles}
    organizations = {x["id"]: x for x in map(orjson.loads, store.organizations_json(conn, list(ids)))}
    return Professional(found, roles, organizations)


def organization(conn: Connection, id_: str) -> dict | None:
    """The Organization of this id, or None."""
    return index.get(conn, "Organization", id_)


# A page naming many people (the patient's access history) asks for them in chunks of this many ids,
# one query each, not one query a person: under SQLite's and PostgreSQL's bound-parameter limits.
CHUNK = 500


def practitioners(conn: Connection, ids: set[str]) -> dict[str, dict]:
    """The Practitioners of these IdNatPS that the Annuaire knows, by id (one query per `CHUNK`)."""
    return _by_id(store.practitioners_json, conn, ids)


def organizations(conn: Connection, ids: set[str]) -> dict[str, dict]:
    """The Organizations of these ids that the Annuaire knows, by id (one query per `CHUNK`)."""
    return _by_id(store.organizations_json, conn, ids)


def _by_id(read: Callable[[Connection, list[str]], list[str]], conn: Connection, ids: set[str]) -> dict[str, dict]:
    wanted = sorted(ids)
    found = {}
    for start in range(0, len(wanted), CHUNK):
        for text in read(conn, wanted[start : start + CHUNK]):
            resource = orjson.loads(text)
            found[resource["id"]] = resource
    return found


def is_organisational_mailbox(conn: Connection, address: str) -> bool:
    """Whether an Organization lists `address` (lower case) as an organisational mailbox (ORG),
    outside the liste rouge."""
    return store.listed_mailbox_type(conn, address, "Organization") == "ORG"
