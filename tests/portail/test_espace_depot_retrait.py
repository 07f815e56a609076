"""`/mon-espace/documents/{id}/retrait` over real HTTP: the patient withdraws a document she deposited,
after a confirmation, through `Espace.remove_document` (what `DELETE /espace/documents/{id}` calls),
without JavaScript (303 to her documents) and with htmx (the fragments); a professional's document is
refused (403, the service's French words, the refusal recorded), another patient's answers as missing,
CSRF is required. Every test deposits or picks its own document: the tests share one house and
Sarah's logged-in session per backend (module_live), and count only the records of their document."""

from __future__ import annotations

import re
from html import unescape

from maison.portail.web import CSP
from tests.identite.helpers import SARAH_NIR
from tests.partage.world import CHILD
from tests.portail import espace_world
from tests.portail.espace_world import patient_who, post, records, refused_without_token
from tests.portail.test_espace_depot import PNG, _send

HX = {"HX-Request": "true"}
# one house per module: its `world` and `client` are the module's
shared_world, shared_client = espace_world.shared_world, espace_world.shared_client
module_world, module_client = espace_world.module_world, espace_world.module_client


def _deposit(client, title: str) -> str:
    sent = _send(client, PNG, "image/png", "DOCPAT04", title)
    assert sent.status_code == 303, sent.text
    return sent.headers["location"].rsplit("/", 1)[1]


def _withdrawals(world, patient: str, outcome: str = "success") -> list[dict]:
    return [r for r in records(world.house, "espace.document.retirer", patient) if r["outcome"] == outcome]


def _professionals_document(client) -> str:
    dossier = client.get("/mon-espace/dossier").text
    return re.search(r'href="/mon-espace/documents/([^"/]+)">Lettre de liaison de sortie<', dossier).group(1)


def test_her_own_document_is_withdrawn_after_a_confirmation(client, world):
    id_ = _deposit(client, "Radio de la cheville")
    document = client.get(f"/mon-espace/documents/{id_}").text
    assert f'href="/mon-espace/documents/{id_}/retrait"' in document
    assert 'aria-label="Retirer de mon dossier : Radio de la cheville"' in client.get("/mon-espace/dossier").text
    before = len(_withdrawals(world, SARAH_NIR))
    confirmation = client.get(f"/mon-espace/documents/{id_}/retrait")
    assert confirmation.status_code == 200 and confirmation.headers["content-security-policy"] == CSP
    assert '<html lang="fr">' in confirmation.text and "Confirmer le retrait du document" in confirmation.text
    assert f'action="/mon-espace/documents/{id_}/retrait"' in confirmation.text
    assert len(_withdrawals(world, SARAH_NIR)) == before  # the confirmation changes nothing
    done = post(client, f"/mon-espace/documents/{id_}/retrait", f"/mon-espace/documents/{id_}/retrait")
    assert done.status_code == 303 and done.headers["location"] == "/mon-espace/dossier", done.text
    assert "Radio de la cheville" not in client.get("/mon-espace/dossier").text
    gone = client.get(f"/mon-espace/documents/{id_}")
    assert gone.status_code == 404 and "inconnu" in gone.text
    assert len(_withdrawals(world, SARAH_NIR)) == before + 1


def test_with_htmx_the_confirmation_and_the_answer_are_fragments(client, world):
    id_ = _deposit(client, "Échographie")
    confirmation = client.get(f"/mon-espace/documents/{id_}/retrait", headers=HX)
    assert confirmation.status_code == 200 and "<html" not in confirmation.text
    assert 'id="retrait"' in confirmation.text and "Confirmer le retrait du document" in confirmation.text
    assert f'hx-post="/mon-espace/documents/{id_}/retrait" hx-target="#contenu"' in confirmation.text
    token = re.search(r'name="csrf" value="([^"]+)"', confirmation.text).group(1)
    # as htmx sends it: the form's fields url-encoded, the token in its header too (base.html's hx-headers)
    done = client.post(
        f"/mon-espace/documents/{id_}/retrait", data={"csrf": token}, headers={**HX, "X-CSRF-Token": token}
    )
    assert done.status_code == 200 and "<html" not in done.text and "Document retiré" in done.text
    assert 'role="status"' in done.text and done.headers["content-security-policy"] == CSP
    assert "Échographie" not in unescape(client.get("/mon-espace/dossier").text)


def test_a_professionals_document_is_not_hers_to_withdraw(client, world):
    id_ = _professionals_document(client)
    document = unescape(client.get(f"/mon-espace/documents/{id_}").text)
    assert "/retrait" not in document and "pas le retirer de votre dossier" in document
    confirmation = unescape(client.get(f"/mon-espace/documents/{id_}/retrait").text)
    assert "déposé par un professionnel de santé" in confirmation and "Confirmer le retrait" not in confirmation
    words = "le patient retire les documents qu'il a déposés ; il peut masquer les autres"
    refused = post(client, f"/mon-espace/documents/{id_}", f"/mon-espace/documents/{id_}/retrait")
    assert refused.status_code == 403 and '<html lang="fr">' in refused.text and words in unescape(refused.text)
    assert refused.headers["content-security-policy"] == CSP
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/mon-espace/dossier").text).group(1)
    alert = client.post(f"/mon-espace/documents/{id_}/retrait", data={"csrf": token}, headers=HX)
    assert alert.status_code == 200 and "<html" not in alert.text  # htmx swaps no 4xx: the refusal as a fragment
    assert 'role="alert"' in alert.text and "Document non retiré" in alert.text and words in unescape(alert.text)
    refusals = _withdrawals(world, SARAH_NIR, "failure")
    assert len(refusals) >= 2 and all('"code":"document-non-depose"' in r["detail"] for r in refusals[-2:])
    assert client.get(f"/mon-espace/documents/{id_}").status_code == 200  # still there


def test_another_patients_document_answers_as_missing(client, world):
    theirs = world.house.espace.deposit(patient_who(CHILD), "DOCPAT04", "Radio de Léa", "image/png", PNG)
    refused = post(client, "/mon-espace/dossier", f"/mon-espace/documents/{theirs}/retrait")
    assert refused.status_code == 404 and "inconnu" in refused.text
    refusal = _withdrawals(world, CHILD, "failure")
    assert refusal and '"autre-patient":true' in refusal[-1]["detail"]
    assert not _withdrawals(world, CHILD)


def test_the_withdrawal_needs_its_token(client, world):
    id_ = _deposit(client, "Ordonnance scannée")
    before = len(_withdrawals(world, SARAH_NIR))
    refused_without_token(client, f"/mon-espace/documents/{id_}/retrait")
    assert client.get(f"/mon-espace/documents/{id_}").status_code == 200
    assert len(_withdrawals(world, SARAH_NIR)) == before
