"""The OpenAPI fragments a route states next to itself (issue 21 §3.1)."""

from __future__ import annotations

from maison.formats import openapi as doc


def test_fragments_merge_into_one_openapi_extra():
    merged = doc.extra(
        doc.query_parameters(["a"]),
        doc.query_parameters({"b": "token"}),
        doc.fhir_answer(doc.resource("Patient")),
        doc.no_content(204),
        doc.errors(409),
        doc.errors(422),
    )
    assert [p["name"] for p in merged["parameters"]] == ["a", "b"]
    assert "token" in merged["parameters"][1]["description"]
    assert set(merged["responses"]) == {"200", "204"}
    assert merged["responses"]["204"]["content"] is None  # no body: the post-processor drops FastAPI's guess
    assert merged[doc.ERRORS_KEY] == [409, 422]


def test_a_fhir_resource_requires_its_resource_type():
    patient = doc.resource("Patient", ["name"], {"name": {"type": "array"}})
    assert patient["required"] == ["resourceType", "name"]
    assert patient["properties"]["resourceType"] == {"const": "Patient"}
    body = doc.fhir_body(patient)["requestBody"]
    assert set(body["content"]) == {"application/fhir+json", "application/json"}


def test_a_search_answers_a_bundle_and_names_its_result_parameters():
    search = doc.fhir_search({"family": "string"}, ("_count", "_summary"))
    assert [p["name"] for p in search["parameters"]] == ["family", "_count", "_summary"]
    bundle = search["responses"]["200"]["content"][doc.FHIR_JSON]["schema"]
    assert bundle["properties"]["resourceType"] == {"const": "Bundle"}


def test_parameters_of_several_types_say_which_types_take_them():
    kinds = doc.search_by_type({"Practitioner": {"family": "string", "_id": "token"}, "Organization": {"_id": "token"}})
    assert kinds == {"family": "string (Practitioner)", "_id": "token (Practitioner, Organization)"}


def test_a_write_reading_no_body_says_so():
    body = doc.ignored_body()["requestBody"]
    assert body["required"] is False and body["content"] == {"*/*": {"schema": {}}}
    assert doc.form_body(["grant_type"], {"grant_type": doc.text()})["requestBody"]["content"][
        "application/x-www-form-urlencoded"
    ]["schema"]["required"] == ["grant_type"]
