"""The administrator's acts (issue 21 §1): the token made once at first start, rotated on demand; the
outbox read (§1.3); structure keys issued and revoked; INSi habilitation and software; a Mon espace
santé account opened — each act recorded in the audit trail."""

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
    house.admin.register_software(audit.SYSTEM, "IDAM-TEST-1", "DPI de test", "Éditeur")
    with pytest.raises(StructureNotAuthorised):
        house.insi.authorise(ctx)
    done = house.admin.habilitate_insi(audit.SYSTEM, "1750000019", "CHU de test")
    assert done["departement"] == "75"
    assert house.insi.authorise(ctx).extra["vendor"] == "Éditeur"
    acts = {r["action"] for r in _actions(house, "admin.")}
    assert {"admin.habilitation-insi", "admin.logiciel-enregistre"} <= acts
