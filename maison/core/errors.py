"""Domain errors, each carrying what every protocol adapter needs to answer in its own terms.

A service raises a `MaisonError` subclass; the adapter maps it: HTTP/FHIR to an OperationOutcome
(`formats.fhir.operation_outcome`), SOAP to a fault with the INSi-style code (`formats.soap`),
SMTP to a reply code. No adapter ever lets a bare exception become a 500 with a stack trace.
"""

from __future__ import annotations


class MaisonError(Exception):
    """Base error: `code` is the stable machine code, `message` the human sentence (French where the service is)."""

    http_status = 400
    fhir_issue = "invalid"  # FHIR IssueType
    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, expression: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.expression = expression


class InvalidInput(MaisonError):
    fhir_issue = "value"
    code = "invalid-input"


class MalformedRequest(MaisonError):
    fhir_issue = "structure"
    code = "malformed"


class TooLarge(MaisonError):
    http_status = 413
    fhir_issue = "too-costly"
    code = "too-large"


class UnsupportedMediaType(MaisonError):
    http_status = 415
    fhir_issue = "not-supported"
    code = "media-type"


class Unauthenticated(MaisonError):
    """No credential, or one that does not verify. RFC 9110 §15.5.2: a 401 carries the challenge of the
    scheme that would do — every credential of the house goes as `Authorization: Bearer` (RFC 6750 §3)."""

    http_status = 401
    fhir_issue = "login"
    code = "unauthenticated"
    http_headers = {"WWW-Authenticate": 'Bearer realm="maison"'}


class Forbidden(MaisonError):
    http_status = 403
    fhir_issue = "forbidden"
    code = "forbidden"


class NotFound(MaisonError):
    http_status = 404
    fhir_issue = "not-found"
    code = "not-found"


class Conflict(MaisonError):
    http_status = 409
    fhir_issue = "conflict"
    code = "conflict"


class TransitionRefused(Conflict):
    """A change the rules forbid (an identity status transition, a merge of a merged record…)."""

    http_status = 422
    fhir_issue = "business-rule"
    code = "transition-refused"
