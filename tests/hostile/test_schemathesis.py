"""Schemathesis over the house's own OpenAPI, over real HTTP (issue 18 §2.4, issue 21 §3.1): a few
generated requests per operation, valid and invalid by the schema (path and query parameters, and
the bodies every write declares), each sent with a credential the operation's guard lets through,
and every answer judged by Schemathesis' own default checks (`Case.validate_response`): no server
error, a status, a media type, headers and a body the document declares for that operation,
schema-invalid data refused, authentication enforced where it is declared. 0 failures.

One check is tuned, as Schemathesis' own documentation says to (`schemathesis explain ST202`):
`positive_data_acceptance` also admits 400 and 422 — a request valid by the schema may break a
rule no JSON Schema states (a NIR's or an RPPS's key, a patient the DMP does not know, a
transition the state machine refuses), and the protocol answers it 400/422 with its precise code.
Bounded (~60-70 s) and on SQLite only: what it exercises is the document and the readers, not the
engine. Where the time went (measured): drawing cases, not sending them — Hypothesis kept drawing an
operation's 25 examples after its share of the budget was spent (a FHIR Patient's body: seconds a
draw), 240 s of a 255 s run on a loaded machine against 27 s of calls and checks. So an operation's
drawing now ends with its share (`BudgetSpent`, after at least one case sent: every operation is
called), and the credential each operation is sent with is probed in the order its route declares
(`maison.core.authz.accepts`) — the same one as before, one probe instead of up to ten."""

from __future__ import annotations

import os
import time
from collections import Counter

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings, strategies
from hypothesis.errors import FlakyStrategyDefinition
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup, ServerError
from schemathesis.core.parameters import ParameterLocation

from tests.hostile.jsonfuzz import insi_refusal
from tests.hostile.world import credentials, example_path, let_through, policies

BUDGET_S = 50
EXAMPLES = 25
BUSINESS_RULES = ["400", "422"]  # refusals of schema-valid data for a rule the schema cannot state
CREDENTIAL_HEADERS = {"authorization", "esante-api-key"}


class BudgetSpent(Exception):  # noqa: N818 - a signal to Hypothesis, not an error
    """Raised, before a case is drawn, once its operation's share of the budget is spent: with
    shrinking off, Hypothesis stops at the first exception (`ConjectureRunner.should_generate_more`)."""


def test_every_answer_conforms_to_the_document(house, live, database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("bounded run on SQLite only: the document's conformance does not depend on the engine")
    creds = credentials(house, live)
    app = live.server.config.app
    spec = app.openapi()
    declared = policies(app)
    schema = schemathesis.openapi.from_dict(spec)
    checks = schema.config.checks
    checks.positive_data_acceptance.expected_statuses = [
        *checks.positive_data_acceptance.expected_statuses,
        *BUSINESS_RULES,
    ]
    failures: list[str] = []
    started, calls, statuses = time.monotonic(), 0, Counter()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 80
    only = os.environ.get("MAISON_SCHEMATHESIS_ONLY", "")  # a path prefix, to replay one area by hand
    operations = [o for o in operations if o.path.startswith(only)]
    with requests.Session() as session:
        for i, operation in enumerate(operations):
            policy = declared.get((operation.method.upper(), operation.path))
            headers = _caller(session, live.url, operation, spec, creds, policy)
            share = (started + BUDGET_S - time.monotonic()) / (len(operations) - i)

            cases = operation.as_strategy(GenerationMode.POSITIVE) | operation.as_strategy(GenerationMode.NEGATIVE)

            @given(data=strategies.data())
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def check(data) -> None:
                nonlocal calls
                if time.monotonic() > stop and calls > first:  # noqa: B023 (check() runs in this iteration, right below)
                    raise BudgetSpent  # before drawing: a case costs more to draw than to send
                case = data.draw(cases)  # noqa: B023 (same)
                calls += 1
                sent = _credential_for(case, headers)  # noqa: B023 (same)
                answer = case.call(base_url=live.url, session=session, headers=sent)
                statuses[answer.status_code] += 1
                try:
                    case.validate_response(
                        answer, headers=sent, transport_kwargs={"base_url": live.url, "session": session}
                    )
                except FailureGroup as group:
                    for failure in group.exceptions:
                        if isinstance(failure, ServerError) and insi_refusal(case.formatted_path, answer):
                            continue  # INSi's SOAP refusal is a fault on HTTP 500, as the national service's
                        failures.append(
                            f"{case.method} {case.formatted_path} [{type(failure).__name__}] "
                            f"{answer.status_code} {failure.title}: {failure.message[:300]}"
                        )

            stop, first = time.monotonic() + max(share, 0.3), calls
            try:
                check()
            except (BudgetSpent, FlakyStrategyDefinition):
                # Hypothesis reports a case that stopped before drawing, where the cases before it drew,
                # as an inconsistent strategy: here it is the budget's end, and nothing else
                assert time.monotonic() > stop
    elapsed = time.monotonic() - started
    print(f"schemathesis: {calls} requests, {len(operations)} operations, {elapsed:.1f} s: {sorted(statuses.items())}")
    kinds = Counter(f.split("] ")[0].split(" [")[-1] for f in failures)
    assert not failures, f"{len(failures)} failures {dict(kinds)}\n" + "\n".join(dict.fromkeys(failures))
    assert only or sum(n for status, n in statuses.items() if status < 300) >= 50  # answers, not only refusals
    assert elapsed < BUDGET_S + 60  # the budget is shared out; a loaded machine finishes the last calls late


def _credential_for(case, headers: dict[str, str]) -> dict[str, str] | None:
    """The caller's credential replaces the ones Schemathesis drew from the security schemes — except
    in a case that is negative in its headers (a credential left out on purpose), sent as drawn."""
    if (
        case.meta is not None
        and case.meta.generation.mode.is_negative
        and case.meta.is_negative_at(ParameterLocation.HEADER)
    ):
        return None
    case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() not in CREDENTIAL_HEADERS}
    case._record_starting_state()  # Schemathesis' own step after auth is set: the case stays what it was drawn as
    return headers


def _caller(session: requests.Session, base: str, operation, spec: dict, creds: dict, policy) -> dict[str, str]:
    """The first credential this operation's guard lets through (its example path, no body)."""
    example = example_path(
        operation.path, spec["paths"][operation.path][operation.method.lower()].get("parameters", [])
    )
    method = operation.method.upper()
    first = let_through(creds, policy, lambda h: session.request(method, base + example, headers=h).status_code, 1)
    return creds[first[0]] if first else creds["aucun"]
