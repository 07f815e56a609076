"""The patient's login to Mon espace santé, and the tokens it gives.

Identifier and password first; then a six-digit code sent to the patient's e-mail or phone (here
written to the outbox, which tests and the demo read); the code is valid 5 minutes, for 5 tries.
Wrong identifier and wrong password get the same answer, in the same time (the password hash
runs for an unknown identifier too: no account enumeration). Guesses are throttled per identifier
and per source address by `maison.core.lockout` (from the 5th failure a lock of 1 min, doubling up to
15 min; each failure, lock and login a security event); a login counts as a success only once its
code is given, so that someone holding the password but not the phone cannot reset the count.
The tokens are RS256 JWTs of the house's keys, issued by `<base>/mes`, 15 minutes, subject the
patient's matricule INS.

A legal representative (a parent, a guardian) declared for a minor may act for the minor: the token
then has the minor as subject and the representative in `act` (RFC 8693), and only while the
represented person is under 18.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime

from joserfc import jwt
from joserfc.errors import JoseError

from maison.core.actor import Actor
from maison.core.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from maison.core.identifiers.nir import parse_matricule
from maison.core.lockout import Locked, Throttle
from maison.core.passwords import check_password_evenly, hash_password, needs_rehash
from maison.core.storage import Database
from maison.identite.mes import store
from maison.identite.psc.keys import Keys

CODE_TTL, CODE_TRIES, TOKEN_TTL = 300, 5, 900
__all__ = ["Locked", "Patient", "PatientLogin"]  # Locked: the throttle's, answered 429 with Retry-After


# WHATWG HTML's "valid e-mail address" (§4.10.5.1.5, input type=email): what the forms that collect
# the address accept, stricter than RFC 5322 on purpose (no comments, no quoted local part).
EMAIL = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+"
)
# A French mobile number (ARCEP's numbering plan: 06 and 07), national (06 12 34 56 78, spaces or
# dots allowed) or E.164 (+33 6 12 34 56 78); kept in E.164, the form an SMS gateway is given.
MOBILE = re.compile(r"(?:\+33|0)([67]\d{8})")


def contacts(email: str | None, phone: str | None) -> tuple[str | None, str | None]:
    """The e-mail and mobile an account's one-time codes go to, checked; the mobile in E.164. One of
    the two at least: a code that goes nowhere would lock the patient out."""
    if not (email or phone):
        raise InvalidInput("une adresse e-mail ou un numéro de mobile pour le code", code="canal-absent")
    if email and (len(email) > 200 or not EMAIL.fullmatch(email)):
        raise InvalidInput(f"adresse e-mail '{email}' invalide", code="email-invalide", expression="email")
    mobile = None
    if phone:
        number = MOBILE.fullmatch(re.sub(r"[ .]", "", phone))
        if number is None:
            raise InvalidInput(
                f"numéro '{phone}' : mobile français attendu (06 ou 07, ou +33 6 / +33 7)",
                code="telephone-invalide",
                expression="telephone",
            )
        mobile = "+33" + number.group(1)
    return email or None, mobile


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _age(birth: str, on: date) -> int:
    born = date.fromisoformat(birth)
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


@dataclass(frozen=True)
class Patient:
    ins: str  # the subject: the person whose espace it is
    acting: str  # who logged in (the representative, or the patient)


class PatientLogin:
    def __init__(self, db: Database, keys: Keys) -> None:
        self.db = db
        self.keys = keys
        self.throttle = Throttle(db, "mes", software="mon-espace-sante")

    # --- accounts --------------------------------------------------------------------------------

    def open_account(
        self,
        login: str,
        ins: str,
        birth_date: str,
        password: str,
        *,
        email: str | None = None,
        phone: str | None = None,
    ) -> None:
        matricule = parse_matricule(ins)
        email, phone = contacts(email, phone)
        if len(password) < 12:
            raise InvalidInput("mot de passe : 12 caractères au moins", code="mot-de-passe-faible")
        try:
            date.fromisoformat(birth_date)
        except (TypeError, ValueError):
            raise InvalidInput(f"date de naissance '{birth_date}' : AAAA-MM-JJ attendu", code="date-format") from None
        with self.db.write() as conn:
            if store.account_taken(conn, login, matricule.value):
                raise Conflict("identifiant ou INS déjà utilisé", code="compte-existant")
            store.add_account(
                conn,
                login=login,
                ins=matricule.value,
                birth_date=birth_date,
                password_hash=hash_password(password),
                email=email,
                phone=phone,
                created_at=_now_iso(),
            )

    def set_contacts(
        self, login: str, *, email: str | None = None, phone: str | None = None
    ) -> tuple[str | None, str | None]:
        """Replace where the account's one-time codes and notices go (the e-mail first, else the
        mobile): both given at once, as the account's contact page holds them. Returns them as kept."""
        email, phone = contacts(email, phone)
        with self.db.write() as conn:
            if not store.set_contacts(conn, login, email=email, phone=phone):
                raise NotFound(f"compte Mon espace santé '{login}' inconnu", code="compte-inconnu")
        return email, phone

    def declare_representative(self, representative_ins: str, minor_ins: str, quality: str) -> None:
        if quality not in ("parent", "tuteur"):
            raise InvalidInput("qualité parent ou tuteur", code="qualite")
        with self.db.write() as conn:
            store.add_representation(
                conn,
                representative=parse_matricule(representative_ins).value,
                represented=parse_matricule(minor_ins).value,
                quality=quality,
                since=date.today().isoformat(),
            )

    def notify(self, ins: str, subject: str, body: str) -> bool:
        """Tell the patient something by the channel of his account (the DMP's notices: emergency access,
        a document awaiting its consultation d'annonce). False when the patient has no account yet."""
        with self.db.write() as conn:
            account = store.contact_of(conn, ins)
            if account is None:
                return False
            channel, recipient = ("email", account.email) if account.email else ("sms", account.phone)
            store.send(conn, channel=channel, recipient=recipient, subject=subject, body=body, created_at=_now_iso())
        return True

    # --- the two steps ------------------------------------------------------------------------------

    def start(self, login: str, password: str, *, source: str = "") -> dict:
        """Check identifier and password; send the one-time code; returns the transaction and channel.
        `Locked` (429) while the identifier or the source address is locked."""
        attempt = self.throttle.begin(login, source)  # counted until the code is given
        with self.db.read() as conn:
            account = store.account(conn, login)
        if not check_password_evenly(password, account.password_hash if account is not None else None):
            self.throttle.failed(attempt, motif="mot-de-passe")
            raise Unauthenticated("identifiant ou mot de passe incorrect", code="identifiants-invalides")
        self.throttle.first_factor_passed(attempt)
        assert account is not None  # the password verified against this account's hash
        with self.db.write() as conn:
            if needs_rehash(account.password_hash):  # below OWASP's parameters: upgraded at this login
                store.set_password_hash(conn, login, hash_password(password))
            transaction, code = uuid.uuid4().hex, f"{secrets.randbelow(1_000_000):06d}"
            store.add_otp(
                conn,
                transaction=_sha(transaction),
                login=login,
                code_hash=_sha(code),
                expires_at=int(time.time()) + CODE_TTL,
            )
            channel, recipient = ("email", account.email) if account.email else ("sms", account.phone)
            store.send(
                conn,
                channel=channel,
                recipient=recipient,
                subject="Mon espace santé : votre code de connexion",
                body=f"Votre code de connexion à Mon espace santé est {code}. Il expire dans 5 minutes. "
                "Ne le communiquez à personne.",
                created_at=_now_iso(),
            )
        masked = recipient[:2] + "***" + recipient[-4:] if recipient else ""
        return {"transaction": transaction, "canal": channel, "destinataire": masked}

    def finish(self, transaction: str, code: str, issuer: str, *, source: str = "") -> dict:
        with self.db.write() as conn:
            row = store.otp(conn, _sha(transaction))
            if row is None or row.used or row.expires_at < time.time():
                raise Unauthenticated("code expiré ou transaction inconnue : recommencer", code="code-expire")
            wrong = not hmac.compare_digest(row.code_hash, _sha(code or ""))
            attempts = row.attempts + wrong
            store.record_otp_try(conn, row.transaction, attempts=attempts, used=not wrong or attempts >= CODE_TRIES)
            if not wrong:
                account = store.account(conn, row.login)
                assert account is not None  # a code is issued only to an existing account
                minors = self._represented(conn, account.ins)
        if wrong:  # raised once the attempt is recorded; a transaction's own tries bound the guesses
            self.throttle.refused(row.login, source, motif="code")
            raise Unauthenticated(f"code incorrect ({CODE_TRIES - attempts} essai(s) restant(s))", code="code-invalide")
        assert account is not None  # a code is issued only to an existing account
        self.throttle.succeeded(
            row.login,
            source,
            Actor(person=account.ins, structure="", software="mon-espace-sante"),
            detail={"methode": "mot-de-passe+code"},
        )
        return {**self._token(account.ins, account.ins, issuer), "patient": account.ins, "representes": minors}

    def _represented(self, conn: store.Connection, ins: str) -> list[str]:
        minors = []
        for represented in store.represented_by(conn, ins):
            birth_date = store.birth_date_of(conn, represented)
            if birth_date is not None and _age(birth_date, date.today()) < 18:
                minors.append(represented)
        return minors

    def represented(self, ins: str) -> list[str]:
        """The minors this INS may act for now (declared representative, the represented under 18):
        whose espace a representative may open, as `act_for` checks it."""
        with self.db.read() as conn:
            return self._represented(conn, ins)

    def act_for(self, patient: Patient, minor_ins: str, issuer: str) -> dict:
        """A representative's token for the minor he represents."""
        if patient.acting != patient.ins:
            raise Forbidden("déjà en représentation : se reconnecter en son nom", code="representation")
        allowed = self.represented(patient.ins)
        target = parse_matricule(minor_ins).value
        if target not in allowed:
            raise Forbidden("pas de représentation légale de cette personne mineure", code="representation-refusee")
        return {**self._token(target, patient.ins, issuer), "patient": target}

    # --- tokens -------------------------------------------------------------------------------------

    def _token(self, subject: str, acting: str, issuer: str) -> dict:
        kid, key = self.keys.signing()
        now = int(time.time())
        claims = {
            "iss": issuer,
            "sub": subject,
            "aud": "mon-espace-sante",
            "iat": now,
            "exp": now + TOKEN_TTL,
            "jti": uuid.uuid4().hex,
            "typ": "Bearer",
        }
        if acting != subject:
            claims["act"] = {"sub": acting}
        return {
            "access_token": jwt.encode({"alg": "RS256", "kid": kid}, claims, key),
            "token_type": "Bearer",
            "expires_in": TOKEN_TTL,
        }

    def verify(self, token: str, issuer: str) -> Patient:
        try:
            claims = jwt.decode(token, self.keys.verification(), algorithms=["RS256"]).claims
        except (JoseError, ValueError):
            raise Unauthenticated("jeton patient invalide", code="jeton-invalide") from None
        if claims.get("iss") != issuer or claims.get("aud") != "mon-espace-sante" or claims.get("exp", 0) < time.time():
            raise Unauthenticated("jeton patient expiré ou d'un autre émetteur", code="jeton-invalide")
        return Patient(claims["sub"], claims.get("act", {}).get("sub", claims["sub"]))

    def sent(self, recipient: str | None = None, *, limit: int = 500) -> list[dict]:
        """The outbox as its owner reads it: everything sent, or what one recipient got, newest last."""
        with self.db.read() as conn:
            return store.sent(conn, recipient, limit=limit)

    def outbox(self, recipient: str) -> list[dict]:
        """What was sent to an address or number, newest last (what the patient received)."""
        with self.db.read() as conn:
            return store.sent_to(conn, recipient)
