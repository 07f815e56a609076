"""A structure's desks for its staff, as web pages: `/pro/etablissement/{structure}` (issue 24 §2).

- the PFI (`…/pfi`): the documents the structure's DPI sent over HL7 v2, each leg they owed (the DMP,
  MSSanté) with its outcome and each ZAM sent back (`pfi.suivi.Suivi`); and the worklist of documents
  received by MSSanté that wait for a human (`pfi.service.Worklist`, the API's `/pfi/liste-travail`):
  read the CDA, attach it to a patient of the index, or reject it — the retry the service allows;
  a leg left to do is taken up again by the MLLP process itself (`Hl7Documents.resume`);
- the identitovigilance desk (`…/identitovigilance`): the index's identities with their status, the
  INS retrieved from INSi (the API's `$recuperer-ins`: INSi over SOAP as the professional's structure
  and software, then `PatientIndex.record_insi_result`) and the check of an identity document that
  validates or qualifies one (`PatientIndex.check_document`, the API's `$verifier-piece`); the doublons
  and collisions to review (`detect_duplicates`, `reviews`, `merge`, `dismiss_review`: the cell API's
  `/detection`, `/alertes`); the cell's semester report, its meetings, incidents and procedures
  (`Cellule.report`, `record_meeting`, `report_incident`, `adopt_procedure`: the cell API's `/rapport`,
  `/reunions`, `/incidents`, `/procedures`).

Who: the API's routes take HOSPITAL_STAFF and act for the caller's own structure; so do these pages.
The structure in the address must be the one the professional acts in (his login's): anyone else gets
the French 403 page, and the refusal is recorded (`portail.etablissement`, `hors-structure`) as the
index's own refusals are.
"""

from __future__ import annotations

import json
from datetime import date

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from maison.core import audit
from maison.core.actor import Actor
from maison.core.authz import public
from maison.core.blobs import Blobs
from maison.core.errors import Forbidden, InvalidInput, NotFound
from maison.core.storage import Database
from maison.etablissement.insi.client import ClientIdentity, InsiFault
from maison.etablissement.insi.transport import InsiGateway
from maison.etablissement.pfi.service import Worklist
from maison.etablissement.pfi.suivi import Suivi
from maison.etablissement.vigilance.cellule import INCIDENT_KINDS, REQUIRED_PROCEDURES, Cellule, Semester
from maison.etablissement.vigilance.model import DOCUMENT_TYPES, HIGH_TRUST_DOCUMENTS, LocalIdentity, Status
from maison.etablissement.vigilance.service import PatientIndex
from maison.formats.download import received_document_response
from maison.formats.path_ids import FhirId, RowId
from maison.portail.pro_pages import BASE, SESSION_PAGE, ProPages
from maison.portail.web import page

STATUS_LABELS = {
    "PROV": "provisoire",
    "VALI": "validée",
    "RECUP": "récupérée",
    "QUAL": "qualifiée",
}
LEG_STATES = {
    "a-faire": "à faire",
    "accepte": "accepté",
    "refuse": "refusé",
    "envoye": "envoyé",
    "distribue": "distribué",
    "echec": "échec",
    "lu": "lu",
}
WORKLIST_STATES = {"a-traiter": "à traiter", "rattache": "rattachés", "rejete": "rejetés"}
ZAM_EVENTS = {"Z01": "dépôt DMP", "Z02": "réception MSSanté", "Z03": "lecture MSSanté"}


def _int(text: str, what: str) -> int:
    text = text.strip()
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) < 2**31:
        raise InvalidInput(f"{what} : identifiant local (entier) attendu", code="formulaire-entier")
    return int(text)


class Etablissement:
    """The services the desks call, for one house."""

    def __init__(
        self,
        db: Database,
        blobs: Blobs,
        patients: PatientIndex,
        cellule: Cellule,
        trail: audit.Trail,
        insi: InsiGateway,
    ) -> None:
        self.db, self.blobs, self.patients, self.cellule, self.trail = db, blobs, patients, cellule, trail
        self.suivi = Suivi(db, trail)
        self.insi = insi

    async def recover_ins(self, actor: Actor, patient_id: int) -> LocalIdentity:
        """As the API's `$recuperer-ins`: INSi over SOAP with the record's traits, as the professional's
        structure and software call it (the retry rule in the client), then the index's association
        (00: RECUP, or QUAL once a document was checked; any other answer refused with INSi's advice)."""
        current = await run_in_threadpool(self.patients.get, actor, patient_id)
        me = ClientIdentity(actor.structure, actor.software, professional=actor.person)
        try:
            found = await self.insi.lookup(me, current.traits)
        except InsiFault as fault:
            raise fault.error() from None
        return await run_in_threadpool(self.patients.record_insi_result, actor, patient_id, found.result)

    def worklist(self, actor: Actor) -> Worklist:
        """As the API builds it: the caller's own structure's."""
        return Worklist(self.db, self.blobs, actor.structure, patients=self.patients)

    def staff(self, actor: Actor, structure: str) -> None:
        """Only a professional acting in `structure` uses its desks; a refusal leaves its record."""
        if not actor.structure or actor.structure != structure:
            self.trail.refused(actor, "portail.etablissement", code="hors-structure", detail={"structure": structure})
            raise Forbidden(
                f"{actor.person} n'exerce pas dans la structure {structure} : ses bureaux lui sont fermés",
                code="hors-structure",
            )


def router(pages: ProPages, etablissement: Etablissement) -> APIRouter:
    r = APIRouter(route_class=pages.route_class)
    patients, cellule = etablissement.patients, etablissement.cellule

    def staff(request: Request, structure: str):
        session, actor = pages.caller(request)
        etablissement.staff(actor, structure)
        return session, actor

    async def posted(request: Request, structure: str):
        session, actor, form = await pages.posted(request)
        etablissement.staff(actor, structure)
        return session, actor, form

    def back(structure: str, desk: str, anchor: str = "") -> RedirectResponse:
        return RedirectResponse(f"{BASE}/etablissement/{structure}/{desk}{anchor}", 303)

    @r.get("")
    @public(SESSION_PAGE)
    async def own(request: Request) -> Response:
        """The navigation's entry: the desks of the structure the professional acts in."""
        _session, actor = pages.caller(request)
        if not actor.structure:
            raise Forbidden(f"{actor.person} n'exerce dans aucune structure", code="structure-absente")
        return RedirectResponse(f"{BASE}/etablissement/{actor.structure}", 303)

    @r.get("/{structure}")
    @public(SESSION_PAGE)
    async def home(structure: FhirId, request: Request) -> Response:
        session, _actor = staff(request, structure)
        here = f"{BASE}/etablissement"
        return page("pro_etablissement.html", **pages.context(session, here, structure=structure))

    # --- the PFI ------------------------------------------------------------------------------------

    @r.get("/{structure}/pfi")
    @public(SESSION_PAGE)
    async def pfi(structure: FhirId, request: Request) -> Response:
        session, actor = staff(request, structure)
        state = request.query_params.get("etat", "a-traiter")
        if state not in WORKLIST_STATES:
            raise InvalidInput(f"etat : {', '.join(WORKLIST_STATES)}", code="etat")
        worklist = etablissement.worklist(actor)
        entries = await run_in_threadpool(worklist.worklist, actor, state)
        received = await run_in_threadpool(etablissement.suivi.received, actor)
        waiting = [
            {
                "id": w.id,
                "code": w.code,
                "reason": w.reason,
                "ins": w.ins or "",
                "mailbox": w.mailbox,
                "received": w.created_at[:16].replace("T", " "),
                "candidates": json.loads(w.candidates),
            }
            for w in entries
        ]
        context = pages.context(
            session,
            f"{BASE}/etablissement",
            structure=structure,
            state=state,
            states=WORKLIST_STATES,
            waiting=waiting,
            received=received,
            leg_states=LEG_STATES,
            zam_events=ZAM_EVENTS,
        )
        return page("pro_pfi.html", **context)

    @r.get("/{structure}/pfi/{entry}/document")
    @public(SESSION_PAGE)
    async def pfi_document(structure: FhirId, entry: FhirId, request: Request) -> Response:
        _session, actor = staff(request, structure)
        _row, cda = await run_in_threadpool(etablissement.worklist(actor).document, actor, entry)
        return received_document_response(cda, "text/xml", f"{entry}.xml")  # the sender's XML, not run

    @r.post("/{structure}/pfi/{entry}/rattacher")
    @public(SESSION_PAGE)
    async def pfi_attach(structure: FhirId, entry: FhirId, request: Request) -> Response:
        _session, actor, form = await posted(request, structure)
        patient = _int(form.get("patient", ""), "patient")
        await run_in_threadpool(etablissement.worklist(actor).attach, actor, entry, patient)
        return back(structure, "pfi")

    @r.post("/{structure}/pfi/{entry}/rejeter")
    @public(SESSION_PAGE)
    async def pfi_reject(structure: FhirId, entry: FhirId, request: Request) -> Response:
        _session, actor, form = await posted(request, structure)
        reason = form.get("motif", "").strip()
        if not reason:
            raise InvalidInput("motif du rejet : obligatoire", code="motif")
        await run_in_threadpool(etablissement.worklist(actor).reject, actor, entry, reason)
        return back(structure, "pfi")

    # --- the identitovigilance desk -----------------------------------------------------------------

    @r.get("/{structure}/identitovigilance")
    @public(SESSION_PAGE)
    async def desk(structure: FhirId, request: Request) -> Response:
        session, actor = staff(request, structure)
        semester = request.query_params.get("semestre") or str(Semester.of(date.today()))
        identities, total = await run_in_threadpool(lambda: patients.search_page(actor, limit=50))
        alerts = await run_in_threadpool(patients.reviews, actor, structure, "ouvert")
        report = await run_in_threadpool(cellule.report, actor, semester)
        context = pages.context(
            session,
            f"{BASE}/etablissement",
            structure=structure,
            identities=identities,
            total=total,
            to_qualify=sum(1 for i in identities if i.status is not Status.QUAL),
            statuses=STATUS_LABELS,
            documents={k: v for k, v in DOCUMENT_TYPES.items() if k in HIGH_TRUST_DOCUMENTS},
            alerts=alerts,
            report=report["structures"][0],
            semester=report["semestre"],
            incident_kinds=INCIDENT_KINDS,
            procedure_kinds=REQUIRED_PROCEDURES,
        )
        return page("pro_identitovigilance.html", **context)

    @r.post("/{structure}/identitovigilance/identites/{patient_id}/piece")
    @public(SESSION_PAGE)
    async def check_document(structure: FhirId, patient_id: RowId, request: Request) -> Response:
        _session, actor, form = await posted(request, structure)
        await run_in_threadpool(patients.check_document, actor, patient_id, form.get("piece", ""))
        return back(structure, "identitovigilance", "#identites")

    @r.post("/{structure}/identitovigilance/identites/{patient_id}/insi")
    @public(SESSION_PAGE)
    async def recover_ins(structure: FhirId, patient_id: RowId, request: Request) -> Response:
        _session, actor, _form = await posted(request, structure)
        await etablissement.recover_ins(actor, patient_id)
        return back(structure, "identitovigilance", "#identites")

    @r.post("/{structure}/identitovigilance/detection")
    @public(SESSION_PAGE)
    async def detection(structure: FhirId, request: Request) -> Response:
        _session, actor, _form = await posted(request, structure)
        await run_in_threadpool(patients.detect_duplicates, actor, structure)
        return back(structure, "identitovigilance", "#alertes")

    def _open_alert(actor: Actor, structure: str, review_id: int) -> dict:
        """As the cell API: an open alert of the caller's structure, else 404."""
        found = next((x for x in patients.reviews(actor, structure, "ouvert") if x["id"] == review_id), None)
        if found is None:
            raise NotFound(f"alerte ouverte {review_id} inconnue", code="alerte-inconnue")
        return found

    @r.post("/{structure}/identitovigilance/alertes/{review_id}/fusion")
    @public(SESSION_PAGE)
    async def merge(structure: FhirId, review_id: RowId, request: Request) -> Response:
        _session, actor, form = await posted(request, structure)
        review = await run_in_threadpool(_open_alert, actor, structure, review_id)
        pair = (review["patient_a"], review["patient_b"])
        keep = _int(form.get("conserver", ""), "dossier conservé")
        if keep not in pair or None in pair:
            raise InvalidInput("le dossier conservé doit être l'un des deux dossiers de l'alerte", code="conserver")
        drop = pair[1] if keep == pair[0] else pair[0]
        await run_in_threadpool(patients.merge, actor, keep, drop, review_id)
        return back(structure, "identitovigilance", "#alertes")

    @r.post("/{structure}/identitovigilance/alertes/{review_id}/ecarter")
    @public(SESSION_PAGE)
    async def dismiss(structure: FhirId, review_id: RowId, request: Request) -> Response:
        _session, actor, _form = await posted(request, structure)
        await run_in_threadpool(_open_alert, actor, structure, review_id)
        await run_in_threadpool(patients.dismiss_review, actor, review_id)
        return back(structure, "identitovigilance", "#alertes")

    @r.post("/{structure}/identitovigilance/incidents")
    @public(SESSION_PAGE)
    async def incident(structure: FhirId, request: Request) -> Response:
        _session, actor, form = await posted(request, structure)
        patient = form.get("patient", "").strip()
        patient_id = _int(patient, "patient concerné") if patient else None
        await run_in_threadpool(
            cellule.report_incident,
            actor,
            form.get("type", ""),
            form.get("description", ""),
            patient_id,
            form.get("date", "").strip() or None,
        )
        return back(structure, "identitovigilance", "#cellule")

    @r.post("/{structure}/identitovigilance/reunions")
    @public(SESSION_PAGE)
    async def meeting(structure: FhirId, request: Request) -> Response:
        _session, actor, form = await posted(request, structure)
        participants = [x.strip() for x in form.get("participants", "").split(",") if x.strip()]
        await run_in_threadpool(
            cellule.record_meeting, actor, form.get("date", "").strip(), form.get("compteRendu", ""), participants
        )
        return back(structure, "identitovigilance", "#cellule")

    @r.post("/{structure}/identitovigilance/procedures")
    @public(SESSION_PAGE)
    async def procedure(structure: FhirId, request: Request) -> Response:
        _session, actor, form = await posted(request, structure)
        await run_in_threadpool(
            cellule.adopt_procedure,
            actor,
            form.get("type", ""),
            form.get("titre", ""),
            form.get("adopteeLe", "").strip(),
            form.get("reference", "").strip(),
        )
        return back(structure, "identitovigilance", "#cellule")

    return r
