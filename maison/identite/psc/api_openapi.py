"""The OpenAPI of Pro Santé Connect's endpoints (issue 21 §3.1): their forms and answers as
OpenID Connect Core 1.0, RFC 6749 (§4.1, §6), RFC 7009, RFC 7662, CIBA Core 1.0 §7 and the
e-CPS app's side of CIBA define them, and as `maison.identite.psc.api` reads them. Errors are added
by `maison.openapi_document` (OAuth's error object; an HTML page on the browser-facing login)."""

from __future__ import annotations

from maison.formats import openapi as doc

_T = doc.text
CLIENT = {
    "client_id": _T("client_secret_post (sinon Authorization: Basic)"),
    "client_secret": _T("client_secret_post (sinon Authorization: Basic)"),
}
HTML_PAGE = doc.answers(200, {"text/html": {"type": "string"}}, "Page HTML")
REDIRECT = doc.no_content(302, "Redirection vers le client (redirect_uri)")
SEE_OTHER = doc.no_content(303, "Redirection vers le client avec le code ou l'erreur")

LOCAL_IDP = doc.extra(
    doc.json_body(
        doc.json_object(
            ["issuer", "audience"],
            {
                "issuer": _T(),
                "audience": _T(),
                "jwks": {"type": "object", "description": "JWKS du fournisseur (ou jwksUri)"},
                "jwksUri": _T(),
                "idnatpsClaim": _T("claim portant l'IdNatPS (défaut idnatps)"),
            },
        ),
        description="Le fournisseur d'identité propre à la structure (IAM.80)",
    ),
    doc.json_answer(doc.json_object(["issuer", "structure"], {"issuer": _T(), "structure": _T()}), 201, "Enregistré"),
)
DISCOVERY = doc.json_answer(doc.json_object(["issuer", "token_endpoint"], {"issuer": _T(), "token_endpoint": _T()}))
JWKS = doc.json_answer(doc.json_object(["keys"], {"keys": {"type": "array", "items": {"type": "object"}}}))
AUTHORIZE = doc.extra(
    doc.query_parameters(
        [
            "client_id",
            "redirect_uri",
            "response_type",
            "scope",
            "state",
            "nonce",
            "code_challenge",
            "code_challenge_method",
            "acr_values",
        ],
        description="OpenID Connect Core 1.0 §3.1.2.1 (PKCE S256 obligatoire)",
    ),
    HTML_PAGE,
    REDIRECT,
)
LOGIN = doc.extra(
    doc.form_body(
        ["request", "idnatps"],
        {"request": _T(), "idnatps": _T(), "password": _T(), "otp": _T("code e-CPS")},
        description="Le formulaire de la page de connexion",
    ),
    HTML_PAGE,
    SEE_OTHER,
    doc.errors(401, 429),
)
TOKEN = doc.extra(
    doc.form_body(
        ["grant_type"],
        {
            "grant_type": _T("authorization_code, refresh_token, urn:openid:params:grant-type:ciba"),
            "code": _T(),
            "redirect_uri": _T(),
            "code_verifier": _T(),
            "refresh_token": _T(),
            "auth_req_id": _T(),
            **CLIENT,
        },
    ),
    doc.json_answer(
        doc.json_object(["access_token", "token_type"], {"access_token": _T(), "token_type": _T(), "id_token": _T()})
    ),
    doc.errors(401, 403),
)
CIBA = doc.extra(
    doc.form_body(
        ["login_hint", "scope"],
        {
            "login_hint": _T("IdNatPS"),
            "scope": _T(),
            "binding_message": _T(),
            "id_token_hint": _T(),
            "login_hint_token": _T(),
            "requested_expiry": _T(),
            **CLIENT,
        },
    ),
    doc.json_answer(
        doc.json_object(["auth_req_id"], {"auth_req_id": _T(), "expires_in": {"type": "integer"}}),
    ),
    doc.errors(401, 403),
)
_ECPS_CODE = {"parameters": [{"name": "X-eCPS-Code", "in": "header", "required": False, "schema": {"type": "string"}}]}
ECPS_REQUESTS = doc.extra(
    _ECPS_CODE,
    doc.json_answer(doc.json_object(["requests"], {"requests": {"type": "array", "items": {"type": "object"}}})),
    doc.errors(401, 429),
)
ECPS_ANSWER = doc.extra(
    _ECPS_CODE,
    doc.form_body(["decision"], {"decision": {"type": "string", "enum": ["approve", "deny"]}}),
    doc.no_content(),
    doc.errors(401, 429),
)
USERINFO = doc.extra(doc.json_answer(doc.json_object(["sub"], {"sub": _T()})), doc.errors(401))
USERINFO_POST = doc.extra(
    doc.form_body([], {"access_token": _T("RFC 6750 §2.2 (sinon Authorization: Bearer)")}),
    USERINFO,
)
USERINFO_POST["requestBody"]["required"] = False
INTROSPECT = doc.extra(
    doc.form_body(["token"], {"token": _T(), **CLIENT}),
    doc.json_answer(doc.json_object(["active"], {"active": {"type": "boolean"}})),
    doc.errors(401),
)
REVOKE = doc.extra(
    doc.form_body(["token"], {"token": _T(), **CLIENT}),
    doc.no_content(200, "Révoqué (RFC 7009 §2.2)"),
    doc.errors(401),
)
LOGOUT = doc.extra(
    doc.query_parameters(["id_token_hint", "post_logout_redirect_uri", "state"], description="RP-Initiated Logout"),
    HTML_PAGE,
    REDIRECT,
)
