"""`/admin`: the house administrator's acts over HTTP, JSON in and out (issue 21 §1).

The same functions as `maison admin …` (`maison.admin.service`); the only caller admitted is the
administrator token (a key of scope `administrateur-maison`, sent as `Authorization: Bearer mk_…` or
`ESANTE-API-KEY`). Errors are OperationOutcome resources, as on every other API of the house; the
request bodies are described in the OpenAPI document so that a client generator can use them.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from maison.admin.service import (
    REGISTRATION_TOKEN_LIFETIME,
    REGISTRATION_TOKEN_MAX_LIFETIME,
    STRUCTURE_SCOPES,
    Administration,
)
from maison.core.actor import KeyScope
from maison.core.authz import Accepts, Authorizer, accepts, keys
from maison.formats import openapi as doc
from maison.formats.body import json_response, read_json_object
from maison.formats.path_ids import Identifier, Login

ADMINISTRATOR = Accepts(scopes=keys(KeyScope.ADMINISTRATEUR_MAISON))
PATH_TYPES: dict[str, Any] = {"identifiant": Login}  # a path's identifier of another form than `Identifier`


def _body(required: list[str], properties: dict[str, Any], status: int = 201) -> dict[str, Any]:
    """The OpenAPI `requestBody` of a JSON object (FastAPI cannot infer it: bodies are read by hand), the
    JSON answer (201: created) and the refusals of an unknown target (404) or of a duplicate (409)."""
    schema = {"type": "object", "required": required, "properties": properties}
    body = {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}
    return doc.extra(body, ANSWER if status == 201 else doc.json_answer({"type": "object"}), doc.errors(404, 409))


ANSWER = doc.json_answer({"type": "object"}, 201, "Créé")


def _text(max_length: int, description: str) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": max_length, "description": description}


KEY_BODY = _body(
    ["structure", "nom"],
    {
        "structure": _text(64, "La structure (IdNatStruct, FINESS, SIRET ou identifiant de l'Annuaire)"),
        "nom": _text(128, "Le logiciel auquel la clé est destinée"),
        "scope": {"type": "string", "enum": [s.value for s in STRUCTURE_SCOPES], "default": KeyScope.LOGICIEL.value},
        "personne": _text(128, "À qui la clé est remise (par défaut : le logiciel)"),
    },
)
HABILITATION_BODY = _body(
    ["structure", "nom"],
    {
        "structure": _text(64, "Identifiant de la structure dans le contexte INSi (ContexteLPS)"),
        "nom": _text(200, "Raison sociale"),
        "departement": {"type": "string", "maxLength": 3, "description": "Département (déduit d'un FINESS sinon)"},
    },
)
CERTIFICATE_BODY = _body(
    ["structure", "idam"],
    {
        "structure": _text(64, "Structure habilitée à INSi (Emetteur du ContexteLPS)"),
        "idam": _text(32, "IDAM du logiciel enregistré"),
        "jours": {"type": "integer", "minimum": 1, "maximum": 1095, "default": 365, "description": "Validité"},
    },
)
SOFTWARE_BODY = _body(
    ["idam", "nom", "editeur", "version"],
    {
        "idam": _text(32, "Numéro d'autorisation CNDA du logiciel (IDAM de ContexteLPS)"),
        "nom": _text(100, "Nom du logiciel"),
        "editeur": _text(100, "Éditeur"),
        "version": _text(32, "Version autorisée par le CNDA"),
        "categorie": {
            "type": "string",
            "maxLength": 32,
            "description": "Catégorie dans le tableau de la maison (DPI, PFI, LGC, DUI…), seed 001 L196-216",
        },
    },
)

MES_ACCOUNT_BODY = _body(
    ["identifiant", "ins", "dateNaissance", "motDePasse"],
    {
        "identifiant": _text(100, "Identifiant de connexion du patient"),
        "ins": _text(15, "Matricule INS (NIR ou NIA, 15 caractères avec la clé)"),
        "dateNaissance": {"type": "string", "format": "date"},
        "motDePasse": {"type": "string", "minLength": 12, "maxLength": 128},
        "email": {"type": "string", "maxLength": 200, "description": "Où vont les codes (ou telephone)"},
        "telephone": {"type": "string", "maxLength": 20},
    },
)
MES_CONTACTS_BODY = _body(
    [],
    {
        "email": {"type": "string", "maxLength": 200, "format": "email", "description": "Où vont les codes"},
        "telephone": {
            "type": "string",
            "maxLength": 20,
            "pattern": r"^(\+33|0)[67]( ?\.?[0-9]){8}$",
            "description": "Mobile français (06/07 ou +33 6/7) : les codes y vont sans e-mail",
        },
    },
    status=200,
)

PSC_CLIENT_BODY = _body(
    ["nom", "redirectUris"],
    {
        "nom": _text(100, "Nom du logiciel client"),
        "redirectUris": {"type": "array", "minItems": 1, "maxItems": 20, "items": _text(500, "URI de retour")},
        "postLogoutRedirectUris": {"type": "array", "maxItems": 20, "items": _text(500, "URI après déconnexion")},
        "ciba": {"type": "boolean", "default": False, "description": "Authentification déportée (CIBA) permise"},
    },
)
REGISTRATION_TOKEN_BODY = {
    "requestBody": {
        "required": False,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "dureeSecondes": {
                            "type": ["integer", "null"],
                            "minimum": 60,
                            "maximum": REGISTRATION_TOKEN_MAX_LIFETIME,
                            "default": REGISTRATION_TOKEN_LIFETIME,
                            "description": "Durée de validité du jeton (null : la durée par défaut)",
                        },
                        "utilisationsMax": {
                            "type": ["integer", "null"],
                            "minimum": 1,
                            "maximum": 10_000,
                            "description": "Nombre d'enregistrements permis (sans limite s'il est absent)",
                        },
                    },
                }
            }
        },
    },
    "responses": {
        "201": {
            "description": "Le jeton d'accès initial (RFC 7591 §3), donné une seule fois",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["jeton", "id", "expiration", "utilisationsMax"],
                        "properties": {
                            "jeton": {"type": "string", "description": "À envoyer en Authorization: Bearer"},
                            "id": {"type": "string", "description": "Son identifiant dans la trace d'audit"},
                            "expiration": {"type": "string", "format": "date-time"},
                            "utilisationsMax": {"type": ["integer", "null"]},
                        },
                    }
                }
            },
        }
    },
}
PASSWORD_BODY = _body(["motDePasse"], {"motDePasse": {"type": "string", "minLength": 12, "maxLength": 128}}, 200)

IDENTITY_BODY = _body(
    ["nomNaissance", "prenoms", "sexe", "dateNaissance", "matricule"],
    {
        "nomNaissance": _text(60, "Nom de naissance"),
        "prenoms": _text(100, "Prénoms de naissance, séparés par des espaces"),
        "sexe": {"type": "string", "enum": ["M", "F"]},
        "dateNaissance": {"type": "string", "description": "AAAA-MM-JJ (jour ou mois 00 s'ils sont inconnus)"},
        "lieuNaissance": {"type": "string", "maxLength": 5, "description": "Code INSEE (99xxx : né à l'étranger)"},
        "matricule": _text(15, "NIR ou NIA, 15 caractères avec la clé"),
        "ouvrantDroit": _text(15, "Matricule de l'ouvrant droit (carte Vitale)"),
        "rangNaissance": {"type": "integer", "minimum": 1, "maximum": 9, "default": 1},
    },
)
REPLACEMENT_BODY = _body(["ancien", "nouveau"], {"ancien": _text(15, "NIA ou NIR actif"), "nouveau": _text(15, "NIR")})
MERGE_BODY = _body(["survivant", "absorbe"], {"survivant": _text(15, "INS gardé"), "absorbe": _text(15, "INS absorbé")})

STRUCTURE_BODY = _body(
    ["nom"],
    {
        "nom": _text(200, "Raison sociale"),
        "finess": {"type": "string", "pattern": "^[0-9AB]{9}$", "description": "FINESS (IdNatStruct 1+FINESS)"},
        "siret": {"type": "string", "pattern": "^[0-9]{14}$", "description": "SIRET, à défaut (IdNatStruct 3+SIRET)"},
        "secteur": {"type": "string", "maxLength": 10, "description": "Secteur d'activité (TRE_R02, ex. SA01)"},
        "codePostal": {"type": "string", "maxLength": 5},
        "ville": {"type": "string", "maxLength": 100},
    },
)
PROFESSIONAL_BODY = _body(
    ["rpps", "nom", "prenom", "profession"],
    {
        "rpps": {"type": "string", "pattern": "^[0-9]{11}$", "description": "RPPS (clé de Luhn)"},
        "nom": _text(100, "Nom d'exercice"),
        "prenom": _text(100, "Prénom d'exercice"),
        "profession": {"type": "string", "maxLength": 4, "description": "Profession (TRE_G15, ex. 10 médecin)"},
        "structure": _text(64, "IdNatStruct de la structure d'exercice"),
        "civilite": {"type": "string", "maxLength": 4, "default": "DR"},
        "savoirFaire": {"type": "string", "maxLength": 10, "description": "Savoir-faire (TRE_R38, ex. SM04)"},
        "fonction": {
            "type": "string",
            "maxLength": 20,
            "description": "Rôle de la situation d'exercice (fonction, ex. agent-ars : lecteur de l'observatoire)",
        },
    },
)

OPERATOR_BODY = _body(
    ["identifiant", "nom", "domaines", "relais", "soumission"],
    {
        "identifiant": _text(64, "Identifiant de l'opérateur (ex. chu-test)"),
        "nom": _text(200, "Nom"),
        "domaines": {"type": "array", "minItems": 1, "maxItems": 10, "items": _text(253, "Domaine de messagerie")},
        "relais": {"type": "integer", "minimum": 1, "maximum": 65535, "description": "Port SMTP inter-opérateurs"},
        "soumission": {"type": "integer", "minimum": 1, "maximum": 65535, "description": "Port de soumission"},
        "imap": {"type": "integer", "minimum": 1, "maximum": 65535},
        "publier": {"type": "boolean", "default": True, "description": "Publier ses BAL dans l'Annuaire"},
    },
)
MAILBOX_BODY = _body(
    ["adresse", "operateur", "type", "titulaire", "nom"],
    {
        "adresse": _text(256, "Adresse de la BAL"),
        "operateur": _text(64, "Opérateur local qui l'héberge"),
        "type": {"type": "string", "enum": ["PER", "ORG", "APP", "CAB"]},
        "titulaire": _text(64, "IdNatPS (PER) ou IdNatStruct (ORG, APP, CAB)"),
        "nom": _text(200, "Nom affiché"),
        "motDePasse": {"type": "string", "maxLength": 128, "description": "BAL applicative : son mot de passe"},
        "listeRouge": {"type": "boolean", "default": False},
    },
)


@dataclass(frozen=True)
class Act:
    """One administrator's act over HTTP: `call`, a method of `Administration`, takes the caller, then
    the path's identifiers, then the body's members in the order of the body schema's properties (each
    its schema's default when absent) — so the schema the OpenAPI shows is the list the route reads."""

    method: str
    path: str
    call: str
    doc: str
    openapi: dict[str, Any]
    status: int = 201
    secret: bool = False  # the answer carries a secret given once: never stored by a cache

    def fields(self) -> list[tuple[str, Any]]:
        content = self.openapi.get("requestBody", {}).get("content", {}).get("application/json")
        properties = content["schema"]["properties"] if content else {}
        return [(name, schema.get("default")) for name, schema in properties.items()]

    def body_required(self) -> bool:
        return bool(self.openapi.get("requestBody", {}).get("required"))


ACTS = (
    Act(
        "POST",
        "/cles",
        "issue_key",
        "A structure's API key, given once (`cle`); `id` revokes it.",
        KEY_BODY,
        secret=True,
    ),
    Act(
        "POST",
        "/mes/comptes",
        "open_mes_account",
        "Open a patient's Mon espace santé account; its one-time codes then show in `/admin/boite-envoi`.",
        MES_ACCOUNT_BODY,
    ),
    Act(
        "PUT",
        "/mes/comptes/{identifiant}/contacts",
        "set_mes_contacts",
        "Set the e-mail and/or mobile of a patient's Mon espace santé account (both replaced, one at least): "
        "its next one-time codes go there (the e-mail first).",
        MES_CONTACTS_BODY,
        status=200,
    ),
    Act(
        "POST",
        "/annuaire/structures",
        "add_structure",
        "A structure of the Annuaire Santé, by its FINESS or SIRET: its IdNatStruct in the answer.",
        STRUCTURE_BODY,
    ),
    Act(
        "POST",
        "/annuaire/professionnels",
        "add_professional",
        "A test professional of the Annuaire Santé: his IdNatPS in the answer.",
        PROFESSIONAL_BODY,
    ),
    Act(
        "POST",
        "/mss/operateurs",
        "register_mss_operator",
        "A local MSSanté operator of the trust space, "
        "started within seconds by the serving house, with its listeners' addresses in the answer.",
        OPERATOR_BODY,
    ),
    Act("POST", "/mss/bal", "create_mailbox", "A mailbox at a local operator (PER, ORG, APP or CAB).", MAILBOX_BODY),
    Act(
        "POST",
        "/psc/clients",
        "register_psc_client",
        "A confidential client of Pro Santé Connect: `client_id` and `client_secret`, the secret given once.",
        PSC_CLIENT_BODY,
        secret=True,
    ),
    Act(
        "POST",
        "/psc/jetons-enregistrement",
        "issue_psc_registration_token",
        "An initial access token for Pro "
        "Santé Connect's dynamic client registration (RFC 7591), given once (`jeton`): the software sends it as "
        "a Bearer token to the discovery document's `registration_endpoint`.",
        doc.extra(REGISTRATION_TOKEN_BODY, ANSWER),
        secret=True,
    ),
    Act(
        "PUT",
        "/professionnels/{idnatps}/mot-de-passe",
        "set_test_password",
        "A test password for a professional of the Annuaire, to log in to Pro Santé Connect with.",
        PASSWORD_BODY,
        status=200,
    ),
    Act(
        "POST",
        "/professionnels/{idnatps}/e-cps",
        "enroll_ecps",
        "Activate the professional's e-CPS: the otpauth URI, its seed and its QR code (PNG, base64).",
        doc.extra(doc.ignored_body(), ANSWER, doc.errors(404, 409)),
        secret=True,
    ),
    Act(
        "POST",
        "/ins/identites",
        "add_identity",
        "Add an identity to the INS referential, its matricule checked against its traits.",
        IDENTITY_BODY,
    ),
    Act(
        "POST",
        "/ins/remplacements",
        "replace_matricule",
        "A NIA replaced by the NIR: the NIA becomes a historic INS of the same identity.",
        REPLACEMENT_BODY,
    ),
    Act(
        "POST",
        "/ins/fusions",
        "merge_identities",
        "Two identities merged: the absorbed one's INS become historic INS of the survivor.",
        MERGE_BODY,
    ),
    Act(
        "POST",
        "/insi/habilitations",
        "habilitate_insi",
        "Habilitate a structure to the INSi teleservice (the CNAM's convention).",
        HABILITATION_BODY,
    ),
    Act(
        "POST",
        "/insi/certificats",
        "issue_insi_certificate",
        "The software certificate INSi's mutual TLS asks "
        "for: PEM certificate, private key (given once) and the authority that verifies the INSi listener.",
        CERTIFICATE_BODY,
        secret=True,
    ),
    Act(
        "POST",
        "/insi/logiciels",
        "register_software",
        "Register a software by its CNDA authorisation number "
        "and the version authorised, so that INSi accepts its calls.",
        SOFTWARE_BODY,
    ),
)


def router(admin: Administration, authorizer: Authorizer, max_body_bytes: int) -> APIRouter:
    r = APIRouter()

    @r.get(
        "/boite-envoi", openapi_extra=doc.json_answer(doc.json_object(["messages"], {"messages": {"type": "array"}}))
    )
    @accepts(ADMINISTRATOR)
    async def boite_envoi(
        request: Request,
        destinataire: str | None = Query(None, max_length=200, description="Adresse e-mail ou numéro de mobile"),
    ) -> Response:
        """Issue 21 §1.3: the one-time codes, e-mails and SMS the house "sent", newest last."""
        actor = await run_in_threadpool(authorizer.caller, request)
        messages = await run_in_threadpool(admin.outbox, actor, destinataire)
        return json_response({"messages": messages}, no_store=True)

    @r.delete(
        "/cles/{empreinte}",
        openapi_extra=doc.json_answer(doc.json_object(["revoquees"], {"revoquees": {"type": "integer"}})),
    )
    @accepts(ADMINISTRATOR)
    async def revoke_key(request: Request, empreinte: Identifier) -> Response:
        """Revoke a key by its `id` (the first characters of its digest): refused from the next call on."""
        actor = await run_in_threadpool(authorizer.caller, request)
        count = await run_in_threadpool(admin.revoke_key, actor, empreinte)
        return json_response({"revoquees": count})

    for act in ACTS:
        r.add_api_route(
            act.path,
            _endpoint(act, admin, authorizer, max_body_bytes),
            methods=[act.method],
            openapi_extra=act.openapi,
        )
    return r


def _endpoint(act: Act, admin: Administration, authorizer: Authorizer, max_body_bytes: int) -> Callable[..., Any]:
    """The handler of `act`: the caller checked, the body read, the service called, its answer in JSON.
    Its signature names the path's identifiers (typed as `Identifier`, or as `PATH_TYPES` says) for FastAPI
    to read and check."""
    ids = re.findall(r"{(\w+)}", act.path)
    fields = act.fields()
    call = getattr(admin, act.call)

    async def endpoint(request: Request, **path: str) -> Response:
        actor = await run_in_threadpool(authorizer.caller, request)
        body: dict[str, Any] = {}
        if fields:
            body = await read_json_object(request, max_body_bytes, empty_as=None if act.body_required() else {})
        args = [path[name] for name in ids] + [body.get(name, default) for name, default in fields]
        done = await run_in_threadpool(call, actor, *args)
        return json_response(done, act.status, no_store=act.secret)

    endpoint.__name__ = act.call
    endpoint.__doc__ = act.doc
    endpoint.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request)]
        + [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=PATH_TYPES.get(name, Identifier))
            for name in ids
        ]
    )
    return accepts(ADMINISTRATOR)(endpoint)
