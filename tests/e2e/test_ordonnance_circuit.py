"""The base ordonnance numérique's whole circuit and its published counters, a house per test: the
circuit's search lists every prescription of the GP's last days, and the counters count the whole base
(prescriptions created and read, structures and software that executed), so each needs a base holding
its own prescriptions alone. The other cases share one house in test_ordonnance_api.py."""

from __future__ import annotations

from datetime import date, timedelta

import httpx
import pytest

from maison.formats.namespace import Namespace
from maison.formats.ordonnance import SYS_CIP, SYS_LPP, parse_number
from maison.partage.ordonnance import fhir
from tests.e2e.test_ordonnance_api import KEYS, _client, _created, _resources, envelope, executer, line
from tests.partage.world import SARAH_NIR, make_world


@pytest.fixture
def world(house, live):
    return make_world(house, live, KEYS)


def test_the_circuit_prescribe_scan_dispense_consult(world):
    with (
        _client(world, "generaliste") as gp,
        _client(world, "pharmacien") as pharmacy,
        _client(world, "infirmier") as nurse,
    ):
        created = gp.post("/RequestGroup", json=envelope(), headers={"Idempotency-Key": "lap-0001"})
        assert created.status_code == 201, created.text
        group = created.json()["entry"][0]["resource"]
        number = group["id"]
        assert parse_number(number) == number and created.headers["location"].endswith(f"/RequestGroup/{number}")
        assert {"url": Namespace(f"{world.base}/ns").structure(fhir.EXT_QR), "valueString": number} in group[
            "extension"
        ]
        again = gp.post("/RequestGroup", json=envelope(), headers={"Idempotency-Key": "lap-0001"})
        assert again.json()["entry"][0]["resource"]["id"] == number  # a retried request made nothing new

        read = pharmacy.get(f"/RequestGroup/{number}/$dispensation")
        assert read.status_code == 200 and len(read.json()["entry"]) == 5
        done = pharmacy.post(
            f"/RequestGroup/{number}/$executer",
            json=executer(
                line(
                    1,
                    "substitue",
                    produit={
                        "valueCoding": {"system": SYS_CIP, "code": "3400930000021", "display": "Paracétamol générique"}
                    },
                ),
                line(2, "delivre", produit={"valueCoding": {"system": SYS_LPP, "code": "1188984"}}),
                ins=(SARAH_NIR, "QUAL"),
                at_delivery=True,
            ),
        )
        assert done.status_code == 201, done.text
        [dispense] = _resources(done.json(), "MedicationDispense")
        assert dispense["substitution"]["wasSubstituted"] is True
        assert dispense["subject"]["identifier"]["value"] == SARAH_NIR
        assert nurse.post(f"/RequestGroup/{number}/$executer", json=executer(line(4, "delivre"))).status_code == 201

        # seed 001 L359: with the patient's OUI the prescriber sees what was delivered
        seen = gp.get(f"/RequestGroup/{number}/$enveloppe").json()
        assert len(_resources(seen, "MedicationDispense")) == 1 and len(_resources(seen, "Task")) == 1
        assert gp.get(f"/RequestGroup/{number}/$executions").status_code == 200
        found = gp.get("/RequestGroup", params={"date": f"ge{(date.today() - timedelta(days=2)).isoformat()}"}).json()
        assert [e["resource"]["id"] for e in found["entry"]] == [number]


def test_counters_published_without_authentication(world, house):
    number = _created(world)
    with _client(world, "pharmacien") as pharmacy, _client(world, "hospitalier") as colleague:
        pharmacy.get(f"/RequestGroup/{number}/$dispensation")
        pharmacy.post(f"/RequestGroup/{number}/$executer", json=executer(line(1, "delivre")))
        colleague.get(f"/RequestGroup/{number}")  # refused: not counted (001 L427 "appels avec succès")
    house.insi.journal.close()
    counters = httpx.get(f"{world.base}/ordonnance/$compteurs").json()
    assert counters["prescripteurs"]["creees"] == 1 and counters["prescripteurs"]["consultees"] == 0
    assert counters["executants"] == {"consultees": 1, "executees": 1, "structuresActives": 1, "logiciels": 1}
