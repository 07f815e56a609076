"""The national INS referential and the INSi searches over it.

Matching, as the national service applies it, is exact on normalised traits (seed 002 L342-344
describe the client side; the server side follows the CNAM ServiceIdentiteCertifiee contract):

- by traits: birth name, sex and birth date must be equal (in `match_form`); the first name sent
  must equal the identity's first birth first name or its whole list of birth first names; the
  birth place, when sent, must be equal. One identity → `00` with the active INS, the historic
  INS and the official traits; none → `01`; several → `02` (no identity returned).
- by carte Vitale: the individual's matricule read on the card (active or historic, since a card
  may carry an old NIR), or the ouvrant droit's matricule with the birth date and the rang de
  naissance that tells twins apart.

A merged identity (`merged_into` set) is never returned itself: its matricules are historic INS
of the identity it was merged into (SPEC §1: merges deactivate an INS, FHIR `use = old`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from maison.core.errors import Conflict, InvalidInput, NotFound
from maison.core.identifiers.nir import (
    OID_INS_NIA,
    OID_INS_NIR,
    OID_INS_NIR_DEMO,
    OID_INS_NIR_TEST,
    consistency_problems,
    parse_matricule,
)
from maison.core.ins_traits import Traits, check_birth_date, check_birth_place, check_sex, match_form
from maison.core.storage import Database
from maison.formats.insi import CodeCR, Individu, InsiResult, InsRef
from maison.identite.ins import store
from maison.identite.ins.model import CarteVitaleQuery, Environment, TraitsQuery

_NIR_OID = {Environment.PRODUCTION: OID_INS_NIR, Environment.TEST: OID_INS_NIR_TEST, Environment.DEMO: OID_INS_NIR_DEMO}


def oid_of(matricule: str, environment: Environment) -> str:
    """The OID INSi answers a matricule's INS with: a NIA's always, a NIR's the environment's
    (`ins_environment`: test `…4.10`, the default; production `…4.8`; demo `…4.11`)."""
    return OID_INS_NIA if parse_matricule(matricule).type.value == "NIA" else _NIR_OID[environment]


class Referential:
    """The referential over one database; `environment` decides the OID of NIR-based INS."""

    def __init__(self, db: Database, environment: Environment = Environment.TEST) -> None:
        self.db = db
        self.environment = environment

    # --- reading -----------------------------------------------------------------------------

    def _ref(self, row: store.Row) -> InsRef:
        oid = OID_INS_NIA if row.type == "NIA" else _NIR_OID[self.environment]
        return InsRef(row.number, row.cle, row.type, oid, row.date_deb, row.date_fin)

    def _individu(self, conn: store.Connection, person: store.Row) -> Individu:
        refs = [self._ref(r) for r in store.matricules_of(conn, person.id)]
        active = [r for r in refs if r.date_fin is None]
        if len(active) != 1:
            raise Conflict(f"identité {person.id} : {len(active)} INS actifs", code="referentiel-incoherent")
        history = tuple(r for r in refs if r.date_fin is not None)
        traits = Traits(
            person.nom_naissance,
            tuple(person.prenoms.split(" ")),
            person.sexe,
            person.date_naissance,
            person.lieu_naissance,
        )
        return Individu(active[0], history, traits)

    def _answer(self, conn: store.Connection, persons: list[store.Row]) -> InsiResult:
        if not persons:
            return InsiResult(CodeCR.AUCUN)
        if len(persons) > 1:
            return InsiResult(CodeCR.PLUSIEURS, candidates=len(persons))
        return InsiResult(CodeCR.TROUVE, self._individu(conn, persons[0]), candidates=1)

    def search_by_traits(self, query: TraitsQuery) -> InsiResult:
        if not query.nom_naissance.strip():
            raise InvalidInput("NomNaissance absent", code="nom-absent")
        if not any(p.strip() for p in query.prenoms):
            raise InvalidInput("Prenom absent", code="prenom-absent")
        sexe = check_sex(query.sexe)
        date_naissance = check_birth_date(query.date_naissance)
        lieu = check_birth_place(query.lieu_naissance)
        sent = match_form(" ".join(query.prenoms))
        key = store.match_key(query.nom_naissance, date_naissance, sexe)
        with self.db.read() as conn:
            found = []
            for person in store.persons_by_key(conn, key):
                given = person.prenoms.split(" ")
                if sent not in (match_form(given[0]), match_form(person.prenoms)):
                    continue
                if lieu and person.lieu_naissance != lieu:
                    continue
                found.append(person)
            return self._answer(conn, found)

    def search_by_carte_vitale(self, query: CarteVitaleQuery) -> InsiResult:
        date_naissance = check_birth_date(query.date_naissance)
        if not (query.matricule_individu or query.matricule_od):
            raise InvalidInput("MatriculeIndividu ou MatriculeOD attendu", code="matricule-absent")
        with self.db.read() as conn:
            candidates: list[store.Row] = []
            if query.matricule_individu:
                m = parse_matricule(query.matricule_individu)
                row = store.matricule(conn, m.number)
                if row is not None:
                    candidates = [self._surviving(conn, row.person_id)]
            elif query.matricule_od:
                od = parse_matricule(query.matricule_od)
                for ben in store.beneficiaries(conn, od.number):
                    if query.rang_naissance is None or ben.rang_naissance == query.rang_naissance:
                        candidates.append(self._surviving(conn, ben.person_id))
            found = [p for p in candidates if p.date_naissance == date_naissance]
            if query.nom_naissance:
                found = [p for p in found if match_form(p.nom_naissance) == match_form(query.nom_naissance)]
            unique = {p.id: p for p in found}
            return self._answer(conn, list(unique.values()))

    def _surviving(self, conn: store.Connection, person_id: int) -> store.Row:
        person = store.person(conn, person_id)
        while person is not None and person.merged_into is not None:
            person = store.person(conn, person.merged_into)
        if person is None:
            raise NotFound(f"identité {person_id} inconnue")
        return person

    def by_matricule(self, value: str) -> Individu:
        m = parse_matricule(value)
        with self.db.read() as conn:
            row = store.matricule(conn, m.number)
            if row is None:
                raise NotFound(f"matricule {value} inconnu du référentiel", code="matricule-inconnu")
            return self._individu(conn, self._surviving(conn, row.person_id))

    # --- writing (the registration bodies' side) ------------------------------------------------

    def register(
        self,
        traits: Traits,
        matricule: str,
        *,
        since: date | None = None,
        ouvrant_droit: str | None = None,
        rang_naissance: int = 1,
    ) -> int:
        """Add an identity with its matricule; the matricule must agree with the traits."""
        m = parse_matricule(matricule)
        problems = consistency_problems(
            m, sex=traits.sexe, birth_date=traits.date_naissance, birth_place=traits.lieu_naissance
        )
        if problems:
            raise InvalidInput("matricule incohérent avec les traits : " + "; ".join(problems), code="nir-incoherent")
        with self.db.write() as conn:
            if store.matricule(conn, m.number) is not None:
                raise Conflict(f"matricule {m.value} déjà attribué", code="matricule-existant")
            person_id = store.insert_person(conn, traits)
            store.insert_matricule(conn, person_id, m.number, m.key, m.type.value, since or date.today())
            od = parse_matricule(ouvrant_droit).number if ouvrant_droit else m.number
            store.add_beneficiary(conn, od, person_id, rang_naissance)
            return person_id

    def load(self, people: Sequence[tuple[Traits, str, str | None, int]], *, since: date) -> int:
        """Register a batch in one transaction, without the per-identity checks of `register`:
        the bulk load of a synthetic population (maison.seeding), whose generator makes matricules
        that are unique and consistent with the traits. Entries: (traits, matricule, ouvrant droit
        or None, rang de naissance); returns how many were registered."""
        with self.db.write() as conn:
            return store.load_people(conn, people, since)

    def replace_matricule(self, current: str, new: str, *, on: date | None = None) -> None:
        """A NIA replaced by the NIR, or a corrected NIR: the old one becomes a historic INS."""
        old, fresh = parse_matricule(current), parse_matricule(new)
        when = on or date.today()
        with self.db.write() as conn:
            row = store.matricule(conn, old.number)
            if row is None or row.date_fin is not None:
                raise NotFound(f"matricule actif {current} inconnu", code="matricule-inconnu")
            if store.matricule(conn, fresh.number) is not None:
                raise Conflict(f"matricule {fresh.value} déjà attribué", code="matricule-existant")
            store.end_matricule(conn, old.number, when)
            store.insert_matricule(conn, row.person_id, fresh.number, fresh.key, fresh.type.value, when)

    def merge(self, survivor: str, absorbed: str, *, on: date | None = None) -> None:
        """Two identities found to be one person: the absorbed one's INS become historic INS of the survivor."""
        keep, drop = parse_matricule(survivor), parse_matricule(absorbed)
        when = on or date.today()
        with self.db.write() as conn:
            keep_row, drop_row = store.matricule(conn, keep.number), store.matricule(conn, drop.number)
            if keep_row is None or drop_row is None:
                raise NotFound("matricule inconnu du référentiel", code="matricule-inconnu")
            if keep_row.date_fin is not None or drop_row.date_fin is not None:
                raise Conflict("seuls deux INS actifs peuvent être fusionnés", code="fusion-refusee")
            if keep_row.person_id == drop_row.person_id:
                raise Conflict("les deux INS désignent déjà la même identité", code="fusion-refusee")
            # Identities the absorbed one had itself absorbed follow it: merges stay one level deep,
            # so the survivor's historic INS are its own and those of `merged_into = survivor`.
            store.merge_person(conn, drop_row.person_id, keep_row.person_id, when)
            # Carte Vitale rights follow the survivor, once per ouvrant droit.
            kept = {r.ouvrant_droit for r in store.rights_of(conn, keep_row.person_id)}
            for right in store.rights_of(conn, drop_row.person_id):
                if right.ouvrant_droit in kept:
                    store.drop_right(conn, right.ouvrant_droit, drop_row.person_id)
                else:
                    store.move_right(conn, right.ouvrant_droit, drop_row.person_id, keep_row.person_id)

    def count(self) -> int:
        with self.db.read() as conn:
            return store.count_persons(conn)
