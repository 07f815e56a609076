"""Which MSSanté mailboxes an operator may write in the Annuaire (issue 18 §1.2).

The Annuaire's "BAL MSS" specification (IG fhir-annuaire, balmss-spec) lets each operator of the
MSSanté trust space publish *its* mailboxes: an operator answers for the domains it declared when it
joined the trust space (000 L2708-2710) and for the holders of the mailboxes it opened. So an
operator may touch only mailboxes of its own domains (it may not delete another operator's address
nor add one in another operator's domain: mail would then misroute), never another telecom entry,
and it may add an address only on the carrier (Practitioner, PractitionerRole, Organization) of
that mailbox's holder.

The trust space and the operators' mailbox registries are MSSanté's (the `partage` layer, which the
Annuaire may not import): the house plugs a `MailboxRegistry` in, as it plugs the token verifiers
into `core.authz`. Without one, no operator writes. The rule is decided on what a patch *changes*
(the telecom entries before and after it), not on the operation's shape, so that no spelling of an
operation escapes it; and the domains are checked first, before anything is looked up, so that a
refusal says nothing of another operator's (possibly liste rouge) mailboxes.

Where this house does not keep an operator's mailbox registry (an operator run elsewhere and
registered in this trust space), only the domain rule can be checked here, as the national Annuaire
does: the operator answers for its holders by its contract with the trust space.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Protocol

import orjson
from sqlalchemy.engine import Connection

from maison.core.errors import Forbidden
from maison.identite.annuaire.index import get, mailboxes
from maison.identite.annuaire.vocabulary import SYS_IDNATPS, SYS_IDNATSTRUCT


@dataclass(frozen=True)
class OperatorRights:
    """An active operator of the trust space: its declared domains (lower case), and whether this
    house keeps its mailbox registry (so that holders can be checked here)."""

    domains: frozenset[str]
    keeps_registry: bool


@dataclass(frozen=True)
class HostedMailbox:
    """A mailbox as its operator's registry knows it."""

    operator: str
    kind: str  # PER / ORG / APP / CAB
    holder: str  # IdNatPS (PER) or IdNatStruct (ORG, APP, CAB)
    active: bool


class MailboxRegistry(Protocol):
    def operator(self, conn: Connection, operator_id: str) -> OperatorRights | None: ...

    def mailbox(self, conn: Connection, address: str) -> HostedMailbox | None: ...


class MailboxRefused(Forbidden):
    code = "bal-hors-perimetre"


def domain(address: str) -> str:
    return address.rpartition("@")[2].strip().lower()


class OperatorScope:
    """One operator's rights over the Annuaire's mailboxes, for one PATCH."""

    def __init__(self, registry: MailboxRegistry | None, conn: Connection, operator_id: str) -> None:
        rights = registry.operator(conn, operator_id) if registry is not None else None
        if rights is None or registry is None:
            raise MailboxRefused(
                f"{operator_id} n'est pas un opérateur actif de l'espace de confiance MSSanté", code="operateur-inconnu"
            )
        self.registry, self.conn, self.operator_id, self.rights = registry, conn, operator_id, rights

    def address(self, address: str) -> None:
        """Any address a patch names (in a path or a value), before anything is looked up."""
        if domain(address) not in self.rights.domains:
            raise MailboxRefused(f"l'adresse {address} n'est pas d'un domaine de l'opérateur {self.operator_id}")

    def changes(self, resource: dict, before: list, after: list) -> None:
        """Every telecom entry removed, added or altered is a mailbox of the operator's domains; every
        address new on the resource is a mailbox of the operator's registry held by that carrier."""
        old, new = Counter(map(_canonical, before)), Counter(map(_canonical, after))
        changed = [orjson.loads(c) for c in (old - new) + (new - old)]
        for entry in changed:
            found = mailboxes({"telecom": [entry]}) if isinstance(entry, dict) else []
            if not found:
                raise MailboxRefused("un opérateur MSSanté ne modifie que des BAL MSSanté", code="telecom-non-bal")
            self.address(found[0]["address"])
        present = {b["address"].lower() for b in mailboxes({"telecom": before})}
        for box in mailboxes({"telecom": after}):
            if box["address"].lower() not in present:
                self._holder(resource, box)

    def _holder(self, resource: dict, box: dict) -> None:
        if not self.rights.keeps_registry:
            return
        hosted = self.registry.mailbox(self.conn, box["address"])
        if hosted is None or hosted.operator != self.operator_id or not hosted.active:
            raise MailboxRefused(
                f"BAL {box['address']} absente du registre de l'opérateur {self.operator_id}", code="bal-non-ouverte"
            )
        if hosted.kind != box["type"] or hosted.holder not in holders(self.conn, resource):
            raise MailboxRefused(
                f"BAL {box['address']} : le titulaire n'est pas {resource['resourceType']}/{resource['id']}",
                code="bal-titulaire",
            )


def holders(conn: Connection, resource: dict) -> set[str]:
    """The national identifiers the carrier stands for: its IdNatPS or IdNatStruct, and for a
    PractitionerRole those of its practitioner (a PER mailbox on a role is the person's)."""
    found = {
        i["value"]
        for i in resource.get("identifier", [])
        if isinstance(i, dict) and i.get("system") in (SYS_IDNATPS, SYS_IDNATSTRUCT) and isinstance(i.get("value"), str)
    }
    if resource.get("resourceType") == "PractitionerRole":
        reference = (resource.get("practitioner") or {}).get("reference", "")
        practitioner = get(conn, "Practitioner", reference.rpartition("/")[2]) if reference else None
        if practitioner is not None:
            found |= holders(conn, practitioner)
    return found


def _canonical(entry: object) -> bytes:
    return orjson.dumps(entry, option=orjson.OPT_SORT_KEYS)
