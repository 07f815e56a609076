"""The client metadata a software registers itself with (RFC 7591 §2), checked as Pro Santé Connect can honour it.

What is understood is checked, typed and registered (with the defaults below filled in, RFC 7591
§3.2.1: the answer says what was registered); what is not understood is ignored (§2: "MUST ignore
any client metadata … that it does not understand"). A value understood but not honoured here is
refused rather than silently dropped: `invalid_client_metadata`, or `invalid_redirect_uri` for a
redirect URI (§3.2.2), with the reason in French.

- `redirect_uris`: exact https URIs, http on the loopback only, no fragment (provider.redirect_uri_problem);
  required with the `authorization_code` grant;
- `grant_types` ⊆ {authorization_code, refresh_token, urn:openid:params:grant-type:ciba}; when omitted,
  Keycloak's defaults (PSC runs on Keycloak): authorization_code and refresh_token; `response_types`
  consistent with them (§2.1: `code` ⇔ authorization_code);
- `token_endpoint_auth_method`: client_secret_basic (default) or client_secret_post — the provider
  authenticates clients by secret only, so `private_key_jwt`, `none`… are refused; like Keycloak's
  client-secret authenticator, either way of sending the secret is then accepted;
- CIBA (OpenID CIBA Core 1.0 §4): `backchannel_token_delivery_mode` required with the CIBA grant and
  `poll` only (the discovery document's only mode); no notification endpoint, no signed request, no
  user code;
- `id_token_signed_response_alg` RS256 only; `scope` among the provider's scopes;
- the descriptive fields (`client_name`, `client_uri`, `logo_uri`, `tos_uri`, `policy_uri`,
  `contacts`, `software_id`, `software_version`, `application_type`) typed and bounded.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from maison.identite.psc.provider import CIBA_GRANT, SCOPES, OAuthError, redirect_uri_problem

GRANTS = ("authorization_code", "refresh_token", CIBA_GRANT)
WHEN_OMITTED = ["authorization_code", "refresh_token"]  # Keycloak's, as PSC runs on Keycloak
AUTH_METHODS = ("client_secret_basic", "client_secret_post")
MAX_URIS = 20
DEFAULT_NAME = "Client enregistré dynamiquement"

# The fields the server sets, never the client (RFC 7591 §3.2.1, RFC 7592 §2.2): not metadata.
SERVER_FIELDS = frozenset(
    {
        "client_id",
        "client_secret",
        "client_id_issued_at",
        "client_secret_expires_at",
        "registration_access_token",
        "registration_client_uri",
    }
)


def _refuse(description: str) -> OAuthError:
    return OAuthError("invalid_client_metadata", description)


def _string(body: dict[str, Any], name: str, max_length: int) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > max_length:
        raise _refuse(f"'{name}' : texte non vide de {max_length} caractères au plus attendu")
    return value


def _strings(body: dict[str, Any], name: str, max_items: int, max_length: int) -> list[str] | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > max_items:
        raise _refuse(f"'{name}' : liste de {max_items} textes au plus attendue")
    if not all(isinstance(v, str) and v and len(v) <= max_length for v in value):
        raise _refuse(f"'{name}' : chaque élément est un texte non vide de {max_length} caractères au plus")
    if len(set(value)) != len(value):
        raise _refuse(f"'{name}' : valeur répétée")
    return list(value)


def _web_page(body: dict[str, Any], name: str) -> str | None:
    """A page about the client (client_uri, logo_uri, tos_uri, policy_uri): an absolute http(s) URL."""
    value = _string(body, name, 500)
    if value is not None:
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.netloc:
            raise _refuse(f"'{name}' : URL absolue http(s) attendue")
    return value


def _redirects(body: dict[str, Any], name: str, error: str) -> list[str]:
    uris = _strings(body, name, MAX_URIS, 500) or []
    for uri in uris:
        problem = redirect_uri_problem(uri)
        if problem:
            raise OAuthError(error, f"{name} : '{uri}' refusée — {problem}")
    return uris


def _grants(body: dict[str, Any]) -> list[str]:
    grants = _strings(body, "grant_types", len(GRANTS), 100)
    if grants is None:
        return list(WHEN_OMITTED)
    unknown = [g for g in grants if g not in GRANTS]
    if unknown:
        raise _refuse(f"grant_types : '{unknown[0]}' non pris en charge ({', '.join(GRANTS)})")
    if "authorization_code" not in grants and CIBA_GRANT not in grants:
        raise _refuse("grant_types : authorization_code ou urn:openid:params:grant-type:ciba attendu")
    return grants


def _response_types(body: dict[str, Any], grants: list[str]) -> list[str]:
    """RFC 7591 §2.1: `code` goes with the authorization_code grant, and only with it."""
    code_flow = "authorization_code" in grants
    types = _strings(body, "response_types", 1, 20)
    if types is None:
        return ["code"] if code_flow else []
    if any(t != "code" for t in types):
        raise _refuse("response_types : seul 'code' est pris en charge")
    if bool(types) != code_flow:
        raise _refuse("response_types 'code' et grant_types authorization_code vont ensemble (RFC 7591 §2.1)")
    return types


def _auth_method(body: dict[str, Any]) -> str:
    method = _string(body, "token_endpoint_auth_method", 50) or "client_secret_basic"
    if method not in AUTH_METHODS:
        raise _refuse(f"token_endpoint_auth_method '{method}' non pris en charge : {' ou '.join(AUTH_METHODS)}")
    return method


def _ciba(body: dict[str, Any], grants: list[str]) -> dict[str, Any]:
    """OpenID CIBA Core 1.0 §4: the delivery mode a CIBA client registers; poll is the only one here."""
    mode = _string(body, "backchannel_token_delivery_mode", 10)
    if CIBA_GRANT in grants and mode is None:
        raise _refuse("backchannel_token_delivery_mode requis avec le flux CIBA (seul 'poll' est proposé)")
    if mode is not None and mode != "poll":
        raise _refuse(f"backchannel_token_delivery_mode '{mode}' non pris en charge : 'poll' seulement")
    if body.get("backchannel_client_notification_endpoint") is not None:
        raise _refuse("backchannel_client_notification_endpoint : sans objet en mode 'poll'")
    if body.get("backchannel_authentication_request_signing_alg") is not None:
        raise _refuse("backchannel_authentication_request_signing_alg : requêtes CIBA signées non prises en charge")
    user_code = body.get("backchannel_user_code_parameter")
    if user_code not in (None, False):
        raise _refuse("backchannel_user_code_parameter : non pris en charge (false)")
    return {"backchannel_token_delivery_mode": mode} if mode else {}


def _scope(body: dict[str, Any]) -> str:
    scope = _string(body, "scope", 200)
    if scope is None:
        return " ".join(sorted(SCOPES))
    asked = scope.split()
    if "openid" not in asked or not set(asked) <= SCOPES:
        raise _refuse(f"scope : 'openid' et parmi {' '.join(sorted(SCOPES))}")
    return " ".join(asked)


def _choice(body: dict[str, Any], name: str, allowed: tuple[str, ...]) -> str:
    value = _string(body, name, 20) or allowed[0]
    if value not in allowed:
        raise _refuse(f"{name} '{value}' non pris en charge : {' ou '.join(allowed)}")
    return value


def registered_metadata(body: dict[str, Any]) -> dict[str, Any]:
    """The metadata as registered (defaults filled in), or OAuthError `invalid_redirect_uri` /
    `invalid_client_metadata` (RFC 7591 §3.2.2). Fields not understood are left out."""
    grants = _grants(body)
    redirects = _redirects(body, "redirect_uris", "invalid_redirect_uri")
    if "authorization_code" in grants and not redirects:
        raise OAuthError("invalid_redirect_uri", "redirect_uris : une URI au moins avec le flux authorization_code")
    described = {
        name: value
        for name, value in (
            ("client_uri", _web_page(body, "client_uri")),
            ("logo_uri", _web_page(body, "logo_uri")),
            ("tos_uri", _web_page(body, "tos_uri")),
            ("policy_uri", _web_page(body, "policy_uri")),
            ("contacts", _strings(body, "contacts", 10, 200)),
            ("software_id", _string(body, "software_id", 100)),
            ("software_version", _string(body, "software_version", 100)),
        )
        if value is not None
    }
    return {
        "client_name": _string(body, "client_name", 100) or DEFAULT_NAME,
        "redirect_uris": redirects,
        "post_logout_redirect_uris": _redirects(body, "post_logout_redirect_uris", "invalid_client_metadata"),
        "grant_types": grants,
        "response_types": _response_types(body, grants),
        "token_endpoint_auth_method": _auth_method(body),
        "application_type": _choice(body, "application_type", ("web", "native")),
        "id_token_signed_response_alg": _choice(body, "id_token_signed_response_alg", ("RS256",)),
        "scope": _scope(body),
        **_ciba(body, grants),
        **described,
    }
