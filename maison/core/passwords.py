"""Password hashing at OWASP's current parameters, old hashes still verified and upgraded on login.

OWASP Password Storage Cheat Sheet (2025): "Use Argon2id with a minimum configuration of 19 MiB of
memory, an iteration count of 2, and 1 degree of parallelism" — its first choice; scrypt's
minimum is N=2^17, r=8, p=1. Argon2id at m=19 MiB, t=2, p=1 is what `hash_password` writes: about
45 ms and 19 MiB per hash on this project's machines (measured, 2 cores), where scrypt at OWASP's
parameters costs 0.6 s and 128 MiB — too much for SMTP AUTH and IMAP LOGIN at a hospital's rate.

Hashes written before (`scrypt$salt$digest`, N=2^14 r=8 p=1, below OWASP's minimum) are still
verified, and `needs_rehash` says so: the login paths then store a fresh Argon2id hash of the
password they just checked, so accounts move to the current parameters as their holders log in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# OWASP Password Storage Cheat Sheet, Argon2id minimum configuration (m=19 MiB, t=2, p=1).
ARGON2_MEMORY_KIB = 19 * 1024
ARGON2_TIME_COST = 2
ARGON2_PARALLELISM = 1

_HASHER = PasswordHasher(time_cost=ARGON2_TIME_COST, memory_cost=ARGON2_MEMORY_KIB, parallelism=ARGON2_PARALLELISM)
_LEGACY_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def hash_password(password: str) -> str:
    """An Argon2id hash (PHC string format: algorithm, parameters, salt and digest in one)."""
    return _HASHER.hash(password)


def check_password(password: str, stored: str) -> bool:
    if stored.startswith("$argon2"):
        try:
            return _HASHER.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
    try:
        scheme, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        computed = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), **_LEGACY_SCRYPT)
        return hmac.compare_digest(computed, base64.b64decode(digest))
    except ValueError:
        return False


def needs_rehash(stored: str) -> bool:
    """True for a hash below the current parameters (a legacy scrypt one, or weaker Argon2)."""
    if not stored.startswith("$argon2"):
        return True
    try:
        return _HASHER.check_needs_rehash(stored)
    except InvalidHashError:
        return True


_DUMMY: list[str] = []


def check_password_evenly(password: str, stored: str | None) -> bool:
    """`check_password`, and for an account that does not exist (or has no password) the same work
    on a dummy hash of the current parameters, then False: the answer takes as long either way, so
    its timing does not tell which accounts exist (OWASP Authentication Cheat Sheet, "Authentication
    and Error Messages": response time is an enumeration channel too)."""
    if stored is None:
        if not _DUMMY:
            _DUMMY.append(hash_password(base64.b64encode(hashlib.sha256(b"maison-dummy").digest()).decode()))
        check_password(password, _DUMMY[0])
        return False
    return check_password(password, stored)
