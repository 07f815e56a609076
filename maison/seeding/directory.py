"""A synthetic Annuaire Santé: practitioners, their situations d'exercice, structures and mailboxes.

Reproducible from a seed. Shares follow the RPPS's broad picture: nurses first, then doctors,
physiotherapists, pharmacists, dentists, midwives and the other professions; doctors and
dentists mostly libéraux, nurses mostly salaried. Structures are hospitals (an entité juridique
with FINESS EJ and one to three établissements with FINESS ET), cabinets (SIRET), pharmacies,
laboratories, EHPAD, centres and maisons de santé. About one practitioner in five has two or
three situations d'exercice. MSSanté mailboxes: personal (PER) ones on many situations, ORG and
APP ones on structures, CAB ones on group cabinets; a few are on the liste rouge. Each hospital
site holds its activités sanitaires régulées (HealthcareService) with ARHGOS numbers.

Identifiers use the test ranges: RPPS `9995…` to `9999…` (the range of seed 001 L383's test RPPS,
clear of that number itself), so a synthetic practitioner never carries a real professional's
number, and up to 5 million practitioners can be made.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from maison.core.identifiers.checksums import luhn_check_digit
from maison.core.storage import Database
from maison.identite.annuaire import resources as build
from maison.identite.annuaire.activites import TRIPLETS
from maison.identite.annuaire.index import put
from maison.seeding.population import COMMUNES, generate

# (G15 code, catégorie R09, share, share libéral, civilité, mailbox domain, savoir-faire codes R38 with weights)
PROFESSIONS = (
    ("60", "C", 0.38, 0.20, None, "infirmier", ()),
    (
        "10",
        "C",
        0.22,
        0.45,
        "DR",
        "medecin",
        (
            ("SM54", 40),
            ("SM26", 5),
            ("SM04", 4),
            ("SM42", 4),
            ("SM40", 3),
            ("SM02", 4),
            ("SM44", 4),
            ("SM38", 3),
            ("SM15", 2),
            ("SM20", 3),
            ("SM59", 4),
            ("SM18", 2),
            ("SM03", 2),
            ("SM32", 2),
            ("SM41", 2),
        ),
    ),
    ("70", "C", 0.09, 0.80, None, "kine", ()),
    ("21", "C", 0.07, 0.40, "DR", "pharmacien", ()),
    ("40", "C", 0.04, 0.85, "DR", "chirurgien-dentiste", ()),
    ("50", "C", 0.025, 0.30, None, "sagefemme", ()),
    ("91", "C", 0.025, 0.80, None, "orthophoniste", ()),
    ("98", "C", 0.03, 0.05, None, "manipulateur", ()),
    ("28", "C", 0.02, 0.90, None, "opticien", ()),
    ("80", "C", 0.015, 0.95, None, "podologue", ()),
    ("39", "C", 0.02, 0.0, None, "preparateur", ()),
    ("95", "C", 0.01, 0.40, None, "dieteticien", ()),
    ("94", "C", 0.01, 0.20, None, "ergotherapeute", ()),
    ("96", "C", 0.01, 0.30, None, "psychomotricien", ()),
    ("92", "C", 0.005, 0.60, None, "orthoptiste", ()),
    ("26", "C", 0.005, 0.90, None, "audioprothesiste", ()),
)

SERVICES = (
    "cardiologie",
    "urgences",
    "pediatrie",
    "radiologie",
    "maternite",
    "geriatrie",
    "chirurgie",
    "oncologie",
    "psychiatrie",
    "medecine-interne",
    "laboratoire",
    "pharmacie",
    "dim",
    "secretariat",
)


@dataclass
class Place:
    insee: str
    city: str
    postal_code: str


def _places() -> tuple[list[Place], list[float]]:
    places, weights = [], []
    for code, name, weight, _since in COMMUNES:
        city = name.split(" ")[0] if name.endswith("Arrondissement") else name
        if code.startswith("751"):
            postal = "750" + code[3:]
        elif code.startswith("132"):
            postal = "130" + code[3:]
        elif code.startswith("6938"):
            postal = "6900" + code[4:]
        elif code.startswith("2"):
            postal = "20000" if code.startswith("2A") else "20200"
        else:
            postal = code[:2] + "000" if not code.startswith("97") else code[:3] + "00"
        places.append(Place(code, city.upper(), postal))
        weights.append(weight)
    return places, weights


def _slug(text: str) -> str:
    from maison.identite.annuaire.index import fold

    return fold(text).replace(" ", "-").replace(".", "").replace("@", "")


@dataclass
class Directory:
    """One generated batch: resources by type, ready for `index.put`."""

    organizations: list[dict] = field(default_factory=list)
    practitioners: list[dict] = field(default_factory=list)
    roles: list[dict] = field(default_factory=list)
    services: list[dict] = field(default_factory=list)


class _Numbers:
    """Valid, unique identifiers in the test ranges."""

    def __init__(self) -> None:
        self.rpps = 0
        self.finess = 0
        self.siren = 0
        self.role = 0
        self.card = 0
        self.arhgos = 0

    def next_rpps(self) -> str:
        self.rpps += 1
        body = f"999{5_000_000 + self.rpps:07d}"  # clear of 99900038441, the seed's own test RPPS
        return body + luhn_check_digit(body)

    def next_finess(self, department: str) -> str:
        self.finess += 1
        body = f"{department[:2].replace('A', '0').replace('B', '0')}9{self.finess:05d}"
        return body + luhn_check_digit(body)

    def next_siret(self) -> str:
        self.siren += 1
        siren = f"99{self.siren:06d}"
        siren += luhn_check_digit(siren)
        nic = "0001"
        return siren + nic + luhn_check_digit(siren + nic)

    def next_role(self) -> str:
        self.role += 1
        return f"{1_000_000_000 + self.role}"

    def next_arhgos(self, department: str) -> str:
        """ARHGOS authorisation numbers read `RR-DD-NNNNN` (région, département, sequence)."""
        self.arhgos += 1
        dept = department[:2].replace("A", "0").replace("B", "0")
        return f"{dept}-{dept}-{self.arhgos:05d}"

    def next_card(self) -> str:
        self.card += 1
        return f"2{self.card:09d}"


def stream(roles: int, seed: int = 2026, batch: int = 5_000) -> Iterator[Directory]:
    """About `roles` PractitionerRole with their practitioners and structures, in batches."""
    rnd = random.Random(seed)
    places, place_weights = _places()
    numbers = _Numbers()
    people = generate(int(roles * 0.85) + 1000, seed)
    prof_weights = [p[2] for p in PROFESSIONS]
    used_addresses: set[str] = set()
    updated = lambda: f"2026-{rnd.randint(1, 10):02d}-{rnd.randint(1, 28):02d}T{rnd.randint(6, 20):02d}:00:00+00:00"  # noqa: E731

    def address(local: str, domain: str) -> str:
        candidate, n = f"{local}@{domain}", 1
        while candidate in used_addresses:
            n += 1
            candidate = f"{local}{n}@{domain}"
        used_addresses.add(candidate)
        return candidate

    def place() -> Place:
        return rnd.choices(places, place_weights)[0]

    # Structures shared by the whole stream, created as they are first needed.
    hospitals: list[str] = []  # ET ids
    domains: dict[str, str] = {}  # ET id -> its MSSanté domain
    by_kind: dict[str, list[str]] = {
        "pharmacie": [],
        "laboratoire": [],
        "ehpad": [],
        "centre": [],
        "msp": [],
        "cabinet": [],
    }
    current = Directory()

    def new_hospital() -> None:
        where = place()
        finess_ej = numbers.next_finess(where.insee)
        public = rnd.random() < 0.6
        name = f"{'CH' if public else 'CLINIQUE'} {where.city} {len(hospitals) + 1}"
        slug = _slug(name)
        ej = build.organization(
            f"1{finess_ej}",
            name,
            updated(),
            finess=(finess_ej, "FINEJ"),
            entity="LEGAL-ENTITY",
            secteur="SA01" if public else "SA04",
            city=where.city,
            postal_code=where.postal_code,
            insee=where.insee,
        )
        current.organizations.append(ej)
        for site in range(rnd.choice((1, 1, 2, 3))):
            finess_et = numbers.next_finess(where.insee)
            boxes = [
                build.mailbox(
                    address(f"{service}", f"{slug}.mssante.fr"),
                    "ORG",
                    service=service,
                    description=f"Secrétariat {service}",
                )
                for service in rnd.sample(SERVICES, 3)
            ]
            if rnd.random() < 0.5:
                boxes.append(
                    build.mailbox(address("dpi", f"{slug}.mssante.fr"), "APP", description="Messagerie du DPI")
                )
            et = build.organization(
                f"1{finess_et}",
                f"{name} - SITE {site + 1}",
                updated(),
                finess=(finess_et, "FINEG"),
                secteur="SA01" if public else "SA04",
                partof=ej["id"],
                city=where.city,
                postal_code=where.postal_code,
                insee=where.insee,
                line=f"{rnd.randint(1, 200)} RUE {rnd.choice(('PASTEUR', 'DE LA PAIX', 'VICTOR HUGO', 'JEAN JAURES'))}",
                mailboxes=boxes,
            )
            current.organizations.append(et)
            for activite, modalite, forme, share in TRIPLETS:
                if rnd.random() < share:
                    year = rnd.randint(1998, 2024)
                    current.services.append(
                        build.healthcare_activity(
                            numbers.next_arhgos(where.insee),
                            et["id"],
                            activite,
                            modalite,
                            forme,
                            updated(),
                            authorised_on=f"{year}-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}",
                            first_use=f"{year + 1}-01-01",
                            ends_on=f"{year + 8}-12-31",
                            active=rnd.random() > 0.02,
                        )
                    )
            hospitals.append(et["id"])
            domains[et["id"]] = f"{slug}.mssante.fr"

    def new_structure(kind: str) -> str:
        where = place()
        secteur = {"pharmacie": "SA33", "laboratoire": "SA25", "ehpad": "SA17", "centre": "SA05", "msp": "SA52"}[kind]
        label = {
            "pharmacie": "PHARMACIE",
            "laboratoire": "LABORATOIRE",
            "ehpad": "EHPAD",
            "centre": "CENTRE DE SANTE",
            "msp": "MAISON DE SANTE",
        }[kind]
        finess = numbers.next_finess(where.insee)
        name = f"{label} {where.city} {len(by_kind[kind]) + 1}"
        boxes = (
            [build.mailbox(address(_slug(name), "structure.mssante.fr"), "ORG", description=name.title())]
            if rnd.random() < 0.6
            else []
        )
        org = build.organization(
            f"1{finess}",
            name,
            updated(),
            finess=(finess, "FINEG"),
            secteur=secteur,
            city=where.city,
            postal_code=where.postal_code,
            insee=where.insee,
            mailboxes=boxes,
        )
        current.organizations.append(org)
        if kind == "ehpad":
            places = rnd.randint(40, 120)
            authorised = f"{rnd.randint(2002, 2024)}-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}"
            current.services.append(
                build.social_equipment(
                    org["id"],
                    "924",
                    updated(),
                    places=places,
                    installed=places - rnd.randint(0, 5),
                    authorised_on=authorised,
                )
            )
            if rnd.random() < 0.4:
                temporary = rnd.randint(2, 10)
                current.services.append(
                    build.social_equipment(
                        org["id"],
                        "657",
                        updated(),
                        places=temporary,
                        installed=temporary - rnd.randint(0, 2),
                        authorised_on=authorised,
                    )
                )
        by_kind[kind].append(org["id"])
        return org["id"]

    def cabinet(family: str) -> str:
        if len(by_kind["cabinet"]) > 100 and rnd.random() < 0.5:  # joins an existing group practice
            return rnd.choice(by_kind["cabinet"])
        where = place()
        siret = numbers.next_siret()
        group = rnd.random() < 0.4
        name = f"CABINET {'MEDICAL ' if group else ''}{family.upper()}"
        boxes = (
            [build.mailbox(address(_slug(f"cabinet-{family}"), "cabinet.mssante.fr"), "CAB", description=name.title())]
            if group and rnd.random() < 0.5
            else []
        )
        org = build.organization(
            f"3{siret}",
            name,
            updated(),
            siret=siret,
            entity="LEGAL-ENTITY",
            secteur="SA08" if group else "SA07",
            city=where.city,
            postal_code=where.postal_code,
            insee=where.insee,
            mailboxes=boxes,
        )
        current.organizations.append(org)
        if group:
            by_kind["cabinet"].append(org["id"])
        return org["id"]

    def structure_for(profession: str, liberal: bool, family: str) -> str:
        if liberal:
            if profession == "21":
                pool = by_kind["pharmacie"]
                return rnd.choice(pool) if len(pool) > 50 and rnd.random() < 0.4 else new_structure("pharmacie")
            return cabinet(family)
        kind = rnd.random()
        if profession in ("21", "39") and kind < 0.4:
            if by_kind["pharmacie"] and kind < 0.3:
                return rnd.choice(by_kind["pharmacie"])
            return new_structure("pharmacie")
        if profession in ("60", "35") and kind < 0.15:
            pool = by_kind["ehpad"]
            return rnd.choice(pool) if len(pool) > 50 and rnd.random() < 0.8 else new_structure("ehpad")
        if profession == "10" and kind < 0.05:
            pool = by_kind["laboratoire"]
            return rnd.choice(pool) if len(pool) > 20 and rnd.random() < 0.7 else new_structure("laboratoire")
        if kind > 0.95:
            pool = by_kind["centre"]
            return rnd.choice(pool) if len(pool) > 20 and rnd.random() < 0.7 else new_structure("centre")
        if not hospitals or rnd.random() < 1 / 300:  # about 300 salaried situations per hospital site
            new_hospital()
        return rnd.choice(hospitals)

    made = 0
    for person in people:
        if made >= roles:
            break
        profession, categorie, _share, liberal_share, civilite, domain, specialties = rnd.choices(
            PROFESSIONS, prof_weights
        )[0]
        rpps = numbers.next_rpps()
        family, given = person.display_nom.upper(), person.display_prenoms.split(" ")[0]
        civ = civilite or ("MME" if person.traits.sexe == "F" else "M")
        savoir_faire = rnd.choices([c for c, _ in specialties], [w for _, w in specialties])[0] if specialties else None
        personal = []
        if rnd.random() < (0.6 if profession == "10" else 0.3):
            personal.append(
                build.mailbox(
                    address(f"{_slug(given)}.{_slug(family)}", f"{domain}.mssante.fr"),
                    "PER",
                    liste_rouge=rnd.random() < 0.03,
                )
            )
        practitioner = build.practitioner(
            rpps,
            family,
            given,
            civ,
            profession,
            categorie,
            savoir_faire,
            updated(),
            mailboxes=personal,
            card=("CPS", numbers.next_card()) if rnd.random() < 0.9 else None,
        )
        current.practitioners.append(practitioner)
        for _ in range(rnd.choices((1, 2, 3), (0.8, 0.15, 0.05))[0]):
            liberal = rnd.random() < liberal_share
            org = structure_for(profession, liberal, family)
            role_boxes = []
            if not liberal and rnd.random() < 0.35:
                role_boxes.append(
                    build.mailbox(
                        address(f"{_slug(given)}.{_slug(family)}", domains.get(org, "structure.mssante.fr")),
                        "PER",
                        liste_rouge=rnd.random() < 0.03,
                    )
                )
            current.roles.append(
                build.practitioner_role(
                    numbers.next_role(),
                    practitioner["id"],
                    org,
                    updated(),
                    fonction="FON-AU",
                    mode="L" if liberal else "S",
                    mailboxes=role_boxes,
                )
            )
            made += 1
            if made >= roles:
                break
        if len(current.roles) >= batch:
            yield current
            current = Directory()
    if current.roles or current.organizations or current.services:
        yield current


def seed_directory(
    db: Database,
    roles: int,
    seed: int = 2026,
    progress: Callable[[int], None] | None = None,
    *,
    seen: Callable[[Directory], None] | None = None,
) -> dict[str, int]:
    """Write a synthetic directory of about `roles` PractitionerRole; returns the counts by type.
    `seen` receives each generated batch once it is written: who needs to know the directory (the
    demo casting its doctor) reads what was generated instead of querying the Annuaire's tables."""
    counts = {"Organization": 0, "Practitioner": 0, "PractitionerRole": 0, "HealthcareService": 0}
    for part in stream(roles, seed):
        batches = {
            "Organization": part.organizations,
            "Practitioner": part.practitioners,
            "PractitionerRole": part.roles,
            "HealthcareService": part.services,
        }
        load(db, *batches.values())
        for rtype, resources in batches.items():
            counts[rtype] += len(resources)
        if progress:
            progress(len(part.roles))
        if seen:
            seen(part)
    return counts


def load(db: Database, *groups: list[dict]) -> None:
    """Write resources into the Annuaire in one transaction, through its index (which owns the
    tables and the search tokens): each group holds resources of one type, structures before the
    practitioners and roles that refer to them. What the operator's load of an RPPS extraction does."""
    with db.write() as conn:
        for resources in groups:
            put(conn, resources)
