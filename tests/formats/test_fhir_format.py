"""The FHIR bases' content negotiation middleware (issue 20 §4.3), on a small app of its own: XML
asked of a FHIR answer is a 406 OperationOutcome; a raw document keeps its own media type; paths
outside the bases are not touched."""

from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from maison.formats.fhir import FHIR_JSON
from maison.formats.fhir_format import FhirFormat
from maison.formats.namespace import Namespace

CALLS: list[str] = []


async def resource(request):
    CALLS.append(request.method)
    return Response(b'{"resourceType":"Patient","id":"1"}', media_type=FHIR_JSON)


async def document(_request):
    return Response(b"<ClinicalDocument/>", media_type="text/xml")


APP = FhirFormat(
    Starlette(
        routes=[
            Route("/fhir/Patient", resource, methods=["GET", "POST"]),
            Route("/fhir/Binary/1", document),
            Route("/autre", resource),
        ]
    ),
    bases=["/fhir"],
    ns=Namespace("https://maison.example/ns"),
)


def test_xml_asked_of_fhir_json_is_406():
    client = TestClient(APP)
    for accept in ("application/fhir+xml", "application/xml", "text/xml"):
        answer = client.get("/fhir/Patient", headers={"Accept": accept})
        assert answer.status_code == 406 and answer.json()["resourceType"] == "OperationOutcome", accept
        # the house's error code, under the deployment's namespace (issue 21 §3.3)
        coding = answer.json()["issue"][0]["details"]["coding"][0]
        assert coding == {"system": "https://maison.example/ns/fhir/CodeSystem/erreur", "code": "format-non-servi"}
    assert client.get("/fhir/Patient", params={"_format": "application/fhir+xml"}).status_code == 406
    assert client.get("/fhir/Patient", headers={"Accept": "application/fhir+json"}).status_code == 200
    assert client.get("/fhir/Patient").status_code == 200


def test_a_write_asking_fhir_xml_is_refused_before_it_runs():
    CALLS.clear()
    client = TestClient(APP)
    assert client.post("/fhir/Patient", headers={"Accept": "application/fhir+xml"}).status_code == 406
    assert CALLS == []  # nothing done for a client that could not read the answer


def test_raw_documents_and_other_paths_keep_their_answers():
    client = TestClient(APP)
    raw = client.get("/fhir/Binary/1", headers={"Accept": "application/xml"})
    assert raw.status_code == 200 and raw.content == b"<ClinicalDocument/>"
    assert client.get("/autre", headers={"Accept": "application/fhir+xml"}).status_code == 200
