"""The INSi teleservice use cases: who may call, the two searches, and the audit of every call.

Every call — answered, refused or failed — is written to the audit trail with the calling
structure, its département, the software and its vendor, the operation and the answer code,
because the monthly INSi statistics by département, vendor and establishment (seed 003 L316-322)
are computed from exactly that.

A call over the network is served only for the structure its certificate names (`certificats`:
the teleservice authenticates the structure by its software certificate, issue 18 1.4); a refused
certificate is a `certificat-refuse` security event, not a call of the claimed structure.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from maison.core import audit, pki
from maison.core.actor import Actor
from maison.core.audit_journal import Journal
from maison.core.errors import Forbidden, MaisonError, Unauthenticated
from maison.core.identifiers.professionals import department_of_structure
from maison.core.storage import Database
from maison.formats.insi import InsiResult
from maison.identite.ins import store
from maison.identite.ins.certificats import (
    CertificateMissing,
    CertificateRefused,
    Credential,
    DevelopmentAccess,
    StructureCertificate,
)
from maison.identite.ins.model import CallContext, CarteVitaleQuery, Environment, TraitsQuery
from maison.identite.ins.referential import Referential

OP_TRAITS = "insi.rechercherInsAvecTraitsIdentite"
OP_CARTE_VITALE = "insi.rechercherInsAvecCarteVitale"


class UnknownSoftware(Unauthenticated):
    code = "logiciel-inconnu"


class StructureNotAuthorised(Forbidden):
    code = "structure-non-habilitee"


class InsiService:
    def __init__(
        self, db: Database, environment: Environment = Environment.TEST, journal: Journal | None = None
    ) -> None:
        self.db = db
        self.journal = journal or Journal(db)
        self.trail = audit.Trail(db, self.journal)
        self.referential = Referential(db, environment)
        self._software: dict[str, tuple[str, ...]] = {}
        self._structures: dict[str, tuple[str, str]] = {}

    # --- habilitations ---------------------------------------------------------------------------

    def register_software(self, idam: str, name: str, vendor: str, version: str = "", category: str = "") -> None:
        """Declare a software by its IDAM, with the version the CNDA authorised (issue 21 §1.1) and its
        category in the maison table (seed 001 L196-216; issue 23 §3.1)."""
        with self.db.write() as conn:
            store.replace_software(conn, idam, name, vendor, version, category)
        self._software.pop(idam, None)

    def registered_software(self) -> list[dict[str, str]]:
        """The software registry as it stands: what the observatory checks conformity for (issue 23 §3.1)."""
        with self.db.read() as conn:
            rows = store.all_software(conn)
        return [
            {"idam": r.idam, "name": r.name, "vendor": r.vendor, "version": r.version, "category": r.category}
            for r in rows
        ]

    def register_structure(self, identifier: str, name: str, department: str = "") -> None:
        department = department or department_of_structure(identifier)
        with self.db.write() as conn:
            store.replace_structure(conn, identifier, name, department)
        self._structures.pop(identifier, None)

    def _lookup(
        self, read: Callable[[store.Connection, str], tuple[str, ...] | None], key: str, cache: dict
    ) -> tuple[str, ...] | None:
        if key in cache:
            return cache[key]
        with self.db.read() as conn:
            value = read(conn, key)
        if value:
            cache[key] = value
        return value

    def authorise(self, ctx: CallContext) -> CallContext:
        """Check the software (IDAM) and the structure; return the context completed with vendor and département."""
        software = self._lookup(store.software, ctx.software, self._software) if ctx.software else None
        if software is None:
            raise UnknownSoftware("Numéro d'autorisation du logiciel inconnu.")
        structure = self._lookup(store.structure, ctx.structure, self._structures) if ctx.structure else None
        if structure is None:
            raise StructureNotAuthorised(f"structure '{ctx.structure}' non habilitée au téléservice INSi")
        extra = {**ctx.extra, "vendor": software[1], "software_name": software[0]}
        return CallContext(
            ctx.structure, ctx.software, ctx.software_version, ctx.professional, ctx.message_id, structure[1], extra
        )

    def issue_certificate(
        self,
        actor: Actor,
        authority: pki.Authority,
        structure: str,
        idam: str,
        *,
        directory: Path | None = None,
        validity: timedelta = pki.STRUCTURE_VALIDITY,
    ) -> pki.Issued:
        """A software certificate for INSi, issued only to a habilitated structure for a known
        software: its subject names both (OU, CN), which is what binds it to the habilitation."""
        software = self._lookup(store.software, idam, self._software)
        if software is None:
            raise UnknownSoftware(f"logiciel '{idam}' inconnu du téléservice INSi")
        found = self._lookup(store.structure, structure, self._structures)
        if found is None:
            raise StructureNotAuthorised(f"structure '{structure}' non habilitée au téléservice INSi")
        issued = authority.issue_structure(structure, idam, found[0], directory=directory, validity=validity)
        # a credential issued: the security event of key issuance (nothing else is written)
        self.trail.security(
            "cle-emise",
            actor,
            detail={
                "type": "certificat",
                "service": "insi",
                "structure": structure,
                "idam": idam,
                "certificat": issued.fingerprint(),
            },
        )
        return issued

    # --- the caller's certificate ----------------------------------------------------------------

    def require_credential(self, credential: Credential, source: str) -> None:
        """Refuse, before reading the request, a network call that brings no acceptable credential."""
        if credential is None:
            self._certificate_refused(audit.anonymous(source), {"raison": "aucun certificat client", "source": source})
            raise CertificateMissing(
                "Aucun certificat d'authentification présenté : le téléservice INSi exige le "
                "certificat logiciel de la structure appelante."
            )

    def check_certificate(self, ctx: CallContext, credential: Credential, source: str) -> None:
        """The certificate must be the ContexteLPS's structure and software (a certificate is
        bound to one habilitated structure; the habilitation itself is checked by `authorise`)."""
        self.require_credential(credential, source)
        if isinstance(credential, DevelopmentAccess):
            return
        assert isinstance(credential, StructureCertificate)
        if (credential.structure, credential.software) == (ctx.structure, ctx.software):
            return
        actor = Actor(
            person=f"certificat:{credential.fingerprint[:16]}",
            structure=credential.structure,
            software=credential.software,
        )
        self._certificate_refused(
            actor,
            {
                "raison": "certificat d'une autre structure ou d'un autre logiciel",
                "source": source,
                "structure_annoncee": ctx.structure,
                "logiciel_annonce": ctx.software,
                "certificat": credential.fingerprint,
                "sujet": credential.subject,
            },
        )
        raise CertificateRefused(
            f"Le certificat présenté ({credential.subject}) n'est pas celui de la structure "
            f"'{ctx.structure}' et du logiciel '{ctx.software}' du ContexteLPS."
        )

    def _certificate_refused(self, actor: Actor, detail: dict) -> None:
        self.trail.security("certificat-refuse", actor, outcome="failure", detail={"service": "insi", **detail})

    # --- the two operations ----------------------------------------------------------------------

    # Each operation audits the call before it returns. A caller that passes `receipts` gets the
    # pending audit record's future appended instead, and must not answer before it completes.

    def search_by_traits(self, ctx: CallContext, query: TraitsQuery, *, receipts: list | None = None) -> InsiResult:
        return self._call(OP_TRAITS, ctx, lambda: self.referential.search_by_traits(query), receipts)

    def search_by_carte_vitale(
        self, ctx: CallContext, query: CarteVitaleQuery, *, receipts: list | None = None
    ) -> InsiResult:
        return self._call(OP_CARTE_VITALE, ctx, lambda: self.referential.search_by_carte_vitale(query), receipts)

    def _call(self, operation: str, ctx: CallContext, run, receipts: list | None) -> InsiResult:
        try:
            ctx = self.authorise(ctx)
            result = run()
        except MaisonError as exc:
            self._audit(operation, ctx, receipts, outcome="failure", detail={"error": exc.code})
            raise
        patient = result.individu.active.value if result.individu else None
        self._audit(operation, ctx, receipts, outcome="success", patient=patient, detail={"cr": result.code.value})
        return result

    def _audit(
        self,
        operation: str,
        ctx: CallContext,
        receipts: list | None,
        *,
        outcome: str,
        patient: str | None = None,
        detail: dict,
    ) -> None:
        actor = Actor(
            person=ctx.professional or f"structure:{ctx.structure}",
            structure=ctx.structure or "inconnue",
            software=ctx.software or "inconnu",
            department=ctx.department,
            extra={
                k: v
                for k, v in {
                    "vendor": ctx.extra.get("vendor", ""),
                    "message_id": ctx.message_id,
                    "software_version": ctx.software_version,
                }.items()
                if v
            },
        )
        fields = {"outcome": outcome, "patient": patient, "purpose": "TREAT", "detail": detail}
        if receipts is None:
            self.trail.read(actor, operation, **fields)
        else:
            receipts.append(self.trail.read_later(actor, operation, **fields))
