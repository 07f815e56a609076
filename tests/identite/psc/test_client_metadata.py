"""RFC 7591 §2 client metadata as Pro Santé Connect registers it: defaults filled in, what is not
understood ignored, what is understood but not honoured refused with its precise error."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from maison.identite.psc.client_metadata import registered_metadata
from maison.identite.psc.provider import CIBA_GRANT, OAuthError, redirect_uri_problem

REDIRECT = "https://dpi.example.fr/cb"


def _refusal(body: dict) -> tuple[str, str]:
    with pytest.raises(OAuthError) as refused:
        registered_metadata(body)
    return refused.value.error, refused.value.description


def test_defaults_are_keycloaks_and_are_registered():
    registered = registered_metadata({"redirect_uris": [REDIRECT], "vendor_extension": {"x": 1}})
    assert registered == {
        "client_name": "Client enregistré dynamiquement",
        "redirect_uris": [REDIRECT],
        "post_logout_redirect_uris": [],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "client_secret_basic",
        "application_type": "web",
        "id_token_signed_response_alg": "RS256",
        "scope": "openid scope_all",
    }


def test_a_ciba_client_registers_the_poll_mode_and_may_have_no_redirect_uri():
    registered = registered_metadata({"grant_types": [CIBA_GRANT], "backchannel_token_delivery_mode": "poll"})
    assert registered["redirect_uris"] == [] and registered["response_types"] == []
    assert registered["backchannel_token_delivery_mode"] == "poll"
    assert _refusal({"grant_types": [CIBA_GRANT]})[0] == "invalid_client_metadata"
    assert _refusal({"grant_types": [CIBA_GRANT], "backchannel_token_delivery_mode": "push"})[0] == (
        "invalid_client_metadata"
    )
    user_code = {"grant_types": [CIBA_GRANT], "backchannel_token_delivery_mode": "poll"}
    assert _refusal({**user_code, "backchannel_user_code_parameter": True})[0] == "invalid_client_metadata"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"redirect_uris": "https://dpi.example.fr/cb"}, "invalid_client_metadata"),  # a list is expected
        ({"redirect_uris": [REDIRECT, REDIRECT]}, "invalid_client_metadata"),
        ({"redirect_uris": ["http://dpi.example.fr/cb"]}, "invalid_redirect_uri"),
        ({"redirect_uris": [REDIRECT], "grant_types": ["password"]}, "invalid_client_metadata"),
        ({"redirect_uris": [REDIRECT], "grant_types": []}, "invalid_client_metadata"),
        ({"redirect_uris": [REDIRECT], "response_types": ["code", "id_token"]}, "invalid_client_metadata"),
        ({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "tls_client_auth"}, "invalid_client_metadata"),
        ({"redirect_uris": [REDIRECT], "client_uri": "ftp://dpi.example.fr"}, "invalid_client_metadata"),
        ({"redirect_uris": [REDIRECT], "contacts": [""]}, "invalid_client_metadata"),
        ({"redirect_uris": [REDIRECT], "client_name": "x" * 101}, "invalid_client_metadata"),
        ({"redirect_uris": [REDIRECT], "scope": "scope_all"}, "invalid_client_metadata"),  # openid needed
        ({"redirect_uris": [REDIRECT], "application_type": "service"}, "invalid_client_metadata"),
        ({"redirect_uris": [REDIRECT] * 21}, "invalid_client_metadata"),
    ],
)
def test_each_rule_refuses_with_its_error(body, error):
    found, description = _refusal(body)
    assert found == error and description


@given(st.text(min_size=1, max_size=60))
def test_an_accepted_redirect_uri_is_https_or_the_loopback_and_exact(path):
    for uri in (f"https://dpi.example.fr/{path}", f"http://localhost/{path}", f"http://dpi.example.fr/{path}"):
        if redirect_uri_problem(uri):
            continue
        parts = urlsplit(uri)
        assert parts.scheme == "https" or parts.hostname in ("localhost", "127.0.0.1", "::1")
        assert "#" not in uri and "*" not in uri and not any(c.isspace() for c in uri)
