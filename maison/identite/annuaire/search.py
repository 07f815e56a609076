"""FHIR search over the Annuaire, with the parameters of the Annuaire Santé CapabilityStatement.

What the real API offers (IG fhir-annuaire `AsServerDPCapabilityStatement`, plus the IG's own
SearchParameters) and how it behaves for its users:

- string parameters match the start of the value, case- and accent-insensitive; `:exact` matches
  the whole value as written; `:contains` anywhere;
- token parameters take `code`, `system|code`, `|code` or `system|`;
- a comma means OR, a repeated parameter AND;
- an unknown parameter, modifier, `_include` or `_revinclude` is refused with an OperationOutcome
  (the issue asks for it: silently ignoring a misspelt filter returns the whole directory);
- results come in `id` order and the `next` link carries the last id seen (keyset paging), so
  walking the pages of a filtered search returns every match exactly once, even with `_include`
  and while the directory changes;
- `_total=accurate` counts, `none` does not; by default the total is counted when the search has
  a filter and left out for a walk of a whole resource type, where counting costs more than the
  page (the live API also leaves out totals it finds too expensive);
- mailboxes on the liste rouge are neither found nor shown.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import orjson

from maison.core.errors import InvalidInput
from maison.formats.fhir import count_bundle, result_controls
from maison.identite.annuaire import store
from maison.identite.annuaire.index import fold
from maison.identite.annuaire.vocabulary import EXT_MAILBOX, system_alias

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

DEFAULT_COUNT, MAX_COUNT = 50, 1000
CONTROL = {"_count", "_total", "_include", "_revinclude", "_elements", "_cursor", "_format", "_summary", "_sort"}

# param -> (kind, target). Kinds: string (folded column, exact column), token, mailbox, mailbox-type,
# reference (column), date (column), bool (column), id.
_BASE = {
    "_id": ("id", None),
    "_lastUpdated": ("date", "last_updated"),
    "active": ("bool", "active"),
    "identifier": ("token", None),
    "data-information-system": ("token", None),
    "data-registration-authority": ("token", None),
}
_COMMON = {**_BASE, "mailbox-mss": ("mailbox", None), "mailbox-mss-type": ("mailbox-type", None)}
PARAMS: dict[str, dict[str, tuple[str, Any]]] = {  # the target's type depends on the kind
    "Practitioner": {
        **_COMMON,
        "family": ("string", ("family", "family_exact")),
        "given": ("string", ("given", "given_exact")),
        "name": ("name", None),
        "identifier-type": ("token", None),
        "qualification-code": ("token", None),
        "number-smartcard": ("token", None),
        "type-smartcard": ("token", None),
    },
    "PractitionerRole": {
        **_COMMON,
        "role": ("token", None),
        "organization": ("reference", "organization"),
        "practitioner": ("reference", "practitioner"),
    },
    "Organization": {
        **_COMMON,
        "name": ("string", ("name", "name_exact")),
        "address-city": ("string", ("city", None)),
        "address-line": ("string", ("line", None)),
        "address-postalcode": ("prefix", "postal_code"),
        "address-insee": ("prefix", "insee"),
        "address": ("address", None),
        "identifier-type": ("token", None),
        "type": ("token", None),
        "partof": ("reference", "partof"),
        "pharmacy-licence": ("token", None),
    },
    # as-dp-healthcareservice-healthcare-activity in AsServerDPCapabilityStatement (L319-382)
    "HealthcareService": {
        **_BASE,
        "characteristic": ("token", None),
        "service-category": ("token", None),
        "service-type": ("token", None),
        "organization": ("reference", "organization"),
        "_profile": ("profile", None),
    },
}
MODIFIERS = {
    "string": {"", "exact", "contains"},
    "name": {"", "exact", "contains"},
    "mailbox": {"", "exact", "contains"},
    "address": {"", "contains"},
}
INCLUDES = {
    "PractitionerRole": {
        "PractitionerRole:organization": ("Organization", "organization"),
        "PractitionerRole:practitioner": ("Practitioner", "practitioner"),
    },
    "Organization": {"Organization:partof": ("Organization", "partof")},
    "HealthcareService": {"HealthcareService:organization": ("Organization", "organization")},
    "Practitioner": {},
}
REVINCLUDES = {
    "Practitioner": {"PractitionerRole:practitioner": ("PractitionerRole", "practitioner")},
    "Organization": {
        "PractitionerRole:organization": ("PractitionerRole", "organization"),
        "HealthcareService:organization": ("HealthcareService", "organization"),
    },
    "PractitionerRole": {},
    "HealthcareService": {},
}


def _bad(message: str, code: str = "parametre-invalide", expression: str | None = None) -> InvalidInput:
    return InvalidInput(message, code=code, expression=expression)


@dataclass
class Query:
    rtype: str
    filters: list = field(default_factory=list)  # the store's conditions, ANDed
    count: int = DEFAULT_COUNT
    total: str = ""  # accurate / none / "" (default)
    includes: list[tuple[str, str]] = field(default_factory=list)  # (target type, column on the source)
    revincludes: list[tuple[str, str]] = field(default_factory=list)  # (source type, column pointing here)
    elements: list[str] = field(default_factory=list)
    count_only: bool = False  # `_summary=count` or `_count=0`: the total alone (R4 search.html §3.1.1.5.6-7)
    after: str | None = None
    echo: list[tuple[str, str]] = field(default_factory=list)  # the parameters, for the links


def _date_bounds(text: str) -> tuple[str, str]:
    """The instant range [low, high) a FHIR date of any precision covers, as stored (UTC ISO)."""
    try:
        if len(text) == 4:
            return f"{int(text):04d}", f"{int(text) + 1:04d}"
        if len(text) == 7:
            y, m = int(text[:4]), int(text[5:7])
            return f"{y:04d}-{m:02d}", (f"{y + 1:04d}-01" if m == 12 else f"{y:04d}-{m + 1:02d}")
        if len(text) == 10:
            d = date.fromisoformat(text)
            return d.isoformat(), (d + timedelta(days=1)).isoformat()
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        low = moment.astimezone(UTC).isoformat(timespec="seconds")
        return low, (moment.astimezone(UTC) + timedelta(seconds=1)).isoformat(timespec="seconds")
    except ValueError:
        raise _bad(f"date '{text}' invalide", code="date-invalide") from None


def _date(rtype: str, column: str, value: str):
    prefix, text = (
        (value[:2], value[2:]) if value[:2] in ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb") else ("eq", value)
    )
    low, high = _date_bounds(text)
    return store.date_condition(rtype, column, prefix, low, high)


def _tokens(param: str, values: list[str]) -> list[tuple[str | None, str]]:
    """Token values as (system, code), the system by its stored alias; `|` alone is refused."""
    tokens = []
    for value in values:
        system, bar, code = value.rpartition("|")
        if not code and not system:
            raise _bad(f"{param} : valeur vide", expression=param)
        tokens.append((system_alias(system) if bar and system else None, code))
    return tokens


def _folded(values: list[str], modifier: str) -> list[tuple[str, str]]:
    """(value, folded value) for string matching; an empty folded value is refused unless exact."""
    pairs = [(v, fold(v)) for v in values]
    if modifier != "exact" and any(not f for _v, f in pairs):
        raise _bad("valeur de recherche vide")
    return pairs


def _reference(value: str) -> str:
    ref = value.rstrip("/").rsplit("/", 1)[-1] if "/" in value else value
    if not ref:
        raise _bad(f"référence '{value}' invalide")
    return ref


def _condition(rtype: str, param: str, modifier: str, raw: str):
    kind, target = PARAMS[rtype][param]
    allowed = MODIFIERS.get(kind, {""}) | ({"not"} if kind == "token" else set())
    if modifier not in allowed:
        raise _bad(
            f"modificateur ':{modifier}' non supporté pour {param}",
            code="modificateur-inconnu",
            expression=f"{param}:{modifier}",
        )
    values = [v for v in raw.split(",")] if kind != "date" else [raw]
    if any(v == "" for v in values):
        raise _bad(f"{param} : valeur vide", expression=param)
    if kind == "id":
        return store.id_condition(rtype, values)
    if kind == "bool":
        if raw not in ("true", "false"):
            raise _bad(f"{param} : true ou false attendu", expression=param)
        return store.bool_condition(rtype, target, raw == "true")
    if kind == "date":
        return _date(rtype, target, raw)
    if kind == "token":
        return store.token_condition(rtype, param, _tokens(param, values), negate=modifier == "not")
    if kind in ("mailbox", "mailbox-type"):
        return store.mailbox_condition(rtype, values, modifier, kind == "mailbox-type")
    if kind == "reference":
        return store.reference_condition(rtype, target, [_reference(v) for v in values])
    if kind == "profile":  # a canonical, with or without its |version, stored as (base, name)
        canonicals = ["|".join(v.split("|")[0].rpartition("/")[::2]) for v in values]
        return store.token_condition(rtype, "_profile", _tokens("_profile", canonicals), negate=False)
    if kind == "prefix":
        return store.prefix_condition(rtype, target, values)
    if kind == "string":
        folded_col, exact_col = target
        return store.string_condition(rtype, folded_col, exact_col, modifier, _folded(values, modifier))
    if kind == "name":
        return store.name_condition(modifier, _folded(values, modifier))
    if kind == "address":
        return store.address_condition(modifier, _folded(values, modifier))
    raise AssertionError(kind)


def parse(rtype: str, params: Iterable[tuple[str, str]]) -> Query:
    """Validate and translate the search parameters of one request (GET query or POST form)."""
    if rtype not in PARAMS:
        raise _bad(f"type de ressource '{rtype}' non servi par l'annuaire", code="type-inconnu")
    query = Query(rtype)
    params = list(params)
    # _summary: count (or false) only; _sort: not in the IG's CapabilityStatement, refused (issue 20 §4.3)
    summary = [(n, v) for n, v in params if n in ("_summary", "_sort")]
    query.count_only = result_controls(summary, max_count=0).count_only
    for name, value in params:
        query.echo.append((name, value))
        param, _, modifier = name.partition(":")
        if param == "_count":
            if not (value.isascii() and value.isdigit()) or not 0 <= int(value) <= MAX_COUNT:
                raise _bad(f"_count : entier de 0 à {MAX_COUNT} attendu", expression="_count")
            query.count = int(value)
            query.count_only = query.count_only or query.count == 0
        elif param == "_total":
            if value not in ("none", "estimate", "accurate"):
                raise _bad("_total : none, estimate ou accurate", expression="_total")
            query.total = "accurate" if value == "estimate" else value
        elif param == "_include":
            targets = INCLUDES[rtype] if value == "*" else {value: INCLUDES[rtype].get(value)}
            if None in targets.values() or modifier:
                raise _bad(
                    f"_include '{value}' non supporté pour {rtype}", code="include-inconnu", expression="_include"
                )
            query.includes += [t for t in targets.values() if t is not None]  # None refused just above
        elif param == "_revinclude":
            source = REVINCLUDES[rtype].get(value)
            if source is None or modifier:
                raise _bad(
                    f"_revinclude '{value}' non supporté pour {rtype}", code="include-inconnu", expression="_revinclude"
                )
            query.revincludes.append(source)
        elif param == "_elements":
            query.elements += [e.strip() for e in value.split(",") if e.strip()]
        elif param in ("_summary", "_sort"):
            pass  # read above
        elif param == "_cursor":
            query.after = value
            query.echo.pop()
        elif param == "_format":
            if value not in ("json", "application/json", "application/fhir+json"):
                raise _bad("seul le format JSON est servi", code="format", expression="_format")
        elif param in PARAMS[rtype]:
            query.filters.append(_condition(rtype, param, modifier, value))
        else:
            raise _bad(
                f"paramètre de recherche inconnu pour {rtype} : '{name}'", code="parametre-inconnu", expression=name
            )
    return query


def public(resource: dict) -> dict:
    """What the public directory shows: mailboxes on the liste rouge are removed; and no
    `meta.versionId`: the directory keeps no past versions to read (no vread, R4 http.html §3.1.0.5),
    the counter it keeps for its audit trail is not a version a client could ask for."""
    if "versionId" in resource.get("meta", {}):
        resource = {**resource, "meta": {k: v for k, v in resource["meta"].items() if k != "versionId"}}
    telecom = resource.get("telecom")
    if telecom:
        kept = [
            t
            for t in telecom
            if not any(
                sub.get("url") == "listeRouge" and sub.get("valueBoolean")
                for ext in t.get("extension", [])
                if ext.get("url") == EXT_MAILBOX
                for sub in ext.get("extension", [])
            )
        ]
        if len(kept) != len(telecom):
            resource = {**resource, "telecom": kept} if kept else {k: v for k, v in resource.items() if k != "telecom"}
    return resource


def _subset(resource: dict, elements: list[str]) -> dict:
    keep = {"resourceType", "id", "meta", *elements}
    out = {k: v for k, v in resource.items() if k in keep}
    meta = dict(out.get("meta", {}))
    meta["tag"] = [
        *meta.get("tag", []),
        {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"},
    ]
    out["meta"] = meta
    return out


def _fetch(conn: Connection, rtype: str, ids: Iterable[str | None]) -> list[dict]:
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return []
    found = []
    for chunk in range(0, len(wanted), 500):
        found += [orjson.loads(text) for text in store.resources_json_in(conn, rtype, wanted[chunk : chunk + 500])]
    return found


def run(conn: Connection, query: Query, base: str) -> dict:
    """The searchset Bundle of one page (the total alone for `_summary=count`)."""
    if query.count_only:
        return count_bundle(store.search_total(conn, query.rtype, query.filters))
    # The page's ids first (from the indexes alone), then only their rows.
    ids = store.search_ids(conn, query.rtype, query.filters, query.after, query.count + 1)
    more = len(ids) > query.count
    ids = ids[: query.count]
    matches = _fetch(conn, query.rtype, ids)
    entries: list[dict[str, Any]] = [
        {"fullUrl": f"{base}/{query.rtype}/{m['id']}", "resource": m, "search": {"mode": "match"}} for m in matches
    ]
    included: dict[tuple[str, str], dict] = {}
    for target, column in query.includes:
        targets = store.referenced(conn, query.rtype, column, ids)
        for resource in _fetch(conn, target, targets):
            included[(target, resource["id"])] = resource
    for source, column in query.revincludes:
        for text in store.referring_json(conn, source, column, ids):
            resource = orjson.loads(text)
            included[(source, resource["id"])] = resource
    entries += [
        {"fullUrl": f"{base}/{t}/{i}", "resource": r, "search": {"mode": "include"}}
        for (t, i), r in included.items()
        if t != query.rtype or i not in set(ids)
    ]
    for entry in entries:
        entry["resource"] = public(entry["resource"])
        if query.elements and entry["search"]["mode"] == "match":
            entry["resource"] = _subset(entry["resource"], query.elements)
    bundle: dict = {"resourceType": "Bundle", "type": "searchset"}
    counted = query.total == "accurate" or (query.total == "" and bool(query.filters))
    if counted:
        bundle["total"] = store.search_total(conn, query.rtype, query.filters)
    own = urlencode([*query.echo, *([("_cursor", query.after)] if query.after is not None else [])])
    links = [{"relation": "self", "url": f"{base}/{query.rtype}?{own}".rstrip("?")}]
    if more:
        links.append(
            {"relation": "next", "url": f"{base}/{query.rtype}?{urlencode([*query.echo, ('_cursor', ids[-1])])}"}
        )
    bundle["link"] = links
    if entries:  # R4 json.html: an empty array is left out, never sent as []
        bundle["entry"] = entries
    return bundle
