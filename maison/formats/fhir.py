"""FHIR helpers: OperationOutcome for every HTTP error, and the JSON response type."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from maison.core.errors import MaisonError

FHIR_JSON = "application/fhir+json; charset=utf-8"


def operation_outcome(error: MaisonError, severity: str = "error") -> dict[str, Any]:
    issue: dict[str, Any] = {
        "severity": severity,
        "code": error.fhir_issue,
        "details": {"coding": [{"system": "urn:maison:error", "code": error.code}], "text": error.message},
        "diagnostics": error.message,
    }
    if error.expression:
        issue["expression"] = [error.expression]
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def outcome_response(error: MaisonError) -> Response:
    status = error.http_status
    if error.code == "too-large":
        status = 413
    # an error may name headers of its own (a throttle's Retry-After, RFC 6585 §4)
    return Response(
        orjson.dumps(operation_outcome(error)),
        status_code=status,
        media_type=FHIR_JSON,
        headers=getattr(error, "http_headers", None),
    )


def fhir_response(resource: dict[str, Any], status: int = 200) -> Response:
    return Response(orjson.dumps(resource), status_code=status, media_type=FHIR_JSON)
