"""SOAP 1.2 envelopes: read a request safely, write an answer or a fault.

A request is read by `read_envelope`, which refuses (with a `SoapFault`, never an exception that
becomes a 500): a body over the size limit, XML with a DTD or entities, malformed XML, a SOAP 1.1
envelope (VersionMismatch), a header block marked mustUnderstand that nobody here understands,
and an envelope without exactly one body element. Faults follow SOAP 1.2 §5.4: Code/Value
(Sender or Receiver), an optional Subcode, Reason/Text in French, and a Detail carrying the
service's own error element (for INSi, `siram:Erreur` with `code` and `severite`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from lxml import etree

from maison.core.errors import MaisonError, TooLarge
from maison.formats import xmlsafe

SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
WSA = "http://www.w3.org/2005/08/addressing"
CONTENT_TYPE = "application/soap+xml; charset=utf-8"


@dataclass
class SoapFault(Exception):
    """A fault to send back. `value` is Sender (the caller's fault) or Receiver (ours)."""

    reason: str
    value: str = "Sender"
    subcode: str | None = None
    detail: etree._Element | None = None
    http_status: int = 400
    code: str = "soap"

    def __str__(self) -> str:
        return f"{self.value}/{self.subcode or '-'}: {self.reason}"


@dataclass
class Envelope:
    headers: dict[str, etree._Element] = field(default_factory=dict)  # Clark name -> element
    body: etree._Element | None = None
    action: str = ""


def _action_from_content_type(content_type: str) -> str:
    for part in content_type.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "action":
            return value.strip().strip('"')
    return ""


def read_envelope(data: bytes, content_type: str, *, max_bytes: int, understood: set[str]) -> Envelope:
    """Parse and check a SOAP 1.2 request. `understood` lists the header blocks (Clark names) we process."""
    media = content_type.split(";")[0].strip().lower()
    try:
        root = xmlsafe.parse(data, max_bytes=max_bytes)
    except TooLarge as exc:
        raise SoapFault(exc.message, subcode="TailleExcessive", http_status=413, code="too-large") from None
    except MaisonError as exc:
        raise SoapFault(exc.message, subcode="XmlInvalide", code=exc.code) from None
    if root.tag == f"{{{SOAP11}}}Envelope":
        raise SoapFault("enveloppe SOAP 1.1 : ce service parle SOAP 1.2", value="VersionMismatch", code="version")
    if root.tag != f"{{{SOAP12}}}Envelope":
        raise SoapFault(
            f"élément racine {root.tag} : Envelope SOAP 1.2 attendue", value="VersionMismatch", code="version"
        )
    if media not in ("application/soap+xml", ""):
        raise SoapFault(
            f"type de contenu {media} : application/soap+xml attendu",
            subcode="TypeContenu",
            http_status=415,
            code="content-type",
        )
    env = Envelope(action=_action_from_content_type(content_type))
    children = list(root)
    for child in children:
        if child.tag == f"{{{SOAP12}}}Header":
            for block in child:
                if not isinstance(block.tag, str):
                    continue
                must = block.get(f"{{{SOAP12}}}mustUnderstand") in ("true", "1")
                if must and block.tag not in understood:
                    raise SoapFault(f"en-tête {block.tag} non compris", value="MustUnderstand", code="must-understand")
                env.headers[block.tag] = block
        elif child.tag == f"{{{SOAP12}}}Body":
            parts = [c for c in child if isinstance(c.tag, str)]
            if len(parts) != 1:
                raise SoapFault(
                    f"Body : un seul élément attendu, {len(parts)} reçus", subcode="CorpsInvalide", code="body"
                )
            env.body = parts[0]
        else:
            raise SoapFault(
                f"élément {child.tag} inattendu dans l'enveloppe", subcode="EnveloppeInvalide", code="envelope"
            )
    if env.body is None:
        raise SoapFault("Body absent", subcode="CorpsInvalide", code="body")
    action_header = env.headers.get(f"{{{WSA}}}Action")
    if action_header is not None and action_header.text:
        env.action = env.action or action_header.text.strip()
    return env


def envelope_bytes(body: etree._Element, headers: Sequence[etree._Element] = ()) -> bytes:
    nsmap = {"soap": SOAP12}
    env = etree.Element(f"{{{SOAP12}}}Envelope", nsmap=nsmap)
    if headers:
        header = etree.SubElement(env, f"{{{SOAP12}}}Header")
        header.extend(headers)
    etree.SubElement(env, f"{{{SOAP12}}}Body").append(body)
    data: bytes = etree.tostring(env, xml_declaration=True, encoding="UTF-8")
    return data


def fault_bytes(fault: SoapFault) -> bytes:
    """The fault's envelope. `Subcode/Value` is a QName (SOAP 1.2 part 1 §5.4.6.1) in the envelope's
    own namespace (`soap:siram_100`), as the INSi teleservice writes it and its clients read it."""
    f = etree.Element(f"{{{SOAP12}}}Fault", nsmap={"soap": SOAP12})
    code = etree.SubElement(f, f"{{{SOAP12}}}Code")
    etree.SubElement(code, f"{{{SOAP12}}}Value").text = f"soap:{fault.value}"
    if fault.subcode:
        sub = etree.SubElement(code, f"{{{SOAP12}}}Subcode")
        etree.SubElement(sub, f"{{{SOAP12}}}Value").text = f"soap:{fault.subcode}"
    reason = etree.SubElement(f, f"{{{SOAP12}}}Reason")
    text = etree.SubElement(reason, f"{{{SOAP12}}}Text")
    text.set("{http://www.w3.org/XML/1998/namespace}lang", "fr")
    text.text = fault.reason
    if fault.detail is not None:
        etree.SubElement(f, f"{{{SOAP12}}}Detail").append(fault.detail)
    return envelope_bytes(f)
