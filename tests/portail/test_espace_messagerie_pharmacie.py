"""`/mon-espace/messagerie`'s pharmacy picker over real HTTP, on a real trust space: Sarah finds the
pharmacy to forward her ordonnance to in the Annuaire Santé by its name, its pharmacist's or its
commune (a GET page without JavaScript, the results' fragment for htmx), only pharmacies d'officine
(SA33) with an organisational mailbox outside the liste rouge offered, each search leaving the
Annuaire API's `annuaire.lire` record with her as actor; the choose button brings the address back to
the message's forward form, where the directory is read again: a forged address is told in French and
not filled in, and sending to it is refused by `Messagerie.forward` (403 in French, the refusal
recorded). One house, trust space and message for the module."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape

import httpx
import pytest

from maison.core import audit
from maison.core.audit import SYSTEM
from maison.identite.annuaire import resources as build
from maison.identite.annuaire.index import put
from maison.identite.psc.api import issuer_for
from tests.e2e.test_mss_smtp import _client, _delivered, _letter
from tests.identite.helpers import SARAH_NIR
from tests.partage.mss_world import PFI, PFI_PASSWORD, start_world
from tests.partage.world import NOW, PROS, World, make_world
from tests.portail.test_patient import _token, log_in

SARAH_BOX = f"{SARAH_NIR}@patient.mssante.fr"
BELLECOUR, BELLECOUR_BOX = "1690000001", "pharmacie.bellecour@medecin.mssante.fr"
HIDDEN_BOX = "pharmacie.discrete@medecin.mssante.fr"  # on the liste rouge
CABINET_BOX = "cabinet.martin@medecin.mssante.fr"  # an organisational mailbox, but not a pharmacy's
HX = {"HX-Request": "true"}


def _pharmacy(sid: str, name: str, city: str, postal_code: str, boxes: list[dict], secteur: str = "SA33") -> dict:
    return build.organization(
        sid, name, NOW, secteur=secteur, city=city, postal_code=postal_code, insee="69382", mailboxes=boxes
    )


@pytest.fixture(scope="module")
def setting(module_live, tmp_path_factory) -> Iterator[tuple[World, httpx.Client, str]]:
    house = module_live.house
    world = make_world(house, module_live, keys=())
    orgs = [
        _pharmacy(BELLECOUR, "PHARMACIE BELLECOUR", "LYON", "69002", [build.mailbox(BELLECOUR_BOX, "ORG")]),
        _pharmacy(
            "1690000002", "PHARMACIE DISCRETE", "LYON", "69003", [build.mailbox(HIDDEN_BOX, "ORG", liste_rouge=True)]
        ),
        _pharmacy("1690000003", "PHARMACIE SANS BAL", "LYON", "69004", []),
        _pharmacy("1690000004", "PHARMACIE DES ALPES", "GRENOBLE", "38000", [build.mailbox("alpes@x.fr", "ORG")]),
        _pharmacy("1690000005", "CABINET DU PARC", "LYON", "69002", [build.mailbox(CABINET_BOX, "ORG")], "SA07"),
    ]
    pharmacist = PROS["pharmacien"]  # Anne LEROY also works at the Bellecour pharmacy
    with house.db.write() as conn:
        put(conn, orgs)
        put(conn, [build.practitioner_role("2100000001", pharmacist.idnatps, BELLECOUR, NOW, fonction=None, mode="S")])
    mss = start_world(house, tmp_path_factory.mktemp("mss"), issuer_for(module_live.url))
    mss.mss.mailboxes.create(SYSTEM, BELLECOUR_BOX, "medecins", "ORG", BELLECOUR, "Pharmacie Bellecour")
    with _client(mss, "chu-test") as smtp:
        smtp.login(PFI, PFI_PASSWORD)
        smtp.sendmail(PFI, [SARAH_BOX], _letter(to=SARAH_BOX))
    assert _delivered(house, SARAH_BOX)
    with httpx.Client(base_url=world.base, timeout=60) as client:
        assert log_in(world, client).status_code == 303
        uid = re.search(r'href="/mon-espace/messagerie/(\d+)"', client.get("/mon-espace/messagerie").text).group(1)
        yield world, client, uid
    mss.close()


def _lookups(house) -> list[dict]:
    with house.db.read() as conn:
        return [r for r in audit.events(conn, action_prefix="annuaire.lire") if r["actor_person"] == SARAH_NIR]


def _events(house, action: str, outcome: str) -> list[dict]:
    with house.db.read() as conn:
        rows = audit.events(conn, patient=SARAH_NIR, action_prefix=action)
        return [r for r in rows if r["action"] == action and r["outcome"] == outcome]


def test_the_message_page_offers_the_search_and_its_page_works_without_javascript(setting):
    world, client, uid = setting
    message = unescape(client.get(f"/mon-espace/messagerie/{uid}").text)
    assert f'action="/mon-espace/messagerie/{uid}/pharmacies"' in message and 'hx-trigger="submit, keyup' in message
    assert 'id="destinataire"' in message  # the typed address stays as a fallback
    before = len(_lookups(world.house))
    found = client.get(f"/mon-espace/messagerie/{uid}/pharmacies", params={"nom": "bellecour"})
    assert found.status_code == 200 and '<html lang="fr">' in found.text
    text = unescape(found.text)
    assert "PHARMACIE BELLECOUR" in text and "69002 LYON" in text and BELLECOUR_BOX in text
    assert f'action="/mon-espace/messagerie/{uid}#transfert-titre"' in text
    assert f'name="destinataire" value="{BELLECOUR_BOX}"' in text and 'value="bellecour"' in text
    lookups = _lookups(world.house)[before:]
    assert lookups and {audit.detail_of(r)["type"] for r in lookups} >= {"Organization", "Practitioner"}


def test_only_pharmacies_with_an_organisational_mailbox_are_offered(setting):
    _world, client, uid = setting
    path = f"/mon-espace/messagerie/{uid}/pharmacies"
    lyon = unescape(client.get(path, params={"commune": "lyon"}, headers=HX).text)
    assert "<html" not in lyon and "PHARMACIE BELLECOUR" in lyon
    for absent in ("PHARMACIE DISCRETE", HIDDEN_BOX, "PHARMACIE SANS BAL", "CABINET DU PARC", "DES ALPES"):
        assert absent not in lyon, absent
    by_postal_code = unescape(client.get(path, params={"nom": "pharmacie", "commune": "38"}, headers=HX).text)
    assert "PHARMACIE DES ALPES" in by_postal_code and "BELLECOUR" not in by_postal_code
    by_pharmacist = unescape(client.get(path, params={"nom": "leroy"}, headers=HX).text)
    assert "PHARMACIE BELLECOUR" in by_pharmacist and "Dr Anne LEROY" in by_pharmacist
    assert "Aucune pharmacie" in unescape(
        client.get(path, params={"nom": "leroy", "commune": "paris"}, headers=HX).text
    )
    assert "Tapez le nom" in unescape(client.get(path, headers=HX).text)
    too_long = client.get(path, params={"commune": "x" * 81})
    assert too_long.status_code == 400 and "commune : 80 caractères au plus" in unescape(too_long.text)


def test_the_chosen_pharmacy_fills_the_forward_form_and_receives_the_ordonnance(setting):
    world, client, uid = setting
    chosen = unescape(client.get(f"/mon-espace/messagerie/{uid}", params={"destinataire": BELLECOUR_BOX}).text)
    assert "Pharmacie choisie : <strong>PHARMACIE BELLECOUR</strong>, 69002 LYON." in chosen
    assert f'aria-describedby="destinataire-aide" value="{BELLECOUR_BOX}"' in chosen
    sent = client.post(
        "/mon-espace/messagerie/transfert",
        data={"csrf": _token(chosen), "message": uid, "destinataire": BELLECOUR_BOX, "texte": "Mon ordonnance"},
    )
    assert sent.status_code == 303 and sent.headers["location"].endswith("?fait=transfert")
    [row] = _delivered(world.house, BELLECOUR_BOX)
    assert row.sender == SARAH_BOX
    [done] = _events(world.house, "espace.messagerie.transferer", "success")
    assert audit.detail_of(done)["a"] == [BELLECOUR_BOX]


@pytest.mark.parametrize("forged", [CABINET_BOX, HIDDEN_BOX, "pharmacie.inventee@medecin.mssante.fr"])
def test_a_forged_choice_is_told_in_french_and_its_forward_refused(setting, forged):
    world, client, uid = setting
    page = unescape(client.get(f"/mon-espace/messagerie/{uid}", params={"destinataire": forged}).text)
    assert "role=\"alert\">Cette adresse n'est pas celle d'une pharmacie de l'Annuaire Santé" in page
    assert f'value="{forged}"' not in page and "Pharmacie choisie" not in page
    if forged == CABINET_BOX:
        return  # an organisational mailbox of the Annuaire: the service's rule lets her write to it
    before = len(_events(world.house, "espace.messagerie.transferer", "failure"))
    refused = client.post(
        "/mon-espace/messagerie/transfert", data={"csrf": _token(page), "message": uid, "destinataire": forged}
    )
    assert refused.status_code == 403 and "n'est pas une BAL organisationnelle de l'Annuaire Santé" in unescape(
        refused.text
    )
    assert len(_events(world.house, "espace.messagerie.transferer", "failure")) == before + 1
