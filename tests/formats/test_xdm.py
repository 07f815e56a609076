"""IHE_XDM.ZIP: built from CDA documents, read back, and every hostile archive refused precisely."""

from __future__ import annotations

import hashlib
import io
import stat
import zipfile

import pytest
from lxml import etree

from maison.formats import xdm
from tests.partage.world import CHILD_ID, PROS, SARAH_ID, n1

HOSPITAL_SOURCE = "1.2.250.1.213.4.1.9.1"


def _archive(*documents: xdm.XdmDocument) -> bytes:
    return xdm.build(list(documents), source_id=HOSPITAL_SOURCE, submission_id="1.2.250.1.999.3.1")


def _rezip(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return out.getvalue()


def _files(archive: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(archive)) as z:
        return {n: z.read(n) for n in z.namelist()}


def test_layout_and_metadata_read_back():
    # SPEC §4 (reference/mss-courriel): INDEX.HTM, README.TXT, IHE_XDM/SUBSET01/METADATA.XML + documents
    letter, other = n1(PROS["hospitalier"]), n1(PROS["hospitalier"], title="Compte rendu")
    archive = _archive(xdm.XdmDocument(letter, visibility=("INVISIBLE_PATIENT",)), xdm.XdmDocument(other))
    assert sorted(_files(archive)) == [
        "IHE_XDM/SUBSET01/DOC0001.XML",
        "IHE_XDM/SUBSET01/DOC0002.XML",
        "IHE_XDM/SUBSET01/METADATA.XML",
        "INDEX.HTM",
        "README.TXT",
    ]
    content = xdm.read(archive)
    assert content.submission_unique_id == "1.2.250.1.999.3.1" and content.source_id == HOSPITAL_SOURCE
    assert content.warnings == ()
    first, second = content.documents
    assert first.data == letter and second.data == other
    assert first.sha1 == hashlib.sha1(letter).hexdigest() and first.size == len(letter)
    assert first.type_code == "11490-0" and first.class_code == "10"
    assert first.format_code == "urn:ihe:iti:xds-sd:pdf:2008"
    assert first.confidentiality == ("N", "INVISIBLE_PATIENT") and second.confidentiality == ("N",)
    assert first.ins == (SARAH_ID.ins, SARAH_ID.ins_oid)
    assert first.title == "Lettre de liaison" and first.mime_type == "text/xml"


def test_metadata_is_an_ebrs_submit_objects_request():
    meta = etree.fromstring(_files(_archive(xdm.XdmDocument(n1(PROS["hospitalier"]))))["IHE_XDM/SUBSET01/METADATA.XML"])
    assert meta.tag == "{urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0}SubmitObjectsRequest"
    rim = {"rim": xdm.NS_RIM}
    [eo] = meta.findall(".//rim:ExtrinsicObject", rim)
    assert eo.get("objectType") == xdm.STABLE_DOCUMENT
    schemes = {c.get("classificationScheme") for c in eo.findall("rim:Classification", rim)}
    assert {
        xdm.DE_CLASS,
        xdm.DE_TYPE,
        xdm.DE_FORMAT,
        xdm.DE_CONFIDENTIALITY,
        xdm.DE_FACILITY,
        xdm.DE_PRACTICE,
        xdm.DE_AUTHOR,
    } <= schemes
    [package] = meta.findall(".//rim:RegistryPackage", rim)
    assert any(
        c.get("classificationNode") == xdm.SUBMISSION_SET and c.get("classifiedObject") == package.get("id")
        for c in meta.findall(".//rim:Classification", rim)
    )
    [association] = meta.findall(".//rim:Association", rim)
    assert association.get("associationType") == xdm.HAS_MEMBER


def test_a_replacement_is_carried_as_rplc():
    archive = _archive(xdm.XdmDocument(n1(PROS["hospitalier"]), replaces="1.2.250.1.999.1.42"))
    assert xdm.read(archive).documents[0].replaces == "1.2.250.1.999.1.42"


def test_one_patient_per_archive():
    with pytest.raises(xdm.XdmError) as refused:
        _archive(xdm.XdmDocument(n1(PROS["hospitalier"])), xdm.XdmDocument(n1(PROS["hospitalier"], patient=CHILD_ID)))
    assert refused.value.code == "xdm-plusieurs-patients"


def _refused(archive: bytes, code: str) -> xdm.XdmError:
    with pytest.raises(xdm.XdmError) as refused:
        xdm.read(archive)
    assert refused.value.code == code, refused.value.message
    assert refused.value.mdn_code == "906"  # mss-courriel error-codes.md: Erreur 'Autre'
    return refused.value


def test_hash_or_size_mismatch_refused():
    files = _files(_archive(xdm.XdmDocument(n1(PROS["hospitalier"]))))
    tampered = dict(files)
    tampered["IHE_XDM/SUBSET01/DOC0001.XML"] = files["IHE_XDM/SUBSET01/DOC0001.XML"].replace(b"Lettre", b"LETTRE")
    _refused(_rezip(tampered), "xdm-empreinte")
    shorter = dict(files)
    shorter["IHE_XDM/SUBSET01/DOC0001.XML"] = files["IHE_XDM/SUBSET01/DOC0001.XML"] + b" "
    _refused(_rezip(shorter), "xdm-taille")


def test_missing_parts_refused_or_warned():
    files = _files(_archive(xdm.XdmDocument(n1(PROS["hospitalier"]))))
    _refused(_rezip({k: v for k, v in files.items() if not k.endswith("METADATA.XML")}), "xdm-sans-metadonnees")
    _refused(_rezip({k: v for k, v in files.items() if not k.endswith("DOC0001.XML")}), "xdm-document-absent")
    lax = xdm.read(_rezip({k: v for k, v in files.items() if k not in ("INDEX.HTM", "README.TXT")}))
    assert len(lax.warnings) == 2 and len(lax.documents) == 1
    _refused(b"PK\x03\x04 not a zip", "xdm-illisible")


def test_a_subset_named_otherwise_is_read():
    # ANS's own DRIM-M example names its subset SS000001: parse any subset, resolve URI beside METADATA.XML
    files = {
        k.replace("SUBSET01", "SS000001"): v
        for k, v in _files(_archive(xdm.XdmDocument(n1(PROS["hospitalier"])))).items()
    }
    assert len(xdm.read(_rezip(files)).documents) == 1


def test_path_traversal_absolute_paths_and_symlinks_refused():
    files = _files(_archive(xdm.XdmDocument(n1(PROS["hospitalier"]))))
    for evil in ("../../etc/cron.d/evil", "/etc/passwd", "IHE_XDM/../../x", "C:/Windows/x", "IHE_XDM\\..\\x"):
        _refused(_rezip({**files, evil: b"x"}), "xdm-chemin")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
        link = zipfile.ZipInfo("IHE_XDM/SUBSET01/LIEN")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        z.writestr(link, "/etc/passwd")
    _refused(out.getvalue(), "xdm-lien")


def test_zip_bomb_refused_without_inflating_it():
    files = _files(_archive(xdm.XdmDocument(n1(PROS["hospitalier"]))))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
        with z.open("IHE_XDM/SUBSET01/BOMB.XML", "w", force_zip64=True) as member:
            block = b"\0" * 1_000_000
            for _ in range(300):  # 300 MB of zeros in a few hundred KB
                member.write(block)
    assert len(out.getvalue()) < 2_000_000
    _refused(out.getvalue(), "xdm-bombe")


def test_a_lying_size_header_refused():
    # the headers say 10 bytes, the member inflates to 2 MB: never more than the bound is inflated, and
    # what is read fails its CRC
    files = _files(_archive(xdm.XdmDocument(n1(PROS["hospitalier"]))))
    archive = bytearray(_rezip({**files, "IHE_XDM/SUBSET01/X.BIN": b"A" * 2_000_000}))
    with zipfile.ZipFile(io.BytesIO(bytes(archive))) as z:
        info = z.getinfo("IHE_XDM/SUBSET01/X.BIN")
    # patch the uncompressed size in both the local header and the central directory entry
    local_size = info.header_offset + 22
    archive[local_size : local_size + 4] = (10).to_bytes(4, "little")
    start = 0
    while True:
        central = archive.find(b"PK\x01\x02", start)
        if central < 0:
            break
        name_len = int.from_bytes(archive[central + 28 : central + 30], "little")
        if archive[central + 46 : central + 46 + name_len] == b"IHE_XDM/SUBSET01/X.BIN":
            archive[central + 24 : central + 28] = (10).to_bytes(4, "little")
        start = central + 4
    assert "CRC" in _refused(bytes(archive), "xdm-illisible").message


def test_entity_expansion_in_metadata_refused():
    files = _files(_archive(xdm.XdmDocument(n1(PROS["hospitalier"]))))
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
        b'<lcm:SubmitObjectsRequest xmlns:lcm="urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0">&lol2;'
        b"</lcm:SubmitObjectsRequest>"
    )
    _refused(_rezip({**files, "IHE_XDM/SUBSET01/METADATA.XML": bomb}), "xdm-metadonnees")


def test_too_many_members_and_duplicates_refused():
    files = _files(_archive(xdm.XdmDocument(n1(PROS["hospitalier"]))))
    _refused(_rezip({**files, **{f"IHE_XDM/SUBSET01/F{i:04d}.TXT": b"x" for i in range(300)}}), "xdm-trop-de-membres")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
        z.writestr("readme.txt", b"again")  # the same name for a case-insensitive reader (ISO 9660)
    _refused(out.getvalue(), "xdm-doublon")


def test_an_unsupported_compression_method_refused():
    files = _files(_archive(xdm.XdmDocument(n1(PROS["hospitalier"]))))
    archive = bytearray(_rezip(files))
    start = 0
    while (at := archive.find(b"PK\x03\x04", start)) >= 0:  # every member's method set to 99 (AE-x)
        archive[at + 8 : at + 10] = (99).to_bytes(2, "little")
        start = at + 4
    start = 0
    while (at := archive.find(b"PK\x01\x02", start)) >= 0:
        archive[at + 10 : at + 12] = (99).to_bytes(2, "little")
        start = at + 4
    _refused(bytes(archive), "xdm-compression")
