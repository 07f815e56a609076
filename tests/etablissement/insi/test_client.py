"""The INSi client reads what the teleservice writes (both use maison.formats.insi), and turns every
other answer into an error its caller can answer in its own terms, never an exception of the parser."""

import asyncio
from datetime import date

import httpx
import pytest
from lxml import etree

from maison.core.errors import Forbidden, MaisonError, Unauthenticated
from maison.core.ins_traits import Traits
from maison.etablissement.insi.client import (
    AsyncInsiClient,
    ClientIdentity,
    InsiFault,
    InsiUnavailable,
    parse_response,
)
from maison.formats import soap
from maison.formats.insi import NS_RECSANS, NS_SAML, REASONS, CodeCR, Individu, InsiResult, InsRef
from maison.identite.ins import insi_soap

SARAH = Traits.of("GARCIA-HAMMADI", "ANNA SARAH-LOU", "F", "1977-01-21", "01154")
FOUND = InsiResult(
    CodeCR.TROUVE,
    Individu(InsRef("2770101154003", "29", "NIR", "1.2.250.1.213.1.4.10", date(2020, 1, 1)), (), SARAH),
    1,
)


def _answer(result: InsiResult) -> bytes:
    return soap.envelope_bytes(insi_soap.resultat(result))


def _fault(error: MaisonError) -> httpx.Response:
    fault = insi_soap.fault_for(error)
    return httpx.Response(fault.http_status, content=insi_soap.fault_response(fault))


def test_an_answer_of_the_teleservice_is_read_back():
    result = parse_response(200, _answer(FOUND))
    assert result.code is CodeCR.TROUVE and result.individu is not None
    assert result.individu.active.value == "277010115400329" and result.individu.traits.prenoms == SARAH.prenoms
    assert parse_response(200, _answer(InsiResult(CodeCR.PLUSIEURS))).code is CodeCR.PLUSIEURS


@pytest.mark.parametrize(
    ("status", "error", "expected", "code"),
    [
        (401, MaisonError("logiciel", code="logiciel-inconnu"), Unauthenticated, "logiciel-inconnu"),
        (403, MaisonError("certificat", code="certificat-refuse"), Forbidden, "certificat-refuse"),
        (400, MaisonError("nom", code="nom-absent"), MaisonError, "nom-absent"),
    ],
)
def test_a_fault_names_the_domain_error_behind_its_siram_code(status, error, expected, code):
    response = _fault(error)
    assert response.status_code == 500  # every fault on 500: the error is read from the fault itself
    with pytest.raises(InsiFault) as fault:
        parse_response(response.status_code, response.content)
    mapped = fault.value.error()
    assert type(mapped) is expected and mapped.code == code and mapped.http_status == status
    assert mapped.message == error.message  # the precise reason (siram:Erreur), not the family's sentence


# A fault as the national service writes it (other prefixes than ours, `severite="fatal"` outside the
# XSD's list, the subcode a QName of the envelope's namespace), for each family.
NATIONAL_FAULT = """<?xml version="1.0" encoding="UTF-8"?>
<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><env:Body
 xmlns:S="http://www.w3.org/2003/05/soap-envelope" xmlns:env="http://www.w3.org/2003/05/soap-envelope"><S:Fault>
<S:Code><S:Value>S:{value}</S:Value><S:Subcode><S:Value>S:{subcode}</S:Value></S:Subcode></S:Code>
<S:Reason><S:Text xml:lang="fr">{reason}</S:Text></S:Reason><S:Detail><siram:Erreur severite="fatal" code="{code}"
 xmlns:siram="urn:siram">{text}</siram:Erreur></S:Detail></S:Fault></env:Body></soap:Envelope>"""


@pytest.mark.parametrize(
    ("value", "subcode", "code", "expected", "status"),
    [
        ("Sender", "siram_100", "desir_550", Unauthenticated, 401),
        ("Sender", "siram_100", "desir_551", Forbidden, 403),
        ("Sender", "siram_10", "insi_19", MaisonError, 400),
        ("Receiver", "siram_40", "insi_102", InsiUnavailable, 502),
    ],
)
def test_a_fault_of_the_national_service_is_read(value, subcode, code, expected, status):
    """Issue 20 §1: the client reads the fault on HTTP 500 by its code and family, whatever prefixes."""
    payload = NATIONAL_FAULT.format(value=value, subcode=subcode, code=code, reason=REASONS[subcode], text="précis")
    with pytest.raises(InsiFault) as fault:
        parse_response(500, payload.encode())
    assert (fault.value.value, fault.value.subcode, fault.value.code) == (value, subcode, code)
    assert fault.value.reason == REASONS[subcode] and fault.value.detail == "précis"
    mapped = fault.value.error()
    assert type(mapped) is expected and mapped.http_status == status and "précis" in mapped.message


def test_a_technical_fault_is_a_gateway_error():
    with pytest.raises(InsiFault) as fault:
        parse_response(500, insi_soap.fault_response(insi_soap.technical_fault()))
    mapped = fault.value.error()
    assert fault.value.code == "insi_102" and isinstance(mapped, InsiUnavailable) and mapped.http_status == 502


@pytest.mark.parametrize(
    "payload", [b"<html>502 Bad Gateway</html>", b"not xml at all", soap.envelope_bytes(etree.Element("autre"))]
)
def test_what_is_not_an_insi_answer_is_a_gateway_error(payload):
    with pytest.raises(InsiUnavailable) as err:
        parse_response(502, payload)
    assert err.value.http_status == 502 and err.value.code == "insi-indisponible"


def test_the_awaited_client_retries_per_first_name_and_names_the_professional():
    seen: list[tuple[list[str], str]] = []

    def teleservice(request: httpx.Request) -> httpx.Response:
        root = etree.fromstring(request.content)
        given = [p.text for p in root.iter(f"{{{NS_RECSANS}}}Prenom")]
        seen.append((given, root.findtext(f".//{{{NS_SAML}}}NameID")))
        return httpx.Response(200, content=_answer(FOUND if given == ["SARAH-LOU"] else InsiResult(CodeCR.AUCUN)))

    async def lookup():
        async with httpx.AsyncClient(transport=httpx.MockTransport(teleservice)) as http:
            me = ClientIdentity("1750000019", "MAISON-TEST-0001", professional="899900038441")
            return await AsyncInsiClient("https://insi.test/insi/lps", me, http).lookup(SARAH)

    found = asyncio.run(lookup())
    assert found.result.code is CodeCR.TROUVE and found.attempts == [["ANNA"], ["SARAH-LOU"]]
    assert seen == [(["ANNA"], "899900038441"), (["SARAH-LOU"], "899900038441")]


def test_an_unreachable_teleservice_is_a_gateway_error():
    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async def lookup():
        async with httpx.AsyncClient(transport=httpx.MockTransport(refused)) as http:
            return await AsyncInsiClient("https://insi.test/insi/lps", ClientIdentity("S", "I"), http).lookup(SARAH)

    with pytest.raises(InsiUnavailable):
        asyncio.run(lookup())
