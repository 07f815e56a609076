"""The blob store: durable, content-named, verified on read, swept of what no row names."""

import hashlib
import os
import time

import pytest

from maison.core.blobs import BlobCorrupted, Blobs


def test_put_is_idempotent_and_named_by_content(tmp_path):
    blobs = Blobs(tmp_path)
    data = b"%PDF-1.7 lettre de liaison"
    digest = blobs.put(data)
    assert digest == hashlib.sha256(data).hexdigest() and blobs.put(data) == digest
    assert blobs.get(digest) == data and blobs.exists(digest)
    assert len(list(tmp_path.glob("*/*/*"))) == 1


def test_altered_or_missing_bytes_are_never_served(tmp_path):
    blobs = Blobs(tmp_path)
    digest = blobs.put(b"compte rendu")
    blobs.path(digest).write_bytes(b"compte rendu modifie")
    with pytest.raises(BlobCorrupted):
        blobs.get(digest)
    blobs.path(digest).unlink()
    with pytest.raises(BlobCorrupted):
        blobs.get(digest)
    with pytest.raises(ValueError):
        blobs.path("../../etc/passwd")


def test_sweep_removes_leftovers_but_keeps_referenced_and_recent(tmp_path):
    blobs = Blobs(tmp_path)
    kept, orphan, recent = blobs.put(b"kept"), blobs.put(b"orphan"), blobs.put(b"recent")
    leftover = blobs.path(kept).with_name("abc.1.2.tmp")  # a write interrupted before its rename
    leftover.write_bytes(b"half a docu")
    old = time.time() - 7200
    for path in (blobs.path(kept), blobs.path(orphan), leftover):
        os.utime(path, (old, old))
    assert blobs.sweep([kept]) == 2
    assert blobs.exists(kept) and blobs.exists(recent) and not blobs.exists(orphan) and not leftover.exists()


def test_a_blob_reused_by_a_resubmission_is_young_again(tmp_path):
    # what a crash left before its commit is reused when the bundle is resent: sweep must not take
    # it from under the resubmission whose row is about to commit
    blobs = Blobs(tmp_path)
    digest = blobs.put(b"lettre de liaison")
    old = time.time() - 7200
    os.utime(blobs.path(digest), (old, old))
    assert blobs.put(b"lettre de liaison") == digest
    assert blobs.sweep([]) == 0 and blobs.exists(digest)
