"""The files a structure uploads as evidence of a prerequisite, treated as hostile.

Seed 004 asks for documents: a signed PSSI, meeting minutes, an audit attestation, screenshots
(004 L412, L516-527, L586-587, L657, L683, L734-737). They are kept in the house's blob store
(`maison.core.blobs`: content-addressed, encrypted at rest, checked on every read). An upload is
refused before anything is stored when it is empty, larger than `MAX_BYTES`, or not one of the types
such documents come in — PDF, PNG, JPEG — as its first bytes say (the name and the type the
uploader gives are not believed). Its name is kept only as a label: the last path segment, printable
characters only, at most 200 of them.
"""

from __future__ import annotations

import unicodedata

from maison.core.blobs import Blobs
from maison.core.errors import InvalidInput, TooLarge, UnsupportedMediaType
from maison.observatoire.prerequis.model import Evidence

MAX_BYTES = 20_000_000  # a scanned, signed PSSI of a hundred pages fits; a video does not

# The signatures that decide a file's type (ISO 32000-1 §7.5.2, PNG §5.2, JPEG/JFIF SOI + marker).
SIGNATURES = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)


def media_type(data: bytes) -> str | None:
    return next((kind for magic, kind in SIGNATURES if data.startswith(magic)), None)


def label(filename: str) -> str:
    """The name shown beside the evidence: no directory, no control or format character."""
    last = filename.replace("\\", "/").rsplit("/", 1)[-1]
    kept = "".join(c for c in last if unicodedata.category(c)[0] not in "CZ" or c == " ").strip()
    return kept[:200] or "preuve"


def accept(blobs: Blobs, data: bytes, filename: str) -> Evidence:
    """Check the upload, then store it durably (before the row that names it commits)."""
    if not data:
        raise InvalidInput("pièce justificative vide", code="preuve-vide")
    if len(data) > MAX_BYTES:
        raise TooLarge(f"pièce justificative de {len(data)} octets, limite {MAX_BYTES}", code="preuve-trop-grande")
    kind = media_type(data)
    if kind is None:
        raise UnsupportedMediaType(
            "pièce justificative refusée : PDF, PNG ou JPEG attendu (type lu dans le contenu)",
            code="preuve-type-refuse",
        )
    return Evidence(blobs.put(data), label(filename), kind, len(data))
