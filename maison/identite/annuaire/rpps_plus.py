"""RPPS+: an employer registers its médico-social professionals in the directory (seed 003 L1156-1160).

"Lorsque c'est utile pour accéder aux services numériques, les professionnels du MS sont
enregistrés par leur employeur dans le RPPS via le portail RPPS+ … L'employeur déclare le rôle et
la profession de chaque professionnel au sein de sa structure." Registration gives the person an
RPPS number (hence an IdNatPS, the identity e-CPS and Pro Santé Connect use) and a situation
d'exercice in the employer's structure carrying the declared role.

The role is a TRE_R85 RolePriseCharge code (e.g. 318 auxiliaire de vie sociale, 326 éducateur
spécialisé, 331 secrétaire médicale), checked against the CI-SIS value sets when the reference
pack is configured. A person registered twice by the same employer (same names and birth date) is
the same registration: the second call returns the first.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from maison.core.audit import Actor
from maison.core.errors import Forbidden, InvalidInput
from maison.core.identifiers.checksums import luhn_check_digit
from maison.core.terminology import Terminology
from maison.identite.annuaire import resources as build
from maison.identite.annuaire import store
from maison.identite.annuaire.index import fold, get, put
from maison.identite.annuaire.vocabulary import nos

CS_ROLE = nos("TRE_R85-RolePriseCharge")
OID_ROLE = "1.2.250.1.213.1.6.1.107"  # TRE_R85 in the CI-SIS value sets
RPPS_PLUS_PREFIX = "998"  # numbers given by this registry (the test ranges, like seed 001 L383's)


def _next_rpps(conn: Connection) -> str:
    last = conn.execute(sa.select(sa.func.max(store.ann_practitioner.c.id)).where(
        store.ann_practitioner.c.id.like(f"8{RPPS_PLUS_PREFIX}%"))).scalar()
    sequence = int(last[4:11]) + 1 if last else 1
    body = f"{RPPS_PLUS_PREFIX}{sequence:07d}"
    return body + luhn_check_digit(body)


def register(conn: Connection, terminology: Terminology, employer: Actor, *, family: str, given: str,
             birth_date: str, civilite: str, role: str) -> tuple[dict, dict, bool]:
    """(Practitioner, PractitionerRole, created) for a professional declared by its employer."""
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
    organization = conn.execute(sa.select(store.ann_organization.c.id).where(
        store.ann_organization.c.id == employer.structure)).scalar()
    if organization is None:
        raise Forbidden(f"structure {employer.structure} absente de l'annuaire : pas d'enregistrement RPPS+",
                        code="employeur-inconnu")
    person = f"{fold(family)}|{fold(given)}|{born.isoformat()}"
    r = store.ann_rpps_plus
    existing = conn.execute(sa.select(r.c.practitioner, r.c.role).where(
        r.c.employer == employer.structure, r.c.person == person)).first()
    if existing:
        return get(conn, "Practitioner", existing.practitioner), get(conn, "PractitionerRole", existing.role), False
    now = datetime.now(UTC).isoformat(timespec="seconds")
    rpps = _next_rpps(conn)
    practitioner = build.practitioner(rpps, family.strip().upper(), given.strip(), civilite, role, "C", None, now)
    # A non-health professional has no TRE_G15 profession: the qualification carries the R85 role.
    practitioner["qualification"] = [{"code": {"coding": [{"system": CS_ROLE, "code": role}]}}]
    role_resource = build.practitioner_role(f"{rpps}01", practitioner["id"], organization, now, fonction=None,
                                            mode="S")
    role_resource["code"].append({"coding": [{"system": CS_ROLE, "code": role}]})
    put(conn, [practitioner])
    put(conn, [role_resource])
    conn.execute(r.insert().values(employer=employer.structure, person=person, practitioner=practitioner["id"],
                                   role=role_resource["id"], registered_at=now))
    return practitioner, role_resource, True
