"""A patient a test has to itself, for the MSSanté modules whose tests share one house and one trust
space (tests/e2e/mss_shared.py): in the INS referential, so with Mon espace santé (her citizen mailbox
opens when a professional writes), and her Mon espace santé login if asked. A test then reads her
mailbox and her messagerie alone, whatever the module's other tests delivered before it."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import count

from maison.core.ins_traits import Traits
from maison.formats.mime import CITIZEN_DOMAIN
from tests.identite.helpers import nir
from tests.partage.world import PASSWORD

_serial = count(1)


@dataclass(frozen=True)
class Citizen:
    ins: str
    login: str
    email: str

    @property
    def box(self) -> str:
        return f"{self.ins}@{CITIZEN_DOMAIN}"


def citizen(house, *, account: bool = False) -> Citizen:
    """A woman born in Paris in February 1980 (her NIR agrees with her traits, as the referential asks);
    `account`: her Mon espace santé login opened too, with the world's PASSWORD."""
    n = next(_serial)
    ins = nir(f"2800275056{n:03d}")
    house.insi.referential.register(Traits.of("CITOYENNE", "ALICE", "F", "1980-02-01", "75056"), ins)
    person = Citizen(ins, f"alice.{n}", f"alice.{n}@example.fr")
    if account:
        house.patient_login.open_account(person.login, ins, "1980-02-01", PASSWORD, email=person.email)
    return person
