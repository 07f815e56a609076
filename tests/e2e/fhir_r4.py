"""Base FHIR R4 validation of the bodies the end-to-end tests receive (issue 20 §4.2).

Three checks, none of them written from Maison's own models, so that a new endpoint cannot regress
unseen:

- **fhirclient**'s models, generated from FHIR 4.0.1 (the R4 release itself) by SMART Health IT:
  every element name known to R4 (an R5 element such as `conditionalPatch`, or an invented one,
  is "superfluous"), every required element present, every value of its declared type.
- **fhir.resources.R4B**'s pydantic models (R4B 4.3.0 keeps R4's resources and datatypes): the
  primitive types' regular expressions of the specification (`date`, `dateTime`, `instant`, `id`,
  `code`, `uri`… and the `string` pattern that refuses an empty string).
- The JSON representation's own rules (R4 §2.6.2 "json.html"): no empty array, string or object
  anywhere ("there are no empty arrays / strings / objects"), and a Bundle's `fullUrl` absolute and
  naming the resource it holds (R4 Bundle rule bdl-7 and §2.36.4 "Resource URL & Uniqueness rules").

`problems()` returns the list of faults (empty when the body is valid base R4).
"""

from __future__ import annotations

import re
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhirclient.models.fhirabstractbase import FHIRValidationError
from fhirclient.models.fhirelementfactory import FHIRElementFactory
from pydantic import ValidationError

_ABSOLUTE = re.compile(r"^https?://[^/]+(/[^?#]*)?/(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})$")
_UUID_URN = re.compile(r"^urn:uuid:[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$")


def problems(body: Any) -> list[str]:
    """Every fault of a FHIR JSON body against base R4, each as one readable line."""
    if not isinstance(body, dict) or not isinstance(body.get("resourceType"), str):
        return ["not a FHIR resource: no resourceType"]
    found = _empties(body, "$")
    found += _by_fhirclient(body)
    found += _by_fhir_resources(body)
    found += _full_urls(body)
    return found


def _empties(value: Any, where: str) -> list[str]:
    """R4 json.html: 'there SHALL be no empty objects, arrays or strings'."""
    if value in ("", [], {}):
        return [f"{where}: empty {type(value).__name__}"]
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in _empties(item, f"{where}.{key}")]
    if isinstance(value, list):
        return [p for n, item in enumerate(value) for p in _empties(item, f"{where}[{n}]")]
    return []


def _by_fhirclient(body: dict[str, Any]) -> list[str]:
    kind = body["resourceType"]
    try:
        resource = FHIRElementFactory.instantiate(kind, None)
    except Exception as exc:  # the factory knows every R4 resource; anything else is not R4
        return [f"fhirclient: {exc}"]
    if type(resource).__name__ != kind:
        return [f"fhirclient: {kind} is not an R4 resource type"]
    try:
        resource.update_with_json(body)
        resource.as_json()  # required lists must not be empty
    except FHIRValidationError as exc:
        return [f"fhirclient R4: {line}" for line in _lines(exc)]
    return []


def _lines(exc: FHIRValidationError, path: str = "") -> list[str]:
    out = []
    for err in exc.errors:
        where = f"{path}.{exc.path}" if exc.path else path
        if isinstance(err, FHIRValidationError):
            out += _lines(err, where)
        else:
            text = re.sub(r"<fhirclient\.models\.[\w.]+\.(\w+) object at 0x[0-9a-f]+>", r"\1", str(err))
            out.append(f"{where.lstrip('.') or '$'}: {text}")
    return out


def _by_fhir_resources(body: dict[str, Any]) -> list[str]:
    try:
        model = get_fhir_model_class(body["resourceType"])
    except KeyError:
        return []  # not an R4B type either: fhirclient already said so when it is not R4
    try:
        model.model_validate(body)
    except ValidationError as exc:
        return [f"fhir.resources R4B: {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
    return []


def _full_urls(body: dict[str, Any]) -> list[str]:
    """R4 §2.36.4: fullUrl is the absolute URL of the resource (or a urn:uuid for one without a
    stable location), and when it is a RESTful URL it ends in `{type}/{id}` of the resource held."""
    out = []
    if body["resourceType"] == "Bundle":
        for n, entry in enumerate(body.get("entry", [])):
            url, resource = entry.get("fullUrl"), entry.get("resource")
            if url is None or resource is None:
                continue
            match = _ABSOLUTE.match(url)
            if match is None:
                if not _UUID_URN.match(url):
                    out.append(f"Bundle.entry[{n}].fullUrl {url!r} is neither an absolute URL nor a urn:uuid")
                continue
            if (match["type"], match["id"]) != (resource.get("resourceType"), resource.get("id")):
                out.append(f"Bundle.entry[{n}].fullUrl {url!r} does not name the resource it holds")
            elif f"/{match['type']}/{match['type']}/" in url:
                out.append(f"Bundle.entry[{n}].fullUrl {url!r} repeats its type")
            out += [f"Bundle.entry[{n}].resource {p}" for p in _full_urls(resource)]
    return out
