"""The sandbox built into a house through the administrator's and the services' acts (issue 21 §2):
each INSi case answers as the catalogue says, each professional and patient can log in, the DMP's
states are the catalogue's, and a second build writes nothing."""

from __future__ import annotations

import re

import pyotp
import pytest

from maison.core import auth
from maison.core.actor import Actor
from maison.core.audit import SYSTEM
from maison.core.errors import Conflict
from maison.identite.ins.model import Environment, TraitsQuery
from maison.partage.dmp.model import Who
from maison.sandbox.builder import Builder
from maison.sandbox.catalogue import catalogue


@pytest.fixture
def built(house):
    content = catalogue(Environment(house.settings.ins_environment))
    assert Builder(content, house.admin, house.dmp).build() is True
    return house, content


def test_each_insi_case_answers_as_the_catalogue_says(built) -> None:
    house, content = built
    for case in content.insi:
        query = TraitsQuery(case.nomNaissance, case.prenoms, case.sexe, case.dateNaissance, case.lieuNaissance)
        result = house.insi.referential.search_by_traits(query)
        assert result.code.value == case.attendu.codeCR, case.id
        if case.attendu.ins:
            assert result.individu.active.value == case.attendu.ins, case.id
            assert result.individu.active.oid == case.attendu.oid, case.id
            assert [(h.value, h.oid) for h in result.individu.history] == [
                (h.matricule, h.oid) for h in case.attendu.insHisto
            ], case.id
            assert result.individu.traits.liste_prenoms == case.attendu.listePrenoms


def test_each_professional_and_patient_can_log_in(built) -> None:
    house, content = built
    for p in content.professionnels:
        assert house.psc.verify_login(p.idnatps, password=p.motDePasse) == "PASSWORD"
        assert house.psc.verify_login(p.idnatps, otp=pyotp.TOTP(p.eCpsSeed).now()) == "MOBILE"
    for p in content.patients:
        started = house.patient_login.start(p.identifiant, p.motDePasse)
        assert started["transaction"], p.identifiant
        assert house.patient_login.outbox(p.email), p.identifiant  # the one-time code went to her e-mail
    for s in content.structures:
        assert auth.key_actor(house.db, s.cleApi).structure == s.idnatstruct
    client = content.clientPsc
    form = {"client_id": client.client_id, "client_secret": client.client_secret}
    assert house.psc.authenticate_client(None, form).ciba is True


def test_the_dmp_states_are_the_catalogue_s(built) -> None:
    house, content = built
    informing = content.professional("generaliste")
    who = Who(
        Actor(informing.idnatps, content.structure("cabinet").idnatstruct, "t", kind="professional", profession="10")
    )
    for p in content.patients:
        dossier, _, _ = house.dmp.status_for(who, p.ins)
        if p.etatDossier == "active":  # the information recorded at the CHU is the CHU's; the cabinet's is none
            assert dossier.state.value == "active"
        else:
            assert dossier.state.value == p.etatDossier, p.identifiant
    sarah = next(p for p in content.patients if p.codeAcces)
    cardiologue = content.professional(sarah.codeAccesPour)
    assert re.fullmatch(r"[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}", sarah.codeAcces)  # the DMP's own form
    chu = content.structure("chu").idnatstruct
    at_chu = Who(Actor(cardiologue.idnatps, chu, "t", kind="professional", profession="10"))
    for p in content.patients:
        dossier, _, _ = house.dmp.status_for(at_chu, p.ins)
        if p.etatDossier == "active":
            assert (dossier.alimentation.value, dossier.consultation.value) == p.information, p.identifiant


def test_a_second_build_writes_nothing_and_a_broken_one_is_refused(built) -> None:
    house, content = built
    assert Builder(content, house.admin, house.dmp).built() is True
    assert Builder(content, house.admin, house.dmp).build() is False
    auth.revoke_key(house.db, auth.key_id(content.structures[0].cleApi), revoked_by=SYSTEM)
    with pytest.raises(Conflict) as refused:
        Builder(content, house.admin, house.dmp).build()
    assert refused.value.code == "bac-a-sable-incomplet"
