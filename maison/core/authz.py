"""Who is acting: one answer for every API, from the caller's credential.

Two kinds of callers are recognised today:

- a professional, by a Pro Santé Connect access token (`Authorization: Bearer <JWT>`): the
  IdNatPS, the profession, and the structure and role of the situation d'exercice acted in — the
  professional's only one, or the one named by `X-Structure` when there are several (an IdNatStruct
  or the Annuaire id of the structure), which must be one of them;
- a professional, by the access token of his structure's own identity provider (IAM.80, see
  `maison.identite.psc.local_idp`): acting in that structure, where he must practise;
- a patient, by a Mon espace santé token (`maison.identite.mes`): the INS of the person logged in
  and, when a legal representative acts for a minor, the minor's;
- a software, by a structure API key (`Authorization: Bearer mk_…` or `ESANTE-API-KEY`): the
  structure, the software and the person the key was issued to.

Services build their own rules on the answer (the DMP's habilitation matrix is next); every
caller becomes an audit `Actor`. Patients (Mon espace santé login) will be the third kind.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from maison.core.audit import Actor
from maison.core.auth import actor_for
from maison.core.errors import Forbidden, Unauthenticated
from maison.core.storage import Database


@dataclass(frozen=True)
class Caller:
    kind: str  # professional / software
    person: str  # IdNatPS, or the person an API key was issued to
    structure: str
    software: str
    profession: str = ""  # TRE_G15 (or TRE_R85 for RPPS+ professionals)
    role: str = ""
    structures: tuple[str, ...] = field(default=())  # every structure the professional practises in
    patient: str = ""  # for a patient caller: whose espace (the minor when a representative acts)

    def actor(self) -> Actor:
        return Actor(person=self.person, structure=self.structure, software=self.software,
                     role=self.role or self.profession)


class Authorizer:
    def __init__(self, db: Database, provider, issuer_of, local=None, patients=None,  # type: ignore[no-untyped-def]
                 patient_issuer_of=None) -> None:
        """`provider` verifies PSC tokens; `issuer_of(request_base_url)` gives PSC's issuer for a request;
        `local` (LocalProviders) verifies the tokens of structures' own identity providers (IAM.80)."""
        self.db = db
        self.provider = provider
        self.issuer_of = issuer_of
        self.local = local
        self.patients = patients  # PatientLogin: Mon espace santé tokens
        self.patient_issuer_of = patient_issuer_of

    def caller(self, headers, base_url: str, *, structure_required: bool = True) -> Caller:  # type: ignore[no-untyped-def]
        """`structure_required=False` for calls that do not act in a structure (directory reads):
        a professional with several situations d'exercice then acts in the first one."""
        authorization = headers.get("authorization", "")
        api_key = headers.get("esante-api-key")
        if api_key or authorization.lower().startswith("bearer mk_"):
            actor = actor_for(self.db, f"Bearer {api_key}" if api_key else authorization)
            return Caller("software", actor.person, actor.structure, actor.software, role=actor.role)
        if not authorization.lower().startswith("bearer "):
            raise Unauthenticated("authentification requise (Authorization: Bearer)", code="auth-absente")
        from maison.identite.psc.local_idp import unverified_issuer
        from maison.identite.psc.provider import OAuthError

        token = authorization[7:].strip()
        claimed = unverified_issuer(token)  # only to choose the verifier; each verifies the signature
        if self.patients is not None and claimed == self.patient_issuer_of(base_url):
            patient = self.patients.verify(token, self.patient_issuer_of(base_url))
            return Caller("patient", patient.acting, "", "mon-espace-sante", patient=patient.ins,
                          role="representant-legal" if patient.acting != patient.ins else "patient")
        wanted = headers.get("x-structure")
        psc_issuer = self.issuer_of(base_url)
        local_issuer = self.local.issuer_of(token) if self.local and claimed != psc_issuer else None
        try:
            if local_issuer:  # a structure's own provider: its staff act in that structure
                idnatps, wanted = self.local.verify(token, local_issuer)
                claims = {"preferred_username": idnatps, "azp": local_issuer, "authMode": "LOCAL"}
                info = self.provider.userinfo(claims)
            else:
                claims, info = self.provider.professional(token, psc_issuer)
        except OAuthError as exc:
            raise Unauthenticated(f"jeton refusé : {exc.description}", code="jeton-invalide") from None
        exercice = (info["SubjectRefPro"]["exercices"] or [{}])[0]
        activities = exercice.get("activities", [])
        ids = {a["identifiantTechniqueDeLaStructure"]: a for a in activities}
        for a in activities:  # a structure may be named by its IdNatStruct as well as its Annuaire id
            for alias in (f"1{a['numeroFinessSite']}" if a["numeroFinessSite"] else "",
                          f"3{a['numeroSiretSite']}" if a["numeroSiretSite"] else ""):
                if alias:
                    ids.setdefault(alias, a)
        if not activities:
            if structure_required:
                raise Forbidden(f"{info['SubjectNameID']} n'a aucune situation d'exercice active",
                                code="sans-exercice")
            return Caller("professional", info["SubjectNameID"], "", claims.get("azp", ""),
                          exercice.get("codeProfession", ""))
        if wanted:
            activity = ids.get(wanted)
            if activity is None:
                raise Forbidden(f"{info['SubjectNameID']} n'exerce pas dans la structure {wanted}",
                                code="structure-non-exercee")
        elif len(activities) == 1 or (activities and not structure_required):
            activity = activities[0]
        else:
            raise Forbidden("plusieurs situations d'exercice : préciser la structure (X-Structure)",
                            code="structure-ambigue")
        return Caller("professional", info["SubjectNameID"], activity["identifiantTechniqueDeLaStructure"],
                      claims.get("azp", ""), exercice.get("codeProfession", ""), activity.get("codeRole", ""),
                      tuple(a["identifiantTechniqueDeLaStructure"] for a in activities))

