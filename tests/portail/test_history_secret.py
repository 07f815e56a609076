"""The connexion secrète (CSP L.1111-5) through Mon espace santé's pages, with a real secret-mode access:
Claire MARTIN, Léa's doctor, feeds a document and searches Léa's DMP in connexion secrète (the API's
`X-Connexion-Secrete`), besides an ordinary document. Léa, the holder, sees both documents and every
access in her history; Sarah, her legal representative acting for her, sees neither the secret
document (listed nor opened: refused in French, the refusal recorded) nor the secret accesses in the
history — the pages go through `Dmp.find_documents`, `document` and `history_page`, which filter for
`who.is_representative`. One house and world for the module; the pages only read."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape

import httpx
import pytest

from maison.core import audit
from maison.etablissement.dmp.producer import Produced
from maison.partage.dmp.model import INVISIBLE_REPRESENTANTS_LEGAUX
from tests.identite.helpers import SARAH_NIR
from tests.partage.world import CHILD, CHILD_ID, PROS, World, make_world, n1
from tests.portail.espace_world import post
from tests.portail.test_patient import log_in

SECRET = {"X-Connexion-Secrete": "oui"}
OPEN_TITLE, SECRET_TITLE = "Carnet de vaccination", "Consultation confidentielle"
DOCTOR = "Dr Claire MARTIN"


@pytest.fixture(scope="module")
def world(module_live) -> World:
    world = make_world(module_live.house, module_live, keys=("generaliste",))
    assert world.inform("generaliste", CHILD).status_code in (200, 201)
    plain = world.provide("generaliste", [Produced(n1(PROS["generaliste"], patient=CHILD_ID, title=OPEN_TITLE))])
    assert plain.status_code == 200, plain.text
    hidden = Produced(
        n1(PROS["generaliste"], patient=CHILD_ID, title=SECRET_TITLE), visibility=(INVISIBLE_REPRESENTANTS_LEGAUX,)
    )
    assert world.provide("generaliste", [hidden], **SECRET).status_code == 200
    assert world.search("generaliste", CHILD, **SECRET).json()["total"] == 2  # the doctor's secret read
    return world


@pytest.fixture(scope="module")
def holder(world: World) -> Iterator[httpx.Client]:
    """Léa in her own espace."""
    with httpx.Client(base_url=world.base, timeout=60) as client:
        assert log_in(world, client, "lea.garcia", "+33612345678").status_code == 303
        yield client


@pytest.fixture(scope="module")
def representative(world: World) -> Iterator[httpx.Client]:
    """Sarah, logged in as herself, acting for Léa."""
    with httpx.Client(base_url=world.base, timeout=60) as client:
        assert log_in(world, client).status_code == 303
        assert post(client, "/mon-espace/espaces", "/mon-espace/espaces", ins=CHILD).status_code == 303
        yield client


def _secret_records(house) -> list[dict]:
    with house.db.read() as conn:
        rows = list(audit.events(conn, patient=CHILD, action_prefix="dmp."))
    return [r for r in rows if audit.detail_of(r).get("actor", {}).get("connexion-secrete") == "oui"]


def _doctor_lines(html: str) -> list[str]:
    """The history's rows naming the doctor, as text."""
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", unescape(html), flags=re.S)
    return [re.sub(r"<[^>]+>|\s+", " ", row) for row in rows if DOCTOR in row]


def test_the_doctors_accesses_really_were_secret(world):
    actions = sorted(r["action"] for r in _secret_records(world.house))
    assert actions == ["dmp.alimenter", "dmp.rechercher"]
    assert all(r["actor_person"] == PROS["generaliste"].idnatps for r in _secret_records(world.house))


def test_the_minor_sees_her_secret_document_and_every_access(holder):
    dossier = unescape(holder.get("/mon-espace/dossier").text)
    assert OPEN_TITLE in dossier and SECRET_TITLE in dossier
    history = unescape(holder.get("/mon-espace/historique").text)
    assert "connexion secrète" not in history  # nothing kept from her
    lines = _doctor_lines(history)
    assert sum("a ajouté un document" in line for line in lines) == 2
    assert sum("a consulté la liste de vos documents" in line for line in lines) == 1


def test_the_representative_sees_neither_the_secret_document_nor_the_secret_accesses(representative, world):
    dossier = unescape(representative.get("/mon-espace/dossier").text)
    assert "vous agissez en tant que représentant légal" in dossier
    assert OPEN_TITLE in dossier and SECRET_TITLE not in dossier
    history = representative.get("/mon-espace/historique")
    assert "en tant que représentant légal" in unescape(history.text) and "connexion secrète" in unescape(history.text)
    lines = _doctor_lines(history.text)
    assert sum("a ajouté un document" in line for line in lines) == 1
    assert not [line for line in lines if "a consulté la liste de vos documents" in line]
    with world.house.db.read() as conn:
        read = [r for r in audit.events(conn, patient=CHILD, action_prefix="dmp.patient.historique")]
    assert read[-1]["actor_person"] == SARAH_NIR and read[-1]["outcome"] == "success"
    controls = unescape(representative.get("/mon-espace/controles").text)
    assert "Vous consultez ce dossier en tant que représentant légal" in controls


def test_the_representative_cannot_open_the_secret_document_by_its_id(holder, representative, world):
    secret_id = re.search(
        r'href="/mon-espace/documents/([^"/]+)"[^>]*>[^<]*' + SECRET_TITLE,
        unescape(holder.get("/mon-espace/dossier").text),
    )
    assert secret_id, "the holder's page links her secret document"
    shown = holder.get(f"/mon-espace/documents/{secret_id.group(1)}")
    assert shown.status_code == 200 and SECRET_TITLE in unescape(shown.text)
    for path in (
        f"/mon-espace/documents/{secret_id.group(1)}",
        f"/mon-espace/documents/{secret_id.group(1)}/affichage",
    ):
        refused = representative.get(path)
        assert refused.status_code in (403, 404) and '<html lang="fr">' in refused.text, path
        assert SECRET_TITLE not in unescape(refused.text)
    with world.house.db.read() as conn:
        failures = [
            r
            for r in audit.events(conn, patient=CHILD, action_prefix="dmp.")
            if r["outcome"] != "success" and r["actor_person"] == SARAH_NIR
        ]
    assert len(failures) >= 2  # each refused read recorded, with the representative as actor
