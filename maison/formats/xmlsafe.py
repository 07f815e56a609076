"""Parsing XML that comes from outside, safely.

Untrusted XML is refused before it can hurt: no DTD at all (SOAP 1.2 forbids them, and CDA and
XDM metadata never need one — a DTD is how entity-expansion bombs and external entities come
in), no network access, no entity resolution, a size limit checked before parsing and libxml2's
default depth and text-size limits (no `huge_tree`).
"""

from __future__ import annotations

import re

from lxml import etree

from maison.core.errors import MalformedRequest, TooLarge

_DOCTYPE = re.compile(rb"<!DOCTYPE|<!ENTITY", re.IGNORECASE)


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
    )


_PARSER = _parser()


class ForbiddenXml(MalformedRequest):
    code = "xml-dtd-interdit"


def parse(data: bytes, *, max_bytes: int = 10_000_000) -> etree._Element:
    """Parse untrusted bytes into an element; raise MalformedRequest/TooLarge/ForbiddenXml precisely."""
    if len(data) > max_bytes:
        raise TooLarge(f"document de {len(data)} octets, limite {max_bytes}")
    scanned = data
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        scanned = data.decode("utf-16", errors="ignore").encode()
    if _DOCTYPE.search(scanned):
        raise ForbiddenXml("déclaration DOCTYPE/ENTITY interdite")
    try:
        root = etree.fromstring(data, parser=_PARSER)
    except etree.XMLSyntaxError as exc:
        raise MalformedRequest(f"XML mal formé : {exc.msg}", code="xml-mal-forme") from None
    if root.getroottree().docinfo.doctype:
        raise ForbiddenXml("déclaration DOCTYPE interdite")
    return root


def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def namespace(tag: str) -> str:
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""
