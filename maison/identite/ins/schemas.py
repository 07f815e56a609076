"""The INSi XML schemas, compiled once from the reference artefacts (`<reference>/insi/xsd`).

The WSDL's own `<types>` imports WS-Addressing from w3.org, which a server must not fetch at run
time; `wsa:MessageID`, `wsa:Action`, `wsa:To` and `wsa:RelatesTo` are simple
`AttributedURIType` elements, declared here in a few lines instead. Everything else is the
reference XSDs, read from the configured reference path, never copied into the repository.
"""

from __future__ import annotations

import functools
from pathlib import Path

from lxml import etree

from maison.formats.insi import NS_CTXBAM, NS_CTXLPS, NS_RECSANS, NS_RECVIT, NS_RESULTAT, NS_SIRAM, NS_WSA, NS_WSSE

_WSA_XSD = b"""<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"
  targetNamespace="http://www.w3.org/2005/08/addressing" elementFormDefault="qualified">
  <xs:complexType name="AttributedURIType">
    <xs:simpleContent><xs:extension base="xs:anyURI"><xs:anyAttribute namespace="##other" processContents="lax"/>
    </xs:extension></xs:simpleContent>
  </xs:complexType>
  <xs:element name="MessageID" type="tns:AttributedURIType" xmlns:tns="http://www.w3.org/2005/08/addressing"/>
  <xs:element name="Action" type="tns:AttributedURIType" xmlns:tns="http://www.w3.org/2005/08/addressing"/>
  <xs:element name="To" type="tns:AttributedURIType" xmlns:tns="http://www.w3.org/2005/08/addressing"/>
  <xs:element name="RelatesTo" type="tns:AttributedURIType" xmlns:tns="http://www.w3.org/2005/08/addressing"/>
</xs:schema>"""

_IMPORTS = {
    NS_RECSANS: "ServiceIdentiteCertifiee/INSi_RECSANS_INS.xsd",
    NS_RECVIT: "ServiceIdentiteCertifiee/INSi_RECVITALE_INS.xsd",
    NS_RESULTAT: "ServiceIdentiteCertifiee/INSi_RESULTAT_INS.xsd",
    NS_WSSE: "WSSE/Security.xsd",
    NS_CTXLPS: "CTX/ROOT_ctxlps_CTXLPS_V01_00.xsd",
    NS_CTXBAM: "CTX/ROOT_ctxbam_CTXBAM_V01_02.xsd",
    NS_SIRAM: "schema_faultSOAP_V01_01.xsd",
}


class MissingReference(RuntimeError):
    """The reference artefacts are not where the configuration says."""


def insi_dir(reference_path: Path) -> Path:
    path = Path(reference_path) / "insi"
    if not (path / "DESIR_ICIR_EXP_1.5.0.wsdl").is_file():
        raise MissingReference(f"INSi WSDL not found under {path} (set MAISON_REFERENCE_PATH)")
    return path


@functools.lru_cache(maxsize=4)
def insi_schema(reference_path: Path) -> etree.XMLSchema:
    """One schema that knows every element an INSi message may carry."""
    xsd = (insi_dir(reference_path) / "xsd").resolve()
    wsa_file = Path(_wsa_file())
    imports = (
        "".join(
            f'<xs:import namespace="{ns}" schemaLocation="{(xsd / rel).resolve().as_uri()}"/>'
            for ns, rel in _IMPORTS.items()
        )
        + f'<xs:import namespace="{NS_WSA}" schemaLocation="{wsa_file.as_uri()}"/>'
    )
    wrapper = f'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">{imports}</xs:schema>'
    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    doc = etree.fromstring(wrapper.encode(), parser=parser, base_url=(xsd / "wrapper.xsd").as_uri())
    return etree.XMLSchema(doc)


@functools.lru_cache(maxsize=1)
def _wsa_file() -> str:
    import tempfile

    fd, name = tempfile.mkstemp(prefix="maison-wsa-", suffix=".xsd")
    with open(fd, "wb") as fh:
        fh.write(_WSA_XSD)
    return name
