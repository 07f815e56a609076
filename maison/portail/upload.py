"""A file sent by an HTML form: `multipart/form-data` (RFC 7578) read without a third-party parser.

The portal's upload forms send one file and a few text fields. The body is read size-bounded
(`read_limited`), cut at its boundary lines (RFC 2046 §5.1.1; RFC 7578 §4.1: CRLF before each
delimiter), and each part's `Content-Disposition: form-data; name=…; filename=…` and `Content-Type`
headers read by the standard library's header parser. A field given twice is refused, as
`web.read_form` refuses it (a smuggled second `csrf`); a malformed body is a 400 in French.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message
from email.parser import HeaderParser

from fastapi import Request

from maison.core.errors import InvalidInput
from maison.formats.body import read_limited

MAX_PARTS = 16


@dataclass(frozen=True)
class Upload:
    """The form's text fields and its one file (None when no file was chosen)."""

    fields: dict[str, str]
    filename: str | None
    content_type: str
    data: bytes


def is_multipart(request: Request) -> bool:
    return request.headers.get("content-type", "").split(";")[0].strip().lower() == "multipart/form-data"


def _boundary(request: Request) -> bytes:
    holder = Message()
    holder["Content-Type"] = request.headers.get("content-type", "")
    boundary = holder.get_param("boundary")
    if not isinstance(boundary, str) or not 0 < len(boundary) <= 70 or not boundary.isascii():
        raise InvalidInput("formulaire multipart sans délimiteur (boundary) valide", code="formulaire-invalide")
    return boundary.encode("ascii")


async def read_upload(request: Request, max_bytes: int) -> Upload:
    """The form of a `multipart/form-data` request of at most `max_bytes` (413 beyond)."""
    mark = b"\r\n--" + _boundary(request)
    body = b"\r\n" + await read_limited(request, max_bytes)
    chunks = body.split(mark)
    if len(chunks) < 3 or not chunks[-1].startswith(b"--"):
        raise InvalidInput("formulaire multipart mal formé", code="formulaire-invalide")
    if len(chunks) - 2 > MAX_PARTS:
        raise InvalidInput(f"formulaire de plus de {MAX_PARTS} champs", code="formulaire-invalide")
    fields: dict[str, str] = {}
    file: tuple[str, str, str, bytes] | None = None  # field name, file name, declared type, bytes
    for chunk in chunks[1:-1]:
        head, separator, content = chunk.partition(b"\r\n\r\n")
        if not separator:
            raise InvalidInput("partie de formulaire sans en-têtes", code="formulaire-invalide")
        headers = HeaderParser().parsestr(head.decode("utf-8", errors="replace").lstrip(" \t").removeprefix("\r\n"))
        name = headers.get_param("name", header="content-disposition")
        if not isinstance(name, str) or not name:
            raise InvalidInput("partie de formulaire sans nom", code="formulaire-invalide")
        if name in fields or (file is not None and name == file[0]):
            raise InvalidInput("champ de formulaire répété", code="champ-repete")
        filename = headers.get_param("filename", header="content-disposition")
        if isinstance(filename, str):
            if file is not None:
                raise InvalidInput("un seul fichier par envoi", code="champ-repete")
            file = (name, filename, headers.get_content_type() if headers.get("content-type") else "", content)
        else:
            fields[name] = content.decode("utf-8", errors="replace")
    if file is None or not file[1]:  # a file input left empty sends an empty filename
        return Upload(fields, None, "", b"")
    return Upload(fields, file[1], file[2], file[3])
