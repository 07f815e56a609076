"""The patient's messagerie in Mon espace santé: a professional writes first, the patient reads and
answers over HTTP, cannot answer an exchange closed by X-MSS-MES: FIN, and forwards the ordonnance to
a pharmacy listed in the Annuaire (000 L2087, L3255; issue 5 §1.4)."""

from __future__ import annotations

import httpx
import pytest

from maison.core.audit import SYSTEM
from maison.core.auth import issue_key
from maison.identite.psc.api import issuer_for
from maison.partage.mss.publication import Publication
from tests.e2e.test_mss_smtp import _client, _delivered, _letter
from tests.partage.mss_world import GP, PFI, PFI_PASSWORD, start_world
from tests.partage.world import PHARMACIE, SARAH_ID, make_world

SARAH_BOX = f"{SARAH_ID.ins}@patient.mssante.fr"
PHARMACY_BOX = "pharmacie.du.marche@medecin.mssante.fr"  # an ORG mailbox at the regional operator


@pytest.fixture
def setting(house, live, tmp_path):
    world = make_world(house, live, keys=("generaliste",))
    mss = start_world(house, tmp_path, issuer_for(live.url))
    http = httpx.Client(
        base_url=f"{live.url}/espace/messagerie",
        headers={"Authorization": f"Bearer {world.patient_token()}"},
        timeout=30,
    )
    yield world, mss, http
    http.close()
    mss.close()


def _from_hospital(mss, house, **extra) -> None:
    with _client(mss, "chu-test") as client:
        client.login(PFI, PFI_PASSWORD)
        client.sendmail(PFI, [SARAH_BOX], _letter(to=SARAH_BOX, **extra))
    assert _delivered(house, SARAH_BOX)


def test_the_patient_reads_and_answers_the_professional(setting, house):
    _world, mss, http = setting
    _from_hospital(mss, house)
    [summary] = http.get("").json()["messages"]
    assert summary["expediteur"] == PFI and not summary["lu"] and summary["pieces"][0] == "IHE_XDM.ZIP"
    message = http.get(f"/{summary['uid']}").json()
    assert "Lettre de liaison" in message["texte"] and message["pieces"][0]["type"] == "application/zip"
    assert http.get("").json()["messages"][0]["lu"]
    piece = http.get(f"/{summary['uid']}/pieces/0")
    assert piece.status_code == 200 and piece.content[:2] == b"PK"
    answered = http.post(f"/{summary['uid']}/reponse", json={"texte": "Merci docteur, bien reçu."})
    assert answered.status_code == 201, answered.text
    replies = [r for r in _delivered(house, PFI) if r.sender == SARAH_BOX]
    assert replies  # delivered in the hospital's mailbox, through the trust space
    assert b"Merci docteur" in mss.mss.delivery.content(replies[0].sha256).replace(b"=\r\n", b"")


def test_no_answer_when_the_professional_closed_the_exchange(setting, house):
    _world, mss, http = setting
    _from_hospital(mss, house, end_of_exchange=True)
    [summary] = http.get("").json()["messages"]
    assert summary["echange_clos"]
    refused = http.post(f"/{summary['uid']}/reponse", json={"texte": "Une question ?"})
    assert refused.status_code == 403 and refused.json()["issue"][0]["details"]["coding"][0]["code"] == "echange-clos"


def test_the_patient_forwards_the_ordonnance_to_a_pharmacy_of_the_annuaire(setting, house, live):
    _world, mss, http = setting
    _from_hospital(mss, house)
    uid = http.get("").json()["messages"][0]["uid"]
    refused = http.post(f"/{uid}/transfert", json={"destinataire": PHARMACY_BOX})
    assert refused.status_code == 403  # not (yet) in the Annuaire
    box = mss.mss.mailboxes.create(SYSTEM, PHARMACY_BOX, "medecins", "ORG", PHARMACIE, "Pharmacie du marché")
    publication = Publication(
        f"{live.url}/annuaire", issue_key(house.db, "medecins", "operateur-regional", "operateur", "operateur-mss")
    )
    publication.publish(box)
    publication.close()
    forwarded = http.post(f"/{uid}/transfert", json={"destinataire": PHARMACY_BOX, "texte": "Mon ordonnance"})
    assert forwarded.status_code == 201, forwarded.text
    [row] = _delivered(house, PHARMACY_BOX)
    assert row.sender == SARAH_BOX and b"IHE_XDM.ZIP" in mss.mss.delivery.content(row.sha256)


def test_another_patients_message_and_a_professionals_token_refused(setting, house):
    world, mss, http = setting
    _from_hospital(mss, house)
    assert http.get("/999").status_code == 404
    doctor = httpx.get(f"{world.base}/espace/messagerie", headers=world.headers("generaliste"))
    assert doctor.status_code == 403  # reserved to the patient
    assert GP  # the GP's own mail is read over IMAP, not here


def test_a_patient_never_writes_first(setting, house):
    # 000 L3255: the professional starts the exchange; Mon espace santé offers answers, not new messages,
    # and patients hold no SMTP credentials
    _world, mss, http = setting
    assert http.post("/", json={"destinataire": GP, "texte": "Bonjour"}).status_code == 405
    assert mss.mss.mailboxes.authenticate_password(SARAH_BOX, "n'importe quoi") is None
