"""How a patient's browser receives an attachment a professional sent (issue 18 §2.4, §3).

The filename and the Content-Type come from the sender's message: neither may reach the response
as written. So:

- the name is given twice, as RFC 6266 §4.3 advises: `filename*=UTF-8''…` (RFC 8187 percent
  encoding, any Unicode name) and an ASCII `filename="…"` fallback with its accents folded and
  anything else replaced — no quote, backslash, control character or path separator survives, so
  nothing can end the header or add another (a name that is not Latin-1 no longer fails the response);
- the type is one of a few the browser handles safely as a download (PDF, images without script,
  plain text, ZIP archives), anything else — HTML, SVG, XML with its style sheets — is sent as
  `application/octet-stream`; `X-Content-Type-Options: nosniff` keeps the browser from guessing
  again, `Content-Disposition: attachment` from rendering it in Mon espace santé's origin, and
  `Content-Security-Policy: sandbox` confines it if it is opened anyway (OWASP File Upload Cheat Sheet).
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

from starlette.responses import Response

SAFE_TYPES = frozenset({"application/pdf", "image/jpeg", "image/png", "image/gif", "text/plain", "application/zip"})
FALLBACK_TYPE = "application/octet-stream"
DEFAULT_NAME = "piece-jointe"
_UNSAFE_ASCII = re.compile(r"[^A-Za-z0-9._ ()+-]")


def safe_type(content_type: str) -> str:
    media = content_type.split(";", 1)[0].strip().lower()
    return media if media in SAFE_TYPES else FALLBACK_TYPE


def _clean(name: str) -> str:
    """The name without control characters or path: what the patient's system will save it as."""
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C")
    name = name.replace("\\", "/").rpartition("/")[2].strip(" .")
    return name[:200]


def content_disposition(filename: str) -> str:
    name = _clean(filename) or DEFAULT_NAME
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    ascii_name = _UNSAFE_ASCII.sub("_", folded).strip(" .") or DEFAULT_NAME
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


def _guarded(data: bytes, media_type: str, filename: str) -> Response:
    return Response(
        data,
        media_type=media_type,
        headers={
            "Content-Disposition": content_disposition(filename),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )


def attachment_response(data: bytes, filename: str, content_type: str) -> Response:
    """An attachment as its sender declared it: the name and the type made safe."""
    return _guarded(data, safe_type(content_type), filename)


def received_document_response(data: bytes, media_type: str, filename: str) -> Response:
    """A document a sender wrote (a CDA received by the PFI), in a type the house chose: XML that a
    browser would render — with an XHTML script or an xml-stylesheet — is downloaded, not run."""
    return _guarded(data, media_type, filename)
