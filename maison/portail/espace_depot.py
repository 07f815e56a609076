"""The patient's own documents: the upload page of Mon espace santé (issue 24 §1; 000 L3267-3269).

The form sends the file as `multipart/form-data` (`maison.portail.upload`); the page then calls
`Espace.deposit`, the function the API's `POST /espace/documents` calls, as the same patient Actor:
the same categories (the DOCPATxx items of JDV_J07 reserved to the patient, DOCPAT08 excepted — Mon
espace santé writes the profil médical synthesis itself), the same accepted types checked by their
signature (PDF, JPEG, PNG), the same size limit and the same French errors, the same audit record.

She may withdraw a document she deposited (000 L3267-3269: her items are hers to read and write), after
a confirmation page: `Espace.remove_document`, what `DELETE /espace/documents/{id}` calls, which refuses
a professional's document (those she may only mask: `masquage.html`) and records the withdrawal. With
htmx the confirmation opens in the document's page and the answer replaces its content.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from maison.core.authz import public
from maison.core.errors import UnsupportedMediaType
from maison.formats.path_ids import FhirId
from maison.partage.espace.documents import PROFILE_SYNTHESIS, SIGNATURES
from maison.partage.espace.service import Espace
from maison.portail.fragments import Notice, changed
from maison.portail.patient import BASE, SESSION_PAGE, PatientPortal
from maison.portail.upload import is_multipart, read_upload
from maison.portail.web import PortalRoute, check_token, page, read_form, wants_fragment

PAGE = f"{BASE}/depot"
FORM_MARGIN = 1_048_576  # the form's own fields and boundaries, beyond the document itself
KINDS = {"application/pdf": "PDF", "image/jpeg": "image JPEG", "image/png": "image PNG"}


def router(portal: PatientPortal, espace: Espace) -> APIRouter:
    r = APIRouter(route_class=PortalRoute)
    # a file a little too big still reaches the service, which answers with its own limit and words
    max_body = espace.max_document_bytes + FORM_MARGIN

    def categories() -> list[tuple[str, str]]:
        return sorted(
            ((code, label) for code, label in espace.categories().items() if code != PROFILE_SYNTHESIS),
            key=lambda item: item[1],
        )

    @r.get("/depot")
    @public(SESSION_PAGE)
    async def form(request: Request) -> Response:
        session = portal.session(request)
        context = portal.context(
            session,
            PAGE,
            categories=categories(),
            kinds=", ".join(KINDS[k] for k in SIGNATURES),
            accept=",".join(SIGNATURES),
            max_mo=f"{espace.max_document_bytes / 1_000_000:g}",
        )
        return page("depot.html", **context)

    @r.post("/depot")
    @public(SESSION_PAGE)
    async def deposit(request: Request) -> Response:
        session = portal.session(request)
        if not is_multipart(request):  # the CSRF check first, as for every other form
            check_token(session.csrf, await read_form(request), request)
            raise UnsupportedMediaType("le document s'envoie en multipart/form-data", code="type-formulaire")
        upload = await read_upload(request, max_body)
        check_token(session.csrf, upload.fields, request)
        id_ = await run_in_threadpool(
            espace.deposit,
            portal.who(session),
            upload.fields.get("categorie", ""),
            upload.fields.get("titre", ""),
            upload.content_type,
            upload.data,
        )
        return RedirectResponse(f"{BASE}/documents/{id_}", 303)

    @r.get("/documents/{id_}/retrait")
    @public(SESSION_PAGE)
    async def withdrawal(id_: FhirId, request: Request) -> Response:
        """The confirmation: in the document's page (htmx) or a page of its own (without JavaScript)."""
        session = portal.session(request)
        entry = await run_in_threadpool(portal.dmp.document, portal.who(session), id_)
        if wants_fragment(request):
            return page("retrait.html", d=portal.view(entry), csrf=session.csrf)
        return page("retrait_page.html", **portal.context(session, "", d=portal.view(entry)))

    @r.post("/documents/{id_}/retrait")
    @public(SESSION_PAGE)
    async def withdraw(id_: FhirId, request: Request) -> Response:
        session, _ = await portal.posted(request)
        who = portal.who(session)

        def answer(notice: Notice) -> Response:
            return page("retrait_fait.html", notice=notice, id=id_)

        return await changed(
            request,
            lambda: espace.remove_document(who, id_),
            f"{BASE}/dossier",
            answer,
            "Le document a été retiré de votre dossier : les professionnels de santé ne le voient plus.",
        )

    return r
