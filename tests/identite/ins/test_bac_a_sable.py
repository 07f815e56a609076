"""INSi's sandbox catalogue (issue 20 §1.4): its identities are answered over SOAP with the OID the
catalogue states, the CI-SIS examples' one under the default environment, and README states it."""

from pathlib import Path

import httpx
import pytest

from maison.core.config import Settings
from maison.core.identifiers.nir import OID_INS_NIR, OID_INS_NIR_TEST
from maison.etablissement.insi.client import ClientIdentity, InsiClient
from maison.formats.insi import CodeCR
from maison.identite.ins import bac_a_sable
from maison.identite.ins.model import Environment
from maison.identite.ins.referential import Referential
from tests.identite.helpers import IDAM, STRUCTURE

README = Path(__file__).parents[3] / "README.md"
CISIS_PATIENT = "279035121518989"  # recordTarget of every ../shared/reference/cisis/ExemplesCDA document


def test_the_default_environment_is_the_one_of_the_catalogue_and_of_the_cisis_examples(reference_path):
    assert Settings().ins_environment == "test"
    stated = {line.identity.matricule: line.oid for line in bac_a_sable.statement(Environment.TEST)}
    assert set(stated.values()) == {OID_INS_NIR_TEST}
    example = (reference_path / "cisis" / "ExemplesCDA" / "VAC-NOTE_2023.01.xml").read_text(encoding="utf-8")
    assert f'<id extension="{CISIS_PATIENT}" root="{stated[CISIS_PATIENT]}"/>' in example


@pytest.fixture
def sandbox(house, live):
    house.insi.register_software(IDAM, "Maison DPI", "Maison")
    house.insi.register_structure(STRUCTURE, "Hôpital de test")
    assert bac_a_sable.load(house.insi.referential) == len(bac_a_sable.CATALOGUE)
    assert bac_a_sable.load(house.insi.referential) == 0  # loaded once, whatever `maison seed` is run again
    with httpx.Client(timeout=10) as http:
        yield InsiClient(f"{live.url}/insi/lps", ClientIdentity(STRUCTURE, IDAM), http=http)


def test_each_identity_is_answered_with_the_oid_the_catalogue_states(sandbox, house):
    stated = bac_a_sable.statement(Environment(house.settings.ins_environment))
    readme = README.read_text(encoding="utf-8")
    for line in stated:
        t = line.identity.traits
        found = sandbox.search_traits(t.nom_naissance, [t.premier_prenom], t.sexe, t.date_naissance, t.lieu_naissance)
        assert found.code is CodeCR.TROUVE, t
        assert (found.individu.active.value, found.individu.active.oid) == (line.identity.matricule, line.oid)
        # the catalogue README publishes says the same
        [row] = [r for r in readme.splitlines() if f"`{line.identity.matricule}`" in r]
        assert f"`{line.oid}`" in row and t.nom_naissance in row
    # the homonyms give 02 without their birth place
    assert sandbox.search_traits("MARTIN", ["JEAN"], "M", "1980-05-10").code is CodeCR.PLUSIEURS


def test_another_environment_states_and_answers_its_own_oid(house):
    production = Referential(house.db, Environment.PRODUCTION)
    bac_a_sable.load(production)
    for line in bac_a_sable.statement(Environment.PRODUCTION):
        assert line.oid == OID_INS_NIR
        assert production.by_matricule(line.identity.matricule).active.oid == OID_INS_NIR
