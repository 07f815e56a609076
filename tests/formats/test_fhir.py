"""The FHIR helpers every base shares (issue 20 §4.2-4.3): Bundles without empty `entry`, fullUrls,
the search result parameters read one way, and the formats a client may ask."""

import pytest

from maison.formats.fhir import (
    NotAcceptable,
    UnsupportedParameter,
    accepts_json,
    bundle,
    count_bundle,
    full_url,
    local_url,
    negotiate_format,
    result_controls,
)

PATIENT = {"resourceType": "Patient", "id": "42"}


def test_a_bundle_has_no_empty_entry():
    assert "entry" not in bundle("searchset", [], total=0)
    assert bundle("searchset", [{"resource": PATIENT}], total=1)["entry"] == [{"resource": PATIENT}]
    assert count_bundle(7) == {"resourceType": "Bundle", "type": "searchset", "total": 7}


def test_full_urls():
    assert full_url("https://maison.example/dmp/", PATIENT) == "https://maison.example/dmp/Patient/42"
    uuid = "0b0c9e52-0b45-4f8e-9a36-1b5f0a3c2d11"
    assert local_url({"resourceType": "Condition", "id": uuid}) == f"urn:uuid:{uuid}"
    named = local_url(PATIENT)  # not a UUID: a name-based one, stable
    assert named.startswith("urn:uuid:") and named == local_url(dict(PATIENT)) != local_url({**PATIENT, "id": "43"})


def test_count_and_summary_count_ask_the_total_alone():
    assert result_controls([("_summary", "count")], max_count=10).count_only
    assert result_controls([("_count", "0")], max_count=10).count_only
    assert result_controls([("_count", "3"), ("_summary", "false")], max_count=10) == result_controls(
        [("_count", "3")], max_count=10
    )
    assert result_controls([], max_count=10).count is None


@pytest.mark.parametrize(
    "params",
    [
        [("_summary", "text")],
        [("_summary", "true")],
        [("_elements", "name")],  # not served unless the base says so
        [("_sort", "name")],  # no sort key served
        [("_count", "11")],
        [("_count", "-1")],
        [("_count", "٣")],
        [("_format", "turtle")],
    ],
)
def test_what_is_not_served_is_refused_with_the_parameter_named(params):
    with pytest.raises(UnsupportedParameter) as refused:
        result_controls(params, max_count=10)
    assert refused.value.http_status == 400 and refused.value.expression == params[0][0]


def test_elements_and_sort_where_served():
    controls = result_controls(
        [("_elements", "name,gender"), ("_sort", "-date")], max_count=10, elements=True, sort={"date"}
    )
    assert controls.elements == ("name", "gender") and controls.sort == ("-date",)


def test_formats():
    negotiate_format("application/fhir+json")
    for xml in ("xml", "application/fhir+xml", "text/xml"):
        with pytest.raises(NotAcceptable):
            negotiate_format(xml)
    assert accepts_json("application/fhir+json") and accepts_json("*/*") and accepts_json("application/*")
    assert accepts_json("application/fhir+xml;q=1, application/json;q=0.5")
    assert not accepts_json("application/fhir+xml") and not accepts_json("application/json;q=0, application/xml")
