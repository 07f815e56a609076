"""The house: one database, the services standing on it, and the HTTP app that serves them all.

`House` is what `maison serve`, `maison demo` and the tests build: the same wiring everywhere, so
that what the tests drive is what a deployment runs.
"""

from __future__ import annotations

import sys
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse

from maison import __version__
from maison.admin.api import router as admin_router
from maison.admin.service import Administration
from maison.api_docs import api_docs
from maison.core import pki
from maison.core.audit import SYSTEM, Trail
from maison.core.audit_anchor import Checkpointer
from maison.core.authz import Authorizer, public
from maison.core.blobs import Blobs
from maison.core.config import Settings
from maison.core.errors import MaisonError, NotFound
from maison.core.keystore import random_secret
from maison.core.storage import Database
from maison.core.terminology import Terminology
from maison.etablissement.insi.transport import InsiGateway
from maison.etablissement.pfi.api import router as pfi_router
from maison.etablissement.sejours.api import router as sejours_router
from maison.etablissement.sejours.service import Sejours
from maison.etablissement.vigilance.api import router as vigilance_router
from maison.etablissement.vigilance.cellule import Cellule
from maison.etablissement.vigilance.cellule_api import router as cellule_router
from maison.etablissement.vigilance.service import PatientIndex
from maison.formats.fhir import outcome_response
from maison.formats.fhir_format import FhirFormat
from maison.formats.http_headers import HardenedHttp
from maison.formats.namespace import Namespace
from maison.formats.path_ids import parameter_error
from maison.formats.svs import read_value_set
from maison.formats.ucum import cisis_units
from maison.identite.annuaire.api import router as annuaire_router
from maison.identite.annuaire.export import Exports
from maison.identite.ins.api import router as insi_router
from maison.identite.ins.model import Environment
from maison.identite.ins.service import InsiService
from maison.identite.mes.api import issuer_for as mes_issuer_for
from maison.identite.mes.api import router as mes_router
from maison.identite.mes.login import PatientLogin
from maison.identite.psc.api import issuer_for, oauth_error_response
from maison.identite.psc.api import router as psc_router
from maison.identite.psc.local_idp import LocalProviders
from maison.identite.psc.provider import OAuthError, Provider
from maison.migrations import migrate as migrate_schema
from maison.observatoire.api import router as observatoire_router
from maison.observatoire.conformite.maturin import Maturin
from maison.observatoire.conformite.service import Conformite
from maison.observatoire.national.service import National
from maison.observatoire.prerequis.service import Prerequis
from maison.observatoire.service import Observatoire
from maison.observatoire.signature import Sealer
from maison.observatoire.sunes.service import SunEs
from maison.openapi_document import install as complete_openapi
from maison.partage.dmp.api import router as dmp_router
from maison.partage.dmp.habilitation import Matrix
from maison.partage.dmp.service import Dmp
from maison.partage.espace.api import router as espace_router
from maison.partage.espace.service import Espace
from maison.partage.mss.annuaire_rights import TrustSpaceRegistry
from maison.partage.mss.citizen import espace_open
from maison.partage.mss.messagerie import Messagerie
from maison.partage.mss.messagerie_api import router as messagerie_router
from maison.partage.mss.service import Mss
from maison.partage.ordonnance.api import router as ordonnance_router
from maison.partage.ordonnance.service import Base
from maison.portail.espace_agenda import router as espace_agenda
from maison.portail.espace_controles import router as espace_controles
from maison.portail.espace_depot import router as espace_depot
from maison.portail.espace_export import router as espace_export
from maison.portail.espace_messagerie import router as espace_messagerie
from maison.portail.espace_mesures import router as espace_mesures
from maison.portail.espace_profil import router as espace_profil
from maison.portail.espace_representation import router as espace_representation
from maison.portail.observatoire_pages import OBSERVATOIRE, ObservatoirePortal
from maison.portail.observatoire_pages import router as observatoire_pages
from maison.portail.patient import PatientPortal
from maison.portail.patient import router as patient_portal
from maison.portail.pro import PRO, ProPortal, register_with_insi
from maison.portail.pro import router as pro_portal
from maison.portail.pro_tools import mount as pro_tools
from maison.portail.psc_connexion import PscConnexion
from maison.portail.sessions import Sessions
from maison.portail.web import assets_router, unmatched_page
from maison.sandbox.api import router as sandbox_router

SERVICES = [
    ("/insi", "INSi — téléservice de l'Identité Nationale de Santé (SOAP 1.2, WSDL at /insi/lps?wsdl)"),
    ("/fhir", "Identitovigilance — local patient index (FHIR R4 Patient, FR Core Patient INS, PDQm)"),
    ("/identitovigilance", "Identitovigilance cell — meetings, incidents, procedures, alerts, semester report"),
    ("/psc", "Pro Santé Connect — OpenID Connect provider of health professionals (realm esante-wallet)"),
    ("/mes", "Mon espace santé — the patient's login (identifier, password, one-time code), legal representatives"),
    ("/annuaire", "Annuaire Santé — Practitioner, PractitionerRole, Organization (FHIR R4, IG fhir-annuaire)"),
    ("/dmp", "DMP — Gestionnaire de partage de documents, PDSm 3.1.1 (MHD ITI-65/66/67/68), patient controls"),
    ("/espace", "Mon espace santé — profil médical, measures, agenda, the patient's documents, full export"),
    (
        "/ordonnance",
        "Ordonnance numérique — the base of e-prescriptions (FHIR R4 RequestGroup, $dispensation, $executer)",
    ),
    ("/pfi", "MSSanté — the structure's integration platform: worklist of documents waiting for a patient"),
    ("/admin", "Administration of the house — keys, INSi habilitations, the outbox (administrator token)"),
    (
        "/observatoire",
        "Observatory — SUN-ES, national statistics, conformity, MATURIN-H: signed JSON, HTML, FHIR Measure",
    ),
    ("/sandbox", "The sandbox's catalogue — test data and credentials of a house built by 'maison sandbox'"),
]
# the paths that speak FHIR (JSON only, XML answered 406); all but /espace (FHIR bodies only) have /metadata
FHIR_BASES = ("/fhir", "/annuaire", "/dmp", "/espace", "/ordonnance")


def tune_interpreter() -> None:
    """Hand the GIL over every 0.5 ms instead of 5 ms in a serving process.

    A request crosses three threads (event loop, worker, audit journal); with the default switch
    interval each hand-over can wait 5 ms behind a busy thread, which dominated INSi latency at
    low load in bench/insi.py.
    """
    sys.setswitchinterval(0.0005)


@dataclass
class House:
    settings: Settings
    db: Database
    insi: InsiService
    patients: PatientIndex
    cellule: Cellule
    psc: Provider
    patient_login: PatientLogin

    @classmethod
    def open(cls, settings: Settings, *, migrate: bool = True) -> House:
        db = Database(settings.effective_database_url)
        if migrate:
            migrate_schema(db, keystore=settings.keystore())
        insi = InsiService(db, Environment(settings.ins_environment))
        psc = Provider(db, settings.keystore())  # its signing keys live in the key store, not the database
        trail = Trail(db, insi.journal)  # one journal: every read's record group-committed together
        return cls(settings, db, insi, PatientIndex(db, trail), Cellule(db, trail), psc, PatientLogin(db, psc.keys))

    @cached_property
    def sejours(self) -> Sejours:
        """Stays and movements from the structures' GAM (IHE PAM France, issue 22 §1)."""
        return Sejours(self.db, self.patients)

    @cached_property
    def dmp(self) -> Dmp:
        """The DMP, documents in `<data_dir>/documents`, the patient told through Mon espace santé."""
        s = self.settings
        matrix = Matrix.load(Path(s.dmp_matrix_path)) if s.dmp_matrix_path else Matrix.load()
        return Dmp(
            self.db,
            Blobs(s.data_dir / "documents", self.blob_key),
            self.insi.referential,
            lambda: self.terminology,
            s.reference_path,
            matrix=matrix,
            max_document_bytes=s.dmp_max_document_bytes,
            notify=self.patient_login.notify,
            journal=self.insi.journal,
            code_secret=random_secret(s.keystore(), "dmp-delegation-codes.hmac"),
            accept_self_presenting=s.dmp_cda_auto_presentable,
        )

    @cached_property
    def admin(self) -> Administration:
        """The administrator's acts (`maison admin …` and `/admin`, issue 21 §1)."""
        pki_dir = self.settings.data_dir / "pki"  # the house PKI, INSi's authority (maison.serving_insi)
        return Administration(self.db, self.insi, self.patient_login, self.psc, lambda: self.mss, pki_dir)

    @cached_property
    def blob_key(self) -> bytes:
        """AES-256-GCM key of the document and message blobs, in the key store (outside the data directory)."""
        return random_secret(self.settings.keystore(), "blobs.aes256gcm")

    @cached_property
    def checkpoints(self) -> Checkpointer:
        """Signs the audit chain's head periodically and at shutdown (`maison.core.audit_anchor`)."""
        s = self.settings
        return Checkpointer(self.db, s.keystore(), s.effective_checkpoint_path, s.audit_checkpoint_interval_s)

    @cached_property
    def observatoire(self) -> Observatoire:
        """The observatory's reports (issue 23), served by `/observatoire` and `maison indicateurs`."""
        return observatory(self)

    @property
    def namespace(self) -> Namespace:
        """Where Maison's own canonical URLs live (issue 21 §3.3, `Settings.namespace_url`)."""
        return Namespace(self.settings.namespace_base_url)

    @cached_property
    def espace(self) -> Espace:
        return Espace(
            self.dmp,
            self.settings.reference_path,
            self.namespace,
            max_document_bytes=self.settings.espace_max_document_bytes,
        )

    @cached_property
    def mss(self) -> Mss:
        """MSSanté: messages in `<data_dir>/mss/messages`, the trust space's test authority in
        `<data_dir>/mss/pki`; people authenticate with this house's Pro Santé Connect tokens."""
        s = self.settings
        return Mss(
            self.db,
            Blobs(s.data_dir / "mss" / "messages", self.blob_key),
            s.data_dir / "mss" / "pki",
            self.psc,
            self.psc_issuer,
            max_message_bytes=s.mss_max_message_bytes,
            has_espace=espace_open(self.db, self.insi.referential),
            annuaire_url=f"{s.public_base_url}/annuaire",
        )

    @property
    def psc_issuer(self) -> str:
        """Pro Santé Connect's issuer: from the configured public URL only (`public_url`, else the
        configured host and port), never from a request's Host or X-Forwarded headers, so that a token
        is valid whichever name reached the house, over HTTP as over MSSanté's SMTP and IMAP."""
        return issuer_for(self.settings.public_base_url)

    @property
    def mes_issuer(self) -> str:
        """Mon espace santé's patient tokens' issuer: from the configured public URL only, as PSC's."""
        return mes_issuer_for(self.settings.public_base_url)

    @cached_property
    def ordonnance(self) -> Base:
        """The base ordonnance numérique; its reads share the house's audit journal."""
        return Base(self.db, journal=self.insi.journal)

    @cached_property
    def ucum_units(self) -> frozenset[str]:
        return cisis_units(self.settings.reference_path)

    @cached_property
    def terminology(self) -> Terminology:
        """The CI-SIS value sets of the configured reference pack, or the compact default table."""
        return Terminology.from_settings(self.settings, read_value_set)

    def issue_insi_certificate(self, structure: str, software: str, directory: Path) -> pki.Issued:
        """A structure's INSi software certificate from the house PKI (`<data_dir>/pki`), issued by INSi
        itself: habilitated structure and known software only, the issuance recorded (securite.cle-emise).
        What the wing's in-memory transport presents on a structure's first call, and what nothing
        else may issue it with (the wing holds this callable, never the authority)."""
        authority = pki.Authority(self.settings.data_dir / "pki")
        return self.insi.issue_certificate(SYSTEM, authority, structure, software, directory=directory)

    def close(self) -> None:
        """Flush the audit journal and release the database."""
        self.insi.journal.close()
        self.db.dispose()

    def app(self) -> FastAPI:
        @asynccontextmanager
        async def lifespan(_app: FastAPI):
            self.checkpoints.start()
            yield
            await insi_gateway.aclose()
            self.insi.journal.close()  # every answered call's audit record is committed before exit
            self.checkpoints.stop()  # and the head they make is signed

        local_idps = LocalProviders(self.db, private_addresses=self.settings.psc_jwks_adresses_privees)
        authorizer = Authorizer(
            self.db,
            self.psc,
            lambda _base_url: self.psc_issuer,  # the configured issuer, whatever the request's origin
            local_idps,
            self.patient_login,
            lambda _base_url: self.mes_issuer,  # the same: Mon espace santé's patient tokens
            journal=self.insi.journal,
        )
        # the patient index reaches INSi over SOAP: at insi_url, or in memory to this very app
        insi_gateway = InsiGateway.from_settings(self.settings, lambda: app, self.issue_insi_certificate)
        ns = self.namespace
        # every route states its callers (maison.core.authz); the guard enforces it before the handler runs
        app = FastAPI(
            title="Maison",
            version=__version__,
            docs_url=None,  # served below from the house's own copy of Swagger UI: no CDN
            redoc_url=None,
            lifespan=lifespan,
            dependencies=[Depends(authorizer.guard)],
        )
        api_docs(app)
        # the origin of absolute URLs is the configured public_url, never the Host header; nosniff, HSTS over TLS
        app.add_middleware(HardenedHttp, public_url=self.settings.public_url)
        # the FHIR bases serve JSON: a client asking FHIR XML is answered 406, never JSON (issue 20 §4.3)
        app.add_middleware(FhirFormat, bases=FHIR_BASES, ns=ns)
        app.include_router(
            insi_router(
                self.insi,
                self.settings.reference_path,
                self.settings.max_body_bytes,
                ns=ns,
                dev_sans_certificat=self.settings.insi_dev_sans_certificat,
            ),
            prefix="/insi",
            tags=["INSi"],
        )
        app.include_router(
            vigilance_router(self.patients, insi_gateway, self.settings.max_body_bytes, authorizer, ns=ns),
            prefix="/fhir",
            tags=["Identitovigilance"],
        )
        app.include_router(sejours_router(self.sejours, authorizer, ns=ns), prefix="/fhir", tags=["Séjours"])
        app.include_router(
            mes_router(self.patient_login, self.settings.max_body_bytes, self.mes_issuer),
            prefix="/mes",
            tags=["Mon espace santé"],
        )
        app.include_router(
            psc_router(self.psc, self.settings.max_body_bytes, local_idps, authorizer, self.psc_issuer),
            prefix="/psc",
            tags=["Pro Santé Connect"],
        )
        exports = Exports(self.db, self.settings.data_dir / "exports")
        app.include_router(
            annuaire_router(
                self.db,
                self.settings.max_body_bytes,
                exports,
                lambda: self.terminology,
                authorizer,
                TrustSpaceRegistry(),
                ns=ns,
            ),
            prefix="/annuaire",
            tags=["Annuaire Santé"],
        )
        # an ITI-65 Bundle carries the document base64-encoded inside a CDA that is itself base64-encoded
        app.include_router(
            dmp_router(
                self.dmp,
                authorizer,
                self.settings.max_body_bytes,
                self.settings.dmp_max_document_bytes * 2 + 1_000_000,
                ns=ns,
            ),
            prefix="/dmp",
            tags=["DMP"],
        )
        app.include_router(
            messagerie_router(Messagerie(self.mss), authorizer, self.settings.max_body_bytes),
            prefix="/espace/messagerie",
            tags=["Mon espace santé"],
        )
        app.include_router(
            espace_router(self.espace, authorizer, self.settings.max_body_bytes),
            prefix="/espace",
            tags=["Mon espace santé"],
        )
        app.include_router(
            cellule_router(self.cellule, self.patients, self.settings.max_body_bytes, authorizer),
            prefix="/identitovigilance",
            tags=["Cellule d'identitovigilance"],
        )
        app.include_router(
            ordonnance_router(
                self.ordonnance, authorizer, self.settings.max_body_bytes, lambda: self.ucum_units, ns=ns
            ),
            prefix="/ordonnance",
            tags=["Ordonnance numérique"],
        )
        app.include_router(
            pfi_router(self.db, self.mss.blobs, authorizer, self.settings.max_body_bytes, self.patients),
            prefix="/pfi",
            tags=["MSSanté"],
        )

        app.include_router(
            admin_router(self.admin, authorizer, self.settings.max_body_bytes),
            prefix="/admin",
            tags=["Administration"],
        )

        app.include_router(
            observatoire_router(self.observatoire, authorizer, ns), prefix="/observatoire", tags=["Observatoire"]
        )

        app.include_router(
            sandbox_router(self.settings.data_dir, self.settings.public_base_url),
            prefix="/sandbox",
            tags=["Bac à sable"],
        )

        portals = _portals(self, app, insi_gateway)

        @app.get("/")
        @public("la liste des services est publique")
        async def index() -> JSONResponse:
            return JSONResponse(
                {"maison": __version__, "services": [{"path": p, "description": d} for p, d in SERVICES]}
            )

        @app.exception_handler(MaisonError)
        async def _maison_error(_request: Request, exc: MaisonError):
            return outcome_response(exc, ns)

        @app.exception_handler(OAuthError)
        async def _oauth_error(_request: Request, exc: OAuthError):
            return oauth_error_response(exc)

        @app.exception_handler(RequestValidationError)
        async def _validation(_request: Request, exc: RequestValidationError):
            return outcome_response(parameter_error(exc.errors()), ns)

        @app.exception_handler(HTTPException)
        async def _http(request: Request, exc: HTTPException):
            if (shown := unmatched_page(request.url.path, exc.status_code, exc.headers, portals)) is not None:
                return shown  # an address under a portal: its French page, not the API's outcome
            error = NotFound(str(exc.detail)) if exc.status_code == 404 else MaisonError(str(exc.detail))
            error.http_status = exc.status_code
            return outcome_response(error, ns)

        @app.exception_handler(Exception)
        async def _unexpected(_request: Request, _exc: Exception):
            error = MaisonError("erreur interne", code="exception")
            error.http_status, error.fhir_issue = 500, "exception"
            return outcome_response(error, ns)

        complete_openapi(app)  # security from each route's policy, the protocols' real errors (issue 21 §3.1)
        return app


def _portals(house: House, app: FastAPI, insi: InsiGateway) -> dict[str, dict[str, str]]:
    """The web pages (issue 24): Mon espace santé for the patient at `/mon-espace`, the observatory's
    dashboard at `/observatoire/tableau`, their stylesheet and htmx at `/portail`; the pages call the
    same services as the API, in this process. Returns each portal's prefix and its error pages'
    context (`PortalRoute.context`): an address under it that no route serves gets its French page."""
    s = house.settings
    sessions = Sessions(house.db, inactivity=s.portail_inactivite_s, lifetime=s.portail_duree_max_s)
    patient = PatientPortal(
        house.patient_login, house.mes_issuer, house.dmp, sessions, house.terminology.display, s.reference_path
    )
    app.include_router(assets_router(), prefix="/portail", include_in_schema=False)
    app.include_router(patient_portal(patient), prefix="/mon-espace", include_in_schema=False)
    # /pro: the professional signs in through the house's Pro Santé Connect (a client of its own, registered here)
    connexion = PscConnexion(house.psc, house.psc_issuer, s.public_base_url, s.keystore(), sessions, PRO)
    register_with_insi(house.insi)  # the portal calls INSi as its own software, for the professional's structure
    environment = house.insi.referential.environment
    pro = ProPortal(
        connexion, house.dmp, insi, lambda: house.terminology, s.reference_path, environment, s.dmp_max_document_bytes
    )
    app.include_router(pro_portal(pro), prefix="/pro", include_in_schema=False)
    pro_tools(  # /pro: the Annuaire, the ordonnance numérique, a structure's desks (issue 24 §2)
        app,
        connexion,
        Trail(house.db, house.insi.journal),
        ordonnance=house.ordonnance,
        units=lambda: house.ucum_units,
        ns=house.namespace,
        pfi_blobs=house.mss.blobs,
        patients=house.patients,
        cellule=house.cellule,
        insi=insi,
    )
    for pages in (  # Mon espace santé's messagerie, controls and export (issue 24 §1)
        espace_messagerie(patient, Messagerie(house.mss)),
        espace_controles(patient),
        espace_export(patient, house.espace),
        espace_representation(patient),  # profil, measures, agenda, own documents, whose espace
        espace_profil(patient, house.espace),
        espace_mesures(patient, house.espace),
        espace_agenda(patient, house.espace),
        espace_depot(patient, house.espace),
    ):
        app.include_router(pages, prefix="/mon-espace", include_in_schema=False)
    # /observatoire/tableau, beside the API's /observatoire routes: agents and structures sign in through PSC
    login = PscConnexion(house.psc, house.psc_issuer, s.public_base_url, s.keystore(), sessions, OBSERVATOIRE)
    dashboard = ObservatoirePortal(house.observatoire, login)
    app.include_router(observatoire_pages(dashboard), prefix="/observatoire/tableau", include_in_schema=False)
    return {
        "/mon-espace": {},
        "/pro": connexion.route_class.context,
        "/observatoire/tableau": login.route_class.context,
    }


def observatory(house: House) -> Observatoire:
    """The observatory's rooms on the house's database, stays, registry and MSSanté directory, and the
    sealer that signs their reports with the house's report key (`maison.observatoire.signature`)."""

    def kind(address: str) -> str | None:
        box = house.mss.mailboxes.find(address)
        return box.kind if box is not None else None

    s, db = house.settings, house.db
    evidence = Blobs(s.data_dir / "observatoire" / "preuves", house.blob_key)
    return Observatoire(
        db,
        SunEs(db, house.sejours, s, mailbox_kind=kind),
        National(db, software=house.insi.registered_software),
        Conformite(db, house.insi),
        Maturin(db, house.insi),
        Prerequis(db, evidence),
        Sealer(db, s.keystore(), s.effective_checkpoint_path),
        house.cellule,
    )
