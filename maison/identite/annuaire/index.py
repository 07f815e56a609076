"""What the searches need, derived from a resource's JSON, and the writes that keep it in step.

`fold` is the comparison form of FHIR string search (case- and accent-insensitive, punctuation as
space). Everything stored next to a resource comes from `rows_of(resource)`; `put` replaces a
resource and all its derived rows in the caller's transaction.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

import orjson
from unidecode import unidecode

from maison.identite.annuaire import store
from maison.identite.annuaire.vocabulary import (
    EXT_DATA_TRACE,
    EXT_EMAIL_TYPE,
    EXT_INSEE,
    EXT_MAILBOX,
    EXT_SMARTCARD,
    system_alias,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

_NON_WORD = re.compile(r"[^0-9a-z@._]+")


def fold(text: str) -> str:
    return _NON_WORD.sub(" ", unidecode(text or "").lower()).strip()


def _list(value: object) -> list:
    """A JSON array member, or nothing: mailboxes written by operators are untrusted input."""
    return [x for x in value if isinstance(x, dict)] if isinstance(value, list) else []


def _codings(concept: object) -> Iterable[tuple[str, str]]:
    for c in _list(concept.get("coding") if isinstance(concept, dict) else None):
        if isinstance(c.get("code"), str) and c["code"]:
            yield str(c.get("system", "")), c["code"]


def _ext(element: dict, url: str) -> dict | None:
    return next((e for e in _list(element.get("extension")) if e.get("url") == url), None)


def mailboxes(resource: dict) -> list[dict]:
    """The MSSanté mailboxes in `telecom`: address, type (PER/ORG/APP/CAB) and liste rouge."""
    found = []
    for t in _list(resource.get("telecom")):
        if (
            t.get("system") != "email"
            or _ext(t, EXT_EMAIL_TYPE) is None
            or not isinstance(t.get("value"), str)
            or not t["value"]
        ):
            continue
        meta = _ext(t, EXT_MAILBOX) or {}
        kind, rouge = "", False
        for sub in _list(meta.get("extension")):
            if sub.get("url") == "type":
                kind = next((code for _s, code in _codings(sub.get("valueCodeableConcept"))), sub.get("valueCode", ""))
            elif sub.get("url") == "listeRouge":
                rouge = bool(sub.get("valueBoolean"))
        found.append({"address": t["value"], "type": kind, "liste_rouge": rouge})
    return found


def _identifier_tokens(resource: dict) -> Iterable[tuple[str, str, str]]:
    for ident in resource.get("identifier", []):
        if ident.get("value"):
            yield "identifier", ident.get("system", ""), ident["value"]
        for system, code in _codings(ident.get("type")):
            yield "identifier-type", system, code


def _trace_tokens(resource: dict) -> Iterable[tuple[str, str, str]]:
    """data-information-system and data-registration-authority. The data trace sits in meta.extension
    (rulesets.fsh L5) while the SearchParameters' expressions read the resource's own extension
    (AsDataInformationSystemSearchParameter.fsh L14): both places are indexed."""
    declared = resource.get("meta")
    meta = declared if isinstance(declared, dict) else {}
    for holder in (meta, resource):
        trace = _ext(holder, EXT_DATA_TRACE)
        for sub in _list((trace or {}).get("extension")):
            if sub.get("url") == "systeme-information" and isinstance(sub.get("valueCode"), str):
                yield "data-information-system", "", sub["valueCode"]
            elif sub.get("url") == "autorite-enregistrement":
                yield from (("data-registration-authority", s, c) for s, c in _codings(sub.get("valueCodeableConcept")))


def rows_of(resource: dict) -> tuple[dict, list[tuple[str, str, str]], list[dict]]:
    """(the resource table's row, its tokens as (param, system, code), its mailboxes)."""
    rtype = resource["resourceType"]
    row = {
        "id": resource["id"],
        "active": bool(resource.get("active", True)),
        "last_updated": resource.get("meta", {}).get("lastUpdated", ""),
        "resource": orjson.dumps(resource).decode(),
    }
    tokens = list(_identifier_tokens(resource)) + list(_trace_tokens(resource))
    if rtype == "Practitioner":
        name = (resource.get("name") or [{}])[0]
        given = " ".join(name.get("given", []))
        row |= {
            "family": fold(name.get("family", "")),
            "given": fold(given),
            "family_exact": name.get("family", ""),
            "given_exact": given,
        }
        for q in resource.get("qualification", []):
            tokens += [("qualification-code", s, c) for s, c in _codings(q.get("code"))]
        for card in (e for e in resource.get("extension", []) if e.get("url") == EXT_SMARTCARD):
            for sub in card.get("extension", []):
                if sub.get("url") == "number":
                    tokens.append(("number-smartcard", "", sub.get("valueString", "")))
                elif sub.get("url") == "type":
                    tokens += [("type-smartcard", s, c) for s, c in _codings(sub.get("valueCodeableConcept"))]
    elif rtype == "Organization":
        address = (resource.get("address") or [{}])[0]
        insee = _ext(address, EXT_INSEE)
        row |= {
            "name": fold(resource.get("name", "")),
            "name_exact": resource.get("name", ""),
            "city": fold(address.get("city", "")),
            "postal_code": address.get("postalCode", ""),
            "insee": (insee or {}).get("valueCoding", {}).get("code", ""),
            "line": fold(" ".join(x for x in address.get("line", []) if x)),
            "partof": _ref_id(resource.get("partOf")),
        }
        for t in resource.get("type", []):
            tokens += [("type", s, c) for s, c in _codings(t)]
    elif rtype == "PractitionerRole":
        row |= {
            "practitioner": _ref_id(resource.get("practitioner")),
            "organization": _ref_id(resource.get("organization")),
        }
        for code in resource.get("code", []):
            tokens += [("role", s, c) for s, c in _codings(code)]
    elif rtype == "HealthcareService":
        row |= {"organization": _ref_id(resource.get("providedBy"))}
        for param, element in (
            ("service-category", "category"),
            ("service-type", "type"),
            ("characteristic", "characteristic"),
        ):
            for concept in _list(resource.get(element)):
                tokens += [(param, s, c) for s, c in _codings(concept)]
        for profile in resource.get("meta", {}).get("profile", []):  # a canonical: (base, name), no |version
            base, _, name = profile.split("|")[0].rpartition("/")
            tokens.append(("_profile", base, name))
    return row, tokens, mailboxes(resource)


def _ref_id(reference: dict | None) -> str | None:
    ref = (reference or {}).get("reference", "")
    return ref.rsplit("/", 1)[-1] if ref else None


def put(conn: Connection, resources: list[dict]) -> None:
    """Replace these resources (all of one type) and everything derived from them."""
    if not resources:
        return
    rtype = resources[0]["resourceType"]
    ids = [r["id"] for r in resources]
    for chunk in range(0, len(ids), 500):
        part = ids[chunk : chunk + 500]
        store.delete_resources(conn, rtype, part)
    rows, tokens, boxes = [], [], []
    for resource in resources:
        row, toks, mbs = rows_of(resource)
        rows.append(row)
        tokens += [
            {"rtype": rtype, "rid": row["id"], "param": p, "system": system_alias(s), "code": c} for p, s, c in toks
        ]
        boxes += [
            {
                "rtype": rtype,
                "rid": row["id"],
                "address": m["address"].lower(),
                "address_exact": m["address"],
                "type": m["type"],
                "liste_rouge": m["liste_rouge"],
            }
            for m in mbs
        ]
    store.insert_resources(conn, rtype, rows, tokens, boxes)


def get(conn: Connection, rtype: str, rid: str) -> dict | None:
    text = store.resource_json(conn, rtype, rid)
    return orjson.loads(text) if text else None
