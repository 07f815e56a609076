"""`/pro`'s patient search and refused feeds over real HTTP, logged in through Pro Santé Connect: a
patient found by her traits through INSi or her INS verified by INSi (the identity card), unknown and
wrong traits, keys and INS said in French, a PDF refused for each reason with nothing fed; the htmx
fragments and the pages without JavaScript; the connexion secrète of Sarah's child (a minor), and its
refusal for Sarah. Nothing is written to Sarah's dossier but the reads' records, and only the secret
test writes her child's, so the tests of one backend share one house and its world (module_live), each
with a PSC login of its own. What reads a dossier or feeds it is in test_pro_dmp.py, each test with a
patient of its own."""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from maison.core import audit
from maison.core.authz import patient_actor
from maison.core.identifiers.nir import OID_INS_NIR, OID_INS_NIR_TEST
from maison.core.keystore import random_secret
from maison.partage.dmp.model import INVISIBLE_REPRESENTANTS_LEGAUX, Who
from maison.portail import pro_acces
from maison.portail.pro import PRO
from maison.portail.sessions import Sessions
from tests.identite.helpers import nir
from tests.partage.world import CHILD, HOPITAL, PROS, SARAH_NIR
from tests.portail import test_pro_dmp
from tests.portail.pro_login import field
from tests.portail.test_pro_dmp import SARAH_FORM, _csrf, _feed, _pdf


@pytest.fixture(scope="module")
def world(module_live):
    return test_pro_dmp.make(module_live.house, module_live)


UNKNOWN = nir("2770175056099")  # a well-formed NIR, with its key, that no one in the referential has
hospitalier = test_pro_dmp.hospitalier  # the hospital doctor logged in through PSC, per test


def test_a_patient_found_by_traits_through_insi_with_her_status(hospitalier, world):
    found = hospitalier.post("/pro/patients/traits", data={"csrf": _csrf(hospitalier), **SARAH_FORM})
    assert found.status_code == 200, found.text
    assert SARAH_NIR in found.text and "Code 00" in found.text and "Identité récupérée par INSi" in found.text
    assert f'href="/pro/patients/{SARAH_NIR}/dmp"' in found.text and 'enctype="multipart/form-data"' in found.text
    with world.house.db.read() as conn:  # INSi answered the professional's structure, through the portal's software
        calls = [e for e in audit.events(conn, structure=HOPITAL) if e["action"].startswith("insi.")]
    assert calls and calls[-1]["actor_software"] == PRO.client_id


def test_unknown_traits_get_insis_advice_and_bad_traits_a_french_error(hospitalier):
    token = _csrf(hospitalier)
    none = hospitalier.post("/pro/patients/traits", data={"csrf": token, **SARAH_FORM, "nom": "INCONNUE"})
    assert none.status_code == 200 and "Code 01" in none.text and "Aucune identité trouvée" in none.text
    bad = hospitalier.post("/pro/patients/traits", data={"csrf": token, **SARAH_FORM, "naissance": "pas une date"})
    assert bad.status_code in (400, 422) and 'role="alert"' in bad.text


def _by_ins(client: httpx.Client, ins: str, traits: dict[str, str], **headers: str) -> httpx.Response:
    data = {"csrf": _csrf(client), "ins": ins, "oid": OID_INS_NIR_TEST, **traits}
    return client.post("/pro/patients/ins", data=data, headers=headers)


def test_an_ins_is_verified_through_insi_and_her_identity_card_shown(hospitalier, world):
    found = _by_ins(hospitalier, SARAH_NIR, SARAH_FORM)
    assert found.status_code == 200, found.text
    card = found.text[found.text.index('<dl class="fiche">') :]
    for shown in (SARAH_NIR, OID_INS_NIR_TEST, "GARCIA-HAMMADI", "SARAH-LOU ANNA", "Féminin", "21/01/1977"):
        assert shown in card, shown
    assert "Code 00 — OK" in found.text and "Identité vérifiée par INSi" in found.text and "non qualifiée" in card
    assert f'href="/pro/patients/{SARAH_NIR}/dmp"' in found.text and "connexion secrète" not in card  # an adult
    with world.house.db.read() as conn:  # INSi was asked, for the professional's structure, by the portal
        calls = [e for e in audit.events(conn, structure=HOPITAL) if e["action"].startswith("insi.")]
    assert calls and calls[-1]["actor_software"] == PRO.client_id and calls[-1]["patient"] == SARAH_NIR


def test_a_wrong_or_unknown_ins_is_refused_in_french(hospitalier):
    wrong_key = _by_ins(hospitalier, SARAH_NIR[:-2] + "00", SARAH_FORM)
    assert wrong_key.status_code == 400 and "clé 00 invalide" in wrong_key.text and "<dl" not in wrong_key.text
    wrong_oid = hospitalier.post(
        "/pro/patients/ins", data={"csrf": _csrf(hospitalier), "ins": SARAH_NIR, "oid": OID_INS_NIR, **SARAH_FORM}
    )
    assert (
        wrong_oid.status_code == 400
        and f"INSi attribue à ce matricule l&#39;autorité {OID_INS_NIR_TEST}" in wrong_oid.text
    )
    other = _by_ins(hospitalier, UNKNOWN, SARAH_FORM)  # a valid matricule INSi does not give these traits
    assert other.status_code == 422 and "Code 00 — OK" in other.text and '<dl class="fiche">' not in other.text
    assert (
        f"INS {UNKNOWN} non vérifié : l&#39;identité qu&#39;INSi renvoie pour ces traits ne porte pas cet INS"
        in other.text
    )
    assert SARAH_NIR not in other.text  # the verification does not disclose whose identity the traits are
    unknown = _by_ins(hospitalier, UNKNOWN, {**SARAH_FORM, "nom": "INCONNUE"})
    assert unknown.status_code == 422 and "Code 01 — Aucune identite trouvee" in unknown.text
    assert "aucune identité certaine" in unknown.text and "Aucune identité trouvée : vérifier" in unknown.text


def test_the_search_answers_htmx_its_results_alone_and_without_javascript_the_page(hospitalier):
    fragment = _by_ins(hospitalier, SARAH_NIR, SARAH_FORM, **{"HX-Request": "true"})
    assert fragment.status_code == 200 and fragment.text.startswith('<div id="resultat">'), fragment.text[:200]
    assert "<html" not in fragment.text and SARAH_NIR in fragment.text and 'id="alimenter"' in fragment.text
    token = _csrf(hospitalier)
    bad = {"csrf": token, **SARAH_FORM, "naissance": "pas une date"}
    bad_htmx = hospitalier.post("/pro/patients/traits", data=bad, headers={"HX-Request": "true"})
    assert bad_htmx.status_code == 200 and bad_htmx.text.startswith('<div id="resultat">')  # htmx swaps a 200
    assert 'role="alert"' in bad_htmx.text
    page = hospitalier.post("/pro/patients/traits", data=bad)  # without JavaScript: the page, its own status
    assert page.status_code in (400, 422) and "<html" in page.text and 'role="alert"' in page.text
    assert 'hx-post="/pro/patients/traits"' in page.text and 'action="/pro/patients/traits"' in page.text


def test_feeding_errors_are_french_and_feed_nothing(hospitalier, world):
    token = _csrf(hospitalier)
    unverified = _feed(hospitalier, token, _pdf("a"), verifie=None)
    assert unverified.status_code == 400 and "INS n&#39;est pas qualifié" in unverified.text
    not_pdf = _feed(hospitalier, token, b"<html>pas un pdf</html>")
    assert not_pdf.status_code == 400 and "choisissez un fichier PDF" in not_pdf.text
    other = _feed(hospitalier, token, _pdf("b"), nom="INCONNUE")
    assert other.status_code == 400 and "INSi ne confirme pas" in other.text
    no_token = _feed(hospitalier, "pas-le-bon", _pdf("c"))
    assert no_token.status_code == 403 and "CSRF" in no_token.text
    urlencoded = hospitalier.post(f"/pro/patients/{SARAH_NIR}/documents", data={"csrf": token})
    assert urlencoded.status_code == 415
    page = hospitalier.get(f"/pro/patients/{SARAH_NIR}/dmp")
    assert "Compte rendu du portail" not in page.text


CHILD_FORM = {"nom": "GARCIA-HAMMADI", "prenoms": "LEA", "sexe": "F", "naissance": "2015-03-03", "lieu": "75056"}


def test_connexion_secrete_for_a_minor_hides_from_her_representative(hospitalier, world):
    """CSP L.1111-5: opened in connexion secrète from her verified identity, the dossier of Sarah's child
    says so loudly; what the professional feeds (htmx) is invisible to Sarah acting as her representative,
    and none of his accesses appear in Sarah's history of her — through the DMP's own functions."""
    card = _by_ins(hospitalier, CHILD, CHILD_FORM)
    assert card.status_code == 200 and "Consulter son DMP en connexion secrète" in card.text, card.text
    opened = hospitalier.post(
        f"/pro/patients/{CHILD}/connexion-secrete",
        data={"csrf": _csrf(hospitalier), "identite": field(card.text, "identite")},
    )
    assert opened.status_code == 303 and "secrete=" in opened.headers["location"], opened.text
    secrete = parse_qs(urlsplit(opened.headers["location"]).query)["secrete"][0]
    refused = hospitalier.get(opened.headers["location"])  # his structure never informed her: he records it
    assert "Connexion secrète active" in refused.text and "pas été informé" in refused.text
    informed = hospitalier.post(
        f"/pro/patients/{CHILD}/information", data={"csrf": _csrf(hospitalier), "informee": "oui", "secrete": secrete}
    )
    assert informed.status_code == 303 and f"secrete={secrete}" in informed.headers["location"].replace("%3D", "=")
    files = {"fichier": ("note.pdf", _pdf("Consultation confidentielle"), "application/pdf")}
    data = {"csrf": _csrf(hospitalier), **CHILD_FORM, "titre": "Consultation confidentielle", "type": "11488-4"}
    fed = hospitalier.post(
        f"/pro/patients/{CHILD}/documents",
        data={**data, "verifie": "oui", "secrete": "oui"},
        files=files,
        headers={"HX-Request": "true"},
    )
    assert fed.status_code == 200 and fed.text.startswith('<section id="alimenter"'), fed.text[:300]
    assert "déposé dans le DMP, en connexion secrète" in fed.text and "secrete=" in fed.text
    page = hospitalier.get(opened.headers["location"])
    assert "Connexion secrète active" in page.text and "Consultation confidentielle" in page.text

    dmp, pro = world.house.dmp, PROS["hospitalier"].idnatps
    herself, parent = Who(patient_actor(CHILD, CHILD)), Who(patient_actor(CHILD, SARAH_NIR))
    (hers,) = dmp.find_documents(herself, CHILD, ["current"])  # she sees it, the professional fed it in secret
    assert hers.type_code == "11488-4" and INVISIBLE_REPRESENTANTS_LEGAUX in hers.visibility
    assert dmp.find_documents(parent, CHILD, ["current"]) == []
    assert pro in {e["actor_person"] for e in dmp.history(herself)}
    assert pro not in {e["actor_person"] for e in dmp.history(parent)}


def _session_key(world, session) -> bytes:
    """The key the house derives for this session's signed parameters (PscConnexion.session_key)."""
    secret = random_secret(world.house.settings.keystore(), "portail-psc-connexion.hmac")
    return hmac.new(secret, f"pro|session|{session.id_hash}".encode(), hashlib.sha256).digest()


def test_a_parameter_signed_with_what_the_page_shows_is_refused(hospitalier, world):
    """The CSRF token is in every page: a MAC under it could be written by the session's holder, who would
    then claim a minor's birth date for an adult (connexion secrète) or skip the bris de glace form."""
    session = Sessions(world.house.db, inactivity=3600, lifetime=36000).find(
        hospitalier.cookies.get("maison_pro"), "pro"
    )
    for key in (session.csrf.encode(), session.id_hash.encode()):
        identite = pro_acces.identity_token(key, SARAH_NIR, "2015-06-01")  # "a minor", by hand
        forged = hospitalier.post(
            f"/pro/patients/{SARAH_NIR}/connexion-secrete", data={"csrf": _csrf(hospitalier), "identite": identite}
        )
        assert forged.status_code == 403 and "identité vérifiée d&#39;une autre session" in forged.text
        urgence = pro_acces.urgence_token(key, "motif écrit à la main")
        skipped = hospitalier.get(f"/pro/patients/{SARAH_NIR}/dmp", params={"urgence": urgence})
        assert skipped.status_code == 403 and "accès en urgence d&#39;une autre session" in skipped.text


def test_connexion_secrete_is_refused_for_an_adult(hospitalier, world):
    card = _by_ins(hospitalier, SARAH_NIR, SARAH_FORM)
    assert card.status_code == 200 and "connexion secrète" not in card.text  # not offered for an adult
    # the page a minor's card would post, signed by his own session for her verified identity: refused
    session = Sessions(world.house.db, inactivity=3600, lifetime=36000).find(
        hospitalier.cookies.get("maison_pro"), "pro"
    )
    identite = pro_acces.identity_token(_session_key(world, session), SARAH_NIR, "1977-01-21")
    refused = hospitalier.post(
        f"/pro/patients/{SARAH_NIR}/connexion-secrete", data={"csrf": _csrf(hospitalier), "identite": identite}
    )
    assert refused.status_code == 403 and "connexion secrète refusée" in refused.text
    assert "né(e) le 21/01/1977, est majeur(e)" in refused.text and "L.1111-5" in refused.text
    forged = hospitalier.get(f"/pro/patients/{SARAH_NIR}/dmp?secrete=e30.AAAA")
    assert forged.status_code == 403 and "Connexion secrète active" not in forged.text
    fed = _feed(hospitalier, _csrf(hospitalier), _pdf("secret"), secrete="oui", titre="Secret d'une majeure")
    assert fed.status_code == 403 and "est majeur(e)" in fed.text
    assert "Secret d&#39;une majeure" not in hospitalier.get(f"/pro/patients/{SARAH_NIR}/dmp").text
