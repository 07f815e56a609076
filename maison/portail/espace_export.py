"""The full export of Mon espace santé, downloaded from the portal: `/mon-espace/export` (issue 24 §1).

The same archive as `GET /espace/export` (`maison.partage.espace.export.export_archive`: the FHIR
Bundle, the documents' original bytes, the wishes, the access history, SHA256SUMS, a French
LISEZMOI), built as the same patient `Actor`, so it reads through the same access rules and leaves
the same audit records. A page says what the archive holds before the download.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from maison.core.authz import public
from maison.partage.espace.export import export_archive
from maison.partage.espace.service import Espace
from maison.portail.patient import BASE, SESSION_PAGE, PatientPortal
from maison.portail.web import PortalRoute, page

HERE = f"{BASE}/export"


def router(portal: PatientPortal, espace: Espace) -> APIRouter:
    r = APIRouter(route_class=PortalRoute)

    @r.get("/export")
    @public(SESSION_PAGE)
    async def export_page(request: Request) -> Response:
        session = portal.session(request)
        return page("export.html", **portal.context(session, HERE))

    @r.get("/export/mon-espace-sante.zip")
    @public(SESSION_PAGE)
    async def export(request: Request) -> Response:
        session = portal.session(request)
        data = await run_in_threadpool(export_archive, espace, portal.who(session))
        return Response(
            data,
            media_type="application/zip",
            headers={"Content-Disposition": 'attachment; filename="mon-espace-sante.zip"'},
        )

    return r
