"""The administrator's acts (issue 21 §1): the token made once at first start, rotated on demand; the
outbox read (§1.3); structure keys issued and revoked; INSi habilitation and software; a Mon espace
santé account opened — each act recorded in the audit trail."""

import orjson
import pytest

from maison.admin.service import first_token, rotate_token
from maison.core import audit
from maison.core.actor import KeyScope
from maison.core.auth import key_actor
from maison.core.errors import InvalidInput, NotFound, Unauthenticated
from maison.identite.ins.model import CallContext
from maison.identite.ins.service import StructureNotAuthorised
from tests.identite.helpers import SARAH_NIR

PASSWORD = "mot-de-passe-de-test-2026"


def _actions(house, prefix: str) -> list[dict]:
    with house.db.read() as conn:
        return list(audit.events(conn, action_prefix=prefix))


def test_the_administrator_token_is_made_once_and_rotation_revokes_the_old_one(house) -> None:
    token = first_token(house.db)
    assert token is not None and token.startswith("mk_")
    assert key_actor(house.db, token).scope is KeyScope.ADMINISTRATEUR_MAISON
    assert first_token(house.db) is None  # a second start prints nothing: one is active
    rotated = rotate_token(house.db)
    assert key_actor(house.db, rotated).scope is KeyScope.ADMINISTRATEUR_MAISON
    with pytest.raises(Unauthenticated):
        key_actor(house.db, token)
    issued = [r for r in _actions(house, "securite.cle-emise") if '"administrateur-maison"' in r["detail"]]
    assert len(issued) >= 2 and not any(token in r["detail"] or rotated in r["detail"] for r in issued)


def test_the_outbox_shows_the_login_code_sent_and_its_reading_is_audited(house) -> None:
    admin = house.admin
    admin.open_mes_account(audit.SYSTEM, "sarah.garcia", SARAH_NIR, "1977-01-21", PASSWORD, "sarah@example.fr")
    house.patient_login.start("sarah.garcia", PASSWORD)
    messages = admin.outbox(audit.SYSTEM, "sarah@example.fr")
    assert [m["canal"] for m in messages] == ["email"]
    assert "code de connexion" in messages[-1]["corps"]
    assert admin.outbox(audit.SYSTEM, "personne@example.fr") == []
    assert any(m["destinataire"] == "sarah@example.fr" for m in admin.outbox(audit.SYSTEM))
    assert [r["action"] for r in _actions(house, "admin.")].count("admin.boite-envoi") == 3
    assert any(r["action"] == "admin.compte-mes-ouvert" for r in _actions(house, "admin."))


def test_a_structure_key_is_issued_then_revoked_by_its_id(house) -> None:
    issued = house.admin.issue_key(audit.SYSTEM, "1750000019", "dpi-test", "accueil")
    assert key_actor(house.db, issued["cle"]).scope is KeyScope.ACCUEIL
    assert house.admin.revoke_key(audit.SYSTEM, issued["id"]) == 1
    with pytest.raises(Unauthenticated):
        key_actor(house.db, issued["cle"])
    with pytest.raises(NotFound):
        house.admin.revoke_key(audit.SYSTEM, "0" * 12)
    with pytest.raises(InvalidInput):
        house.admin.revoke_key(audit.SYSTEM, "court")


def test_no_house_administrator_key_nor_unknown_scope_by_this_way(house) -> None:
    for scope in ("administrateur-maison", "tout"):
        with pytest.raises(InvalidInput):
            house.admin.issue_key(audit.SYSTEM, "1750000019", "dpi", scope)
    with pytest.raises(InvalidInput):
        house.admin.issue_key(audit.SYSTEM, "x" * 65, "dpi")


def test_insi_accepts_a_structure_once_habilitated_and_its_software_once_registered(house) -> None:
    ctx = CallContext("1750000019", "IDAM-TEST-1", "1.0", "prof", "msg-1")
    with pytest.raises(Exception, match="autorisation"):
        house.insi.authorise(ctx)
    done = house.admin.register_software(audit.SYSTEM, "IDAM-TEST-1", "DPI de test", "Éditeur", "4.2.1")
    assert done["version"] == "4.2.1"
    with pytest.raises(StructureNotAuthorised):
        house.insi.authorise(ctx)
    done = house.admin.habilitate_insi(audit.SYSTEM, "1750000019", "CHU de test")
    assert done["departement"] == "75"
    assert house.insi.authorise(ctx).extra["vendor"] == "Éditeur"
    acts = {r["action"] for r in _actions(house, "admin.")}
    assert {"admin.habilitation-insi", "admin.logiciel-enregistre"} <= acts


def _a_professional(house) -> str:
    from maison.identite.annuaire import resources as build
    from maison.identite.annuaire.index import put
    from tests.partage.world import NOW, PROS

    pro = PROS["generaliste"]
    with house.db.write() as conn:
        put(conn, [build.practitioner(pro.rpps, pro.family, pro.given, "DR", pro.profession, "C", None, NOW)])
    return pro.idnatps


def test_a_professional_gets_a_test_password_and_an_ecps_whose_qr_code_reads_back(house) -> None:
    import base64
    import io

    import pyotp
    from PIL import Image

    from maison.formats.qr import decode_qr

    idnatps = _a_professional(house)
    house.admin.set_test_password(audit.SYSTEM, idnatps, PASSWORD)
    enrolled = house.admin.enroll_ecps(audit.SYSTEM, idnatps)
    assert enrolled["otpauth"].startswith("otpauth://totp/")
    assert decode_qr(Image.open(io.BytesIO(base64.b64decode(enrolled["qrPng"])))) == [enrolled["otpauth"]]
    code = pyotp.TOTP(enrolled["secret"]).now()
    assert house.psc.verify_login(idnatps, otp=code) == "MOBILE"  # the seed given is the provider's
    assert house.psc.verify_login(idnatps, password=PASSWORD) == "PASSWORD"
    with pytest.raises(NotFound):
        house.admin.enroll_ecps(audit.SYSTEM, "899999999999")
    with pytest.raises(InvalidInput):
        house.admin.set_test_password(audit.SYSTEM, idnatps, "court")
    acts = {r["action"] for r in _actions(house, "admin.")}
    assert {"admin.mot-de-passe-test", "admin.ecps-active"} <= acts


def test_a_psc_client_is_registered_with_its_uris_and_ciba(house) -> None:
    done = house.admin.register_psc_client(
        audit.SYSTEM, "DPI de test", ["https://dpi.example/cb"], ["https://dpi.example/bye"], True
    )
    client = house.psc.client(done["client_id"])
    assert client is not None and client.ciba and client.post_logout_uris == ("https://dpi.example/bye",)
    assert house.psc.authenticate_client(None, {"client_id": done["client_id"], "client_secret": done["client_secret"]})
    with pytest.raises(InvalidInput):
        house.admin.register_psc_client(audit.SYSTEM, "DPI", ["http://evil.example/cb"])
    with pytest.raises(InvalidInput):
        house.admin.register_psc_client(audit.SYSTEM, "DPI", [])


def test_identities_added_a_nia_replaced_by_the_nir_and_a_merge(house) -> None:
    from tests.identite.helpers import nir

    admin, nia, nir_ = house.admin, nir("7921199243001"), nir("1921199243017")
    admin.add_identity(audit.SYSTEM, "NGUYEN", "BAO", "M", "1992-11-30", "99243", nia)
    admin.replace_matricule(audit.SYSTEM, nia, nir_)
    individu = house.insi.referential.by_matricule(nia)
    assert individu.active.value == nir_ and [h.value for h in individu.history] == [nia]
    admin.add_identity(audit.SYSTEM, "GARCIA-HAMMADI", "SARAH-LOU ANNA", "F", "1977-01-21", "01154", SARAH_NIR)
    twin = nir("2770101154004")  # the same person registered twice
    admin.add_identity(audit.SYSTEM, "GARCIA", "SARAH", "F", "1977-01-21", "01154", twin)
    admin.merge_identities(audit.SYSTEM, SARAH_NIR, twin)
    assert house.insi.referential.by_matricule(twin).active.value == SARAH_NIR
    with pytest.raises(InvalidInput):
        admin.add_identity(audit.SYSTEM, "NGUYEN", "BAO", "F", "1992-11-30", "99243", nir("1921199243025"))
    acts = {r["action"] for r in _actions(house, "admin.")}
    assert {"admin.identite-ins-ajoutee", "admin.matricule-remplace", "admin.identites-fusionnees"} <= acts


def test_a_structure_and_a_professional_registered_in_the_annuaire_can_log_in(house) -> None:
    from maison.core.identifiers.checksums import luhn_check_digit

    admin = house.admin
    finess = "75000001" + luhn_check_digit("75000001")
    structure = admin.add_structure(audit.SYSTEM, "CHU DE TEST", finess=finess, sector="SA01")
    assert structure == {"idnatstruct": f"1{finess}", "nom": "CHU DE TEST", "departement": "75"}
    rpps = "1000000" + "123"
    rpps += luhn_check_digit(rpps)
    pro = admin.add_professional(audit.SYSTEM, rpps, "MARTIN", "ALICE", "10", structure["idnatstruct"])
    admin.set_test_password(audit.SYSTEM, pro["idnatps"], PASSWORD)
    assert house.psc.verify_login(pro["idnatps"], password=PASSWORD) == "PASSWORD"
    with pytest.raises(InvalidInput):
        admin.add_professional(audit.SYSTEM, "12345678901", "X", "Y", "10")
    with pytest.raises(InvalidInput):
        admin.add_structure(audit.SYSTEM, "X", finess=finess[:-1] + str((int(finess[-1]) + 1) % 10))
    with pytest.raises(InvalidInput):
        admin.add_structure(audit.SYSTEM, "X")
    acts = {r["action"] for r in _actions(house, "admin.")}
    assert {"admin.structure-enregistree", "admin.professionnel-enregistre"} <= acts


def test_a_software_is_registered_with_the_version_the_cnda_authorised(house) -> None:
    """Issue 21 §1.1: vendor, name, version and IDAM; the version is kept with the IDAM, and required."""
    from maison.identite.ins import store

    house.admin.register_software(audit.SYSTEM, "IDAM-TEST-2", "DPI de test", "Éditeur", "2026.12")
    with house.db.read() as conn:
        assert store.software(conn, "IDAM-TEST-2") == ("DPI de test", "Éditeur", "2026.12")
    with pytest.raises(InvalidInput, match="version"):
        house.admin.register_software(audit.SYSTEM, "IDAM-TEST-3", "DPI", "Éditeur", None)
    recorded = [orjson.loads(r["detail"]) for r in _actions(house, "admin.logiciel")]
    assert [(d["idam"], d["version"]) for d in recorded] == [("IDAM-TEST-2", "2026.12")]


def test_an_account_s_contacts_are_set_checked_audited_and_its_codes_go_there(house) -> None:
    """Issue 21 §1.1: the e-mail and/or mobile of an open account replaced; the next code goes there."""
    admin = house.admin
    admin.open_mes_account(audit.SYSTEM, "sarah.garcia", SARAH_NIR, "1977-01-21", PASSWORD, "sarah@example.fr")
    changed = admin.set_mes_contacts(audit.SYSTEM, "sarah.garcia", "sarah.garcia@courriel.fr", "06 12 34 56 78")
    assert changed == {"identifiant": "sarah.garcia", "email": "sarah.garcia@courriel.fr", "telephone": "+33612345678"}
    house.patient_login.start("sarah.garcia", PASSWORD)
    assert [m["destinataire"] for m in admin.outbox(audit.SYSTEM)] == ["sarah.garcia@courriel.fr"]
    only_mobile = admin.set_mes_contacts(audit.SYSTEM, "sarah.garcia", None, "+33712345678")
    assert only_mobile["email"] == "" and only_mobile["telephone"] == "+33712345678"
    house.patient_login.start("sarah.garcia", PASSWORD)
    sms = admin.outbox(audit.SYSTEM, "+33712345678")
    assert len(sms) == 1 and sms[0]["canal"] == "sms" and "code" in sms[0]["corps"]
    for email, phone, code in (
        ("sarah@", None, "email-invalide"),
        ("sarah @example.fr", None, "email-invalide"),
        (None, "0112345678", "telephone-invalide"),  # a landline receives no SMS
        (None, "+4915112345678", "telephone-invalide"),
        (None, None, "canal-absent"),
    ):
        with pytest.raises(InvalidInput) as refused:
            admin.set_mes_contacts(audit.SYSTEM, "sarah.garcia", email, phone)
        assert refused.value.code == code, (email, phone)
    with pytest.raises(NotFound):
        admin.set_mes_contacts(audit.SYSTEM, "personne", "p@example.fr")
    recorded = _actions(house, "admin.compte-mes-contacts")
    assert [audit.detail_of(r)["telephone"] for r in recorded] == [True, True]
    assert all("+337" not in r["detail"] and "courriel" not in r["detail"] for r in recorded)  # no address kept
