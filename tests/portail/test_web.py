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
