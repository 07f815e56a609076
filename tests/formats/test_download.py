"""Content-Disposition for a sender-chosen filename (RFC 6266 §4.3, RFC 8187), and safe types."""

from __future__ import annotations

import re
from urllib.parse import unquote

from hypothesis import given
from hypothesis import strategies as st

from maison.formats.download import attachment_response, content_disposition, safe_type

_HEADER = re.compile(r"^attachment; filename=\"[A-Za-z0-9._ ()+-]+\"; filename\*=UTF-8''[A-Za-z0-9%._~-]+$")


@given(st.text(max_size=300))
def test_any_name_gives_one_well_formed_ascii_header(name):
    value = content_disposition(name)
    assert _HEADER.match(value), value
    value.encode("latin-1")  # what an HTTP header may carry
    decoded = unquote(value.split("''", 1)[1])
    assert "/" not in decoded and "\\" not in decoded and not any(ord(c) < 32 for c in decoded)


def test_names_and_types():
    assert content_disposition("Compte rendu été.pdf") == (
        "attachment; filename=\"Compte rendu ete.pdf\"; filename*=UTF-8''Compte%20rendu%20%C3%A9t%C3%A9.pdf"
    )
    assert content_disposition("").startswith('attachment; filename="piece-jointe"')
    assert safe_type("application/PDF; name=x") == "application/pdf"
    assert safe_type("text/html") == safe_type("image/svg+xml") == safe_type("text/xml") == "application/octet-stream"
    response = attachment_response(b"x", "处方.pdf", "text/html")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.media_type == "application/octet-stream"
