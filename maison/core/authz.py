"""Who is acting, and whether this route accepts that kind of caller.

Who acts is a `maison.core.actor.Actor`: the one object `Authorizer.caller` establishes, the
handlers and services decide on, and the audit trail records.

Four credentials are recognised:

- a professional's Pro Santé Connect access token (`Authorization: Bearer <JWT>`): the IdNatPS,
  the profession, and the structure and role of the situation d'exercice acted in — the
  professional's only one, or the one named by `X-Structure` when there are several (an
  IdNatStruct or the Annuaire id of the structure), which must be one of them;
- a professional's token from his structure's own identity provider (IAM.80, seed 002 L626, see
  `maison.identite.psc.local_idp`): acting in that structure, where he must practise;
- a patient's Mon espace santé token (`maison.identite.mes`): the INS of the person logged in and,
  when a legal representative acts for a minor, the minor's;
- a structure API key (`Authorization: Bearer mk_…` or `ESANTE-API-KEY`) with its scope
  (`maison.core.actor.KeyScope`): the structure, the software and the person it was issued to.

**Every route states which of them it accepts** with `@accepts(Accepts(...))` on its handler (or
`@public(...)` for a route that authenticates otherwise, or not at all), and `Authorizer.caller`
reads that statement from the route being served: a route that states nothing refuses everyone
(fail closed), and `tests/core/test_route_callers.py` calls every route with every kind of
credential. A local provider's token is a second SSO modality *for the structure's own
services* (IAM.80 is "pour SSO local"): the national services — DMP, MSSanté, INSi, ordonnance
numérique — require Pro Santé Connect for a professional acting himself (seed 002 L573, L582;
seed 000 L209), so their routes do not accept it.

Every refusal here — a credential that does not verify, a kind of caller the route does not
accept — is a security event of the audit trail (`securite.jeton-invalide`,
`securite.acces-refuse`), handed to the house's journal so that a flood of refused calls costs
one grouped commit, not one transaction each.

The verifiers themselves are the services' (Pro Santé Connect, the structures' providers, Mon
espace santé), which sit above the ground floor: `house.py` hands them over, and this module knows
them only by the small interfaces below (`ProfessionalTokens`, `LocalTokens`, `PatientTokens`), so
that `core` imports no service (issue 19 §1.2).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from maison.core import audit
from maison.core.actor import Actor, Credential, KeyScope
from maison.core.auth import KEY_PREFIX, key_actor
from maison.core.errors import Forbidden, Unauthenticated
from maison.core.storage import Database


@dataclass(frozen=True)
class Accepts:
    """The kinds of caller a route accepts."""

    psc: bool = False  # a professional by a Pro Santé Connect token
    local_idp: bool = False  # a professional by his structure's own provider (IAM.80, local SSO only)
    patient: bool = False  # a patient (or legal representative) by a Mon espace santé token
    scopes: frozenset[KeyScope] = frozenset()  # structure API keys of these scopes
    structure_required: bool = True  # False: a professional need not act in a structure (directory reads)

    def admits(self, credential: Credential | None, scope: KeyScope | None) -> bool:
        if credential is None:  # the house's own actors come through no route
            return False
        if credential is Credential.API_KEY:
            return scope in self.scopes
        return {Credential.PSC: self.psc, Credential.LOCAL_IDP: self.local_idp, Credential.PATIENT: self.patient}[
            credential
        ]

    def describe(self) -> str:
        kinds = [
            label
            for label, ok in (
                ("Pro Santé Connect", self.psc),
                ("fournisseur d'identité local", self.local_idp),
                ("Mon espace santé", self.patient),
            )
            if ok
        ]
        kinds += [f"clé « {s.value} »" for s in sorted(self.scopes)]
        return ", ".join(kinds) or "personne"


def keys(*scopes: KeyScope) -> frozenset[KeyScope]:
    return frozenset(scopes)


# The hospital wing's own services (patient index, identitovigilance cell, PFI worklist): the
# structure's staff by Pro Santé Connect or by the structure's own SSO (IAM.80, seed 002 L626 —
# "pour SSO local"), its software and its front desk by their keys. Patients never.
HOSPITAL_STAFF = Accepts(psc=True, local_idp=True, scopes=keys(KeyScope.LOGICIEL, KeyScope.ACCUEIL))
# The patient's own space (Mon espace santé): the patient, or the legal representative acting for a minor.
PATIENT = Accepts(patient=True)


@dataclass(frozen=True)
class Public:
    """A route that authenticates its callers otherwise (OAuth client, certificate) or serves everyone."""

    why: str


ACCEPTS_ATTRIBUTE = "__maison_accepts__"
F = TypeVar("F", bound=Callable[..., Any])


def accepts(policy: Accepts | Public) -> Callable[[F], F]:
    """State on a route's handler which callers it accepts (put it under the route decorator)."""

    if not isinstance(policy, (Accepts, Public)):
        raise TypeError(f"accepts() takes an Accepts or a Public statement, not {policy!r}")

    def mark(handler: F) -> F:
        setattr(handler, ACCEPTS_ATTRIBUTE, policy)
        return handler

    return mark


def public(why: str) -> Callable[[F], F]:
    """State that a route does not take the house's credentials, and why."""
    return accepts(Public(why))


def policy_of(handler: object) -> Accepts | Public | None:
    return getattr(handler, ACCEPTS_ATTRIBUTE, None)


class HasHeaders(Protocol):
    """What the authorizer reads of a request (a Starlette `Request`)."""

    @property
    def headers(self) -> Any: ...
    @property
    def base_url(self) -> Any: ...
    @property
    def scope(self) -> Mapping[str, Any]: ...
    @property
    def client(self) -> Any: ...


class TokenRejected(Exception):
    """What a token verifier raises for a token that does not verify; `description` says why.

    Pro Santé Connect's `OAuthError` is one, so that its refusal becomes a 401 here."""

    description: str


class ProfessionalTokens(Protocol):
    """Pro Santé Connect as the authorizer uses it (`maison.identite.psc.provider.Provider`)."""

    def professional(self, token: str, issuer: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """The claims of a valid access token and its professional's UserInfo; TokenRejected otherwise."""
        ...

    def userinfo(self, claims: dict[str, Any]) -> dict[str, Any]: ...


class LocalTokens(Protocol):
    """The structures' own identity providers (`maison.identite.psc.local_idp.LocalProviders`, IAM.80)."""

    def issuer_of(self, token: str) -> str | None: ...

    def verify(self, token: str, issuer: str) -> tuple[str, str]:
        """(IdNatPS, structure) of a valid token; Unauthenticated or Forbidden otherwise."""
        ...


class PatientSession(Protocol):
    @property
    def ins(self) -> str: ...  # whose espace it is

    @property
    def acting(self) -> str: ...  # who logged in (the patient, or a legal representative)


class PatientTokens(Protocol):
    """Mon espace santé's login (`maison.identite.mes.login.PatientLogin`)."""

    def verify(self, token: str, issuer: str) -> PatientSession: ...


def unverified_issuer(token: str) -> str | None:
    """The `iss` a JWT claims, read before verification, only to choose which verifier to use."""
    try:
        segment = token.split(".")[1]
        claims = orjson.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (IndexError, ValueError):
        return None
    issuer = claims.get("iss") if isinstance(claims, dict) else None
    return issuer if isinstance(issuer, str) else None


class Authorizer:
    def __init__(
        self,
        db: Database,
        provider: ProfessionalTokens,
        issuer_of: Callable[[str], str],
        local: LocalTokens | None = None,
        patients: PatientTokens | None = None,
        patient_issuer_of: Callable[[str], str] | None = None,
        journal: Any = None,
    ) -> None:
        """`provider` verifies PSC tokens; `issuer_of(request_base_url)` gives PSC's issuer for a request;
        `local` (LocalProviders) verifies the tokens of structures' own identity providers (IAM.80);
        `journal` (the house's audit journal) records refusals."""
        self.db = db
        self.provider = provider
        self.issuer_of = issuer_of
        self.local = local
        self.patients = patients  # PatientLogin: Mon espace santé tokens
        self.patient_issuer_of = patient_issuer_of
        self.journal = journal
        self.trail = audit.Trail(db, journal) if journal is not None else None

    async def guard(self, request: Request) -> None:
        """The house's one dependency on every route: authenticate and authorise before the handler reads
        anything of the request, so that no answer depends on the body or the data for a caller the route
        does not accept (issue 18 §2.2). Public routes pass; a route that stated nothing refuses everyone."""
        if isinstance(policy_of(request.scope.get("endpoint")), Public):
            return
        request.state.maison_caller = await run_in_threadpool(self.caller, request)

    def caller(self, request: HasHeaders, policy: Accepts | None = None) -> Actor:
        """The caller of this request, if the route being served accepts its kind (401 / 403 otherwise)."""
        state = getattr(request, "state", None)
        known: Actor | None = getattr(state, "maison_caller", None) if policy is None else None
        if known is not None:  # already established by `guard`
            return known
        if policy is None:
            stated = policy_of(request.scope.get("endpoint"))
            if not isinstance(stated, Accepts):  # fail closed: a route that stated nothing accepts no one
                self._refused(request, None, "route-sans-politique")
                raise Forbidden("cette route n'accepte aucun appelant", code="appelant-non-admis")
            policy = stated
        try:
            caller = self._authenticate(request.headers, str(request.base_url), policy.structure_required)
        except Unauthenticated as exc:
            self._refused(
                request, None, exc.code, event="jeton-invalide" if _has_credential(request) else "acces-refuse"
            )
            raise
        except Forbidden as exc:
            self._refused(request, None, exc.code)
            raise
        if not policy.admits(caller.credential, caller.scope):
            self._refused(request, caller, "appelant-non-admis")
            held = f"clé « {caller.scope.value} »" if caller.scope else str(caller.credential)
            raise Forbidden(
                f"cette route n'accepte pas ce type d'appelant ({held}) ; acceptés : {policy.describe()}",
                code="appelant-non-admis",
            )
        return caller

    def _refused(self, request: HasHeaders, caller: Actor | None, reason: str, event: str = "acces-refuse") -> None:
        if self.trail is None:
            return
        source = request.client.host if getattr(request, "client", None) else ""
        actor = caller or audit.anonymous(source)
        route = request.scope.get("route")
        detail = {
            "reason": reason,
            "method": request.scope.get("method", ""),
            "route": getattr(route, "path", "") or request.scope.get("path", ""),
            "source": source,
        }
        if caller is not None and caller.credential is not None:
            detail["credential"] = caller.credential.value
        patient = caller.patient or None if caller else None
        self.trail.security_later(event, actor, outcome="failure", patient=patient, detail=detail)

    def _authenticate(self, headers: Any, base_url: str, structure_required: bool) -> Actor:
        authorization = headers.get("authorization", "")
        api_key = headers.get("esante-api-key")
        if api_key or authorization.lower().startswith(f"bearer {KEY_PREFIX}"):
            return key_actor(self.db, api_key or authorization[7:])
        if not authorization.lower().startswith("bearer "):
            raise Unauthenticated("authentification requise (Authorization: Bearer)", code="auth-absente")
        token = authorization[7:].strip()
        claimed = unverified_issuer(token)  # only to choose the verifier; each verifies the signature
        if self.patients is not None and self.patient_issuer_of and claimed == self.patient_issuer_of(base_url):
            patient = self.patients.verify(token, self.patient_issuer_of(base_url))
            return patient_actor(patient.ins, patient.acting)
        wanted = headers.get("x-structure")
        psc_issuer = self.issuer_of(base_url)
        local_issuer = self.local.issuer_of(token) if self.local and claimed != psc_issuer else None
        try:
            if local_issuer and self.local:  # a structure's own provider: its staff act in that structure
                idnatps, wanted = self.local.verify(token, local_issuer)
                claims = {"preferred_username": idnatps, "azp": local_issuer, "authMode": "LOCAL"}
                info = self.provider.userinfo(claims)
                credential = Credential.LOCAL_IDP
            else:
                claims, info = self.provider.professional(token, psc_issuer)
                credential = Credential.PSC
        except TokenRejected as exc:
            raise Unauthenticated(f"jeton refusé : {exc.description}", code="jeton-invalide") from None
        return _professional(claims, info, credential, wanted, structure_required)


def patient_actor(ins: str, acting: str) -> Actor:
    """A Mon espace santé user as every service sees him: the same whether he came with a token (the
    API) or with a portal session (maison.portail), so both leave the same audit records."""
    return Actor(
        acting,
        "",
        "mon-espace-sante",
        kind="patient",
        patient=ins,
        role="representant-legal" if acting != ins else "patient",
        credential=Credential.PATIENT,
    )


def psc_actor(
    claims: dict[str, Any], info: dict[str, Any], structure: str | None, *, structure_required: bool = True
) -> Actor:
    """A professional signed in by Pro Santé Connect as `Authorizer` establishes him from a token's claims
    and UserInfo (`structure`: the situation d'exercice chosen, as `X-Structure` names it): the portals
    (`maison.portail.psc_connexion`) build the very same Actor from their own code flow's tokens."""
    return _professional(claims, info, Credential.PSC, structure, structure_required)


def _has_credential(request: HasHeaders) -> bool:
    return bool(request.headers.get("authorization") or request.headers.get("esante-api-key"))


def _professional(
    claims: dict[str, Any], info: dict[str, Any], credential: Credential, wanted: str | None, structure_required: bool
) -> Actor:
    exercice = (info["SubjectRefPro"]["exercices"] or [{}])[0]
    activities = exercice.get("activities", [])
    ids = {a["identifiantTechniqueDeLaStructure"]: a for a in activities}
    for a in activities:  # a structure may be named by its IdNatStruct as well as its Annuaire id
        for alias in _aliases(a):
            ids.setdefault(alias, a)
    profession = exercice.get("codeProfession", "")
    if not activities:
        if structure_required:
            raise Forbidden(f"{info['SubjectNameID']} n'a aucune situation d'exercice active", code="sans-exercice")
        return Actor(
            info["SubjectNameID"],
            "",
            claims.get("azp", ""),
            kind="professional",
            profession=profession,
            credential=credential,
        )
    if wanted:
        activity = ids.get(wanted)
        if activity is None:
            raise Forbidden(
                f"{info['SubjectNameID']} n'exerce pas dans la structure {wanted}", code="structure-non-exercee"
            )
    elif len(activities) == 1 or not structure_required:
        activity = activities[0]
    else:
        raise Forbidden(
            "plusieurs situations d'exercice : préciser la structure (X-Structure)", code="structure-ambigue"
        )
    return Actor(
        info["SubjectNameID"],
        activity["identifiantTechniqueDeLaStructure"],
        claims.get("azp", ""),
        kind="professional",
        profession=profession,
        role=activity.get("codeRole", ""),
        structures=tuple(a["identifiantTechniqueDeLaStructure"] for a in activities),
        credential=credential,
    )


def _aliases(activity: dict[str, Any]) -> Iterable[str]:
    if activity["numeroFinessSite"]:
        yield f"1{activity['numeroFinessSite']}"
    if activity["numeroSiretSite"]:
        yield f"3{activity['numeroSiretSite']}"
