"""`/mon-espace/export`: the page that says what the archive holds, and the archive itself — the same
ZIP as `GET /espace/export` (`export_archive`, as the same patient Actor): her documents, never her
daughter's; the reads it makes audited as the API's are. One house and world per backend
(module_live): the other test is only refused."""

from __future__ import annotations

import hashlib
import io
import zipfile

import httpx
import orjson
import pytest

from maison.core import audit
from maison.etablissement.dmp.producer import Produced
from maison.portail.web import CSP
from tests.identite.helpers import SARAH_NIR
from tests.partage.world import CHILD_ID, PROS, make_world, n1
from tests.portail.test_patient import log_in


@pytest.fixture(scope="module")
def world(module_live):
    world = make_world(module_live.house, module_live, keys=("hospitalier",))
    for patient, title in ((CHILD_ID, "Carnet de Léa"), (None, "Lettre de liaison de sortie")):
        extra = {"patient": patient} if patient else {}
        assert (
            world.provide("hospitalier", [Produced(n1(PROS["hospitalier"], title=title, **extra))]).status_code == 200
        )
    return world


def test_the_export_page_and_the_archive(world):
    with httpx.Client(base_url=world.base, timeout=60) as client:
        assert log_in(world, client).status_code == 303
        page = client.get("/mon-espace/export")
        assert page.status_code == 200 and page.headers["content-security-policy"] == CSP
        assert 'href="/mon-espace/export/mon-espace-sante.zip"' in page.text and "SHA256SUMS" in page.text
        answer = client.get("/mon-espace/export/mon-espace-sante.zip")
        api = httpx.get(
            f"{world.base}/espace/export", headers={"Authorization": f"Bearer {world.patient_token()}"}, timeout=60
        )
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/zip"
    assert answer.headers["content-disposition"] == 'attachment; filename="mon-espace-sante.zip"'
    assert answer.headers["cache-control"] == "no-store"
    archive = zipfile.ZipFile(io.BytesIO(answer.content))
    names = {n.removeprefix("mon-espace-sante/") for n in archive.namelist()}
    assert {"mon-espace-sante.json", "SHA256SUMS", "LISEZMOI.txt", "historique-acces.json"} <= names
    assert set(archive.namelist()) == set(zipfile.ZipFile(io.BytesIO(api.content)).namelist())  # the API's
    documents = [n for n in names if n.startswith("documents/")]
    assert len(documents) == 1  # hers only: her daughter's is in her daughter's dossier
    document = archive.read(f"mon-espace-sante/{documents[0]}").decode()
    assert "Lettre de liaison de sortie" in document and "Carnet de Léa" not in document
    bundle = orjson.loads(archive.read("mon-espace-sante/mon-espace-sante.json"))
    assert "LEA" not in str([e["resource"].get("name") for e in bundle["entry"]])
    for line in archive.read("mon-espace-sante/SHA256SUMS").decode().splitlines():
        digest, name = line.split("  ", 1)
        assert hashlib.sha256(archive.read(f"mon-espace-sante/{name}")).hexdigest() == digest
    with world.house.db.read() as conn:
        exported = list(audit.events(conn, patient=SARAH_NIR, action_prefix="espace.exporter"))
    assert len(exported) == 2  # the portal's export and the API's, the same record
    assert {r["actor_software"] for r in exported} == {"mon-espace-sante"}
    assert [len(audit.detail_of(r)["documents"]) for r in exported] == [1, 1]


def test_the_archive_needs_a_session(world):
    for path in ("/mon-espace/export", "/mon-espace/export/mon-espace-sante.zip"):
        answer = httpx.get(f"{world.base}{path}")
        assert answer.status_code == 401 and "reconnectez-vous" in answer.text
