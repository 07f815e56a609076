"""MSSanté operators write their mailboxes into the Annuaire by FHIRPath Patch on `telecom`.

The draft Annuaire "BAL MSS" specification (IG fhir-annuaire, balmss-spec, trial use) has
operators PATCH the carrier of a mailbox — Practitioner, PractitionerRole or Organization —,
found by id or conditionally by identifier (several matches: 412, none: 404), with a FHIRPath
Patch `Parameters` body. The operations it describes, and only those, are accepted:

- `insert` (or `add`) of a whole mailbox ContactPoint at `<Type>.telecom`;
- `delete` of `<Type>.telecom.where(value = '<address>')`;
- `replace` of `<Type>.telecom.where(value = '<address>')` by a ContactPoint with the same
  address and type;
- `replace` of one metadata field, `….extension('<metadata url>').extension('<field>').value`,
  for `listeRouge` (boolean), `description` and `service` (strings).

The address and the type of a mailbox never change (delete and insert instead); PER mailboxes go on
Practitioner or PractitionerRole, ORG and APP on Organization, CAB on Organization or Practitioner;
an address is MSSanté's (`…mssante.fr`) and belongs to one carrier only. Anything else is refused
with an OperationOutcome naming the operation. Which mailboxes the calling operator may touch at all
is `operators.OperatorScope`'s question, asked before anything is looked up and on the result.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from maison.core.errors import Conflict, InvalidInput, MaisonError, MalformedRequest, NotFound
from maison.identite.annuaire import store
from maison.identite.annuaire.index import get, mailboxes, put
from maison.identite.annuaire.operators import OperatorScope
from maison.identite.annuaire.vocabulary import EXT_MAILBOX, MAILBOX_TYPES, system_alias

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

CARRIERS = {
    "PER": {"Practitioner", "PractitionerRole"},
    "ORG": {"Organization"},
    "APP": {"Organization"},
    "CAB": {"Organization", "Practitioner"},
}
FIELDS = {"listeRouge": "valueBoolean", "description": "valueString", "service": "valueString"}
_ADDRESS = re.compile(r"^[A-Za-z0-9._%+-]+@([A-Za-z0-9-]+\.)*mssante\.fr$")
_WHERE = re.compile(
    r"^(?P<type>\w+)\.telecom\.where\(value\s*=\s*'(?P<address>[^']+)'\)"
    r"(?:\.extension\('(?P<meta>[^']+)'\)\.extension\('(?P<field>\w+)'\)\.value)?$"
)


class PreconditionFailed(MaisonError):
    http_status = 412
    fhir_issue = "multiple-matches"
    code = "plusieurs-ressources"


class NotSupported(MaisonError):
    http_status = 422
    fhir_issue = "not-supported"
    code = "operation-non-supportee"


def resolve(conn: Connection, rtype: str, identifier: str) -> str:
    """The id of the only resource of `rtype` carrying `system|value` (conditional PATCH)."""
    system, bar, value = identifier.rpartition("|")
    if not bar or not value:
        raise InvalidInput("identifier=système|valeur attendu pour un PATCH conditionnel", code="identifier")
    ids = store.ids_by_identifier(conn, rtype, value, system_alias(system) if system else None)
    if not ids:
        raise NotFound(f"aucun {rtype} avec l'identifiant {identifier}", code="ressource-inconnue")
    if len(ids) > 1:
        raise PreconditionFailed(f"{len(ids)} {rtype} portent l'identifiant {identifier}")
    return ids[0]


def _check_mailbox(rtype: str, contact: dict) -> dict:
    found = mailboxes({"telecom": [contact]})
    if not found:
        raise InvalidInput(
            "ContactPoint de BAL MSSanté attendu (system email, extension de type MSSANTE)",
            code="bal-invalide",
            expression="Parameters.parameter.part.valueContactPoint",
        )
    box = found[0]
    if not _ADDRESS.match(box["address"]):
        raise InvalidInput(f"adresse '{box['address']}' hors de l'espace de confiance MSSanté", code="bal-adresse")
    if box["type"] not in MAILBOX_TYPES:
        raise InvalidInput(f"type de BAL '{box['type']}' inconnu ({', '.join(MAILBOX_TYPES)})", code="bal-type")
    if rtype not in CARRIERS[box["type"]]:
        raise InvalidInput(f"une BAL {box['type']} ne se porte pas sur {rtype}", code="bal-porteur")
    return box


def _parts(operation: object) -> dict:
    parts = operation.get("part") if isinstance(operation, dict) else None
    if not isinstance(parts, list) or not all(isinstance(p, dict) for p in parts):
        raise MalformedRequest("opération FHIRPath Patch : liste de parts attendue", code="patch-invalide")
    return {p.get("name"): p for p in parts}


def _named_addresses(operations: list[dict]) -> list[str]:
    """Every address an operation names, in its path or in a ContactPoint value."""
    found = []
    for operation in operations:
        parts = _parts(operation)
        path = parts.get("path", {}).get("valueString", "")
        where = _WHERE.match(path) if isinstance(path, str) else None
        if where:
            found.append(where.group("address"))
        contact = parts.get("value", {}).get("valueContactPoint")
        if isinstance(contact, dict) and isinstance(contact.get("value"), str):
            found.append(contact["value"])
    return found


def apply(conn: Connection, rtype: str, rid: str, parameters: dict, scope: OperatorScope) -> dict:
    """Apply a FHIRPath Patch to the mailboxes of one resource, within the operator's `scope`;
    returns the updated resource."""
    if parameters.get("resourceType") != "Parameters":
        raise MalformedRequest("ressource Parameters (FHIRPath Patch) attendue", code="resource-type")
    listed = parameters.get("parameter", [])
    if not isinstance(listed, list) or not all(isinstance(p, dict) for p in listed):
        raise MalformedRequest("Parameters.parameter : liste d'objets attendue", code="patch-invalide")
    operations = [p for p in listed if p.get("name") == "operation"]
    if not operations:
        raise InvalidInput("aucune opération dans le Patch", code="patch-vide")
    for address in _named_addresses(operations):  # authorised before anything is looked up
        scope.address(address)
    resource = get(conn, rtype, rid)
    if resource is None:
        raise NotFound(f"{rtype}/{rid} inconnu", code="ressource-inconnue")
    telecom = list(resource.get("telecom", []))
    for number, operation in enumerate(operations, 1):
        parts = _parts(operation)
        kind = parts.get("type", {}).get("valueCode")
        path = parts.get("path", {}).get("valueString", "")
        if not isinstance(path, str):
            raise InvalidInput("path : valueString attendu", code="patch-invalide")
        where = _WHERE.match(path)
        if kind in ("insert", "add") and path == f"{rtype}.telecom" and "value" in parts:
            contact = parts["value"].get("valueContactPoint")
            if not isinstance(contact, dict):
                raise InvalidInput("valueContactPoint attendu", code="bal-invalide")
            box = _check_mailbox(rtype, contact)
            if any(m["address"].lower() == box["address"].lower() for m in mailboxes({"telecom": telecom})):
                raise Conflict(f"BAL {box['address']} déjà portée par cette ressource", code="bal-existante")
            index = parts.get("index", {}).get("valueInteger", len(telecom))
            if not isinstance(index, int) or isinstance(index, bool):
                raise InvalidInput("index : valueInteger attendu", code="patch-invalide")
            telecom.insert(max(0, min(index, len(telecom))), parts["value"]["valueContactPoint"])
            continue
        if where is None or where.group("type") != rtype or kind not in ("delete", "replace"):
            raise NotSupported(f"opération {number} ({kind} {path}) non supportée : voir la spécification BAL MSS")
        position = next((i for i, t in enumerate(telecom) if t.get("value") == where.group("address")), None)
        if position is None:
            raise NotFound(f"BAL {where.group('address')} absente de {rtype}/{rid}", code="bal-inconnue")
        if kind == "delete" and not where.group("field"):
            telecom.pop(position)
        elif kind == "replace" and not where.group("field"):
            new = parts.get("value", {}).get("valueContactPoint")
            if not isinstance(new, dict):
                raise InvalidInput("valueContactPoint attendu", code="bal-invalide")
            before, after = mailboxes({"telecom": [telecom[position]]})[0], _check_mailbox(rtype, new)
            if (before["address"], before["type"]) != (after["address"], after["type"]):
                raise InvalidInput("l'adresse et le type d'une BAL ne se modifient pas", code="bal-immuable")
            telecom[position] = new
        elif kind == "replace" and where.group("meta") == EXT_MAILBOX and where.group("field") in FIELDS:
            field, value_key = where.group("field"), FIELDS[where.group("field")]
            if value_key not in parts.get("value", {}):
                raise InvalidInput(f"{field} attend {value_key}", code="valeur-invalide")
            telecom[position] = _set_field(telecom[position], field, value_key, parts["value"][value_key])
        else:
            raise NotSupported(f"opération {number} ({kind} {path}) non supportée : voir la spécification BAL MSS")
    scope.changes(resource, list(resource.get("telecom", [])), telecom)
    return _save(conn, resource, telecom)


def _set_field(contact: dict, field: str, value_key: str, value: object) -> dict:
    contact = {**contact, "extension": [dict(e) for e in contact.get("extension", [])]}
    meta = next((e for e in contact["extension"] if e.get("url") == EXT_MAILBOX), None)
    if meta is None:
        meta = {"url": EXT_MAILBOX, "extension": []}
        contact["extension"].append(meta)
    meta["extension"] = [s for s in meta.get("extension", []) if s.get("url") != field] + [
        {"url": field, value_key: value}
    ]
    return contact


def _save(conn: Connection, resource: dict, telecom: list[dict]) -> dict:
    rtype, rid = resource["resourceType"], resource["id"]
    for box in mailboxes({"telecom": telecom}):
        owner = store.mailbox_publisher(conn, box["address"].lower())
        if owner is not None and (owner.rtype, owner.rid) != (rtype, rid):
            raise Conflict(f"BAL {box['address']} déjà publiée par {owner.rtype}/{owner.rid}", code="bal-existante")
    updated = {k: v for k, v in resource.items() if k != "telecom"}
    if telecom:
        updated["telecom"] = telecom
    meta = dict(resource.get("meta", {}))
    meta["versionId"] = str(int(meta.get("versionId", "0")) + 1)
    meta["lastUpdated"] = datetime.now(UTC).isoformat(timespec="seconds")
    updated["meta"] = meta
    put(conn, [updated])
    return updated
