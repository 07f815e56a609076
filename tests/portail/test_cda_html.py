"""A structured CDA shown by the CI-SIS display stylesheet under saxonche: HTML (not the XSL-FO the
stylesheet writes when it sees Saxon), the document's own title and results, and refusals as the
house's errors."""

from __future__ import annotations

import pytest

from maison.core.errors import MaisonError
from maison.portail import cda_html


def test_a_structured_cda_becomes_the_stylesheets_html(reference_path):
    cda = (reference_path / "cisis" / "ExemplesCDA" / "BIO-CR-BIO_2024.01_TSH_1.xml").read_bytes()
    html = cda_html.render(cda, reference_path)
    assert "<html" in html and "fo:root" not in html.split("<html", 1)[1][:2000]
    assert "Compte rendu d'examens biologiques" in html and "TSH" in html


def test_a_document_with_a_doctype_is_refused_before_saxon_sees_it(reference_path):
    evil = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'
    with pytest.raises(MaisonError):
        cda_html.render(evil, reference_path)


def test_without_the_stylesheet_the_refusal_says_so(tmp_path):
    with pytest.raises(cda_html.DisplayUnavailable) as refused:
        cda_html.render(b'<ClinicalDocument xmlns="urn:hl7-org:v3"/>', tmp_path)
    assert refused.value.http_status == 503 and "feuille de style" in refused.value.message
