"""The professional's portal, `/pro` (issue 24 §2): find a patient, read her DMP, feed it a document.

The professional signs in through Pro Santé Connect (`psc_connexion`, the code flow of the house's
provider): his session keeps the Actor the API's Authorizer would have built from his token, and every
page hands that Actor to the function the API route showing the same thing calls, so the services
decide and audit exactly as for an API caller:

- a patient by traits: INSi through the hospital wing's client (`InsiGateway.lookup`, the same call a
  DPI makes: the SOAP request with the professional's structure in ContexteLPS, its certificate, the
  first-name retry rule of seed 002 L342-343), the identity shown with INSi's answer and its status;
  by INS: a verification. The matricule's key and its OID are checked, then INSi is asked with the traits
  read on her identity document, and the INS is verified when INSi returns this very INS under this
  OID; its CR code and libellé are shown as INSi gives them, a different INS or none is refused in
  French without disclosing whose identity the traits are. The house's INSi offers the two retrieval
  operations of its WSDL (`rechercherInsAvecTraitsIdentite`, `...AvecCarteVitale`), not the CNAM's
  separate verification operation, so the verification is this comparison of a retrieval's answer;
- connexion secrète (CSP L.1111-5): offered on a minor's identity card (INSi's birth date) and on the
  feed form, carried in a signed parameter bound to the session and the patient (`pro_acces`), sent to
  the DMP as `Access(secret=True)`; refused for an adult;
- htmx: the searches answer their results alone (`pro_resultat.html`) and the feed its form's result
  (`pro_alimenter.html`) to an htmx request; without JavaScript the same routes answer the page or 303;
- her DMP: `Dmp.find_documents` (ITI-67), `Dmp.document` and `Dmp.retrieve` (ITI-68) with
  `Who(actor, Access(...))` — what the matrix or the patient hides stays hidden (a masked document is
  absent from the list and answers like a missing one); a refusal of the dossier shows its reason and
  rule. Bris de glace is the DMP's `Access(mode=BRIS_DE_GLACE, reason=…)`: the DMP requires the
  justification (`bris-de-glace-sans-motif`) and records each use as a security event; the portal only
  carries the professional's justification from page to page in a MAC'd, expiring parameter bound to
  his session (`pro_acces`; the API's caller sends `X-Mode-Acces`/`X-Motif-Acces` on each call);
- the patient's information (`Dmp.record_information`, as `POST /dmp/Consent`), which opens the dossier
  to the structure (seed 002 L555-565);
- feeding: a PDF uploaded with a title and a type becomes a CDA R2 N1 around it (`n1_from_pdf`, the
  house's own builder, as the demo and the sandbox build theirs), its header carrying the patient's INS
  as INSi returns it — the INSi call made again with the traits, so the header's identity is INSi's,
  and the identity checked on an identity document by the professional (RNIV: an INS retrieved by INSi
  and so checked is qualified). It is judged by `inspect_cda` (XSD, CI-SIS rules) before it is sent,
  then fed as a DPI feeds it: the ITI-65 Bundle (`provide_bundle`) read by the DMP's adapter
  (`mhd.parse_provide`) and given to `Dmp.provide`, which judges it again and answers its refusals.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from maison.core.actor import Actor
from maison.core.authz import public
from maison.core.errors import InvalidInput, MaisonError, UnsupportedMediaType
from maison.core.identifiers.nir import OID_INS_NIA, OID_INS_NIR, OID_INS_NIR_DEMO, OID_INS_NIR_TEST, parse_matricule
from maison.core.ins_traits import Traits
from maison.core.terminology import Terminology
from maison.etablissement.dmp.producer import Produced, provide_bundle
from maison.etablissement.insi.client import ClientIdentity, InsiFault, Lookup
from maison.etablissement.insi.transport import InsiGateway
from maison.formats.cda.build import (
    LOINC,
    SYS_FACILITY,
    SYS_PRACTICE,
    SYS_SPECIALTY,
    DocumentHeader,
    PatientIdentity,
    n1_from_pdf,
)
from maison.formats.cda.build import Professional as Author
from maison.formats.cda.document import inspect_cda
from maison.formats.cda.header import Code
from maison.formats.insi import CodeCR
from maison.formats.path_ids import FhirId, Identifier
from maison.identite.ins.model import Environment
from maison.identite.ins.referential import oid_of
from maison.identite.ins.service import InsiService
from maison.partage.dmp import mhd
from maison.partage.dmp.model import INVISIBLE_REPRESENTANTS_LEGAUX, Access, DocumentEntry, InformationState, Who
from maison.partage.dmp.service import AccessDenied, Dmp
from maison.portail import pro_acces
from maison.portail.history import NO_NAMES, Names, annuaire_names
from maison.portail.psc_connexion import SESSION_PAGE, PscConnexion, PscPortal
from maison.portail.sessions import Session
from maison.portail.upload import is_multipart, read_upload
from maison.portail.viewer import document_title, viewer_response
from maison.portail.web import check_token, page, wants_fragment

BASE = "/pro"
COOKIE = "maison_pro"
PORTAL = "pro"
PORTAL_NAME = "Maison Pro"
LANDING = f"{BASE}/patients"
# The portal's navigation; the other /pro pages (Annuaire, ordonnances, PFI, identitovigilance) add theirs.
NAV: list[tuple[str, str]] = [
    (LANDING, "Patients"),
    (f"{BASE}/annuaire", "Annuaire"),  # the tools of pro_tools.py
    (f"{BASE}/ordonnances", "Ordonnances"),
    (f"{BASE}/etablissement", "Établissement"),
]
PRO = PscPortal(portal=PORTAL, base=BASE, cookie=COOKIE, landing=LANDING, title=PORTAL_NAME)
TYPES = {  # what a professional feeds from the portal (J07 LOINC; each one has its class in ASS_X04)
    "11490-0": "Lettre de liaison à la sortie d'un établissement de soins",
    "11488-4": "Compte rendu de consultation",
    "18748-4": "Compte rendu d'imagerie médicale",
}
SEXES = {"F": "Féminin", "M": "Masculin"}
ESTABLISHMENTS = ("SA0",)  # TRE_R02 sectors of health establishments (SA01…SA09): practice setting J04 ETABLISSEMENT
PDF_MEDIA = "application/pdf"
CDA_TYPES = ("text/xml", "application/xml", "application/hl7-v3+xml")


def _french_date(iso: str) -> str:
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).strftime("%d/%m/%Y")
    except ValueError:
        return iso[:10]


@dataclass(frozen=True)
class Identity:
    """A patient as INSi answered her: the INS and the reference traits."""

    ins: str
    oid: str
    kind: str  # NIR / NIA
    traits: Traits

    @property
    def sexe(self) -> str:
        return SEXES.get(self.traits.sexe, self.traits.sexe)

    @property
    def naissance(self) -> str:
        return _french_date(self.traits.date_naissance)

    @property
    def minor(self) -> bool:  # the connexion secrète is offered for a minor only (CSP L.1111-5)
        return pro_acces.is_minor(self.traits.date_naissance)


@dataclass(frozen=True)
class DocumentView:
    id: str
    title: str
    type: str
    date: str
    author: str
    href: str


class ProPortal:
    def __init__(
        self,
        connexion: PscConnexion,
        dmp: Dmp,
        insi: InsiGateway,
        terminology: Callable[[], Terminology],
        reference_path: Path,
        environment: Environment,
        max_document_bytes: int,
    ) -> None:
        self.connexion = connexion
        self.dmp = dmp
        self.insi = insi
        self.terminology = terminology
        self.reference_path = reference_path
        self.environment = environment
        self.max_document_bytes = max_document_bytes

    # --- the frame ---------------------------------------------------------------------------------

    def caller(self, request: Request) -> tuple[Session, Actor]:
        session = self.connexion.session(request)
        actor = session.actor
        assert actor is not None  # connexion.session refuses a session without one
        return session, actor

    def context(self, session: Session, current: str, **more: object) -> dict:
        return self.connexion.context(session, NAV, current, **more)

    def display(self, system: str, code: str) -> str | None:
        return self.terminology().display(system, code)

    # --- INSi --------------------------------------------------------------------------------------

    async def lookup(self, actor: Actor, traits: Traits) -> Lookup:
        """INSi as the professional's structure calls it (its certificate, its ContexteLPS), for him."""
        me = ClientIdentity(actor.structure, actor.software, professional=actor.person)
        try:
            return await self.insi.lookup(me, traits)
        except InsiFault as fault:
            raise fault.error() from None

    @staticmethod
    def identity(found: Lookup) -> Identity | None:
        individu = found.result.individu
        if found.result.code is not CodeCR.TROUVE or individu is None:
            return None
        active = individu.active
        return Identity(active.value, active.oid, active.type, individu.traits)

    # --- the DMP -----------------------------------------------------------------------------------

    def names(self, entries: list[DocumentEntry]) -> Names:
        """The authors and their structures as the Annuaire names them (its own service functions)."""
        people = {e.author for e in entries if e.author_structure}
        return annuaire_names(self.dmp.db, people, {e.author_structure for e in entries if e.author_structure})

    def view(self, entry: DocumentEntry, ins: str, suffix: str, names: Names = NO_NAMES) -> DocumentView:
        """A line of the dossier; `suffix`: the signed access parameters its link carries on."""
        type_label = self.display(LOINC, entry.type_code) or entry.type_code
        return DocumentView(
            id=entry.id,
            title=document_title(entry, type_label),
            type=type_label,
            date=_french_date(entry.creation or entry.submitted_at),
            author=_author(entry, names),
            href=f"{BASE}/patients/{ins}/documents/{entry.id}{suffix}",
        )

    def resolve(self, text: str) -> str:
        """An INS typed by the professional: its key checked, then resolved by the DMP as ITI-67's adapter does."""
        matricule = parse_matricule(text)
        value = matricule.number + matricule.key
        return self.dmp.resolve_ins(value, oid_of(value, self.environment))

    def oids(self) -> dict[str, str]:
        """The INS authorities a matricule may be typed with, as INSi names them in this environment."""
        nir = {Environment.PRODUCTION: OID_INS_NIR, Environment.TEST: OID_INS_NIR_TEST}
        return {nir.get(self.environment, OID_INS_NIR_DEMO): "NIR (INS-NIR)", OID_INS_NIA: "NIA (INS-NIA)"}

    def matricule(self, text: str, oid: str) -> tuple[str, str]:
        """An INS typed with its OID: the key checked, the OID the one INSi gives such a matricule."""
        matricule = parse_matricule(text)
        value = matricule.number + matricule.key
        expected = oid_of(value, self.environment)
        if oid != expected:
            raise InvalidInput(
                f"OID {oid or '(vide)'} incohérent avec le matricule {value} ({matricule.type.value}) : "
                f"INSi attribue à ce matricule l'autorité {expected}",
                code="ins-oid",
            )
        return value, expected

    # --- feeding -----------------------------------------------------------------------------------

    def author(self, actor: Actor, info: dict[str, Any]) -> tuple[Author, Code, Code]:
        """The CDA author (J01 speciality), the practice setting (J04) and the facility type (J02) of the
        professional acting in his structure, from PSC's UserInfo (the Annuaire's)."""
        exercice = (info["SubjectRefPro"]["exercices"] or [{}])[0]
        activity = next(
            a for a in exercice.get("activities", []) if a["identifiantTechniqueDeLaStructure"] == actor.structure
        )
        profession, skill = exercice.get("codeProfession", ""), exercice.get("codeSavoirFaire", "")
        specialty = f"G15_{profession}/{skill}" if skill else f"G15_{profession}"
        specialty_code = Code(specialty, SYS_SPECIALTY, self.display(SYS_SPECIALTY, specialty) or specialty)
        sector = activity.get("codeSecteurDactivite") or "SA07"
        setting = "ETABLISSEMENT" if sector.startswith(ESTABLISHMENTS) else "AMBULATOIRE"
        author = Author(
            actor.person,
            exercice.get("nomDexercice", ""),
            exercice.get("prenomDexercice", ""),
            specialty_code,
            actor.structure,
            activity.get("raisonSocialeSite", "") or actor.structure,
        )
        practice = Code(setting, SYS_PRACTICE, self.display(SYS_PRACTICE, setting) or setting)
        facility = Code(sector, SYS_FACILITY, self.display(SYS_FACILITY, sector) or sector)
        return author, practice, facility

    def n1(self, identity: Identity, actor: Actor, info: dict[str, Any], title: str, type_: str, pdf: bytes) -> bytes:
        """The CDA R2 N1 around the professional's PDF, its header from INSi's identity and his UserInfo."""
        author, practice, facility = self.author(actor, info)
        now = datetime.now(UTC).replace(microsecond=0)
        unique = f"2.25.{int.from_bytes(hashlib.sha256(pdf + now.isoformat().encode()).digest()[:15], 'big')}"
        t = identity.traits
        patient = PatientIdentity(
            identity.ins,
            identity.oid,
            t.nom_naissance,
            t.liste_prenoms,
            t.sexe,
            t.date_naissance,
            t.lieu_naissance or "",
        )
        code = Code(type_, LOINC, TYPES[type_])
        header = DocumentHeader(
            unique, unique + ".1", 1, code, title, now, patient, author, code, now - timedelta(hours=1), now,
            practice, facility,
        )  # fmt: skip
        try:
            return n1_from_pdf(header, pdf)
        except ValueError:
            raise InvalidInput("le fichier n'est pas un PDF", code="pdf-attendu") from None

    def checked(self, cda: bytes) -> None:
        """The N1 judged as the DMP will judge it (XSD, CI-SIS header rules): its errors in French."""
        report = inspect_cda(cda, self.terminology(), self.reference_path, max_bytes=len(cda) + 1, for_dmp=True)
        errors = [f.message for f in report.findings if f.severity == "error"]
        if errors:
            raise InvalidInput("document N1 non conforme : " + " ; ".join(errors[:5]), code="cda-invalide")

    def provide(self, actor: Actor, cda: bytes, title: str, secret: bool = False) -> None:
        """ITI-65 as a DPI sends it, read by the DMP's adapter and given to the DMP's provide function. In
        connexion secrète the document is invisible to the legal representatives, as the DMP requires."""
        visibility = (INVISIBLE_REPRESENTANTS_LEGAUX,) if secret else ()
        request = mhd.parse_provide(provide_bundle([Produced(cda, visibility=visibility)], title=title))
        self.dmp.provide(Who(actor, Access(secret=secret)), request)


def _author(entry: DocumentEntry, names: Names) -> str:
    if not entry.author_structure:
        return "la patiente ou le patient"
    who = names.people.get(entry.author, entry.author)
    return f"{who} ({names.structures.get(entry.author_structure, entry.author_structure)})"


def _traits(form: dict[str, str]) -> Traits:
    return Traits.of(
        form.get("nom", ""),
        form.get("prenoms", ""),
        form.get("sexe", ""),
        form.get("naissance", ""),
        form.get("lieu", "").strip() or None,
    )


def _answer(found: Lookup) -> dict[str, object]:
    """INSi's compte rendu as the service gives it (code, libellé), the client's advice, the attempts made."""
    return {
        "code": found.result.code.value,
        "libelle": found.result.libelle,
        "advice": found.advice,
        "attempts": len(found.attempts),
    }


def _unconfirmed(identity: Identity | None, ins: str, oid: str) -> str:
    """Why INSi's answer does not verify the typed INS ('' when it does): INSi returns the INS of the
    identity it finds for the traits, which must be the typed one, under the same authority."""
    if identity is None:
        return f"INS {ins} non vérifié : INSi ne renvoie aucune identité certaine pour ces traits."
    if (identity.ins, identity.oid) != (ins, oid):
        return (
            f"INS {ins} non vérifié : l'identité qu'INSi renvoie pour ces traits ne porte pas cet INS. "
            "Contrôlez le matricule (carte Vitale, attestation de droits) et les traits sur une pièce d'identité."
        )
    return ""


SEARCH_FIELDS = ("ins", "oid", "nom", "prenoms", "sexe", "naissance", "lieu")


def router(portal: ProPortal) -> APIRouter:
    connexion = portal.connexion
    r = APIRouter(route_class=connexion.route_class)
    r.include_router(connexion.router())

    @r.get("")
    @public(SESSION_PAGE)
    async def home(request: Request) -> Response:
        return RedirectResponse(LANDING if connexion.current(request) else f"{BASE}/connexion", 303)

    def search_page(request: Request, session: Session, status: int = 200, **more: object) -> Response:
        """The search page; to htmx, only its results (`pro_resultat.html`), answered 200 so that htmx
        swaps them in (its default leaves a 4xx unswapped) — without JavaScript the page keeps its status."""
        values = dict.fromkeys(SEARCH_FIELDS, "") | {"oid": next(iter(portal.oids()))}
        values.update(more.pop("values", {}))  # type: ignore[call-overload]
        identity = more.get("identity")
        if isinstance(identity, Identity):
            more["identite"] = pro_acces.identity_token(
                connexion.session_key(session), identity.ins, identity.traits.date_naissance
            )
        context = portal.context(session, LANDING, values=values, sexes=SEXES, types=TYPES, oids=portal.oids(), **more)
        if wants_fragment(request):
            return page("pro_resultat.html", **context)
        return page("pro_patients.html", status, **context)

    @r.get("/patients")
    @public(SESSION_PAGE)
    async def patients(request: Request) -> Response:
        session, _ = portal.caller(request)
        return search_page(request, session)

    @r.post("/patients/ins")
    @public(SESSION_PAGE)
    async def by_ins(request: Request) -> Response:
        """An INS verified through INSi: the matricule's key and authority checked, then INSi asked with
        the traits read on her identity document; verified when INSi returns this very INS."""
        session, form = await connexion.posted(request)
        actor = session.actor
        assert actor is not None
        values = {k: form.get(k, "") for k in SEARCH_FIELDS}
        try:
            ins, oid = portal.matricule(form.get("ins", ""), form.get("oid", ""))
            found = await portal.lookup(actor, _traits(form))
        except MaisonError as error:
            return search_page(request, session, error.http_status, values=values, ins_error=error.message)
        identity = portal.identity(found)
        refusal = _unconfirmed(identity, ins, oid)
        shown = None if refusal else identity
        status = 422 if refusal else 200
        return search_page(request, session, status, values=values, identity=shown, answer=_answer(found),
                           refusal=refusal, verified=not refusal)  # fmt: skip

    @r.post("/patients/traits")
    @public(SESSION_PAGE)
    async def by_traits(request: Request) -> Response:
        session, form = await connexion.posted(request)
        actor = session.actor
        assert actor is not None
        values = {k: form.get(k, "") for k in ("nom", "prenoms", "sexe", "naissance", "lieu")}
        try:
            found = await portal.lookup(actor, _traits(form))
        except MaisonError as error:
            return search_page(request, session, error.http_status, values=values, traits_error=error.message)
        return search_page(request, session, values=values, identity=portal.identity(found), answer=_answer(found))

    @r.post("/patients/{ins}/connexion-secrete")
    @public(SESSION_PAGE)
    async def secret(ins: Identifier, request: Request) -> Response:
        """Her dossier opened in connexion secrète (CSP L.1111-5): for a minor only, by INSi's birth date."""
        session, form = await connexion.posted(request)
        shown = pro_acces.unsign(
            connexion.session_key(session), form.get("identite", ""), "identite", "identité vérifiée"
        )
        if shown["ins"] != ins:
            raise InvalidInput("identité vérifiée d'un autre patient", code="identite")
        token = pro_acces.secret_token(connexion.session_key(session), ins, str(shown["naissance"]))
        return RedirectResponse(f"{BASE}/patients/{ins}/dmp{pro_acces.query(secrete=token)}", 303)

    def dmp_page(session: Session, ins: str, status: int = 200, **more: object) -> Response:
        context = portal.context(session, "", ins=ins, **more)
        return page("pro_dmp.html", status, **context)

    async def dossier(session: Session, ins: str, urgence: str, secrete: str, **more: Any) -> Response:
        actor = session.actor
        assert actor is not None
        ins = await run_in_threadpool(portal.resolve, ins)  # as ITI-67's adapter resolves patient.identifier
        access = pro_acces.access(connexion.session_key(session), urgence, secrete, ins)
        flags: dict[str, Any] = {"urgence": urgence, "secrete": secrete, "secret_mode": access.secret}
        try:
            entries = await run_in_threadpool(
                portal.dmp.find_documents, Who(actor, access), ins, ["current"], None, "portail-pro:dossier"
            )
        except AccessDenied as refused:
            return dmp_page(session, ins, refused.http_status, refusal=refused.message, reason=refused.code,
                            **flags, **more)  # fmt: skip
        names = await run_in_threadpool(portal.names, entries)
        suffix = pro_acces.query(urgence, secrete)
        documents = [portal.view(e, ins, suffix, names) for e in entries]
        return dmp_page(session, ins, documents=documents, emergency=bool(urgence), **flags, **more)

    @r.get("/patients/{ins}/dmp")
    @public(SESSION_PAGE)
    async def dmp(ins: Identifier, request: Request) -> Response:
        session, _ = portal.caller(request)
        q = request.query_params
        notice = "Document déposé dans le DMP." if q.get("depose") == "1" else ""
        notice = notice or ("Information de la patiente enregistrée." if q.get("informe") else "")
        return await dossier(session, ins, q.get("urgence", ""), q.get("secrete", ""), notice=notice)

    @r.post("/patients/{ins}/dmp/bris-de-glace")
    @public(SESSION_PAGE)
    async def emergency(ins: Identifier, request: Request) -> Response:
        """Bris de glace: the DMP itself requires the justification and records the access as such."""
        session, form = await connexion.posted(request)
        motif = form.get("motif", "").strip()
        # an empty justification is sent as such: the DMP refuses it with its own reason (bris-de-glace-sans-motif)
        urgence = pro_acces.urgence_token(connexion.session_key(session), motif)
        return await dossier(session, ins, urgence, form.get("secrete", ""), motif=motif)

    @r.post("/patients/{ins}/information")
    @public(SESSION_PAGE)
    async def information(ins: Identifier, request: Request) -> Response:
        """The patient informed of the DMP's use by the structure, and not opposed (as POST /dmp/Consent)."""
        session, form = await connexion.posted(request)
        actor = session.actor
        assert actor is not None
        if form.get("informee") != "oui":
            raise InvalidInput("cochez la case : la patiente a été informée et ne s'y oppose pas", code="information")
        state = InformationState.NOT_OPPOSED
        ins = await run_in_threadpool(portal.resolve, ins)  # as the Consent's adapter resolves its patient
        who = Who(actor, pro_acces.access(connexion.session_key(session), "", form.get("secrete", ""), ins))
        await run_in_threadpool(portal.dmp.record_information, who, ins, state, state)
        return RedirectResponse(
            f"{BASE}/patients/{ins}/dmp{pro_acces.query(secrete=form.get('secrete', ''), informe='1')}", 303
        )

    @r.get("/patients/{ins}/documents/{id_}")
    @public(SESSION_PAGE)
    async def document(ins: Identifier, id_: FhirId, request: Request) -> Response:
        session, actor = portal.caller(request)
        urgence, secrete = request.query_params.get("urgence", ""), request.query_params.get("secrete", "")
        access = pro_acces.access(connexion.session_key(session), urgence, secrete, ins)
        entry = await run_in_threadpool(portal.dmp.document, Who(actor, access), id_)
        suffix = pro_acces.query(urgence, secrete)
        viewer = f"{BASE}/patients/{ins}/documents/{id_}/affichage{suffix}"
        shown = portal.view(entry, ins, suffix, await run_in_threadpool(portal.names, [entry]))
        back = f"{BASE}/patients/{ins}/dmp{suffix}"
        context = portal.context(session, "", ins=ins, d=shown, viewer=viewer, urgence=urgence, back=back,
                                 secret_mode=access.secret)  # fmt: skip
        return page("pro_document.html", **context)

    @r.get("/patients/{ins}/documents/{id_}/affichage")
    @public(SESSION_PAGE)
    async def shown(ins: Identifier, id_: FhirId, request: Request) -> Response:
        session, actor = portal.caller(request)
        q = request.query_params
        who = Who(
            actor, pro_acces.access(connexion.session_key(session), q.get("urgence", ""), q.get("secrete", ""), ins)
        )
        entry, data = await run_in_threadpool(portal.dmp.retrieve, who, id_)
        return await run_in_threadpool(viewer_response, entry, data, portal.reference_path)

    @r.post("/patients/{ins}/documents")
    @public(SESSION_PAGE)
    async def feed(ins: Identifier, request: Request) -> Response:
        """A PDF fed as a CDA R2 N1 (see the module's docstring); in connexion secrète for a minor when
        asked. To htmx, the form's fragment with its result (`pro_alimenter.html`); else 303 or the page."""
        if not is_multipart(request):
            raise UnsupportedMediaType("formulaire multipart/form-data attendu", code="type-formulaire")
        upload = await read_upload(request, portal.max_document_bytes + 64_000)
        session, actor = portal.caller(request)
        check_token(session.csrf, upload.fields, request)
        values = {k: upload.fields.get(k, "") for k in ("nom", "prenoms", "sexe", "naissance", "lieu", "mineur")}
        secret = upload.fields.get("secrete") == "oui"

        def answer(status: int, **more: object) -> Response:
            if not wants_fragment(request):
                return search_page(request, session, status, values=values, feed_ins=ins, **more)
            context = portal.context(session, LANDING, values=values, types=TYPES, feed_ins=ins, **more)
            return page("pro_alimenter.html", **context)  # 200: see search_page

        try:
            title, type_ = upload.fields.get("titre", "").strip(), upload.fields.get("type", "")
            if not title or type_ not in TYPES:
                raise InvalidInput("titre et type de document attendus", code="document-incomplet")
            if upload.fields.get("verifie") != "oui":
                raise InvalidInput(
                    "l'identité doit avoir été vérifiée sur une pièce d'identité : l'INS n'est pas qualifié",
                    code="ins-non-qualifie",
                )
            if upload.filename is None or not upload.data.startswith(b"%PDF-"):
                raise InvalidInput("choisissez un fichier PDF", code="pdf-attendu")
            found = await portal.lookup(actor, _traits(upload.fields))
            identity = portal.identity(found)
            if identity is None or identity.ins != ins:
                raise InvalidInput(f"INSi ne confirme pas l'INS {ins} pour ces traits : {found.advice}", code="ins")
            secrete = (
                pro_acces.secret_token(connexion.session_key(session), ins, identity.traits.date_naissance)
                if secret
                else ""
            )
            info = await run_in_threadpool(connexion.userinfo, session)
            cda = portal.n1(identity, actor, info, title, type_, upload.data)
            await run_in_threadpool(portal.checked, cda)
            await run_in_threadpool(portal.provide, actor, cda, title, secret)
        except MaisonError as error:
            return answer(error.http_status, feed_error=error.message)
        dossier_href = f"{BASE}/patients/{ins}/dmp{pro_acces.query(secrete=secrete, depose='1')}"
        if not wants_fragment(request):  # without JavaScript: to her dossier (PRG)
            return RedirectResponse(dossier_href, 303)
        return answer(200, fed=title, dossier_href=dossier_href, secret_mode=secret)

    return r


def register_with_insi(insi: InsiService) -> None:
    """The portal calls INSi as its own software (its client id, the Actor's `software`): declared in
    INSi's registry when missing, as every software calling the teleservice is."""
    if not any(s["idam"] == PRO.client_id for s in insi.registered_software()):
        insi.register_software(PRO.client_id, PORTAL_NAME, "Maison", category="")
