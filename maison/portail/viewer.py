"""A DMP document's content as a portal's viewer frame shows it, whoever reads it (patient or professional).

An N1's PDF inline; a structured CDA as the CI-SIS display stylesheet's HTML (`cda_html`); anything
else (a patient's own PDF or image) as it was filed. The frame has its own policy: the stylesheet's
page keeps its inline styles, runs no script at all (sandbox without allow-scripts), and may be
framed by the portal's own document page only.
"""

from __future__ import annotations

import threading
from pathlib import Path

from fastapi import Response

from maison.formats import xmlsafe
from maison.formats.cda.header import embedded_pdf
from maison.partage.dmp.model import DocumentEntry
from maison.portail import cda_html

VIEWER_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'; sandbox"
CDA_TYPES = ("text/xml", "application/xml", "application/hl7-v3+xml")


# Titles already read, by (entry id, version): a list page shows ~100 titles, each in a stored
# DocumentReference of ~2 KB that would otherwise be parsed on every view of the list (a quarter of the
# documents page's CPU). A version is never changed in place (every update makes a new one), so a kept
# title is never stale; only titles of entries the services returned to the caller are kept.
_TITLES: dict[tuple[str, int], str] = {}
_TITLES_KEPT = 50_000
_titles_lock = threading.Lock()


def document_title(entry: DocumentEntry, type_label: str) -> str:
    """What a document list calls an entry: its description, else its attachment's title, else its type."""
    key = (entry.id, entry.version)
    title = _TITLES.get(key)
    if title is None:
        contents = entry.resource.get("content") or [{}]
        attachment = contents[0].get("attachment", {}) if isinstance(contents[0], dict) else {}
        description = entry.resource.get("description") or attachment.get("title")
        title = description if isinstance(description, str) else ""
        with _titles_lock:
            if len(_TITLES) >= _TITLES_KEPT:
                del _TITLES[next(iter(_TITLES))]  # the oldest kept
            _TITLES[key] = title
    return title or type_label


def viewer_response(entry: DocumentEntry, data: bytes, reference_path: Path) -> Response:
    headers = {"Content-Security-Policy": VIEWER_CSP, "X-Frame-Options": "SAMEORIGIN"}
    if entry.content_type in CDA_TYPES:
        pdf = embedded_pdf(xmlsafe.parse(data, max_bytes=len(data) + 1))
        if pdf is not None:
            return inline(pdf, "application/pdf", entry, headers)
        html = cda_html.render(data, reference_path)
        return Response(html, media_type="text/html; charset=utf-8", headers=headers)
    return inline(data, entry.content_type or "application/octet-stream", entry, headers)


def inline(data: bytes, media_type: str, entry: DocumentEntry, headers: dict[str, str]) -> Response:
    extension = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}.get(media_type, "bin")
    disposition = f'inline; filename="document-{entry.id}.{extension}"'
    return Response(data, media_type=media_type, headers={**headers, "Content-Disposition": disposition})
