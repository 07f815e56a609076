"""The sandbox's catalogue (issue 21 §2): the same bytes every time, every INSi case of the issue,
identities whose matricules agree with their traits, test credentials that differ item by item."""

from __future__ import annotations

import orjson
import pyotp

from maison.core.identifiers.checksums import luhn_check_digit
from maison.core.identifiers.nir import (
    OID_INS_NIA,
    OID_INS_NIR,
    OID_INS_NIR_TEST,
    consistency_problems,
    parse_matricule,
)
from maison.core.terminology import Terminology
from maison.formats.ordonnance import parse_number
from maison.identite.annuaire import rpps_plus
from maison.identite.ins.model import Environment
from maison.sandbox import catalogue as cat


def test_the_catalogue_is_the_same_bytes_every_time() -> None:
    first, second = cat.catalogue(Environment.TEST).as_json(), cat.catalogue(Environment.TEST).as_json()
    assert first == second
    assert b"http://" not in first.replace(b"http://localhost", b"").replace(
        b"http://127.0.0.1", b""
    )  # no host of its own


def test_every_insi_case_of_the_issue_is_there() -> None:
    cases = {c.id: c for c in cat.insi_cases(Environment.TEST)}
    wanted = {
        "00-un-prenom",
        "00-plusieurs-prenoms",
        "01-aucune",
        "02-homonymes",
        "00-homonyme-lieu",
        "00-nia-remplace",
        "00-fusion",
        "00-corse-2a",
        "00-corse-20",
        "00-ne-a-l-etranger",
        "00-jour-inconnu",
        "00-particule",
        "00-trait-d-union",
        "00-apostrophe",
    }
    assert wanted <= set(cases)
    assert cases["01-aucune"].attendu.codeCR == "01" and cases["02-homonymes"].attendu.codeCR == "02"
    assert len(cases["00-plusieurs-prenoms"].prenoms) > 1 and len(cases["00-un-prenom"].prenoms) == 1
    assert cases["00-corse-2a"].lieuNaissance.startswith("2A") and cases["00-ne-a-l-etranger"].lieuNaissance.startswith(
        "99"
    )
    assert cases["00-jour-inconnu"].dateNaissance.endswith("-00")
    assert "'" in cases["00-apostrophe"].nomNaissance and " " in cases["00-particule"].nomNaissance
    nia = cases["00-nia-remplace"].attendu
    assert [h.oid for h in nia.insHisto] == [OID_INS_NIA] and nia.oid == OID_INS_NIR_TEST
    assert cases["00-fusion"].attendu.insHisto[0].matricule == cat.DUPLICATE_MERGED
    # the OID follows the environment INSi answers under
    assert {c.attendu.oid for c in cat.insi_cases(Environment.PRODUCTION) if c.attendu.ins} == {OID_INS_NIR}


def test_every_identity_agrees_with_its_matricules() -> None:
    for identity in cat.IDENTITIES:
        t = identity.traits
        for matricule in filter(None, (identity.matricule, identity.replaced_by)):
            problems = consistency_problems(
                parse_matricule(matricule), sex=t.sexe, birth_date=t.date_naissance, birth_place=t.lieu_naissance
            )
            assert problems == [], (matricule, problems)


def test_professions_structures_and_credentials() -> None:
    c = cat.catalogue(Environment.TEST)
    assert {p.profession for p in c.professionnels if not p.rppsPlus} >= {"10", "21", "60", "70", "50"}
    # the secretary and the médico-social educator: TRE_R85 roles, numbered as RPPS+ numbers (1st, 2nd)
    declared = [(p.profession, p.rpps) for p in c.professionnels if p.rppsPlus]
    assert declared == [("331", rpps_plus.number(1)), ("326", rpps_plus.number(2))]
    assert all(p.rpps.startswith(rpps_plus.RPPS_PLUS_PREFIX) == p.rppsPlus for p in c.professionnels)
    assert all(p.civilite and p.dateNaissance for p in c.professionnels if p.rppsPlus)
    # RPPS+ checks the role in TRE_R85: known without the reference pack too (`maison sandbox` anywhere)
    assert all(
        Terminology.from_defaults().knows(rpps_plus.OID_ROLE, p.profession) for p in c.professionnels if p.rppsPlus
    )
    carers = [p for p in c.professionnels if not p.fonction]  # the ARS agent: a doctor who reads indicators
    assert {p.savoirFaire for p in carers if p.profession == "10"} == {"SM54", "SM04", "SM03"}
    (agent,) = [p for p in c.professionnels if p.fonction]
    assert agent.fonction == "agent-ars" and c.structure(agent.structure).secteur == "SA26"
    assert {s.secteur for s in c.structures} == {"SA01", "SA07", "SA33", "SA25", "SA17", "SA26"}
    chu = c.structure("chu")
    assert chu.finess and chu.finessEJ and chu.idnatstruct == "1" + chu.finess
    for p in c.professionnels:
        assert p.rpps[-1] == luhn_check_digit(p.rpps[:-1]) and len(p.motDePasse) >= 12
    secrets = [p.motDePasse for p in c.professionnels] + [p.motDePasse for p in c.patients]
    secrets += [s.cleApi for s in c.structures] + [p.eCpsSeed for p in c.professionnels]
    secrets += [s.cleAdministrateur for s in c.structures]
    assert len(set(secrets)) == len(secrets)  # one secret per item, none shared
    states = {p.etatDossier for p in c.patients} | {s for p in c.patients for s in p.information}
    assert states >= {"active", "closed", "opposed", "non-informe", "informe-non-oppose", "informe-oppose"}
    for p in c.professionnels:  # the URI the e-CPS app scans, as Pro Santé Connect writes it
        issuer = "Pro Santé Connect (e-CPS)"
        assert p.otpauth == pyotp.TOTP(p.eCpsSeed).provisioning_uri(name=p.idnatps, issuer_name=issuer)
    published = orjson.loads(c.as_json())
    assert published["professionnels"][0]["otpauth"].startswith("otpauth://totp/")
    assert published["patients"][0]["medecinTraitant"] == c.professional("generaliste").idnatps


def test_documents_mailboxes_and_prescriptions() -> None:
    c = cat.catalogue(Environment.TEST)
    assert {v for d in c.documents for v in d.visibilite} == {"MASQUE_PS", "INVISIBLE_PATIENT"}
    assert {b.type for b in c.bal} == {"PER", "ORG", "APP"} and all(b.motDePasse for b in c.bal if b.type == "APP")
    ports = [p for o in c.operateursMss for p in (o.relais, o.soumission, o.imap)]
    assert len(set(ports)) == len(ports) and min(ports) == cat.MSS_PORT
    assert cat.catalogue(Environment.TEST, 50_000).operateursMss[0].relais == 50_000
    assert {o.etat for o in c.ordonnances} == {"ouverte", "partiellement-delivree", "expiree"}
    assert {o.consentement for o in c.ordonnances} == {"OUI", "NON"}
    assert any(not m.substituable for o in c.ordonnances for m in o.lignes)
    for o in c.ordonnances:
        assert parse_number(o.numero) == o.numero  # a valid number (ISO 7064 check characters)
