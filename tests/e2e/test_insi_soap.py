"""INSi over real HTTP with SOAP 1.2 envelopes valid against the WSDL's XSDs (issue 2, done-when)."""

from pathlib import Path

import httpx
import pytest
import xmlschema
from lxml import etree

from maison.core import audit
from maison.core.ins_traits import Traits
from maison.etablissement.insi.client import ClientIdentity, InsiClient, InsiFault, traits_request
from maison.formats.insi import CodeCR
from maison.serving_insi import authority
from tests.e2e.insi_mtls import InsiTlsServer, issue
from tests.identite.helpers import IDAM, SARAH_NIR, STRUCTURE, nir, seed_referential


@pytest.fixture(scope="module")
def xsd(reference_path: Path) -> xmlschema.XMLSchema:
    """An independent validator (xmlschema, not the server's lxml) over the reference XSDs."""
    base = reference_path / "insi" / "xsd" / "ServiceIdentiteCertifiee"
    return {
        name: xmlschema.XMLSchema(str(base / f"{name}.xsd"))
        for name in ("INSi_RECSANS_INS", "INSi_RECVITALE_INS", "INSi_RESULTAT_INS")
    }


SOAP12 = "http://www.w3.org/2003/05/soap-envelope"


def _body(payload: bytes) -> etree._Element:
    root = etree.fromstring(payload)
    return root.find("{http://www.w3.org/2003/05/soap-envelope}Body")[0]


@pytest.fixture
def insi(house):
    """INSi over its mutual-TLS listener, called with the structure's certificate (issue 18, 1.4)."""
    ids = seed_referential(house.insi)
    with InsiTlsServer(house) as listener, listener.client(issue(house, STRUCTURE, IDAM)) as http:
        yield house, InsiClient(f"{listener.url}/insi/lps", ClientIdentity(STRUCTURE, IDAM), http=http), ids


def test_answer_00_with_official_traits(insi, xsd):
    # 000 L2055: the INS is the matricule with the five traits; a 00 answer returns both
    house, client, _ = insi
    request = traits_request(client.me, "GARCIA-HAMMADI", ["SARAH-LOU"], "F", "1977-01-21")
    xsd["INSi_RECSANS_INS"].validate(etree.tostring(_body(request)))
    response = client.http.post(
        client.endpoint, content=request, headers={"Content-Type": "application/soap+xml; charset=utf-8"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/soap+xml")
    xsd["INSi_RESULTAT_INS"].validate(etree.tostring(_body(response.content)))
    result = client.search_traits("GARCIA-HAMMADI", ["SARAH-LOU"], "F", "1977-01-21")
    assert result.code is CodeCR.TROUVE
    assert result.individu.active.value == SARAH_NIR
    assert result.individu.active.oid == "1.2.250.1.213.1.4.10"  # test environment NIR OID
    assert result.individu.traits.liste_prenoms == "SARAH-LOU ANNA"
    assert result.individu.traits.lieu_naissance == "01154"


def test_answer_matches_normalised_traits(insi):
    _, client, _ = insi
    # accents, lower case and a space for a hyphen are the same name once normalised
    result = client.search_traits("garcia hammadi", ["Sarah-Lou"], "F", "1977-01-21", "01154")
    assert result.code is CodeCR.TROUVE
    # the whole list of first names also matches; a second first name alone does not
    assert client.search_traits("GARCIA-HAMMADI", ["SARAH-LOU", "ANNA"], "F", "1977-01-21").code is CodeCR.TROUVE
    assert client.search_traits("GARCIA-HAMMADI", ["ANNA"], "F", "1977-01-21").code is CodeCR.AUCUN


def test_answer_01_and_02(insi, xsd):
    _, client, _ = insi
    none = client.search_traits("GARCIA-HAMMADI", ["SARAH-LOU"], "F", "1977-01-22")
    assert none.code is CodeCR.AUCUN and none.individu is None
    several = client.search_traits("MARTIN", ["JEAN"], "M", "1980-05-10")
    assert several.code is CodeCR.PLUSIEURS and several.individu is None
    # the birth place tells them apart
    assert client.search_traits("MARTIN", ["JEAN"], "M", "1980-05-10", "69123").code is CodeCR.TROUVE
    raw = client.http.post(
        client.endpoint,
        content=traits_request(client.me, "MARTIN", ["JEAN"], "M", "1980-05-10"),
        headers={"Content-Type": "application/soap+xml"},
    )
    body = _body(raw.content)
    xsd["INSi_RESULTAT_INS"].validate(etree.tostring(body))
    assert (
        body.findtext("{http://www.cnamts.fr/INSiResultat}CR/{http://www.cnamts.fr/INSiResultat}LibelleCR")
        == "Plusieurs identites trouvees"
    )


def test_client_retries_once_per_first_name(insi):
    # 002 L342-344: called on opening the record, one retry per first name in order, advice when inconclusive
    _, client, _ = insi
    # the desk typed the first names in another order: the first try fails, the second succeeds
    local = Traits.of("GARCIA-HAMMADI", "ANNA SARAH-LOU", "F", "1977-01-21")
    lookup = client.lookup(local)
    assert lookup.result.code is CodeCR.TROUVE
    assert lookup.attempts == [["ANNA"], ["SARAH-LOU"]]
    missing = client.lookup(Traits.of("INCONNU", "PAUL MARIE", "M", "1990-01-01"))
    assert missing.result.code is CodeCR.AUCUN
    assert missing.attempts == [["PAUL"], ["MARIE"], ["PAUL", "MARIE"]]
    assert "provisoire" in missing.advice


def test_historic_ins_after_merge(insi, xsd):
    house, client, _ = insi
    # a person first known by a NIA, then given a NIR: one identity, the NIA historic
    traits = Traits.of("DUPONT", "LUC", "M", "1990-07-14", "99134")
    nia = nir("7900799134001")
    house.insi.referential.register(traits, nia)
    duplicate = nir("1900799134005")
    house.insi.referential.register(Traits.of("DUPONT", "LUC", "M", "1990-07-14", "99134"), duplicate)
    assert client.search_traits("DUPONT", ["LUC"], "M", "1990-07-14").code is CodeCR.PLUSIEURS
    house.insi.referential.merge(survivor=duplicate, absorbed=nia)
    result = client.search_traits("DUPONT", ["LUC"], "M", "1990-07-14")
    assert result.code is CodeCR.TROUVE
    assert result.individu.active.value == duplicate
    assert [h.value for h in result.individu.history] == [nia]
    assert result.individu.history[0].type == "NIA" and result.individu.history[0].date_fin is not None
    # a carte Vitale still carrying the old matricule leads to the surviving identity
    by_card = client.search_carte_vitale("1990-07-14", matricule_individu=nia)
    assert by_card.code is CodeCR.TROUVE and by_card.individu.active.value == duplicate
    raw = client.http.post(
        client.endpoint,
        content=traits_request(client.me, "DUPONT", ["LUC"], "M", "1990-07-14"),
        headers={"Content-Type": "application/soap+xml"},
    )
    xsd["INSi_RESULTAT_INS"].validate(etree.tostring(_body(raw.content)))


def test_carte_vitale_search_with_twins(insi):
    house, client, _ = insi
    parent = nir("1700175056011")
    ref = house.insi.referential
    ref.register(Traits.of("BERNARD", "PAUL", "M", "1970-01-05", "75056"), parent)
    ref.register(
        Traits.of("BERNARD", "LEA", "F", "2015-03-03", "75056"),
        nir("2150375056021"),
        ouvrant_droit=parent,
        rang_naissance=1,
    )
    ref.register(
        Traits.of("BERNARD", "EMMA", "F", "2015-03-03", "75056"),
        nir("2150375056022"),
        ouvrant_droit=parent,
        rang_naissance=2,
    )
    assert client.search_carte_vitale("2015-03-03", matricule_od=parent).code is CodeCR.PLUSIEURS
    emma = client.search_carte_vitale("2015-03-03", matricule_od=parent, rang=2)
    assert emma.code is CodeCR.TROUVE and emma.individu.traits.premier_prenom == "EMMA"
    holder = client.search_carte_vitale("1970-01-05", matricule_individu=parent)
    assert holder.code is CodeCR.TROUVE


def test_unknown_software_and_structure_are_refused(insi):
    house, client, _ = insi
    # certificates of the house authority naming them (the CLI would not issue these: not habilitated)
    ca = authority(house.settings)
    with InsiTlsServer(house) as listener:
        with listener.client(ca.issue_structure(STRUCTURE, "UNKNOWN-IDAM")) as http:
            stranger = InsiClient(f"{listener.url}/insi/lps", ClientIdentity(STRUCTURE, "UNKNOWN-IDAM"), http=http)
            with pytest.raises(InsiFault) as err:
                stranger.search_traits("GARCIA-HAMMADI", ["SARAH-LOU"], "F", "1977-01-21")
        assert err.value.code == "desir_550" and err.value.status == 500 and err.value.error().http_status == 401
        with listener.client(ca.issue_structure("1999999999", IDAM)) as http:
            outsider = InsiClient(f"{listener.url}/insi/lps", ClientIdentity("1999999999", IDAM), http=http)
            with pytest.raises(InsiFault) as err:
                outsider.search_traits("GARCIA-HAMMADI", ["SARAH-LOU"], "F", "1977-01-21")
        assert err.value.code == "desir_551" and err.value.status == 500 and err.value.error().http_status == 403


def test_answers_and_faults_are_enveloped_as_the_national_service_does(insi):
    """Issue 20 §1: an answer carries no soap:Header; an authorisation fault is HTTP 500, soap:Sender,
    subcode `soap:siram_100` (a QName of the envelope's namespace), the service's own generic sentence
    in Reason/Text and the precise reason in siram:Erreur."""
    house, client, _ = insi
    headers = {"Content-Type": "application/soap+xml; charset=utf-8"}
    answer = client.http.post(
        client.endpoint,
        content=traits_request(client.me, "GARCIA-HAMMADI", ["SARAH-LOU"], "F", "1977-01-21"),
        headers=headers,
    )
    assert answer.status_code == 200 and etree.fromstring(answer.content).find(f"{{{SOAP12}}}Header") is None
    stranger = ClientIdentity(STRUCTURE, "UNKNOWN-IDAM")
    with InsiTlsServer(house) as listener:
        with listener.client(authority(house.settings).issue_structure(STRUCTURE, "UNKNOWN-IDAM")) as http:
            refused = http.post(
                f"{listener.url}/insi/lps",
                content=traits_request(stranger, "GARCIA-HAMMADI", ["SARAH-LOU"], "F", "1977-01-21"),
                headers=headers,
            )
    root = etree.fromstring(refused.content)
    assert refused.status_code == 500 and root.find(f"{{{SOAP12}}}Header") is None
    fault = root.find(f"{{{SOAP12}}}Body/{{{SOAP12}}}Fault")
    assert fault.findtext(f"{{{SOAP12}}}Code/{{{SOAP12}}}Value") == "soap:Sender"
    subcode = fault.find(f"{{{SOAP12}}}Code/{{{SOAP12}}}Subcode/{{{SOAP12}}}Value")
    assert subcode.text == "soap:siram_100" and subcode.nsmap["soap"] == SOAP12
    assert fault.findtext(f"{{{SOAP12}}}Reason/{{{SOAP12}}}Text") == (
        "L'accès par ce progiciel au service n'est pas autorisé. "
        "Contactez l'éditeur du progiciel ou votre responsable informatique."
    )
    erreur = fault.find(f"{{{SOAP12}}}Detail/{{urn:siram}}Erreur")
    assert erreur.get("code") == "desir_550" and erreur.text == "Numéro d'autorisation du logiciel inconnu."


def test_every_call_is_audited_with_structure_and_vendor(insi):
    house, client, _ = insi
    client.search_traits("GARCIA-HAMMADI", ["SARAH-LOU"], "F", "1977-01-21")
    client.search_traits("PERSONNE", ["NUL"], "M", "1950-01-01")
    with house.db.read() as conn:
        rows = list(audit.events(conn, action_prefix="insi."))
        assert audit.verify_chain(conn) == (True, None)
    assert [r["outcome"] for r in rows] == ["success", "success"]
    assert rows[0]["patient"] == SARAH_NIR and rows[0]["actor_structure"] == STRUCTURE
    assert '"cr":"00"' in rows[0]["detail"] and '"vendor":"Maison"' in rows[0]["detail"]
    assert '"department":"75"' in rows[0]["detail"]


def test_wsdl_and_xsd_are_published(live, reference_path):
    wsdl = httpx.get(f"{live.url}/insi/lps?wsdl")
    assert wsdl.status_code == 200 and f'location="{live.url}/insi/lps"' in wsdl.text
    xsd = httpx.get(f"{live.url}/insi/xsd/ServiceIdentiteCertifiee/INSi_RESULTAT_INS.xsd")
    assert xsd.status_code == 200 and b"RESULTAT" in xsd.content
    escape = httpx.get(f"{live.url}/insi/xsd/..%2F..%2FDESIR_ICIR_EXP_1.5.0.wsdl")
    assert escape.status_code == 400  # not a relative path of names: refused by its type (formats.path_ids)
