"""The API's documentation page, served by the house itself (issue 21 §3.2).

FastAPI's `/docs` loads Swagger UI from a CDN (jsdelivr): on a vendor's machine without Internet, or
behind a hospital's proxy, the page stayed blank. The same Swagger UI is served here from the
`swagger-ui-bundle` package (Apache 2.0), under `/docs/assets`; the page names no other host.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from maison.core.authz import public

ASSETS = "/docs/assets"
WHY = "la documentation de l'API (OpenAPI), publique comme le document qu'elle affiche"


def api_docs(app: FastAPI) -> None:
    """`/docs`, its OAuth 2.0 redirect page and Swagger UI's files, all from this house."""
    app.mount(ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    @public(WHY)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} — API",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon-32x32.png",
            oauth2_redirect_url="/docs/oauth2-redirect",
        )

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    @public(WHY)
    async def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()
