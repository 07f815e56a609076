"""RPPS+: an employer registers its médico-social professionals in the directory (seed 003 L1156-1160).

"Lorsque c'est utile pour accéder aux services numériques, les professionnels du MS sont
enregistrés par leur employeur dans le RPPS via le portail RPPS+ … L'employeur déclare le rôle et
la profession de chaque professionnel au sein de sa structure." Registration gives the person an
RPPS number (hence an IdNatPS, the identity e-CPS and Pro Santé Connect use) and a situation
d'exercice in the employer's structure carrying the declared role.

The role is a TRE_R85 RolePriseCharge code (e.g. 318 auxiliaire de vie sociale, 326 éducateur
spécialisé, 331 secrétaire médicale), checked against the CI-SIS value sets when the reference
pack is configured. A person declared twice by the same employer (same names and birth date) is
the same declaration: the second call returns the first.

A declaration does not make a professional by itself: it waits, `en-attente`, until the registry
validates it (the RPPS+ portal's declarations are checked by its manager before a number is given —
the ANS's "guichet RPPS+"; Maison's registry manager is the house's administrator). Only then do the
Practitioner and its PractitionerRole exist in the directory, hence an IdNatPS that Pro Santé
Connect, a structure's own identity provider or an e-CPS could vouch for (issue 18 §1.1: a front
desk's key had declared a person and had a token minted for her at once).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING

import orjson

from maison.core.actor import Actor
from maison.core.audit import Trail
from maison.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from maison.core.identifiers.checksums import luhn_check_digit
from maison.core.terminology import Terminology
from maison.identite.annuaire import resources as build
from maison.identite.annuaire import store
from maison.identite.annuaire.index import fold, get, put
from maison.identite.annuaire.vocabulary import nos

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

CS_ROLE = nos("TRE_R85-RolePriseCharge")
OID_ROLE = "1.2.250.1.213.1.6.1.107"  # TRE_R85 in the CI-SIS value sets
PURPOSE = "HOPERAT"  # the registry's operations
RPPS_PLUS_PREFIX = "998"  # numbers given by this registry (the test ranges, like seed 001 L383's)


def number(sequence: int) -> str:
    """The RPPS number this registry gives the `sequence`-th declaration it validates (from 1): its
    prefix, the sequence on seven digits, the Luhn key. The registry numbers in the order it validates,
    so a house that validates the same declarations in the same order gives the same numbers (what
    `maison sandbox` publishes before it builds, issue 21 §2)."""
    body = f"{RPPS_PLUS_PREFIX}{sequence:07d}"
    return body + luhn_check_digit(body)


def _next_rpps(conn: Connection) -> str:
    last = store.last_practitioner_id(conn, f"8{RPPS_PLUS_PREFIX}")
    return number(int(last[4:11]) + 1 if last else 1)


class Status(StrEnum):
    PENDING = "en-attente"
    VALIDATED = "validee"
    REFUSED = "refusee"


@dataclass(frozen=True)
class Declaration:
    id: str
    employer: str
    status: Status
    declared: dict  # nom, prenom, dateNaissance, civilite, role — as the employer declared them
    practitioner: str | None = None  # once validated


def declare(
    conn: Connection,
    terminology: Terminology,
    employer: Actor,
    *,
    family: str,
    given: str,
    birth_date: str,
    civilite: str,
    role: str,
) -> tuple[Declaration, bool]:
    """(declaration, created) for a professional declared by its employer, pending validation; a new
    declaration is audited (`annuaire.rpps-plus.declarer`) in the caller's transaction, whoever calls —
    the `/annuaire/$rpps-plus` route or `maison sandbox`."""
    if not fold(family) or not fold(given):
        raise InvalidInput("nom et prénom requis", code="identite-incomplete")
    try:
        born = date.fromisoformat(birth_date)
    except ValueError:
        raise InvalidInput(f"date de naissance '{birth_date}' : AAAA-MM-JJ attendu", code="date-invalide") from None
    if born >= date.today():
        raise InvalidInput("date de naissance dans le futur", code="date-invalide")
    if civilite not in ("M", "MME"):
        raise InvalidInput("civilité M ou MME", code="civilite")
    if not terminology.knows(OID_ROLE, role):
        raise InvalidInput(f"rôle '{role}' absent de TRE_R85-RolePriseCharge", code="role-inconnu")
    if not store.organization_exists(conn, employer.structure):
        raise Forbidden(
            f"structure {employer.structure} absente de l'annuaire : pas d'enregistrement RPPS+",
            code="employeur-inconnu",
        )
    person = f"{fold(family)}|{fold(given)}|{born.isoformat()}"
    existing = store.declaration_of(conn, employer.structure, person)
    if existing:
        return _declaration(existing), False
    declared = {
        "nom": family.strip(),
        "prenom": given.strip(),
        "dateNaissance": born.isoformat(),
        "civilite": civilite,
        "role": role,
    }
    declaration = secrets.token_hex(8)
    store.insert_declaration(
        conn,
        employer=employer.structure,
        person=person,
        declaration=declaration,
        status=Status.PENDING.value,
        declared=orjson.dumps(declared).decode(),
        registered_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    detail = {"declaration": declaration, "role": role}
    Trail.write(conn, employer, "annuaire.rpps-plus.declarer", purpose=PURPOSE, detail=detail)
    return Declaration(declaration, employer.structure, Status.PENDING, declared), True


def find(conn: Connection, declaration: str) -> Declaration:
    row = store.declaration(conn, declaration)
    if row is None:
        raise NotFound(f"déclaration RPPS+ {declaration} inconnue", code="declaration-inconnue")
    return _declaration(row)


def decide(
    conn: Connection, declaration: str, manager: Actor, *, validate: bool
) -> tuple[Declaration, dict | None, dict | None]:
    """The registry's decision on a pending declaration: (declaration, Practitioner, PractitionerRole),
    audited (`annuaire.rpps-plus.valider` / `refuser`) in the caller's transaction."""
    decided, practitioner, role = _decide(conn, declaration, manager, validate=validate)
    event = "annuaire.rpps-plus.valider" if validate else "annuaire.rpps-plus.refuser"
    detail = {"declaration": declaration, "practitioner": decided.practitioner}
    Trail.write(conn, manager, event, purpose=PURPOSE, detail=detail)
    return decided, practitioner, role


def _decide(
    conn: Connection, declaration: str, manager: Actor, *, validate: bool
) -> tuple[Declaration, dict | None, dict | None]:
    current = find(conn, declaration)
    if current.status is not Status.PENDING:
        raise Conflict(f"déclaration RPPS+ déjà {current.status.value}", code="declaration-traitee")
    now = datetime.now(UTC).isoformat(timespec="seconds")
    decided = {"decided_at": now, "decided_by": manager.person}
    if not validate:
        store.update_declaration(conn, declaration, status=Status.REFUSED.value, **decided)
        return Declaration(current.id, current.employer, Status.REFUSED, current.declared), None, None
    d = current.declared
    rpps = _next_rpps(conn)
    practitioner = build.practitioner(rpps, d["nom"].upper(), d["prenom"], d["civilite"], d["role"], "C", None, now)
    # A non-health professional has no TRE_G15 profession: the qualification carries the R85 role.
    practitioner["qualification"] = [{"code": {"coding": [{"system": CS_ROLE, "code": d["role"]}]}}]
    role_resource = build.practitioner_role(
        f"{rpps}01", practitioner["id"], current.employer, now, fonction=None, mode="S"
    )
    role_resource["code"].append({"coding": [{"system": CS_ROLE, "code": d["role"]}]})
    put(conn, [practitioner])
    put(conn, [role_resource])
    store.update_declaration(
        conn,
        declaration,
        status=Status.VALIDATED.value,
        practitioner=practitioner["id"],
        role=role_resource["id"],
        **decided,
    )
    return (
        Declaration(current.id, current.employer, Status.VALIDATED, d, practitioner["id"]),
        practitioner,
        role_resource,
    )


def resources(conn: Connection, declaration: Declaration) -> tuple[dict | None, dict | None]:
    """The Practitioner and PractitionerRole a validated declaration made."""
    if declaration.status is not Status.VALIDATED:
        return None, None
    row = store.declared_role(conn, declaration.id)
    # a validated declaration has its practitioner and role (written in the same transaction)
    assert row is not None and declaration.practitioner is not None
    return get(conn, "Practitioner", declaration.practitioner), get(conn, "PractitionerRole", row.role)


def _declaration(row) -> Declaration:
    return Declaration(
        row.declaration, row.employer, Status(row.status), orjson.loads(row.declared or "{}"), row.practitioner
    )
