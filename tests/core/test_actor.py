"""One type says who acts (issue 19): the object the route guard hands a handler is the one the trail records."""

from __future__ import annotations

import ast
import dataclasses
import typing
from pathlib import Path

import orjson
from fastapi import Depends, FastAPI, Request
from fastapi.testclient import TestClient

import maison
from maison.core import audit, authz
from maison.core.actor import Actor, Credential, KeyScope
from maison.core.auth import issue_key
from maison.core.authz import Accepts, Authorizer, accepts, keys

MAISON = Path(maison.__file__).parent
WHO_FIELDS = {"person", "structure", "software"}


def test_one_class_says_who_acts():
    """No second type beside `Actor`: no `Caller`, and no other class declaring a person, a structure and a software."""
    found = []
    for path in MAISON.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ClassDef):
                continue
            declared = {
                s.target.id for s in node.body if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)
            }
            if node.name in ("Caller", "Actor") or WHO_FIELDS <= declared:
                found.append(f"{path.relative_to(MAISON.parent)}:{node.name}")
    assert found == ["maison/core/actor.py:Actor"]
    assert not hasattr(Actor, "actor")  # no conversion left


def test_authorization_and_trail_speak_of_the_same_type():
    assert typing.get_type_hints(Authorizer.caller)["return"] is Actor
    assert typing.get_type_hints(audit.Trail.entry)["actor"] is Actor
    assert typing.get_type_hints(audit.Trail.write)["actor"] is Actor
    assert audit.Actor is Actor is authz.Actor
    assert isinstance(audit.SYSTEM, Actor) and audit.SYSTEM.kind == "system" and audit.SYSTEM.credential is None


def test_the_guard_hands_the_handler_what_the_trail_records(db):
    authorizer = Authorizer(db, provider=None, issuer_of=lambda base: "https://psc.invalid")  # type: ignore[arg-type]
    key = issue_key(db, "1750000019", "dpi", "M. Desk", role="accueil", scope=KeyScope.LOGICIEL)
    seen: list[Actor] = []
    app = FastAPI(dependencies=[Depends(authorizer.guard)])

    @app.get("/acte")
    @accepts(Accepts(scopes=keys(KeyScope.LOGICIEL)))
    def acte(request: Request) -> dict[str, int]:
        actor = authorizer.caller(request)
        seen.append(actor)
        with db.write() as conn:
            return {"seq": audit.Trail.write(conn, actor, "test.acteur-unique", patient="P1")}

    answer = TestClient(app).get("/acte", headers={"ESANTE-API-KEY": key})
    assert answer.status_code == 200, answer.text
    (actor,) = seen
    assert type(actor) is Actor
    assert (actor.kind, actor.credential, actor.scope) == ("software", Credential.API_KEY, KeyScope.LOGICIEL)
    with db.read() as conn:
        (record,) = [
            r for r in audit.events(conn, action_prefix="test.acteur-unique") if r["seq"] == answer.json()["seq"]
        ]
    assert (record["actor_person"], record["actor_structure"], record["actor_software"]) == (
        actor.person,
        actor.structure,
        actor.software,
    )
    assert audit.detail_of(record)["actor"] == {"role": "accueil"}


def test_the_record_of_an_actor_is_unchanged():
    """The trail records what `Caller.actor()` used to hand it — role, else profession; department; extra —
    and nothing of authorization's fields, so the hash chain of a record is the same as before the merge."""
    professional = Actor(
        "810000000002",
        "399999999900019",
        "LAP",
        kind="professional",
        profession="10",
        structures=("399999999900019", "1750000019"),
        credential=Credential.LOCAL_IDP,
    )
    entry = audit.Trail.entry(professional, "test.lire", patient="P1", detail={"n": 1})
    assert orjson.loads(entry["detail"]) == {"actor": {"role": "10"}, "n": 1}
    entry["seq"], entry["recorded_at"] = 7, "2026-01-01T00:00:00.000000+00:00"
    expected = orjson.dumps(
        {
            "seq": 7,
            "recorded_at": "2026-01-01T00:00:00.000000+00:00",
            "actor_person": "810000000002",
            "actor_structure": "399999999900019",
            "actor_software": "LAP",
            "action": "test.lire",
            "patient": "P1",
            "purpose": "TREAT",
            "outcome": "success",
            "detail": '{"actor":{"role":"10"},"n":1}',
        },
        option=orjson.OPT_SORT_KEYS,
    )
    assert audit._canonical(entry) == expected
    with_role = dataclasses.replace(professional, role="cellule", department="75", extra={"mode": "normal"})
    assert orjson.loads(audit.Trail.entry(with_role, "test.lire")["detail"])["actor"] == {
        "role": "cellule",
        "department": "75",
        "mode": "normal",
    }


def test_an_actor_is_hashable_and_its_credential_follows_its_kind():
    extra = Actor("p", "s", "l", extra={"mode": "normal"})
    assert {extra, extra} == {extra} and hash(extra) == hash(Actor("p", "s", "l"))
    assert extra != Actor("p", "s", "l")  # equality still reads the extra
    assert Actor("p", "", "l", kind="patient").credential is Credential.PATIENT
    assert Actor("p", "s", "l", kind="professional").credential is Credential.PSC
    assert Actor("p", "s", "l", kind="software").credential is Credential.API_KEY
    assert Actor("p", "s", "l").credential is None
    assert not Accepts(psc=True, patient=True, scopes=frozenset(KeyScope)).admits(None, None)
