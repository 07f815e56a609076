"""Signed checkpoints of the audit chain, kept outside the database: what anchors the trail.

The trail's SHA-256 chain (`audit.py`) detects a record changed, removed or inserted — unless whoever
changes it can also rewrite every later record's hash and the `audit_head` row, which anybody able
to write the database can do: the chain is unkeyed. So the house periodically writes a
*checkpoint* — the head's sequence number and hash, the time, the previous checkpoint's digest —
signed with an Ed25519 key that is not in the database (the key store, `maison.core.keystore`),
and appended to a file that is not in the database either (`MAISON_AUDIT_CHECKPOINT_PATH`; by
default in the secrets directory, better on append-only or remote storage: `chattr +a`, a WORM
bucket, a log collector). `verify` then checks the chain against every checkpoint: a record
rewritten at or before a checkpoint contradicts it, records deleted below a checkpoint leave it
pointing past the chain's end, a forged or altered checkpoint fails its signature, and a checkpoint
removed from the middle of the file breaks the checkpoints' own chain.

This is RFC 6962's (Certificate Transparency) signed tree head and the ANSSI's "journalisation"
recommendations' sealing of logs, at the scale of one chain: forward integrity needs a secret the
attacker of the database does not have (Schneier & Kelsey, "Secure audit logs to support computer
forensics", 1999). What it cannot see: records appended after the last checkpoint and then removed
(at most one interval's worth), or the file's last checkpoints truncated together with them — which
is why the file belongs where the database's writer cannot truncate it.

Checkpoints are periodic (`Checkpointer`, every `audit_checkpoint_interval_s`, and at clean
shutdown), never per record: the hot path (`audit.append`) is unchanged. One costs a read of the
head row, an Ed25519 signature and an appended line with its fsync: 5.6 ms in all, the signature
73 µs of it (measured on this project's 2-core machine, SQLite). `verify` reads the whole chain:
2.3 s for 100 000 records.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from maison.core import audit
from maison.core.keystore import KeyStore, get_or_create
from maison.core.storage import Database

log = logging.getLogger("maison.audit")

KEY_NAME = "audit-checkpoint.ed25519"
GENESIS = "0" * 64
_BODY = ("seq", "hash", "at", "key", "prev")


def _raw_public(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public: Ed25519PublicKey) -> str:
    return hashlib.sha256(_raw_public(public)).hexdigest()[:16]


class Signer:
    """The checkpoint key: Ed25519 (RFC 8032), generated in the key store on first use."""

    def __init__(self, keystore: KeyStore) -> None:
        pem = get_or_create(
            keystore,
            KEY_NAME,
            lambda: Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
        )
        private = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(private, Ed25519PrivateKey):
            raise ValueError(f"{KEY_NAME}: not an Ed25519 key")
        self._private = private
        self.public = private.public_key()
        self.key_id = key_id(self.public)

    def sign(self, body: bytes) -> str:
        return base64.b64encode(self._private.sign(body)).decode()

    def public_pem(self) -> bytes:
        """What an auditor verifies with (`maison audit verify --cle-publique`): no secret in it."""
        return self.public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


def _body(checkpoint: dict[str, Any]) -> bytes:
    return orjson.dumps({k: checkpoint[k] for k in _BODY}, option=orjson.OPT_SORT_KEYS)


def _digest(line: bytes) -> str:
    return hashlib.sha256(line.rstrip(b"\n")).hexdigest()


class CheckpointLog:
    """The append-only file of checkpoints, one JSON object a line; appends serialised by flock
    (several serving processes checkpoint the same chain)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def lines(self) -> list[bytes]:
        try:
            return [line for line in self.path.read_bytes().splitlines() if line.strip()]
        except FileNotFoundError:
            return []

    def append(self, db: Database, signer: Signer) -> dict[str, Any] | None:
        """Sign the chain's current head and append it, unless the last checkpoint already holds it."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            head = _head(db)
            lines = self.lines()
            last = _parse(lines[-1]) if lines else None
            if head is None or (last is not None and last.get("seq", -1) >= head[0]):
                return None
            checkpoint = {
                "seq": head[0],
                "hash": head[1],
                "at": datetime.now(UTC).isoformat(timespec="seconds"),
                "key": signer.key_id,
                "prev": _digest(lines[-1]) if lines else GENESIS,
            }
            checkpoint["sig"] = signer.sign(_body(checkpoint))
            os.write(fd, orjson.dumps(checkpoint, option=orjson.OPT_SORT_KEYS) + b"\n")
            os.fsync(fd)
            return checkpoint
        finally:
            os.close(fd)  # releases the lock


def _head(db: Database) -> tuple[int, str] | None:
    h = audit.audit_head.c
    with db.read() as conn:
        row = conn.execute(sa.select(h.seq, h.hash).where(h.id == 1)).first()
    return (row.seq, row.hash) if row is not None and row.seq > 0 else None


def _parse(line: bytes) -> dict[str, Any] | None:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if (
        not isinstance(value, dict)
        or not all(isinstance(value.get(k), str) for k in ("hash", "at", "key", "prev", "sig"))
        or not isinstance(value.get("seq"), int)
    ):
        return None
    return value


def last_anchor(path: Path, public: Ed25519PublicKey) -> tuple[int, str] | None:
    """(seq, hash) of the newest checkpoint of the file that `public` signed, or None: where a quick check
    of the chain may start (`audit.verify_chain(since=…)`); `verify` is the full audit of the file."""
    for line in reversed(CheckpointLog(path).lines()):
        cp = _parse(line)
        if cp is not None and cp["key"] == key_id(public) and _signature_ok(public, cp):
            return int(cp["seq"]), str(cp["hash"])
    return None


def checkpoint(db: Database, keystore: KeyStore, path: Path) -> dict[str, Any] | None:
    """Write one checkpoint now (`maison audit checkpoint`); None when the chain has not moved."""
    return CheckpointLog(path).append(db, Signer(keystore))


class Checkpointer:
    """Checkpoints the chain every `interval_s` seconds in a thread of the serving process, and
    once more when stopped (clean shutdown). A failure is logged and tried again next time."""

    def __init__(self, db: Database, keystore: KeyStore, path: Path, interval_s: float) -> None:
        self.db, self.keystore, self.log, self.interval_s = db, keystore, CheckpointLog(path), interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Sign the head found at start (what the previous run left), then every interval."""
        self.write()
        if self._thread is None and self.interval_s > 0:
            self._thread = threading.Thread(target=self._run, name="audit-checkpoints", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.write()

    def write(self) -> dict[str, Any] | None:
        try:
            return self.log.append(self.db, Signer(self.keystore))
        except Exception:  # noqa: BLE001 - the trail goes on; the next period tries again
            log.exception("audit checkpoint not written")
            return None

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.write()


# --- verification ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One break: what (`kind`), where in the chain (`seq`) and which checkpoint (`line`, 1-based)."""

    kind: str
    message: str  # in French: what `maison audit verify` prints
    seq: int | None = None
    line: int | None = None


@dataclass
class Report:
    records: int = 0
    head_seq: int = 0
    checkpoints: int = 0
    anchored_seq: int = 0  # the highest sequence a valid checkpoint vouches for and the chain matches
    findings: list[Finding] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.findings

    @property
    def first_bad_seq(self) -> int | None:
        seqs = [f.seq for f in self.findings if f.seq is not None]
        return min(seqs) if seqs else None


def _checkpoints(lines: list[bytes], public: Ed25519PublicKey, report: Report) -> dict[int, tuple[int, dict[str, Any]]]:
    """The valid checkpoints by sequence (with their line number); every bad line is a finding."""
    wanted_key, valid, prev, last_seq = key_id(public), {}, GENESIS, 0
    for number, line in enumerate(lines, start=1):
        cp = _parse(line)
        if cp is None:
            report.findings.append(
                Finding("checkpoint-illisible", f"point de contrôle ligne {number} illisible", line=number)
            )
        elif cp["key"] != wanted_key or not _signature_ok(public, cp):
            report.findings.append(
                Finding(
                    "signature-invalide",
                    f"point de contrôle ligne {number} (seq {cp['seq']}) : "
                    "signature invalide — falsifié ou signé d'une autre clé",
                    line=number,
                )
            )
        else:
            if cp["prev"] != prev:
                report.findings.append(
                    Finding(
                        "checkpoint-manquant",
                        f"point de contrôle ligne {number} : le précédent "
                        "a été retiré, inséré ou modifié (chaînage des points rompu)",
                        line=number,
                    )
                )
            if cp["seq"] < last_seq:
                report.findings.append(
                    Finding(
                        "checkpoint-recule",
                        f"point de contrôle ligne {number} : seq {cp['seq']} après seq {last_seq}",
                        seq=cp["seq"],
                        line=number,
                    )
                )
            valid[cp["seq"]] = (number, cp)
            last_seq = max(last_seq, cp["seq"])
        prev = _digest(line)
    report.checkpoints = len(valid)
    return valid


def _signature_ok(public: Ed25519PublicKey, cp: dict[str, Any]) -> bool:
    try:
        public.verify(base64.b64decode(cp["sig"], validate=True), _body(cp))
        return True
    except (InvalidSignature, ValueError):
        return False


def _rows(db: Database) -> Iterator[dict[str, Any]]:
    with db.read() as conn:
        query = sa.select(audit.audit_event).order_by(audit.audit_event.c.seq)
        for row in conn.execution_options(stream_results=True, yield_per=5000).execute(query).mappings():
            yield dict(row)


def verify(db: Database, path: Path, public: Ed25519PublicKey) -> Report:
    """Check the chain record by record and against every signed checkpoint; list every break."""
    report = Report()
    anchors = _checkpoints(CheckpointLog(path).lines(), public, report)
    prev_hash, expected, last_seq, anchored, chain_broken, contradicted = audit.GENESIS, 1, 0, 0, False, False
    for row in _rows(db):
        if not chain_broken and (
            row["seq"] != expected or row["prev_hash"] != prev_hash or audit._chain(prev_hash, row) != row["hash"]
        ):
            chain_broken = True
            first = expected if row["seq"] > expected else row["seq"]
            report.findings.append(
                Finding(
                    "chaine-rompue",
                    f"chaîne rompue à seq {first} : enregistrement modifié, supprimé ou inséré",
                    seq=first,
                )
            )
        found = anchors.get(row["seq"])
        if found is not None:
            number, cp = found
            if cp["hash"] != row["hash"]:
                contradicted = True
                report.findings.append(
                    Finding(
                        "checkpoint-contredit",
                        f"le point de contrôle ligne {number} (seq {cp['seq']}, signé le {cp['at']}) contredit la "
                        f"chaîne : enregistrements réécrits entre seq {anchored + 1} et seq {cp['seq']}",
                        seq=anchored + 1,
                        line=number,
                    )
                )
            elif not (chain_broken or contradicted):
                anchored = cp["seq"]
        prev_hash, expected, last_seq = row["hash"], row["seq"] + 1, row["seq"]
        report.records += 1
    report.head_seq = last_seq
    for seq, (number, cp) in sorted(anchors.items()):
        if seq > last_seq:
            report.findings.append(
                Finding(
                    "enregistrements-supprimes",
                    f"le point de contrôle ligne {number} atteste seq {seq} (signé le {cp['at']}) mais la chaîne "
                    f"s'arrête à seq {last_seq} : enregistrements supprimés",
                    seq=last_seq + 1,
                    line=number,
                )
            )
    h = audit.audit_head.c
    with db.read() as conn:
        head = conn.execute(sa.select(h.seq, h.hash).where(h.id == 1)).first()
    if head is not None and (head.seq != last_seq or head.hash != prev_hash):
        report.findings.append(
            Finding(
                "tete-incoherente",
                f"la tête de chaîne (seq {head.seq}) ne correspond pas au dernier enregistrement (seq {last_seq})",
                seq=min(head.seq, last_seq) + 1,
            )
        )
    report.anchored_seq = anchored
    return report
