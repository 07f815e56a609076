"""Self-presenting CDA documents at the DMP (issue 20 §2.4): an XSLT stylesheet embedding the
ClinicalDocument, XDS mimeType application/xslt+xml (xds-cda-metadata mapping.md:397-402), taken on
the embedded document's header; refused with InvalidDocumentContent where the setting says so."""

import base64
import hashlib

import httpx
import pytest
from lxml import etree

from maison.etablissement.dmp.producer import Produced, provide_bundle
from maison.formats.cda.document import MIME_SELF_PRESENTING
from tests.partage.world import PROS, make_world, n1


def _self_presenting(document: bytes) -> bytes:
    """The document pasted as written in the data element of a stylesheet that shows it."""
    cda = etree.tostring(etree.fromstring(document), encoding="UTF-8")
    return (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<?xml-stylesheet type="text/xsl" href="#"?>\n'
        b'<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"'
        b' xmlns:data="urn:asip-sante:ci-sis" xmlns:c="urn:hl7-org:v3">'
        b'<xsl:template match="/"><html><body><xsl:value-of select="//c:title"/></body></html></xsl:template>'
        b"<data:Contenu>" + cda + b"</data:Contenu></xsl:stylesheet>"
    )


def _bundle(content_type: str) -> tuple[dict, bytes]:
    """An ITI-65 Bundle whose one document is sent self-presenting, declared as `content_type`."""
    plain = n1(PROS["hospitalier"])
    wrapped = _self_presenting(plain)
    bundle = provide_bundle([Produced(plain)])
    attachment = bundle["entry"][1]["resource"]["content"][0]["attachment"]
    attachment.update(
        contentType=content_type,
        size=len(wrapped),
        hash=base64.b64encode(hashlib.sha1(wrapped).digest()).decode(),
    )
    binary = bundle["entry"][2]["resource"]
    binary.update(contentType=content_type, data=base64.b64encode(wrapped).decode())
    return bundle, wrapped


def _send(world, bundle: dict) -> httpx.Response:
    return world.client("hospitalier").post("", json=bundle, headers={"Content-Type": "application/fhir+json"})


def _code(answer: httpx.Response) -> str:
    return answer.json()["issue"][0]["details"]["coding"][0]["code"]


@pytest.fixture
def world(house, live):
    return make_world(house, live, ("hospitalier", "generaliste"))


def test_taken_by_default_and_indexed_from_the_embedded_header(world, house):
    assert house.settings.dmp_cda_auto_presentable and house.dmp.accept_self_presenting
    bundle, wrapped = _bundle(MIME_SELF_PRESENTING)
    answer = _send(world, bundle)
    assert answer.status_code == 200, answer.text
    world.inform("generaliste")
    [entry] = world.search("generaliste").json()["entry"]
    attachment = entry["resource"]["content"][0]["attachment"]
    assert attachment["contentType"] == MIME_SELF_PRESENTING and attachment["size"] == len(wrapped)
    assert entry["resource"]["type"]["coding"][0]["code"] == "11490-0"  # the embedded document's typeCode


def test_declared_as_plain_cda_it_is_a_metadata_error(world):
    answer = _send(world, _bundle("text/xml")[0])
    assert answer.status_code == 422 and _code(answer) == "XDSRegistryMetadataError"
    assert MIME_SELF_PRESENTING in answer.json()["issue"][0]["diagnostics"]


@pytest.mark.parametrize("content_type", [MIME_SELF_PRESENTING, "text/xml"])
def test_refused_with_invalid_document_content_where_the_setting_says_so(world, house, content_type):
    house.dmp.accept_self_presenting = False  # dmp_cda_auto_presentable = false
    answer = _send(world, _bundle(content_type)[0])
    assert answer.status_code == 422, answer.text
    assert _code(answer) == "InvalidDocumentContent"
    assert "auto-présentables" in answer.json()["issue"][0]["diagnostics"]
    world.inform("generaliste")
    assert world.search("generaliste").json()["total"] == 0
