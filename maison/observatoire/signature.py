"""Every report the observatory serves is signed — or says why it is not (issue 23 §4-5).

The indicators are computed from the audit trail; a report is only as good as the trail it was
folded from. So before signing, the chain is checked: from the newest signed checkpoint when there
is one (`maison.core.audit_anchor`: the record at the checkpoint's seq must still carry the hash the
checkpoint signed, and every later record must chain — what keeps the check short on a trail of
10 million records), from the first record otherwise. A broken chain leaves the report shown but
**unsigned**, with the reason and the first broken seq: "a tampered audit chain makes every
indicator report refuse to sign itself" (issue 23 §5).

What a record rewritten *below* the newest checkpoint changes is found by the full audit of the
trail (`maison audit verify`, which checks every record against every checkpoint), not by this
quick check: the quick check proves the chain from the last anchor on, the anchor proves the rest
as it was when it was signed. `maison indicateurs … --strict` checks every record from the first
(`Sealer.full`): slower on a long trail, and what a report meant to be filed is signed after.

The signature is a JWS (RFC 7515) with a detached payload (RFC 7515 Appendix F), algorithm
Ed25519 (RFC 9864), by the house's report key (`observatoire-rapports.ed25519` in the key store,
never in the database). The payload is the canonical JSON (sorted keys, UTF-8) of
`{"rapport": kind, "contenu": the report's JSON, "audit": {"seq", "hash"}}` — the report and the
chain position it was computed at, so that a verifier holding the public key (`GET
/observatoire/cle`, a JWK) recomputes it from what is served.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey

from maison.core import audit
from maison.core.audit_anchor import Signer, last_anchor
from maison.core.keystore import KeyStore, get_or_create
from maison.core.storage import Database

KEY_NAME = "observatoire-rapports.ed25519"
ALGORITHM = "Ed25519"  # RFC 9864 (fully-specified EdDSA)


def _new_key() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@dataclass(frozen=True)
class Seal:
    """What a served report carries: the chain position, and the signature or why there is none."""

    seq: int
    hash: str
    signature: str | None  # compact JWS, detached payload
    key_id: str
    reason: str = ""  # in French, when unsigned
    broken_seq: int | None = None
    anchored_seq: int | None = None  # the checkpoint the check started from

    @property
    def signed(self) -> bool:
        return self.signature is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "signe": self.signed,
            "algorithme": ALGORITHM,
            "cle": self.key_id,
            "jws": self.signature,
            "audit": {"seq": self.seq, "hash": self.hash, "ancre": self.anchored_seq},
            "motif": self.reason or None,
            "seq_rompue": self.broken_seq,
        }


def payload(kind: str, content: dict[str, Any], seq: int, chain_hash: str) -> bytes:
    """The bytes signed: the report and the chain position, canonical JSON."""
    body = {"rapport": kind, "contenu": content, "audit": {"seq": seq, "hash": chain_hash}}
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)


class Sealer:
    """Checks the trail and signs reports with the house's report key."""

    def __init__(self, db: Database, keystore: KeyStore, checkpoint_path: Path) -> None:
        self.db = db
        self.keystore = keystore
        self.checkpoint_path = Path(checkpoint_path)
        self.key = OKPKey.import_key(get_or_create(keystore, KEY_NAME, _new_key))
        self.key_id = self.key.thumbprint()
        self.full = False  # True: check every record from the first, whatever the checkpoints (`--strict`)

    def public_jwk(self) -> dict[str, Any]:
        return {**self.key.as_dict(private=False), "kid": self.key_id, "alg": ALGORITHM, "use": "sig"}

    def seal(self, kind: str, content: dict[str, Any]) -> Seal:
        """Check the chain, then sign `content` at the chain's head — or refuse to, saying why."""
        return self.seal_at(kind, lambda _seq, _hash: content)[1]

    def seal_at(self, kind: str, content_at: Callable[[int, str], dict[str, Any]]) -> tuple[dict[str, Any], Seal]:
        """The same, for a content that states the chain position itself (a FHIR Bundle's reports):
        `content_at(seq, hash)` makes it once the head is known; the content and its seal."""
        anchor = None if self.full else last_anchor(self.checkpoint_path, Signer(self.keystore).public)
        with self.db.read() as conn:
            intact, broken = audit.verify_chain(conn, since=anchor)
            seq, chain_hash = audit.head(conn)
        anchored = anchor[0] if anchor else None
        content = content_at(seq, chain_hash)
        if not intact:
            reason = f"chaîne d'audit rompue à seq {broken} : rapport non signé (vérifier avec « maison audit verify »)"
            return content, Seal(seq, chain_hash, None, self.key_id, reason, broken, anchored)
        header = {"alg": ALGORITHM, "kid": self.key_id}
        compact = jws.serialize_compact(
            header, payload(kind, content, seq, chain_hash), self.key, algorithms=[ALGORITHM]
        )
        return content, Seal(seq, chain_hash, jws.detach_content(compact), self.key_id, anchored_seq=anchored)


def verify(seal: Seal, kind: str, content: dict[str, Any], public_jwk: dict[str, Any]) -> bool:
    """A served report against its seal (what a recipient does with the public key): the detached
    payload is put back (RFC 7515 Appendix F) and the signature checked."""
    if seal.signature is None:
        return False
    head, _, signature = seal.signature.partition("..")
    body = base64.urlsafe_b64encode(payload(kind, content, seal.seq, seal.hash)).rstrip(b"=").decode()
    try:
        jws.deserialize_compact(f"{head}.{body}.{signature}", OKPKey.import_key(public_jwk), algorithms=[ALGORITHM])
    except (JoseError, ValueError):
        return False
    return True
