"""The sandbox built into a house through the administrator's and the services' acts (issue 21 §2):
each INSi case answers as the catalogue says, each professional and patient can log in, the DMP's
states are the catalogue's.

The build is the cost (every structure, professional, patient, document and prescription of the
catalogue, through the services' acts), and these tests only read what it made — or, for the
prescriptions, act on what no other test reads — so the tests of one backend share one built house
(module_house). The builds the house refuses, which need an empty house or break the built one, are in
test_builder_refusals.py."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime

import pyotp
import pytest

from maison.core import audit, auth
from maison.core.actor import Actor, Credential, KeyScope
from maison.core.authz import psc_actor
from maison.core.errors import MaisonError
from maison.identite.annuaire.index import get
from maison.identite.ins.model import Environment, TraitsQuery
from maison.observatoire.prerequis.model import READER_ROLES
from maison.partage.dmp.model import Who
from maison.partage.ordonnance.model import LineExecution, Outcome
from maison.sandbox.builder import Builder
from maison.sandbox.catalogue import catalogue


def build(house) -> tuple:
    """The house with the catalogue of its INS environment built into it, and that catalogue."""
    content = catalogue(Environment(house.settings.ins_environment))
    assert Builder(content, house.admin, house.dmp, house.ordonnance, house.terminology).build() is True
    return house, content


@pytest.fixture(scope="module")
def built(module_house):
    return build(module_house)


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


def test_the_non_health_professionals_came_through_rpps_plus(built) -> None:
    """Issue 21 §2: declared by the employer's administrator key, validated by the registry's manager
    (administrateur-maison), numbered by RPPS+ as the catalogue says; then a password and an e-CPS."""
    house, content = built
    declared = [p for p in content.professionnels if p.rppsPlus]
    assert {p.id for p in declared} == {"secretaire", "educateur-specialise"}
    with house.db.read() as conn:
        declarations = list(audit.events(conn, action_prefix="annuaire.rpps-plus.declarer"))
        validations = list(audit.events(conn, action_prefix="annuaire.rpps-plus.valider"))
        for p in declared:
            practitioner = get(conn, "Practitioner", p.idnatps)
            assert practitioner is not None, p.id
            roles = [c["code"] for q in practitioner["qualification"] for c in q["code"]["coding"]]
            assert roles == [p.profession], p.id  # the TRE_R85 role declared, no TRE_G15 profession
    employers = [auth.key_actor(house.db, content.structure(p.structure).cleAdministrateur) for p in declared]
    assert [e["actor_structure"] for e in declarations] == [e.structure for e in employers]
    assert {e.scope for e in employers} == {KeyScope.ADMINISTRATEUR_STRUCTURE}
    assert [audit.detail_of(e)["practitioner"] for e in validations] == [p.idnatps for p in declared]
    assert all(house.psc.verify_login(p.idnatps, password=p.motDePasse) == "PASSWORD" for p in declared)


def test_the_documents_are_fed_masked_and_invisible_as_catalogued(built) -> None:
    house, content = built
    sarah = content.patient("sarah.garcia")
    mine = {d.uniqueId: d for d in content.documents if d.patient == sarah.id}
    patient = Who(Actor(sarah.ins, "", "mes", kind="patient", patient=sarah.ins, role="patient"))
    seen_by_patient = {e.unique_id for e in house.dmp.find_documents(patient, sarah.ins, ["current"])}
    assert seen_by_patient == {u for u, d in mine.items() if "INVISIBLE_PATIENT" not in d.visibilite}
    doctor = content.professional("cardiologue")  # the author: sees all he fed
    chu = content.structure("chu").idnatstruct
    author = Who(Actor(doctor.idnatps, chu, "t", kind="professional", profession="10", structures=(chu,)))
    assert {e.unique_id for e in house.dmp.find_documents(author, sarah.ins, ["current"])} == set(mine)
    gp = content.professional(sarah.medecinTraitant)  # CSP L.1111-16: her médecin traitant sees the masked one
    cabinet = content.structure(gp.structure).idnatstruct
    traitant = Who(Actor(gp.idnatps, cabinet, "t", kind="professional", profession="10", structures=(cabinet,)))
    assert {e.unique_id for e in house.dmp.find_documents(traitant, sarah.ins, ["current"])} >= {
        u for u, d in mine.items() if "MASQUE_PS" in d.visibilite
    }
    biologist = content.professional("biologiste")  # any other professional does not (CSP R.1111-49)
    lab = content.structure(biologist.structure).idnatstruct
    other = Who(Actor(biologist.idnatps, lab, "t", kind="professional", profession="10", structures=(lab,)))
    dossier, _, _ = house.dmp.status_for(other, sarah.ins)
    for entry in house.dmp.find_documents(author, sarah.ins, ["current"]):
        decision = house.dmp.visible(other, dossier, entry, datetime.now(UTC))
        assert ("MASQUE_PS" in mine[entry.unique_id].visibilite) == (decision.reason == "masque-ps")


def test_mss_operators_and_mailboxes_with_their_credentials(built) -> None:
    house, content = built
    for operator in content.operateursMss:
        assert operator.domaine in house.mss.trust.get(operator.id).domains
    for box in content.bal:
        mailbox = house.mss.mailboxes.get(box.adresse)
        assert (mailbox.kind, mailbox.owner, mailbox.operator) == (box.type, content.holder(box), box.operateur)
        if box.type == "APP":
            assert house.mss.mailboxes.authenticate_password(box.adresse, box.motDePasse) is not None
        if box.type == "PER":
            assert house.mss.mailboxes.role_of(box.adresse, content.holder(box)) == "titulaire"
    assert {b.type for b in content.bal} == {"PER", "ORG", "APP"}


def test_prescriptions_open_partly_dispensed_and_expired(built) -> None:
    house, content = built
    builder = Builder(content, house.admin, house.dmp, house.ordonnance, house.terminology)
    states = {}
    for o in content.ordonnances:
        pharmacist = builder._professional_actor("pharmacien")
        try:
            prescription, executions = house.ordonnance.read_as_dispenser(pharmacist, o.numero)
            given = [d.quantity for e in executions for d in e.lines]
            assert prescription.consent is (o.consentement == "OUI")
            assert [ln.substitutable for ln in prescription.lines] == [m.substituable for m in o.lignes]
            house.ordonnance.execute(pharmacist, o.numero, [LineExecution(1, Outcome.PARTIEL, quantity=1)])
            states[o.id] = "partiellement-delivree" if given else "ouverte"
        except MaisonError as refused:
            states[o.id] = "expiree" if refused.code == "prescription-expiree" else refused.code
    assert states == {o.id: o.etat for o in content.ordonnances}


def test_the_ars_agent_reads_the_observatory_as_his_psc_login_makes_him(built) -> None:
    """Issue 24's observatory needs an account: the ARS agent's situation d'exercice carries the role
    the observatory reads (READER_ROLES), so PSC's UserInfo gives it and his Actor is an agent's; a
    hospital's doctor is not one."""
    house, content = built
    agent = content.professional("agent-ars")
    info = house.psc.userinfo({"preferred_username": agent.idnatps, "authMode": ""})
    (activity,) = info["SubjectRefPro"]["exercices"][0]["activities"]
    assert activity["codeRole"] == "agent-ars" == agent.fonction
    ars = content.structure("ars")
    assert activity["identifiantTechniqueDeLaStructure"] == ars.idnatstruct and ars.siret and not ars.finess
    actor = psc_actor({"azp": "t"}, info, None)
    assert actor.role in READER_ROLES and house.observatoire.is_agent(actor)
    doctor = content.professional("cardiologue")
    other = psc_actor({"azp": "t"}, house.psc.userinfo({"preferred_username": doctor.idnatps, "authMode": ""}), None)
    assert other.role == "" and not house.observatoire.is_agent(replace(other, credential=Credential.PSC))
    with house.db.read() as conn:  # an administrator's act, audited with the role given
        (event,) = [
            e
            for e in audit.events(conn, action_prefix="admin.professionnel-enregistre")
            if audit.detail_of(e)["idnatps"] == agent.idnatps
        ]
    assert event["actor_person"] == "system:bac-a-sable" and audit.detail_of(event)["fonction"] == "agent-ars"
