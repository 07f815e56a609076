"""Evidence uploads treated as hostile: type by content, size limit, names as labels only."""

from __future__ import annotations

import pytest

from maison.core.blobs import Blobs
from maison.core.errors import InvalidInput, TooLarge, UnsupportedMediaType
from maison.observatoire.prerequis import evidence


@pytest.mark.parametrize(
    ("data", "kind"),
    [(b"%PDF-1.7\n", "application/pdf"), (b"\x89PNG\r\n\x1a\n\0", "image/png"), (b"\xff\xd8\xff\xe0", "image/jpeg")],
)
def test_types_read_from_the_bytes(tmp_path, data, kind):
    proof = evidence.accept(Blobs(tmp_path), data, "fichier.exe")
    assert proof.media_type == kind and proof.size == len(data) and Blobs(tmp_path).get(proof.sha256) == data


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", InvalidInput),
        (b"MZ\x90\x00 an executable", UnsupportedMediaType),
        (b"GIF89a", UnsupportedMediaType),
        (b" %PDF-1.7", UnsupportedMediaType),  # the signature is at the start or nowhere
    ],
)
def test_refused_before_storing(tmp_path, data, error):
    with pytest.raises(error):
        evidence.accept(Blobs(tmp_path / "b"), data, "pssi.pdf")
    assert not (tmp_path / "b").exists()


def test_size_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(evidence, "MAX_BYTES", 10)
    with pytest.raises(TooLarge):
        evidence.accept(Blobs(tmp_path), b"%PDF-" + b"x" * 6, "p.pdf")
    assert evidence.accept(Blobs(tmp_path), b"%PDF-" + b"x" * 5, "p.pdf").size == 10


def test_names_are_labels():
    assert evidence.label("../../etc/passwd\x00.pdf") == "passwd.pdf"
    assert evidence.label("C:\\Users\\dsi\\PSSI 2025.pdf") == "PSSI 2025.pdf"
    assert evidence.label("\u202ecod.pdf") == "cod.pdf"  # no bidi override
    assert evidence.label("") == "preuve" and len(evidence.label("a" * 500)) == 200
