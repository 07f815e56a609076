"""Schemathesis over the house's own OpenAPI, over real HTTP (issue 18 §2.4): a few generated
requests per operation, valid and invalid by the schema (path and query parameters, and bodies where
the OpenAPI declares them), each
sent with a credential the operation's guard lets through, and 0 server errors; every 4xx in the
protocol's error format. Bounded (~90 s) and on SQLite only: what it exercises is the parameters'
reading, not the engine. Many routes read their body raw and declare none: the JSON fuzzer
(test_json_fuzz.py) covers those."""

from __future__ import annotations

import time

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode

from tests.hostile.jsonfuzz import proper_error, server_failure
from tests.hostile.world import credentials, example_path

BUDGET_S = 90
EXAMPLES = 25


def test_no_generated_request_makes_a_server_error(house, live, database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("bounded run on SQLite only: the parameters' reading does not depend on the engine")
    creds = credentials(house, live)
    spec = house.app().openapi()
    schema = schemathesis.openapi.from_dict(spec)
    failures: list[str] = []
    started, calls = time.monotonic(), 0
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 80
    with httpx.Client(base_url=live.url, timeout=30) as client:
        for i, operation in enumerate(operations):
            example = example_path(
                operation.path, spec["paths"][operation.path][operation.method.lower()].get("parameters", [])
            )
            callers = [
                name
                for name, headers in creds.items()
                if client.request(operation.method.upper(), example, headers=headers).status_code not in (401, 403)
            ]
            headers = creds[(callers or ["aucun"])[0]]
            share = (started + BUDGET_S - time.monotonic()) / (len(operations) - i)

            @given(case=operation.as_strategy(GenerationMode.POSITIVE) | operation.as_strategy(GenerationMode.NEGATIVE))
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def check(case) -> None:
                nonlocal calls
                if time.monotonic() > stop:  # noqa: B023 (check() runs in this iteration, right below)
                    return
                calls += 1
                kwargs = case.as_transport_kwargs(base_url=live.url, headers=headers)  # noqa: B023 (same)
                answer = client.request(
                    kwargs["method"],
                    kwargs["url"],
                    headers=kwargs.get("headers"),
                    params=kwargs.get("params"),
                    content=_content(kwargs),
                )
                if server_failure(case.formatted_path, answer) or not proper_error(case.formatted_path, answer):
                    failures.append(f"{case.method} {answer.request.url} → {answer.status_code} {answer.text[:200]}")

            stop = time.monotonic() + max(share, 0.3)
            check()
    elapsed = time.monotonic() - started
    print(f"schemathesis: {calls} requests over {len(operations)} operations in {elapsed:.1f} s")
    assert not failures, "\n".join(failures[:30])
    assert elapsed < BUDGET_S + 20


def _content(kwargs: dict) -> bytes | None:
    if kwargs.get("json") is not None:
        import orjson

        return orjson.dumps(kwargs["json"])
    data = kwargs.get("data") or kwargs.get("content")
    return data.encode() if isinstance(data, str) else data
