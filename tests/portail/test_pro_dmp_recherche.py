"""`/pro`'s patient search and refused feeds over real HTTP, logged in through Pro Santé Connect: a
patient found by her traits through INSi or by her INS, unknown and wrong traits and keys said in
French, a PDF refused for each reason with nothing fed. Nothing is written but the reads' records, so
the tests of one backend share one house and its world (module_live), each with a PSC login of its own.
What reads her dossier or feeds it keeps a house per test in test_pro_dmp.py."""

from __future__ import annotations

import pytest

from maison.core import audit
from maison.portail.pro import PRO
from tests.partage.world import HOPITAL, SARAH_NIR
from tests.portail import test_pro_dmp
from tests.portail.test_pro_dmp import SARAH_FORM, _csrf, _feed, _pdf


@pytest.fixture(scope="module")
def world(module_live):
    return test_pro_dmp.make(module_live.house, module_live)


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


def test_a_patient_found_by_ins_opens_her_dmp_and_a_wrong_key_is_said(hospitalier):
    token = _csrf(hospitalier)
    found = hospitalier.post("/pro/patients/ins", data={"csrf": token, "ins": SARAH_NIR})
    assert found.status_code == 303 and found.headers["location"] == f"/pro/patients/{SARAH_NIR}/dmp"
    wrong = hospitalier.post("/pro/patients/ins", data={"csrf": token, "ins": SARAH_NIR[:-2] + "00"})
    assert wrong.status_code == 400 and "clé 00 invalide" in wrong.text


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
