"""A patient a test has to itself, for the portal modules whose tests share one house (module_live).

Sarah is the world's patient: a test that writes her dossier, her history, her mailbox or her login's
failure count would change what the module's other tests read. So each such test makes its own
patient here — in the INS referential (INSi finds her by her traits: each has her own family name;
her NIR agrees with her birth, as the referential asks), so with a DMP and a citizen mailbox once a
professional feeds or writes to her — and, if asked, her Mon espace santé login."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import count

from maison.core.identifiers.nir import OID_INS_NIR_TEST
from maison.core.ins_traits import Traits
from maison.formats.cda.build import PatientIdentity
from maison.formats.mime import CITIZEN_DOMAIN
from tests.identite.helpers import nir
from tests.partage.world import PASSWORD

GIVEN, SEX, BIRTH, PLACE = "ALICE", "F", "1981-03-15", "75056"  # born in Paris, March 1981: her NIR says so
_serial = count(1)


def _letters(n: int) -> str:
    """1 → A, 26 → Z, 27 → AA: a family name's unique part (the referential's names are letters)."""
    out = ""
    while n:
        n, rest = divmod(n - 1, 26)
        out = chr(ord("A") + rest) + out
    return out


@dataclass(frozen=True)
class Patient:
    ins: str
    family: str
    login: str
    email: str

    @property
    def identity(self) -> PatientIdentity:
        """Her identity as a document's header carries it (`n1(..., patient=...)`)."""
        return PatientIdentity(self.ins, OID_INS_NIR_TEST, self.family, GIVEN, SEX, BIRTH, PLACE)

    @property
    def form(self) -> dict[str, str]:
        """Her traits as /pro's search and feed forms take them (SARAH_FORM's fields)."""
        return {"nom": self.family, "prenoms": GIVEN, "sexe": SEX, "naissance": BIRTH, "lieu": ""}

    @property
    def box(self) -> str:
        """Her citizen mailbox in Mon espace santé's messagerie."""
        return f"{self.ins}@{CITIZEN_DOMAIN}"


def own_patient(house, *, account: bool = True) -> Patient:
    """A new patient in `house`'s referential; `account`: her Mon espace santé login opened too (the
    world's PASSWORD, her one-time codes sent to `email`)."""
    n = next(_serial)
    assert n < 1000, "the NIR's order number has three digits"
    person = Patient(nir(f"2810375056{n:03d}"), f"ESSAI-{_letters(n)}", f"alice.{n}", f"alice.{n}@example.fr")
    house.insi.referential.register(Traits.of(person.family, GIVEN, SEX, BIRTH, PLACE), person.ins)
    if account:
        house.patient_login.open_account(person.login, person.ins, BIRTH, PASSWORD, email=person.email)
    return person
