"""The portals' shared web layer: the Secure flag off loopback, htmx found in its wheel, the CSRF check."""

from __future__ import annotations

import pytest
from starlette.requests import Request
from starlette.responses import Response

from maison.core.errors import Forbidden
from maison.portail import web


def _request(url: str, headers: dict[str, str] | None = None) -> Request:
    scheme, rest = url.split("://")
    host, _, path = rest.partition("/")
    raw = [(b"host", host.encode())] + [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    return Request(
        {
            "type": "http",
            "scheme": scheme,
            "method": "POST",
            "path": "/" + path,
            "headers": raw,
            "query_string": b"",
            "server": (host.split(":")[0], 80),
        }
    )


@pytest.mark.parametrize(
    ("url", "secure"),
    [
        ("http://127.0.0.1:8000/mon-espace", False),
        ("http://localhost:8000/mon-espace", False),
        ("http://[::1]:8000/mon-espace", False),
        ("http://maison.example.fr/mon-espace", True),  # off loopback: Secure even over plain HTTP
        ("https://127.0.0.1/mon-espace", True),
    ],
)
def test_the_cookie_is_secure_except_plain_http_on_loopback(url, secure):
    response = Response()
    web.set_cookie(response, _request(url), "maison_mon_espace", "x", "/mon-espace")
    cookie = response.headers["set-cookie"].lower()
    assert ("; secure" in cookie) is secure
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/mon-espace" in cookie


def test_htmx_is_served_from_the_installed_wheel():
    script = web.htmx_script()
    assert script.is_file() and script.read_text()[:200].startswith("var htmx=")


def test_the_csrf_check_takes_the_field_or_the_htmx_header_and_nothing_else():
    web.check_token("jeton", {"csrf": "jeton"}, _request("http://127.0.0.1/x"))
    web.check_token("jeton", {}, _request("http://127.0.0.1/x", {"X-CSRF-Token": "jeton"}))
    for expected, form, headers in (("jeton", {}, {}), ("jeton", {"csrf": "autre"}, {}), (None, {"csrf": ""}, {})):
        with pytest.raises(Forbidden):
            web.check_token(expected, form, _request("http://127.0.0.1/x", headers))


@pytest.mark.parametrize(
    ("headers", "fragment"),
    [
        ({}, False),  # a browser without JavaScript: the whole page
        ({"HX-Request": "true"}, True),  # htmx swapping a part in place
        ({"HX-Request": "1"}, False),  # htmx sends exactly "true"
        ({"HX-Request": "true", "HX-History-Restore-Request": "true"}, False),  # its history restored: whole page
    ],
)
def test_a_fragment_only_when_htmx_swaps_in_place(headers, fragment):
    assert web.wants_fragment(_request("http://127.0.0.1/mon-espace/agenda", headers)) is fragment


def test_every_portal_answer_varies_on_htmx_and_keeps_its_own_headers():
    """One URL answers the page or its fragment: `Vary: HX-Request` keeps them apart in any cache;
    `secured` adds the portal's headers without overriding an answer's own."""
    answered = web.secured(Response("x", headers={"X-Frame-Options": "SAMEORIGIN"}))
    assert answered.headers["vary"] == "HX-Request"
    assert answered.headers["x-frame-options"] == "SAMEORIGIN"
    assert answered.headers["cache-control"] == "no-store"
