"""Every FHIR body an end-to-end test receives is checked against base R4 (issue 20 §4.2).

httpx is how the tests, and the hospital wing's own clients, reach the house over the wire: its
`send` is wrapped for the duration of each test, every JSON answer carrying a `resourceType` is
passed to `fhir_r4.problems`, and a test that received an invalid one fails at its teardown with the
list — so a new endpoint or a new resource cannot regress unseen.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import orjson
import pytest

from tests.e2e.fhir_r4 import problems


class FhirBodies:
    """The FHIR answers received during one test and the faults found in them."""

    def __init__(self) -> None:
        self.checked = 0
        self.faults: list[str] = []
        self._lock = threading.Lock()

    def receive(self, response: httpx.Response) -> None:
        media = response.headers.get("content-type", "")
        if "json" not in media:
            return
        try:  # NDJSON (a Bulk Data export's files): one resource a line
            lines = response.content.splitlines() if "ndjson" in media else [response.content]
            bodies = [orjson.loads(line) for line in lines if line.strip()]
        except (orjson.JSONDecodeError, httpx.ResponseNotRead):
            return
        for body in bodies:
            if isinstance(body, dict) and "resourceType" in body:
                self._check(response, body)

    def _check(self, response: httpx.Response, body: dict) -> None:
        found = problems(body)
        with self._lock:
            self.checked += 1
            request = response.request
            self.faults += [f"{request.method} {request.url} -> {response.status_code}: {p}" for p in found]


@pytest.fixture(autouse=True)
def fhir_bodies(monkeypatch: pytest.MonkeyPatch) -> Iterator[FhirBodies]:
    bodies = FhirBodies()
    send, asend = httpx.Client.send, httpx.AsyncClient.send

    def checked_send(self: httpx.Client, request: httpx.Request, **kw: object) -> httpx.Response:
        response = send(self, request, **kw)  # type: ignore[arg-type]
        if not kw.get("stream"):
            bodies.receive(response)
        return response

    async def checked_asend(self: httpx.AsyncClient, request: httpx.Request, **kw: object) -> httpx.Response:
        response = await asend(self, request, **kw)  # type: ignore[arg-type]
        if not kw.get("stream"):
            bodies.receive(response)
        return response

    monkeypatch.setattr(httpx.Client, "send", checked_send)
    monkeypatch.setattr(httpx.AsyncClient, "send", checked_asend)
    yield bodies
    monkeypatch.undo()
    if bodies.faults:
        shown = "\n".join(bodies.faults[:60])
        pytest.fail(f"{len(bodies.faults)} base R4 fault(s) in the FHIR bodies received:\n{shown}", pytrace=False)


@pytest.fixture(scope="session")
def mllp_served(tmp_path_factory, reference_path, database_url, migrated):
    """One `maison serve --mllp-port` with the default settings per backend, for every module that
    drives it so (test_sejours_mllp, test_sejours_hostile): 6-14 s to start, once instead of once per
    module. Their tests start on emptied tables (`db`); the server keeps no state between messages."""
    from tests.e2e.mllp_server import module_server

    yield from module_server(tmp_path_factory, reference_path, database_url)
