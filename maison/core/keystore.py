"""Secrets kept outside the database: signing keys, the blob encryption key, server HMAC secrets.

Whoever reads the database (a backup, a dump, an SQL injection, a stolen disk image of the data
directory) must not get what signs tokens or decrypts documents. So key material lives in a
`KeyStore`, never in a table. The interface is the shape of a KMS's (named keys, created once,
read by the services, deleted on retirement): `FileKeyStore` keeps each key in a file of its own,
mode 0600, in a directory of mode 0700 that the deployment places outside the data directory
(`MAISON_SECRETS_DIR`); a KMS- or HSM-backed store implements the same four methods.

Files whose mode lets the group or others read them are refused, as OpenSSH refuses such a private
key: a key that others could have read is not a secret any more (ANSSI, "Recommandations pour la
protection des systèmes d'information essentiels", key storage; OWASP Cryptographic Storage
Cheat Sheet, "Key Storage").
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_.")


class KeyStoreError(RuntimeError):
    """A key that exists but may not be used (readable by others, unreadable)."""


class KeyStore(Protocol):
    def read(self, name: str) -> bytes | None: ...

    def create(self, name: str, data: bytes) -> bytes:
        """Store `data` under `name` unless a key already has it; returns the key kept (the first wins)."""
        ...

    def delete(self, name: str) -> None: ...

    def names(self, prefix: str = "") -> list[str]: ...


def get_or_create(store: KeyStore, name: str, make: Callable[[], bytes]) -> bytes:
    """The key called `name`, made by `make()` the first time (concurrent first uses agree on one)."""
    found = store.read(name)
    return found if found is not None else store.create(name, make())


def random_secret(store: KeyStore, name: str, size: int = 32) -> bytes:
    """A random secret of `size` bytes (an HMAC or AES key), generated on first use."""
    return get_or_create(store, name, lambda: secrets.token_bytes(size))


class FileKeyStore:
    """One file per key, 0600, in a 0700 directory; created atomically (O_EXCL), never rewritten."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def _path(self, name: str) -> Path:
        if not name or set(name) - _NAME_CHARS or name.startswith("."):
            raise ValueError(f"invalid key name {name!r}")
        return self.directory / name

    def _ensure_directory(self) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if stat.S_IMODE(self.directory.stat().st_mode) & 0o077:
            os.chmod(self.directory, 0o700)

    def read(self, name: str) -> bytes | None:
        path = self._path(name)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            return None
        try:
            if stat.S_IMODE(os.fstat(fd).st_mode) & 0o077:
                raise KeyStoreError(f"{path}: readable by group or others; chmod 600 it (or replace the key)")
            with os.fdopen(fd, "rb", closefd=False) as fh:
                return fh.read()
        finally:
            os.close(fd)

    def create(self, name: str, data: bytes) -> bytes:
        self._ensure_directory()
        path = self._path(name)
        temporary = path.with_name(f".{name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(temporary, path)  # atomic and refuses to replace: the first writer's key wins
        except FileExistsError:
            pass
        finally:
            os.unlink(temporary)
        _fsync_dir(self.directory)
        kept = self.read(name)
        assert kept is not None
        return kept

    def delete(self, name: str) -> None:
        self._path(name).unlink(missing_ok=True)

    def names(self, prefix: str = "") -> list[str]:
        if not self.directory.is_dir():
            return []
        return sorted(
            p.name for p in self.directory.iterdir() if p.name.startswith(prefix) and not p.name.startswith(".")
        )


class MemoryKeyStore:
    """Keys in memory only: for a process that must not leave files (unit tests, one-shot tools)."""

    def __init__(self) -> None:
        self._keys: dict[str, bytes] = {}

    def read(self, name: str) -> bytes | None:
        return self._keys.get(name)

    def create(self, name: str, data: bytes) -> bytes:
        return self._keys.setdefault(name, data)

    def delete(self, name: str) -> None:
        self._keys.pop(name, None)

    def names(self, prefix: str = "") -> list[str]:
        return sorted(k for k in self._keys if k.startswith(prefix))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
