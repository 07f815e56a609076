"""Hostile SOAP against INSi over real HTTP: each rejected with a precise SOAP fault, on HTTP 500 as the
national service answers every fault (never a Python error page or an empty answer).

Every request here is refused or only reads the referential, so the tests of one backend share one house
and its seeded referential (`module_live`): a test costs its requests, not a house and a server."""

import httpx
import pytest
from lxml import etree

from maison.etablissement.insi.client import ClientIdentity, carte_vitale_request, traits_request
from maison.formats.insi import REASONS
from tests.identite.helpers import IDAM, STRUCTURE, seed_referential

SOAP12 = "http://www.w3.org/2003/05/soap-envelope"


@pytest.fixture(scope="module")
def served(module_live):
    """The module's house, its referential seeded once."""
    seed_referential(module_live.house.insi)
    return module_live


@pytest.fixture
def post(served):
    def send(body: bytes, content_type: str = "application/soap+xml; charset=utf-8") -> tuple[int, etree._Element]:
        r = httpx.post(f"{served.url}/insi/lps", content=body, headers={"Content-Type": content_type}, timeout=10)
        assert r.headers["content-type"].startswith("application/soap+xml"), r.text
        return r.status_code, etree.fromstring(r.content)

    return send


ME = ClientIdentity(STRUCTURE, IDAM)


def fault(root: etree._Element) -> tuple[str, str, str]:
    f = root.find(f"{{{SOAP12}}}Body/{{{SOAP12}}}Fault")
    assert f is not None, etree.tostring(root)
    value = f.findtext(f"{{{SOAP12}}}Code/{{{SOAP12}}}Value")
    erreur = f.find(".//{urn:siram}Erreur")
    return value, erreur.get("code"), erreur.text  # the precise reason; Reason/Text is the family's sentence


def test_billion_laughs_is_refused(post):
    bomb = b"""<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">
    <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;">]><soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope">
    <soap:Body><x>&lol3;</x></soap:Body></soap:Envelope>"""
    status, root = post(bomb)
    assert status == 500
    assert fault(root)[0] == "soap:Sender" and "DOCTYPE" in fault(root)[2]


def test_external_entity_is_refused(post):
    xxe = b"""<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>
    <soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body>&x;</soap:Body></soap:Envelope>"""
    status, root = post(xxe)
    assert status == 500 and "root:" not in etree.tostring(root).decode()


def test_utf16_doctype_is_refused(post):
    xxe = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>'
    status, root = post(xxe.encode("utf-16"))
    assert status == 500 and fault(root)[0] == "soap:Sender"


def test_oversized_body_is_refused(post):
    big = traits_request(ME, "A" * 300_000, ["B"], "M", "1980-01-01")
    status, root = post(big)
    assert status == 500 and fault(root)[1] == "insi_30"


def test_malformed_xml(post):
    status, root = post(b"<soap:Envelope xmlns:soap='http://www.w3.org/2003/05/soap-envelope'><soap:Body>")
    assert status == 500 and fault(root)[0] == "soap:Sender"


def test_soap11_envelope_is_a_version_mismatch(post):
    body = traits_request(ME, "X", ["Y"], "M", "1980-01-01").replace(
        SOAP12.encode(), b"http://schemas.xmlsoap.org/soap/envelope/"
    )
    status, root = post(body, "text/xml")
    assert status == 500 and fault(root)[0] == "soap:VersionMismatch"


def test_wrong_body_namespace_is_an_unknown_operation(post):
    body = traits_request(ME, "X", ["Y"], "M", "1980-01-01").replace(
        b"http://www.cnamts.fr/INSiRecSans", b"http://example.org/evil"
    )
    status, root = post(body)
    assert status == 500 and fault(root)[1] == "insi_27"


def test_must_understand_header_not_understood(post):
    body = traits_request(ME, "X", ["Y"], "M", "1980-01-01").replace(
        b"<soap:Header>", b'<soap:Header><e:Evil xmlns:e="urn:evil" soap:mustUnderstand="true"/>'
    )
    status, root = post(body)
    assert fault(root)[0] == "soap:MustUnderstand"


def test_schema_violation_is_refused(post):
    # Prenom before NomNaissance breaks the RECSANSVITALE sequence of the XSD
    body = traits_request(ME, "X", ["Y"], "M", "1980-01-01")
    root = etree.fromstring(body)
    rec = root.find(f"{{{SOAP12}}}Body")[0]
    rec.insert(0, rec[1])
    status, res = post(etree.tostring(root))
    assert status == 500 and fault(res)[1] == "insi_26"


@pytest.mark.parametrize(
    "nom, prenoms, sexe, date, code",
    [
        ("", ["SARAH"], "F", "1977-01-21", "insi_19"),
        ("GARCIA", [], "F", "1977-01-21", "insi_20"),
        ("GARCIA", ["SARAH"], "X", "1977-01-21", "insi_21"),
        ("GARCIA", ["SARAH"], "F", "21/13/1977", "insi_22"),
        ("GARCIA", ["SARAH"], "F", "1977-02-30", "insi_22"),
        ("GARCIA", ["SARAH"], "F", "2999-01-01", "insi_22"),
    ],
)
def test_missing_or_invalid_traits(post, nom, prenoms, sexe, date, code):
    status, root = post(traits_request(ME, nom, prenoms, sexe, date))
    assert status == 500 and fault(root)[1] == code


def test_invalid_birth_place(post):
    status, root = post(traits_request(ME, "GARCIA", ["SARAH"], "F", "1977-01-21", "ABCDEFG"))
    assert fault(root)[1] == "insi_23"


def test_invalid_nir_key_on_carte_vitale(post):
    status, root = post(carte_vitale_request(ME, "1977-01-21", matricule_individu="277010115400328"))
    assert status == 500 and fault(root)[1] == "insi_24" and "clé" in fault(root)[2]


def test_fault_echoes_message_id(post):
    body = traits_request(ME, "", ["Y"], "M", "1980-01-01", message_id="uuid:abc-123")
    _, root = post(body)
    assert root.find(".//{urn:siram}Erreur").get("messageID") == "uuid:abc-123"


def test_missing_contexte_lps(post):
    body = traits_request(ME, "X", ["Y"], "M", "1980-01-01")
    root = etree.fromstring(body)
    header = root.find(f"{{{SOAP12}}}Header")
    header.remove(header.find("{urn:siram:lps:ctxlps}ContexteLPS"))
    _, res = post(etree.tostring(root))
    assert fault(res)[1] == "insi_28"


def test_json_mirror_errors_are_operation_outcomes(served):
    r = httpx.post(f"{served.url}/insi/json/rechercherInsAvecTraitsIdentite", content=b"{not json")
    assert r.status_code == 400 and r.json()["resourceType"] == "OperationOutcome"
    ok = httpx.post(
        f"{served.url}/insi/json/rechercherInsAvecTraitsIdentite",
        json={
            "structure": STRUCTURE,
            "idam": IDAM,
            "nomNaissance": "GARCIA-HAMMADI",
            "prenom": "SARAH-LOU",
            "sexe": "F",
            "dateNaissance": "1977-01-21",
        },
    )
    assert ok.status_code == 200 and ok.json()["codeCR"] == "00"
    assert ok.json()["individu"]["insActif"]["matricule"] == "2770101154003"


def test_faults_are_written_as_the_national_service_writes_them(post):
    """Issue 20 §1.1-1.3: HTTP 500, the subcode a QName of the envelope's namespace, the family's
    generic sentence in Reason and the precise one in siram:Erreur, no soap:Header."""
    status, root = post(traits_request(ME, "", ["SARAH"], "F", "1977-01-21"))
    assert status == 500 and root.find(f"{{{SOAP12}}}Header") is None
    f = root.find(f"{{{SOAP12}}}Body/{{{SOAP12}}}Fault")
    subcode = f.find(f"{{{SOAP12}}}Code/{{{SOAP12}}}Subcode/{{{SOAP12}}}Value")
    prefix, _, local = subcode.text.partition(":")
    assert subcode.nsmap[prefix] == SOAP12 and local == "siram_10" and "urn:siram" not in subcode.nsmap.values()
    assert f.findtext(f"{{{SOAP12}}}Reason/{{{SOAP12}}}Text") == REASONS["siram_10"]
    assert fault(root)[1] == "insi_19" and fault(root)[2] != REASONS["siram_10"]
    # a request the SOAP layer refuses is in the same family, on 500 too
    status, root = post(b"<soap:Envelope xmlns:soap='http://www.w3.org/2003/05/soap-envelope'><soap:Body>")
    assert status == 500 and root.findtext(f".//{{{SOAP12}}}Subcode/{{{SOAP12}}}Value") == "soap:siram_10"
    assert root.findtext(f".//{{{SOAP12}}}Reason/{{{SOAP12}}}Text") == REASONS["siram_10"]
