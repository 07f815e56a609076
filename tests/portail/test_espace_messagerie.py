"""`/mon-espace/messagerie` over real HTTP, on a real trust space (two MSSanté operators and Mon
espace santé's, their SMTP listeners): the hospital's PFI writes to a patient's citizen mailbox; she reads
the message, downloads its attachments, answers (delivered back to the PFI's mailbox), cannot answer an
exchange the professional closed, forwards to a pharmacy only once the Annuaire lists its mailbox; a
message of another patient's mailbox is not hers; every form refuses a missing CSRF token; the reads
and answers leave the API's own records (espace.messagerie.*). The tests of one backend share one house
and one trust space (module_live, tests/e2e/mss_shared.py's `mss`), each with a patient of its own
(own_patient: her citizen mailbox, her session, her records)."""

from __future__ import annotations

import re
from html import unescape

import httpx
import pytest

from maison.core import audit
from maison.core.audit import SYSTEM
from maison.core.auth import issue_key
from maison.partage.mss.publication import Publication
from maison.portail.web import CSP
from tests.e2e import mss_shared
from tests.e2e.mss_shared import own_pfi
from tests.e2e.test_mss_smtp import _client, _delivered, _letter
from tests.partage.mss_world import PFI_PASSWORD
from tests.partage.world import PHARMACIE, World, make_world
from tests.portail.own_patient import Patient, own_patient
from tests.portail.test_patient import _token, log_in

PHARMACY_BOX = "pharmacie.du.marche@medecin.mssante.fr"
mss, house = mss_shared.mss, mss_shared.house  # the module's trust space and house, per backend


@pytest.fixture(scope="module")
def shared_world(module_live) -> World:
    return make_world(module_live.house, module_live, keys=())  # the Annuaire and logins; no PSC token used


@pytest.fixture
def own(shared_world) -> Patient:
    """This test's patient: her citizen mailbox opens with the first message to her."""
    return own_patient(shared_world.house)


@pytest.fixture
def setting(shared_world, mss, own):
    """The module's world and trust space, and this test's patient logged in to /mon-espace."""
    with httpx.Client(base_url=shared_world.base, timeout=60) as client:
        assert log_in(shared_world, client, own.login, own.email).status_code == 303
        yield shared_world, mss, client


@pytest.fixture
def pfi(mss) -> str:
    """This test's own mailbox of the hospital's PFI: the answers it finds there are this test's."""
    return own_pfi(mss)


def _send(mss, house, pfi: str, to: str, **extra) -> None:
    with _client(mss, "chu-test") as smtp:
        smtp.login(pfi, PFI_PASSWORD)
        smtp.sendmail(pfi, [to], _letter(sender=pfi, to=to, **extra))
    assert _delivered(house, to)


def _uid(client: httpx.Client) -> str:
    return re.search(r'href="/mon-espace/messagerie/(\d+)"', client.get("/mon-espace/messagerie").text).group(1)


def _events(house, patient: Patient, prefix: str, outcome: str | None = None) -> list[dict]:
    with house.db.read() as conn:
        rows = list(audit.events(conn, patient=patient.ins, action_prefix=prefix))
    return [r for r in rows if outcome is None or r["outcome"] == outcome]


def test_the_inbox_and_a_message_with_its_attachments(setting, house, own, pfi):
    _world, mss, client = setting
    assert "Vous n'avez reçu aucun message." in client.get("/mon-espace/messagerie").text
    _send(mss, house, pfi, own.box)
    inbox = client.get("/mon-espace/messagerie")
    assert inbox.status_code == 200 and pfi in inbox.text and "Non lu" in inbox.text
    assert inbox.headers["content-security-policy"] == CSP and own.box in inbox.text
    uid = _uid(client)
    message = client.get(f"/mon-espace/messagerie/{uid}")
    assert message.status_code == 200 and "Lettre de liaison de votre patiente." in message.text
    assert "IHE_XDM.ZIP" in message.text and "Lettre_de_liaison_GARCIA-HAMMADI.pdf" in message.text
    assert 'name="texte"' in message.text and 'name="destinataire"' in message.text
    archive = client.get(f"/mon-espace/messagerie/{uid}/pieces/0")
    assert archive.status_code == 200 and archive.content[:2] == b"PK"
    assert archive.headers["content-disposition"].startswith("attachment;")
    pdf = client.get(f"/mon-espace/messagerie/{uid}/pieces/1")
    assert pdf.content.startswith(b"%PDF") and pdf.headers["x-content-type-options"] == "nosniff"
    missing = client.get(f"/mon-espace/messagerie/{uid}/pieces/7")
    assert missing.status_code == 404 and "pièce 7 absente" in missing.text
    assert (
        "Lu" in client.get("/mon-espace/messagerie").text and "Non lu" not in client.get("/mon-espace/messagerie").text
    )
    listed, read = _events(house, own, "espace.messagerie.lister"), _events(house, own, "espace.messagerie.lire")
    assert listed and read and read[-1]["actor_software"] == "mon-espace-sante"
    assert audit.detail_of(read[-1])["expediteur"] == pfi


def test_the_patient_answers_the_professional(setting, house, own, pfi):
    _world, mss, client = setting
    _send(mss, house, pfi, own.box)
    uid = _uid(client)
    page = client.get(f"/mon-espace/messagerie/{uid}")
    path = "/mon-espace/messagerie/reponse"
    assert f'name="message" value="{uid}"' in page.text
    for data in ({"texte": "Merci"}, {"texte": "Merci", "csrf": "faux"}):
        refused = client.post(path, data={"message": uid, **data})
        assert refused.status_code == 403 and "CSRF" in refused.text
    empty = client.post(path, data={"csrf": _token(page.text), "message": uid, "texte": "   "})
    assert empty.status_code == 400 and "réponse : à remplir" in empty.text
    sent = client.post(path, data={"csrf": _token(page.text), "message": uid, "texte": "Merci docteur, bien reçu."})
    assert sent.status_code == 303 and sent.headers["location"] == f"/mon-espace/messagerie/{uid}?fait=reponse"
    assert "Votre réponse a été envoyée" in client.get(sent.headers["location"]).text
    replies = [r for r in _delivered(house, pfi) if r.sender == own.box]
    assert replies and b"Merci docteur" in mss.mss.delivery.content(replies[0].sha256).replace(b"=\r\n", b"")
    [answered] = _events(house, own, "espace.messagerie.repondre")
    assert audit.detail_of(answered)["a"] == [pfi]


def test_no_answer_when_the_professional_closed_the_exchange(setting, house, own, pfi):
    _world, mss, client = setting
    _send(mss, house, pfi, own.box, end_of_exchange=True)
    uid = _uid(client)
    page = client.get(f"/mon-espace/messagerie/{uid}")
    assert "a clos cet échange" in page.text and "/messagerie/reponse" not in page.text
    forced = client.post(
        "/mon-espace/messagerie/reponse", data={"csrf": _token(page.text), "message": uid, "texte": "?"}
    )
    assert forced.status_code == 403 and "clos l'échange" in unescape(forced.text)
    assert _events(house, own, "espace.messagerie.repondre", "failure")  # the refusal is recorded too


def test_the_patient_forwards_the_ordonnance_to_a_pharmacy_of_the_annuaire(setting, house, own, pfi, module_live):
    _world, mss, client = setting
    _send(mss, house, pfi, own.box)
    uid = _uid(client)
    token = _token(client.get(f"/mon-espace/messagerie/{uid}").text)
    path = "/mon-espace/messagerie/transfert"
    assert client.post(path, data={"message": uid, "destinataire": PHARMACY_BOX}).status_code == 403  # no CSRF
    assert client.post(path, data={"csrf": token, "message": uid, "destinataire": ""}).status_code == 400
    unlisted = client.post(path, data={"csrf": token, "message": uid, "destinataire": PHARMACY_BOX})
    assert unlisted.status_code == 403 and "n'est pas une BAL organisationnelle" in unescape(unlisted.text)
    box = mss.mss.mailboxes.create(SYSTEM, PHARMACY_BOX, "medecins", "ORG", PHARMACIE, "Pharmacie du marché")
    publication = Publication(
        f"{module_live.url}/annuaire",
        issue_key(house.db, "medecins", "operateur-regional", "operateur", "operateur-mss"),
    )
    publication.publish(box)
    publication.close()
    sent = client.post(
        path, data={"csrf": token, "message": uid, "destinataire": PHARMACY_BOX, "texte": "Mon ordonnance"}
    )
    assert sent.status_code == 303 and sent.headers["location"].endswith("?fait=transfert")
    [row] = _delivered(house, PHARMACY_BOX)
    assert row.sender == own.box and b"IHE_XDM.ZIP" in mss.mss.delivery.content(row.sha256)
    assert _events(house, own, "espace.messagerie.transferer", "success")


def test_another_patients_message_is_not_hers(setting, house, own, pfi):
    _world, mss, client = setting
    other = own_patient(house, account=False)
    _send(mss, house, pfi, other.box)  # uid 1 of another patient's mailbox: hers has none
    assert "Vous n'avez reçu aucun message." in client.get("/mon-espace/messagerie").text
    for path in ("/mon-espace/messagerie/1", "/mon-espace/messagerie/1/pieces/0"):
        refused = client.get(path)
        assert refused.status_code == 404 and "absent de la messagerie" in refused.text
    token = _token(client.get("/mon-espace/messagerie").text)
    answered = client.post("/mon-espace/messagerie/reponse", data={"csrf": token, "message": "1", "texte": "Bonjour"})
    assert answered.status_code == 404
    assert _events(house, own, "espace.messagerie.lire", "failure") and _events(
        house, own, "espace.messagerie.repondre", "failure"
    )
    assert not [r for r in _delivered(house, pfi, timeout=0.5) if r.sender in (own.box, other.box)]


def test_malformed_numbers_and_no_session(setting):
    world, _mss, client = setting
    token = _token(client.get("/mon-espace/messagerie").text)
    assert client.get("/mon-espace/messagerie/abc").status_code == 400
    assert client.get("/mon-espace/messagerie/1/pieces/-1").status_code == 400
    for uid in ("", "0", "abc", "٣", "1" * 20):
        for kind in ("reponse", "transfert"):
            bad = client.post(
                f"/mon-espace/messagerie/{kind}",
                data={"csrf": token, "message": uid, "texte": "x", "destinataire": "a@b"},
            )
            assert bad.status_code == 400 and "numéro de message invalide" in bad.text, uid
    with httpx.Client(base_url=world.base) as stranger:
        for path in ("/mon-espace/messagerie", "/mon-espace/messagerie/1", "/mon-espace/messagerie/1/pieces/0"):
            answer = stranger.get(path)
            assert answer.status_code == 401 and "reconnectez-vous" in answer.text, path
