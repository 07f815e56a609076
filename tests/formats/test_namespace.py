"""Maison's own canonical URLs under a namespace it owns (issue 21 §3.3)."""

from maison.formats.namespace import LEGACY_BASE, Namespace, names


def test_urls_are_built_under_the_base():
    ns = Namespace("https://fhir.example.org/maison/")
    assert ns.structure("x") == "https://fhir.example.org/maison/fhir/StructureDefinition/x"
    assert ns.operation("executer") == "https://fhir.example.org/maison/fhir/OperationDefinition/executer"
    assert ns.code_system("dmp-acces") == "https://fhir.example.org/maison/fhir/CodeSystem/dmp-acces"
    assert ns.url("/ordonnance/numero") == "https://fhir.example.org/maison/ordonnance/numero"


def test_the_former_urls_are_still_understood():
    ns = Namespace("http://127.0.0.1:8000/ns")
    path = "fhir/StructureDefinition/ordonnance-consentement-execution"
    assert ns.understands(ns.url(path), path)
    assert ns.understands(f"{LEGACY_BASE}/{path}", path)  # what an older client kept
    assert ns.understands("urn:old", path, "urn:old")
    assert not ns.understands(f"https://elsewhere.example/{path}", path)  # another server's namespace
    assert not ns.understands(None, path) and not ns.understands(ns.url(path) + "x", path)


def test_a_client_recognises_an_extension_by_its_path():
    assert names(
        "https://a.example/ns/fhir/StructureDefinition/ordonnance-qr-code",
        "fhir/StructureDefinition/ordonnance-qr-code",
    )
    assert not names("https://a.example/ns/fhir/StructureDefinition/autre-qr-code", "ordonnance-qr-code")
    assert not names(42, "x")
