"""The structural JSON fuzzer (`jsonfuzz`) over every operation of the house's OpenAPI that takes a
body, with every kind of caller the operation does not refuse outright: 0 server errors, every 4xx in
the protocol's error format. Bounded: ~60 s on SQLite (the readers under test do not depend on the
engine; the PostgreSQL run is skipped to keep the suite's time)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi.routing import iter_route_contexts

import maison
from maison.core.authz import Accepts, Public
from tests.hostile.jsonfuzz import Fuzzer, Operation, source_keys
from tests.hostile.world import credentials, example_path, let_through, policies

Declared = Accepts | Public | None
BUDGET_S = float(os.environ.get("MAISON_FUZZ_SECONDS", "40"))
QUERY_BUDGET_S = BUDGET_S / 2
# an operation and caller's share once the budget is spent (a loaded machine): its fixed hostile bodies
# (`Fuzzer.run`: every top-level one, the types it learns) are sent whatever the share; this bounds
# only the guided part after them (0.2 s here made 154 shares x 0.2 s = 31 s past the budget)
FLOOR_S = 0.05


def operations(app, methods: tuple[str, ...] = ("post", "put", "patch")) -> list[tuple[Operation, Declared]]:
    """Every operation of the OpenAPI of these methods (by default: those taking a body), with the
    package its endpoint lives in, and the callers it declares."""
    packages = {}
    for ctx in iter_route_contexts(app.routes):
        module = sys.modules.get(getattr(ctx.endpoint, "__module__", ""))
        if module is not None and getattr(module, "__file__", None):
            for method in ctx.methods or ():
                packages[(method.lower(), ctx.path_format)] = Path(module.__file__).parent
    spec, declared = app.openapi(), policies(app)
    return [
        (
            Operation(method.upper(), example_path(path, op.get("parameters", [])), packages.get((method, path))),
            declared.get((method.upper(), path)),
        )
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
        if method in methods
    ]


def _callers(client: httpx.Client, op: Operation, policy: Declared, creds: dict[str, dict[str, str]]) -> list[str]:
    """The credentials this operation does not turn away before reading the body (the first two)."""

    def status_of(headers: dict[str, str]) -> int:
        json = {**headers, "Content-Type": "application/json"}
        return client.request(op.method, op.path, content=b"{}", headers=json).status_code

    return let_through(creds, policy, status_of) or ["aucun"]


def test_no_json_body_makes_a_server_error(house, live, database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("bounded run on SQLite only: the readers under test do not depend on the engine")
    creds = credentials(house, live)
    keys, types = source_keys(Path(maison.__file__).parent)
    fuzzer = Fuzzer(live.url, creds, keys, types, per_operation=int(os.environ.get("MAISON_FUZZ_ROUNDS", "60")))
    ops = operations(live.server.config.app)
    assert len(ops) > 40 and all(op.source for op, _ in ops)
    started = time.monotonic()
    with httpx.Client(base_url=live.url, timeout=30) as client:
        for i, (op, policy) in enumerate(ops):
            callers = _callers(client, op, policy, creds)
            for caller in callers:  # each operation and caller its share of what time is left
                share = (started + BUDGET_S - time.monotonic()) / (len(ops) - i) / len(callers)
                fuzzer.run(client, op, caller, time.monotonic() + max(share, FLOOR_S))
    elapsed = time.monotonic() - started
    print(f"{fuzzer.sent} requests over {len(ops)} operations in {elapsed:.1f} s")
    firsts = {}
    for f in fuzzer.findings:
        firsts.setdefault((f.operation, f.status, f.body[:40]), f)
    report = "\n".join(
        f"{f.operation} [{f.credential}] {f.status}: {f.body[:150]!r} → {f.answer[:200]}" for f in firsts.values()
    )
    if os.environ.get("MAISON_FUZZ_REPORT"):  # the whole list, for whoever fixes them
        Path(os.environ["MAISON_FUZZ_REPORT"]).write_text(report)
    assert not fuzzer.findings, f"{len(fuzzer.findings)} bad answers:\n{report}"
    assert elapsed < BUDGET_S + 15


def test_no_query_string_makes_a_server_error(house, live, database_url):
    """The same over the query strings of every GET operation (most readers parse the raw query)."""
    if not database_url.startswith("sqlite"):
        pytest.skip("bounded run on SQLite only: the readers under test do not depend on the engine")
    creds = credentials(house, live)
    keys, types = source_keys(Path(maison.__file__).parent)
    fuzzer = Fuzzer(live.url, creds, keys, types, per_operation=int(os.environ.get("MAISON_FUZZ_ROUNDS", "60")))
    ops = operations(live.server.config.app, methods=("get", "delete"))
    started = time.monotonic()
    with httpx.Client(base_url=live.url, timeout=30) as client:
        for i, (op, policy) in enumerate(ops):
            callers = _callers(client, op, policy, creds)
            for caller in callers:
                share = (started + QUERY_BUDGET_S - time.monotonic()) / (len(ops) - i) / len(callers)
                fuzzer.run_query(client, op, caller, time.monotonic() + max(share, FLOOR_S))
    elapsed = time.monotonic() - started
    print(f"{fuzzer.sent} query strings over {len(ops)} operations in {elapsed:.1f} s")
    report = "\n".join(
        f"{f.operation}?{f.body[:100]} [{f.credential}] {f.status}: {f.answer[:200]}" for f in fuzzer.findings[:30]
    )
    assert not fuzzer.findings, f"{len(fuzzer.findings)} bad answers:\n{report}"
