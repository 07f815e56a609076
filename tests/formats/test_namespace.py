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


def test_no_urn_under_maisons_unregistered_nid_is_written_any_more():
    """Issue 21 §3.3: `urn:maison:…` named no registered URN namespace (RFC 8141); the code keeps such a
    string only where a former name is still understood on input."""
    import io
    import tokenize
    from pathlib import Path

    import maison

    root = Path(maison.__file__).parent
    found = set()
    for path in root.rglob("*.py"):
        for token in tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline):
            docstring = token.string.lstrip("rbfu").startswith(('"""', "'''"))
            if token.type == tokenize.STRING and "urn:maison" in token.string and not docstring:
                found.add((path.relative_to(root).as_posix(), token.string))
    assert found == {
        ("partage/dmp/api.py", '"urn:maison:dmp:motif-opposition-alimentation"'),  # LEGACY_EXT_MOTIF, read only
        ("etablissement/vigilance/fhir.py", 'f"urn:maison:ipp:{structure}"'),  # is_ipp_system, read only
    }
