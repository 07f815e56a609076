"""`/observatoire` over HTTP, what a house of its own is needed for: every read audited once (counted),
and one audit row tampered, after which no report signs itself. The other tests, which only read,
share one house per backend in test_api.py."""

from __future__ import annotations

import orjson
import pytest
from fastapi.testclient import TestClient

from maison.core import audit
from tests.observatoire.test_api import CABINET, HOPITAL, ROUTES, S1, app_with_structures, callers, reads


@pytest.fixture
def client(house) -> TestClient:
    return app_with_structures(house)


@pytest.fixture
def keys(house) -> dict[str, dict[str, str]]:
    return callers(house)


def test_each_read_is_audited_once_and_a_refusal_is_a_security_event(house, client, keys):
    client.get("/observatoire/sunes", params=S1, headers=keys["hopital"])
    client.get("/observatoire/sunes", params={**S1, "structure": HOPITAL}, headers=keys["cabinet"])
    house.insi.journal.close()
    assert len(reads(house, "observatoire.sunes")) == 1
    refused = [
        e for e in reads(house, "securite.acces-refuse") if audit.detail_of(e).get("action") == "observatoire.sunes"
    ]
    assert len(refused) == 1 and refused[0]["actor_structure"] == CABINET


def test_a_tampered_audit_chain_makes_every_report_refuse_to_sign(house, client, keys):
    client.get("/observatoire/sunes", params=S1, headers=keys["ars"])
    with house.db.write() as conn:
        e = audit.audit_event
        conn.execute(e.update().where(e.c.action == "observatoire.sunes").values(detail='{"actor":{}}'))
    for name, (path, params) in ROUTES.items():
        answer = client.get(path, params=params, headers=keys["ars"])
        assert answer.status_code == 200, name
        if name.endswith("html"):
            assert "Rapport non signé" in answer.text and "Rapport signé" not in answer.text
        elif name == "measurereport":
            bundle = answer.json()
            assert "signature" not in bundle
            why = bundle["entry"][0]["resource"]["extension"][-1]["valueString"]
            assert "chaîne d'audit rompue" in why
        else:
            signature = answer.json()["signature"]
            assert signature["signe"] is False and signature["jws"] is None, name
            assert "chaîne d'audit rompue" in signature["motif"]
    jwk = orjson.loads(client.get("/observatoire/cle").content)
    assert jwk["kty"] == "OKP" and jwk["crv"] == "Ed25519" and "d" not in jwk  # the public half only
