"""INSi's sandbox (bac à sable): the fixed test identities a vendor's test bench looks for, and the OID
INSi answers them with.

The synthetic population of `maison seed` is drawn at random; a vendor's test bench needs named
identities that are there in every sandbox, each with the answer it expects. This catalogue is
those identities, loaded by `maison seed` beside the population (`load`), and stated with the OID of
their INS under the configured `ins_environment` (`statement`, what README's catalogue prints):

- `PAT-TROIS DOMINIQUE` is the patient of every CI-SIS example document
  (`../shared/reference/cisis/ExemplesCDA`, `recordTarget`: INS `279035121518989` under
  `1.2.250.1.213.1.4.10`, "INS-NIR de test", born 1979-03-28 at 51215): a document a vendor builds
  from INSi's answer carries the INS and the OID of the reference examples, and passes the DMP's
  INS check. Under the default environment (`test`) INSi answers her with exactly that OID.
- `GARCIA-HAMMADI SARAH-LOU ANNA` is the seed's test vector (seed 003 L229, `277010115400329`).
- two `MARTIN JEAN` born the same day give the answer `02` (several identities), told apart by
  their birth place (`75115`, `69123`); any other traits give `01`.

The OID of a NIR-based INS is the environment's (`Referential`: test `1.2.250.1.213.1.4.10`,
production `1.2.250.1.213.1.4.8`, demo `1.2.250.1.213.1.4.11`); a NIA is always `…4.9`. The national
teleservice's vendors' test environment has been seen answering its own test identities with the
production OID (recorded answers in a vendor's client tests, github.com/padoa/tlsi-ins): a bench
written against it runs here with `ins_environment = "production"`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from maison.core.errors import NotFound
from maison.core.ins_traits import Traits
from maison.identite.ins.model import Environment
from maison.identite.ins.referential import Referential, oid_of

SINCE = date(2020, 1, 1)  # the catalogue's matricules' start of validity


@dataclass(frozen=True, slots=True)
class SandboxIdentity:
    """One identity of the catalogue: what it is for, its traits, its INS (matricule and key)."""

    usage: str
    traits: Traits
    matricule: str


CATALOGUE: tuple[SandboxIdentity, ...] = (
    SandboxIdentity(
        "patient des exemples CDA du CI-SIS (00)",
        Traits.of("PAT-TROIS", "DOMINIQUE MARIE-LOUISE", "F", "1979-03-28", "51215"),
        "279035121518989",
    ),
    SandboxIdentity(
        "vecteur de test du NIR, seed 003 L229 (00)",
        Traits.of("GARCIA-HAMMADI", "SARAH-LOU ANNA", "F", "1977-01-21", "01154"),
        "277010115400329",
    ),
    SandboxIdentity(
        "homonyme (02 sans lieu de naissance, 00 avec 75115)",
        Traits.of("MARTIN", "JEAN PIERRE", "M", "1980-05-10", "75115"),
        "180057511500143",
    ),
    SandboxIdentity(
        "homonyme (02 sans lieu de naissance, 00 avec 69123)",
        Traits.of("MARTIN", "JEAN", "M", "1980-05-10", "69123"),
        "180056912300261",
    ),
)


@dataclass(frozen=True, slots=True)
class Statement:
    """A catalogue line as stated to vendors: the identity and the OID its INS is answered with."""

    identity: SandboxIdentity
    oid: str


def statement(environment: Environment) -> list[Statement]:
    """The catalogue with the OID INSi answers each identity's INS with under `environment`."""
    return [Statement(identity, oid_of(identity.matricule, environment)) for identity in CATALOGUE]


def load(referential: Referential) -> int:
    """Register the catalogue's identities that are not there yet (idempotent); returns how many."""
    added = 0
    for identity in CATALOGUE:
        try:
            referential.by_matricule(identity.matricule)
        except NotFound:
            referential.register(identity.traits, identity.matricule, since=SINCE)
            added += 1
    return added
