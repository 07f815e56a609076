"""The patient's messagerie in Mon espace santé: a professional writes first, the patient reads and
answers over HTTP, cannot answer an exchange closed by X-MSS-MES: FIN, and forwards the ordonnance to
a pharmacy listed in the Annuaire (000 L2087, L3255; issue 5 §1.4).

The tests of one backend share one house, world and trust space (tests/e2e/mss_shared.py); each
writes from a hospital mailbox of its own to a patient of its own, logged in to Mon espace santé, so
her mailbox holds its message only and what she answers comes back to its mailbox only."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from maison.core.audit import SYSTEM
from maison.core.auth import issue_key
from maison.partage.mss.publication import Publication
from maison.partage.mss.service import Mss
from tests.e2e import mss_shared
from tests.e2e.mss_people import Citizen, citizen
from tests.e2e.mss_shared import own_pfi
from tests.e2e.test_mss_smtp import _client, _delivered, _letter
from tests.partage.mss_world import GP, PFI_PASSWORD, MssWorld
from tests.partage.world import PHARMACIE, World

PHARMACY_BOX = "pharmacie.du.marche@medecin.mssante.fr"  # an ORG mailbox at the regional operator

mss, house, module_pros, pros = mss_shared.mss, mss_shared.house, mss_shared.module_pros, mss_shared.pros


@dataclass
class Setting:
    world: World
    mss: MssWorld
    http: httpx.Client  # the patient's messagerie, her token
    patient: Citizen
    sender: str  # the hospital's mailbox writing to her

    @property
    def service(self) -> Mss:
        return self.mss.mss


@pytest.fixture
def setting(mss, pros, house) -> Iterator[Setting]:
    world = pros
    patient = citizen(house, account=True)
    http = httpx.Client(
        base_url=f"{world.base}/espace/messagerie",
        headers={"Authorization": f"Bearer {world.patient_token(patient.login, patient.email)}"},
        timeout=30,
    )
    yield Setting(world, mss, http, patient, own_pfi(mss))
    http.close()


def _from_hospital(setting: Setting, house, **extra) -> None:
    box = setting.patient.box
    with _client(setting.mss, "chu-test") as client:
        client.login(setting.sender, PFI_PASSWORD)
        client.sendmail(setting.sender, [box], _letter(setting.sender, to=box, **extra))
    assert _delivered(house, box)


def test_the_patient_reads_and_answers_the_professional(setting, house):
    http, box = setting.http, setting.patient.box
    _from_hospital(setting, house)
    [summary] = http.get("").json()["messages"]
    assert summary["expediteur"] == setting.sender and not summary["lu"] and summary["pieces"][0] == "IHE_XDM.ZIP"
    message = http.get(f"/{summary['uid']}").json()
    assert "Lettre de liaison" in message["texte"] and message["pieces"][0]["type"] == "application/zip"
    assert http.get("").json()["messages"][0]["lu"]
    piece = http.get(f"/{summary['uid']}/pieces/0")
    assert piece.status_code == 200 and piece.content[:2] == b"PK"
    answered = http.post(f"/{summary['uid']}/reponse", json={"texte": "Merci docteur, bien reçu."})
    assert answered.status_code == 201, answered.text
    replies = [r for r in _delivered(house, setting.sender) if r.sender == box]
    assert replies  # delivered in the hospital's mailbox, through the trust space
    assert b"Merci docteur" in setting.service.delivery.content(replies[0].sha256).replace(b"=\r\n", b"")


def test_no_answer_when_the_professional_closed_the_exchange(setting, house):
    _from_hospital(setting, house, end_of_exchange=True)
    [summary] = setting.http.get("").json()["messages"]
    assert summary["echange_clos"]
    refused = setting.http.post(f"/{summary['uid']}/reponse", json={"texte": "Une question ?"})
    assert refused.status_code == 403 and refused.json()["issue"][0]["details"]["coding"][0]["code"] == "echange-clos"


def test_the_patient_forwards_the_ordonnance_to_a_pharmacy_of_the_annuaire(setting, house):
    http = setting.http
    _from_hospital(setting, house)
    uid = http.get("").json()["messages"][0]["uid"]
    refused = http.post(f"/{uid}/transfert", json={"destinataire": PHARMACY_BOX})
    assert refused.status_code == 403  # not (yet) in the Annuaire
    box = setting.service.mailboxes.create(SYSTEM, PHARMACY_BOX, "medecins", "ORG", PHARMACIE, "Pharmacie du marché")
    publication = Publication(
        f"{setting.world.base}/annuaire",
        issue_key(house.db, "medecins", "operateur-regional", "operateur", "operateur-mss"),
    )
    publication.publish(box)
    publication.close()
    forwarded = http.post(f"/{uid}/transfert", json={"destinataire": PHARMACY_BOX, "texte": "Mon ordonnance"})
    assert forwarded.status_code == 201, forwarded.text
    [row] = _delivered(house, PHARMACY_BOX)
    assert row.sender == setting.patient.box and b"IHE_XDM.ZIP" in setting.service.delivery.content(row.sha256)


def test_another_patients_message_and_a_professionals_token_refused(setting, house):
    world = setting.world
    _from_hospital(setting, house)
    assert setting.http.get("/999").status_code == 404
    doctor = httpx.get(f"{world.base}/espace/messagerie", headers=world.headers("generaliste"))
    assert doctor.status_code == 403  # reserved to the patient
    assert GP  # the GP's own mail is read over IMAP, not here


def test_a_patient_never_writes_first(setting, house):
    # 000 L3255: the professional starts the exchange; Mon espace santé offers answers, not new messages,
    # and patients hold no SMTP credentials
    assert setting.http.post("/", json={"destinataire": GP, "texte": "Bonjour"}).status_code == 405
    assert setting.service.mailboxes.authenticate_password(setting.patient.box, "n'importe quoi") is None
