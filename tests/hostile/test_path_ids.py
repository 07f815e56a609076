"""Path ids are typed on every route and refused before any query (issue 18 §2.4): ids past 2^63,
Unicode digits (`²`, `٣`), NUL, undecodable bytes → 400 OperationOutcome naming the parameter,
never a 500; and no route may take an untyped id (the declaration is checked on the app itself)."""

from __future__ import annotations

import httpx
from fastapi.routing import APIRoute, iter_route_contexts

from maison.formats.path_ids import PATH_ID
from tests.hostile.jsonfuzz import proper_error, server_failure
from tests.hostile.world import credentials, example_path, let_through, policies

NON_ASCII = ("%C2%B2", "%D9%A3", "%EF%BC%91", "%ED%A0%80", "%00")
TOO_BIG = ("99999999999999999999", "9223372036854775808", "1" * 300)
NOT_INTEGERS = ("-1", "+1", "1_0", "0x1", "1.0", "%201")


def test_every_path_parameter_is_declared_with_a_path_id_type(house):
    untyped = []
    for ctx in iter_route_contexts(house.app().routes):
        if isinstance(ctx.route, APIRoute):
            untyped += [
                f"{ctx.path_format} {p.name}"
                for p in ctx.route.dependant.path_params
                if PATH_ID not in p.field_info.metadata
            ]
    assert not untyped, f"path ids without a maison.formats.path_ids type: {untyped}"


def _operations(app) -> list[tuple[str, str, dict]]:
    return [
        (method.upper(), path, p)
        for path, ops in app.openapi()["paths"].items()
        for method, op in ops.items()
        for p in op.get("parameters", [])
        if p["in"] == "path"
    ]


def test_hostile_path_ids_are_refused_with_400_before_any_query(house, live):
    creds = credentials(house, live)
    app = live.server.config.app
    declared = policies(app)
    wrong: list[str] = []
    with httpx.Client(base_url=live.url, timeout=30) as client:
        for method, template, param in _operations(app):
            others = [p for p in app.openapi()["paths"][template][method.lower()]["parameters"] if p is not param]
            integer = param["schema"].get("type") == "integer"
            example = example_path(template, others + [param])
            callers = let_through(
                creds,
                declared.get((method, template)),
                lambda headers: client.request(method, example, headers=headers).status_code,  # noqa: B023
            )
            for value in (*NON_ASCII, *TOO_BIG, *(NOT_INTEGERS if integer else ())):
                invalid = integer or value in NON_ASCII or len(value) > 64  # by its type alone
                path = example_path(template.replace("{" + param["name"] + "}", value), others)
                statuses = set()
                for name in callers[:2] or list(creds):
                    answer = client.request(method, path, headers=creds[name])
                    statuses.add(answer.status_code)
                    body = answer.json() if "json" in answer.headers.get("content-type", "") else {}
                    if server_failure(path, answer) or not proper_error(path, answer):
                        wrong.append(f"{method} {path} [{name}] {answer.status_code} {answer.text[:120]}")
                    elif (
                        invalid
                        and answer.status_code == 400
                        and body.get("resourceType") == "OperationOutcome"
                        and body["issue"][0].get("expression") != [param["name"]]
                    ):
                        wrong.append(f"{method} {path} [{name}] 400 without naming {param['name']}")
                if 400 not in statuses and invalid:
                    wrong.append(f"{method} {path}: no 400 with any caller ({sorted(statuses)})")
    assert not wrong, "\n".join(wrong[:40])
