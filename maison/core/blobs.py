"""The blob store: documents kept as files, named by the SHA-256 of their bytes.

Health documents (CDA, PDF, images) are too big for database rows and must survive a crash
mid-write without leaving half a document behind. A blob is written to a temporary file in its
final directory, flushed to disk, then renamed into place (rename is atomic on POSIX), and the
directory entry is flushed too; only then may a database transaction refer to it. So:

- a crash before the rename leaves a `.tmp` file that no row names and `sweep()` removes;
- a crash after the rename but before the database commit leaves a complete blob no row names,
  also removed by `sweep()`; the submission was never acknowledged, nothing is lost;
- a committed row always names a complete, verified file.

Naming by content makes writes idempotent (the same document twice is one file) and lets every
read check that the bytes are still the ones stored.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterable
from pathlib import Path

from maison.core.errors import MaisonError


class BlobCorrupted(MaisonError):
    """The bytes on disk no longer hash to their name: never serve them."""

    http_status = 500
    fhir_issue = "exception"
    code = "document-altere"


class Blobs:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, digest: str) -> Path:
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError(f"not a SHA-256 digest: {digest!r}")
        return self.root / digest[:2] / digest[2:4] / digest

    def put(self, data: bytes) -> str:
        """Store the bytes durably; returns their SHA-256 (hex)."""
        digest = hashlib.sha256(data).hexdigest()
        final = self.path(digest)
        try:
            # Already stored (a replay, or what a crash left before its commit and a resubmission now
            # reuses): make it young again, or sweep() may remove it before this caller's row commits.
            os.utime(final)
            return digest
        except FileNotFoundError:
            pass
        self._make_dirs(final.parent)
        temporary = final.with_name(f"{digest}.{os.getpid()}.{time.monotonic_ns()}.tmp")
        with open(temporary, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, final)
        _fsync_dir(final.parent)
        return digest

    def _make_dirs(self, directory: Path) -> None:
        """Create the fan-out directories, each new entry flushed in its parent like the blob's own."""
        missing = []
        while not directory.is_dir():
            missing.append(directory)
            directory = directory.parent
        for new in reversed(missing):
            new.mkdir(exist_ok=True)
            _fsync_dir(new.parent)

    def get(self, digest: str) -> bytes:
        try:
            data = self.path(digest).read_bytes()
        except FileNotFoundError:
            raise BlobCorrupted(f"document {digest} absent du stockage") from None
        if hashlib.sha256(data).hexdigest() != digest:
            raise BlobCorrupted(f"document {digest} altéré sur disque")
        return data

    def exists(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def sweep(self, referenced: Iterable[str], older_than_seconds: float = 3600) -> int:
        """Remove temporary files and blobs no row refers to, once they are old enough that no
        submission can still be between its blob write and its commit. Returns how many."""
        keep = set(referenced)
        limit = time.time() - older_than_seconds
        removed = 0
        if not self.root.is_dir():
            return 0
        for path in self.root.glob("*/*/*"):
            name = path.name
            if (name.endswith(".tmp") or name not in keep) and path.stat().st_mtime < limit:
                path.unlink(missing_ok=True)
                removed += 1
        return removed


def _fsync_dir(path: Path) -> None:
    directory = os.open(path, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
