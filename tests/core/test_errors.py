"""Domain errors as the adapters answer them."""

from __future__ import annotations

from maison.core.errors import Forbidden, Unauthenticated
from maison.formats.fhir import outcome_response
from maison.formats.namespace import Namespace

NS = Namespace("http://localhost:8000/ns")


def test_a_401_carries_its_bearer_challenge():
    """RFC 9110 §15.5.2 / RFC 6750 §3: a 401 names the scheme that would do (documented in the
    OpenAPI, issue 21 §3.1); before, the house's 401 OperationOutcomes carried no challenge."""
    answer = outcome_response(Unauthenticated("jeton absent"), NS)
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer ")
    assert "www-authenticate" not in outcome_response(Forbidden("non"), NS).headers
