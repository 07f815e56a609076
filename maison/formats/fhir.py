"""FHIR helpers: OperationOutcome for every HTTP error, the JSON response type, Bundles as R4 wants
them, the search result parameters every base reads the same way, and the CapabilityStatement."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.responses import Response

from maison.core.errors import MaisonError
from maison.formats.namespace import CODE_SYSTEM, Namespace

FHIR_JSON = "application/fhir+json; charset=utf-8"
# The code system of the house's precise error codes (`MaisonError.code`): Maison's own, so under the
# deployment's namespace (issue 21 §3.3; it was `urn:maison:error`, an unregistered URN namespace). A
# client that does not know the server's base recognises it by this path (`namespace.names`).
ERROR_CODES = f"{CODE_SYSTEM}/erreur"


def operation_outcome(error: MaisonError, ns: Namespace, severity: str = "error") -> dict[str, Any]:
    """The error as an OperationOutcome: FHIR's issue type, and the house's precise code in `details`."""
    issue: dict[str, Any] = {
        "severity": severity,
        "code": error.fhir_issue,
        "details": {"coding": [{"system": ns.url(ERROR_CODES), "code": error.code}], "text": error.message},
        "diagnostics": error.message,
    }
    if error.expression:
        issue["expression"] = [error.expression]
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def outcome_response(error: MaisonError, ns: Namespace) -> Response:
    status = error.http_status
    if error.code == "too-large":
        status = 413
    # an error may name headers of its own (a throttle's Retry-After, RFC 6585 §4)
    return Response(
        orjson.dumps(operation_outcome(error, ns)),
        status_code=status,
        media_type=FHIR_JSON,
        headers=getattr(error, "http_headers", None),
    )


def fhir_response(resource: dict[str, Any], status: int = 200) -> Response:
    return Response(orjson.dumps(resource), status_code=status, media_type=FHIR_JSON)


# --- Bundles: R4 json.html allows no empty array; fullUrl is the resource's absolute URL (§2.36.4) ---


def full_url(base: str, resource: dict[str, Any]) -> str:
    """`{base}/{type}/{id}`: where a RESTful server serves the resource (R4 Bundle §2.36.4)."""
    return f"{base.rstrip('/')}/{resource['resourceType']}/{resource['id']}"


def bundle(kind: str, entries: list[dict[str, Any]], **elements: Any) -> dict[str, Any]:
    """A Bundle whose `entry` is left out when there is none (R4 json.html: no empty arrays)."""
    out: dict[str, Any] = {"resourceType": "Bundle", "type": kind, **elements}
    if entries:
        out["entry"] = entries
    return out


# --- search result parameters (R4 search.html §3.1.1.5-6) ------------------------------------------

JSON_FORMATS = frozenset({"json", "application/json", "application/fhir+json"})
XML_FORMATS = frozenset({"xml", "text/xml", "application/xml", "application/fhir+xml"})


class NotAcceptable(MaisonError):
    """A representation the server does not produce (R4 http.html §3.1.0.1.8: 406)."""

    http_status = 406
    fhir_issue = "not-supported"
    code = "format-non-servi"


class UnsupportedParameter(MaisonError):
    """A result parameter this server does not implement for this search: refused, never ignored
    (R4 search.html §3.1.1.3: the server SHALL NOT silently ignore a parameter it is asked to honour
    when the client says `Prefer: handling=strict`; Maison is strict for result parameters always)."""

    fhir_issue = "not-supported"
    code = "parametre-non-supporte"


@dataclass(frozen=True)
class ResultControls:
    """What a search's result parameters ask: the page size (None: the server's default), a count
    alone (`_summary=count` or `_count=0`), the elements kept (`_elements`) and the sort keys."""

    count: int | None = None
    count_only: bool = False
    elements: tuple[str, ...] = ()
    sort: tuple[str, ...] = ()


RESULT_PARAMETERS = frozenset({"_count", "_summary", "_elements", "_sort", "_format"})


def result_controls(
    params: Iterable[tuple[str, str]], *, max_count: int, elements: bool = False, sort: Collection[str] = ()
) -> ResultControls:
    """Read `_count`, `_summary`, `_elements`, `_sort` and `_format` of one search.

    `_summary=count` and `_count=0` ask for the total alone (search.html §3.1.1.5.6-7); `_summary`'s
    other values, `_elements` where the service does not list it, and a `_sort` on keys it does not
    list, are refused with a 400 naming the parameter."""
    count: int | None = None
    count_only, kept, keys = False, tuple[str, ...](), tuple[str, ...]()
    for name, value in params:
        if name == "_count":
            if not (value.isascii() and value.isdigit()) or int(value) > max_count:
                raise _refused(f"_count : entier de 0 à {max_count} attendu", "_count")
            count = int(value)
            count_only = count_only or count == 0
        elif name == "_summary":
            if value not in ("count", "false"):
                raise _refused(f"_summary={value} non servi (seuls count et false)", "_summary")
            count_only = count_only or value == "count"
        elif name == "_elements":
            if not elements:
                raise _refused("_elements non servi par cette recherche", "_elements")
            kept += tuple(e.strip() for e in value.split(",") if e.strip())
        elif name == "_sort":
            wanted = tuple(k.strip() for k in value.split(",") if k.strip())
            if not wanted or any(k.lstrip("-") not in sort for k in wanted):
                shown = ", ".join(sorted(sort)) or "aucune"
                raise _refused(f"_sort={value} non servi (clés servies : {shown})", "_sort")
            keys += wanted
        elif name == "_format":
            negotiate_format(value)
    return ResultControls(count, count_only, kept, keys)


def _refused(message: str, parameter: str) -> UnsupportedParameter:
    return UnsupportedParameter(message, expression=parameter)


def count_bundle(total: int) -> dict[str, Any]:
    """The answer to `_summary=count` / `_count=0`: the total, no entry (search.html §3.1.1.5.7)."""
    return {"resourceType": "Bundle", "type": "searchset", "total": total}


def negotiate_format(value: str) -> None:
    """`_format` (or an Accept naming FHIR XML only): JSON is served, XML answered 406."""
    media = value.split(";")[0].strip().lower()
    if media in XML_FORMATS:
        raise NotAcceptable("seul le format JSON (application/fhir+json) est servi", expression="_format")
    if media not in JSON_FORMATS:
        raise UnsupportedParameter(f"_format={value} inconnu", expression="_format")


def accepts_json(accept: str) -> bool:
    """Whether an Accept header (RFC 9110 §12.5.1) lets the server answer JSON."""
    for part in accept.split(","):
        media, *options = (p.strip().lower() for p in part.split(";"))
        if any(o.replace(" ", "") in ("q=0", "q=0.0", "q=0.00", "q=0.000") for o in options):
            continue
        if media in ("", "*/*", "application/*") or media.endswith("json"):
            return True
    return False


def local_url(resource: dict[str, Any]) -> str:
    """The fullUrl of a resource in a Bundle that is not served at a RESTful URL of its own (a
    download, an export): `urn:uuid:` (R4 Bundle §2.36.4), its id when that is a UUID, else a name-
    based UUID (RFC 9562 §5.5) of `{type}/{id}`, stable from one download to the next."""
    rid = str(resource["id"])
    try:
        return f"urn:uuid:{uuid.UUID(rid)}" if len(rid) == 36 else _named(resource)
    except ValueError:
        return _named(resource)


def _named(resource: dict[str, Any]) -> str:
    name = f"{resource['resourceType']}/{resource['id']}"
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, name)}"
