"""`/mon-espace/depot` over real HTTP: the patient's own document sent as `multipart/form-data`
reaches `Espace.deposit` (what `POST /espace/documents` calls): filed in her DMP under its TRE_A03
category, opened in the viewer as filed; the service's type, signature, size and category checks as
French 4xx pages; CSRF on the multipart form too; the audit records. A document awaiting its
consultation d'annonce is not listed and answers as a missing one (the DMP's R.1111-53 rule).
The tests share one house and world per backend (module_live): what only reads or is refused runs in
Sarah's session (one for the module); a test that files a document, or counts the filings, has a
patient of its own (`patient`: her DMP, `her`: her session)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from html import unescape

import httpx

from maison.etablissement.dmp.producer import Produced
from maison.formats.pdf import document_pdf
from maison.portail.web import CSP
from tests.partage.world import PROS, n1
from tests.portail import espace_world
from tests.portail.espace_world import records
from tests.portail.test_patient import _token

PAGE = "/mon-espace/depot"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


shared_world, client = espace_world.shared_world, espace_world.shared_client  # one house per module
world, patient, her = espace_world.renewed_world, espace_world.patient, espace_world.her  # a test's own patient


def _send(client: httpx.Client, data: bytes, kind: str, categorie="DOCPAT05", titre="Prise de sang", csrf=None):
    token = _token(client.get(PAGE).text) if csrf is None else csrf
    fields = {"csrf": token, "titre": titre, "categorie": categorie}
    return client.post(PAGE, data=fields, files={"fichier": ("analyse.pdf", data, kind)})


def test_the_form_lists_the_patients_categories(client, world):
    page = client.get(PAGE)
    assert page.status_code == 200 and page.headers["content-security-policy"] == CSP
    assert 'enctype="multipart/form-data"' in page.text and '<label for="fichier">' in page.text
    assert "CR de biologie déposé par le patient" in page.text
    assert "DOCPAT08" not in page.text  # the profil médical synthesis is Mon espace santé's own


def test_a_pdf_is_filed_in_the_dmp_and_shown_under_its_category(her, patient, world):
    client = her
    pdf = document_pdf("Bilan", [("Résultats", ["Glycémie 0,95 g/L"])])
    sent = _send(client, pdf, "application/pdf")
    assert sent.status_code == 303 and sent.headers["location"].startswith("/mon-espace/documents/"), sent.text
    document = client.get(sent.headers["location"])
    assert document.status_code == 200 and "Prise de sang" in document.text and "vous-même" in document.text
    shown = client.get(sent.headers["location"] + "/affichage")
    assert shown.content == pdf and shown.headers["content-type"] == "application/pdf"
    dossier = client.get("/mon-espace/dossier").text
    # DOCPAT05's class in TRE_A03 (ASS_X04: 10), named as the DMP lists it
    assert ">Compte rendu</h2>" in dossier and "Prise de sang" in dossier
    assert len(records(world.house, "espace.document.deposer", patient.ins)) == 1


def test_an_image_is_accepted(client):
    assert _send(client, PNG, "image/png", "DOCPAT04", "Radio du genou").status_code == 303
    assert "Radio du genou" in client.get("/mon-espace/dossier").text


def test_a_document_over_the_limit_is_refused_with_the_services_words(her, patient, world):
    client = her
    limit = world.house.espace.max_document_bytes
    answer = _send(client, b"%PDF-" + b"0" * limit, "application/pdf")
    assert answer.status_code == 413 and f"{limit} au plus" in answer.text
    assert not records(world.house, "espace.document.deposer", patient.ins)


def test_the_multipart_form_needs_its_token(her, patient, world):
    client = her
    for csrf in ("", "pas-le-bon"):
        refused = _send(client, PNG, "image/png", csrf=csrf)
        assert refused.status_code == 403 and "CSRF" in refused.text
    plain = client.post(PAGE, data={"csrf": _token(client.get(PAGE).text), "titre": "x"})
    assert plain.status_code == 415 and "multipart/form-data" in plain.text
    assert not records(world.house, "espace.document.deposer", patient.ins)


def test_a_malformed_multipart_body_is_a_400(client):
    token = _token(client.get(PAGE).text)
    broken = client.post(
        PAGE,
        content=b"--xyz\r\nContent-Disposition: form-data\r\n\r\nsans nom\r\n--xyz--\r\n",
        headers={"Content-Type": "multipart/form-data; boundary=xyz", "X-CSRF-Token": token},
    )
    assert broken.status_code == 400 and "sans nom" in broken.text


def test_a_document_awaiting_its_consultation_dannonce_is_neither_listed_nor_opened(her, patient, world):
    client = her
    report = n1(PROS["hospitalier"], patient=patient.identity, title="Compte rendu d'anatomopathologie")
    hidden = Produced(report, visibility=("INVISIBLE_PATIENT",))
    fed = world.provide("hospitalier", [hidden])
    assert fed.status_code == 200, fed.text
    dossier = client.get("/mon-espace/dossier").text
    assert "anatomopathologie" not in dossier and "Lettre de liaison de sortie" in dossier
    awaiting = fed.json()["entry"][1]["response"]["location"].split("/")[1]  # the N1's DocumentReference
    assert awaiting not in set(re.findall(r'href="/mon-espace/documents/([^"/]+)"', dossier))
    answer = client.get(f"/mon-espace/documents/{awaiting}")
    assert answer.status_code == 404 and "inconnu" in answer.text  # as a missing one (R.1111-53)
    assert "En attente de consultation d'annonce" not in unescape(dossier)  # not told before two weeks
    assert world.house.dmp.notify_announcements(datetime.now(UTC) + timedelta(days=15)) == 1
    told = unescape(client.get("/mon-espace/dossier").text)
    today, later = date.today(), date.today() + timedelta(days=30)
    assert "En attente de consultation d'annonce" in told and "anatomopathologie" not in told
    assert f"ajouté le {today:%d/%m/%Y} attend votre consultation d'annonce" in told
    assert f"au plus tard le {later:%d/%m/%Y}" in told
    assert records(world.house, "dmp.annonce.attente", patient.ins)
    assert client.get(f"/mon-espace/documents/{awaiting}").status_code == 404  # still not opened
