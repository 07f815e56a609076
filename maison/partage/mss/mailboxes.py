"""MSSanté mailboxes and who may use them (002 L469-489; SPEC §4).

- PER: a professional's own mailbox (its titulaire is the IdNatPS);
- ORG: a structure's organisational mailbox (a service), used by the people it is granted to;
- APP: an applicative mailbox (a DPI, a PFI, a lab system), logging in by password;
- CAB: a practice's shared mailbox;
- the citizen mailbox of Mon espace santé, `<matricule INS>@patient.mssante.fr`, owned by the INS.

A mailbox may be shared with co-titulaires and delegated to a secretary ("délégué"): each access is
a row naming the person, the role and who granted it, and each grant is audited.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from maison.core import audit
from maison.core.actor import Actor
from maison.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from maison.core.lockout import Throttle
from maison.core.passwords import check_password_evenly, hash_password, needs_rehash
from maison.core.storage import Database
from maison.partage.mss import store

KINDS = ("PER", "ORG", "APP", "CAB")
CITIZEN = "PAT"  # the Mon espace santé mailbox (not an Annuaire type: never published)
ROLES = ("titulaire", "co-titulaire", "delegue")
ADDRESS = re.compile(r"^[a-z0-9][a-z0-9._+-]{0,63}@[a-z0-9-]+(\.[a-z0-9-]+)+$")


@dataclass(frozen=True)
class Mailbox:
    address: str
    operator: str
    kind: str
    owner: str
    display_name: str
    liste_rouge: bool
    active: bool
    uidvalidity: int
    has_password: bool
    annuaire: str = "a-publier"  # a-publier / publiee / non-publiee (citizen mailboxes)


def _mailbox(row: Any) -> Mailbox:
    return Mailbox(
        row.address,
        row.operator,
        row.kind,
        row.owner,
        row.display_name,
        row.liste_rouge,
        row.active,
        row.uidvalidity,
        row.password_hash is not None,
        row.annuaire,
    )


def normalise(address: str) -> str:
    value = address.strip().strip("<>").lower()
    if not ADDRESS.match(value):
        raise InvalidInput(f"adresse de messagerie invalide : {address!r}", code="adresse-invalide")
    return value


class Mailboxes:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.throttle = Throttle(db, "mss", software="mss")
        self.trail = self.throttle.trail  # the operators' reads and token logins, through one journal

    def create(
        self,
        actor: Actor,
        address: str,
        operator: str,
        kind: str,
        owner: str,
        display_name: str,
        *,
        password: str | None = None,
        liste_rouge: bool = False,
    ) -> Mailbox:
        address = normalise(address)
        if kind not in KINDS + (CITIZEN,):
            raise InvalidInput(f"type de BAL {kind!r} : PER, ORG, APP ou CAB", code="bal-type")
        if kind == "APP" and not password:
            raise InvalidInput("une BAL applicative s'authentifie par mot de passe", code="bal-mot-de-passe")
        if password is not None and len(password) < 12:
            raise InvalidInput("mot de passe : 12 caractères au moins", code="bal-mot-de-passe")
        now = datetime.now(UTC).isoformat()
        with self.db.write() as conn:
            if store.mailbox_exists(conn, address):
                raise Conflict(f"la BAL {address} existe déjà", code="bal-existante")
            store.insert_mailbox(
                conn,
                address=address,
                operator=operator,
                kind=kind,
                owner=owner,
                display_name=display_name,
                password_hash=hash_password(password) if password else None,
                liste_rouge=liste_rouge,
                active=True,
                uidvalidity=int(time.time()),
                uidnext=1,
                created_at=now,
                annuaire="non-publiee" if kind == CITIZEN else "a-publier",
            )
            if kind == "PER":
                store.insert_access(
                    conn, address=address, person=owner, role="titulaire", granted_by=owner, granted_at=now
                )
            audit.Trail.write(
                conn,
                actor,
                "mss.bal.creer",
                purpose="HOPERAT",
                detail={"bal": address, "type": kind, "operateur": operator, "liste_rouge": liste_rouge},
            )
        return self.get(address)

    def get(self, address: str) -> Mailbox:
        with self.db.read() as conn:
            row = store.mailbox(conn, normalise(address))
        if row is None:
            raise NotFound(f"BAL {address} inconnue", code="bal-inconnue")
        return _mailbox(row)

    def find(self, address: str) -> Mailbox | None:
        try:
            return self.get(address)
        except (NotFound, InvalidInput):
            return None

    def owned_by(self, owner: str) -> list[Mailbox]:
        """The mailboxes of a structure (ORG, APP, CAB: owned by its FINESS) or of a professional
        (PER: his IdNatPS) — what the observatory's SUN-ES PS3.2 and PS4.1 look at (004 L660-743)."""
        with self.db.read() as conn:
            rows = store.mailboxes_owned_by(conn, owner)
        return [_mailbox(r) for r in rows]

    def to_publish(self, operator: str) -> list[Mailbox]:
        """The operator's mailboxes not yet in the Annuaire (publication.publish_pending)."""
        with self.db.read() as conn:
            rows = store.mailboxes_to_publish(conn, operator, CITIZEN)
        return [_mailbox(r) for r in rows]

    def publication_done(self, address: str, error: str | None = None) -> None:
        """Published (error None), or refused by the Annuaire this time: pending, with the reason."""
        with self.db.write() as conn:
            store.set_publication(conn, address, "a-publier" if error else "publiee", error[:500] if error else None)
            audit.Trail.write(
                conn,
                audit.SYSTEM,
                "mss.bal.publier",
                purpose="HOPERAT",
                detail={"bal": address, "erreur": error} if error else {"bal": address},
            )

    def grant(self, actor: Actor, address: str, person: str, role: str) -> None:
        """Share (co-titulaire) or delegate (délégué, e.g. a secretary): a titulaire grants; the
        operator's administration (`audit.SYSTEM`) names the titulaires of ORG/CAB/APP mailboxes."""
        address = normalise(address)
        administration = actor == audit.SYSTEM
        if role not in (ROLES if administration else ROLES[1:]):
            raise InvalidInput(f"rôle {role!r} : co-titulaire ou delegue", code="bal-role")
        with self.db.write() as conn:
            if not store.mailbox_exists(conn, address):
                raise NotFound(f"BAL {address} inconnue", code="bal-inconnue")
            if not administration and store.role(conn, address, actor.person) != "titulaire":
                raise Forbidden("seul un titulaire de la BAL en partage ou délègue l'accès", code="bal-non-titulaire")
            store.delete_access(conn, address, person)
            store.insert_access(
                conn,
                address=address,
                person=person,
                role=role,
                granted_by=actor.person,
                granted_at=datetime.now(UTC).isoformat(),
            )
            audit.Trail.write(
                conn,
                actor,
                "mss.bal.acces",
                purpose="HOPERAT",
                detail={"bal": address, "personne": person, "role": role},
            )

    def revoke(self, actor: Actor, address: str, person: str) -> None:
        address = normalise(address)
        with self.db.write() as conn:
            if store.role(conn, address, actor.person) != "titulaire":
                raise Forbidden("seul un titulaire retire un accès", code="bal-non-titulaire")
            store.delete_access(conn, address, person, keep_titulaire=True)
            audit.Trail.write(
                conn, actor, "mss.bal.acces.retirer", purpose="HOPERAT", detail={"bal": address, "personne": person}
            )

    def role_of(self, address: str, person: str) -> str | None:
        with self.db.read() as conn:
            return store.role(conn, normalise(address), person)

    def accessible(self, person: str) -> list[tuple[Mailbox, str]]:
        """Every mailbox a professional may open, with his role in it."""
        with self.db.read() as conn:
            rows = store.accessible_mailboxes(conn, person)
        return [(_mailbox(r), r.role) for r in rows]

    def authenticate_password(
        self, address: str, password: str, *, source: str = "", operator: str | None = None, via: str = ""
    ) -> Mailbox | None:
        """Applicative mailboxes (and test accounts) log in with their password — at `operator`'s
        servers if named. SMTP AUTH and IMAP LOGIN share one throttle per address and per source
        (maison.core.lockout): `Locked` while either is locked; the hash runs for an unknown or
        passwordless address too, so that the time taken does not tell which addresses exist."""
        attempt = self.throttle.begin(address, source)
        with self.db.read() as conn:
            row = store.mailbox(conn, address.strip().lower())
        usable = row is not None and row.active and (operator is None or row.operator == operator)
        if not check_password_evenly(password, row.password_hash if usable and row is not None else None):
            self.throttle.failed(attempt)
            return None
        assert row is not None  # the password verified against this mailbox's hash
        self.throttle.succeeded(
            address,
            source,
            Actor(person=row.address, structure=row.owner, software=via or "mss"),
            attempt=attempt,
            detail={"methode": "mot-de-passe"},
        )
        if needs_rehash(row.password_hash):  # below OWASP's parameters: upgraded at this login
            with self.db.write() as conn:
                store.set_password_hash(conn, row.address, hash_password(password))
        return _mailbox(row)
