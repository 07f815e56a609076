"""The population's bulk load into the INS referential: what is seeded is what INSi finds."""

from __future__ import annotations

from maison.core.storage import Database
from maison.identite.ins.model import CarteVitaleQuery, TraitsQuery
from maison.identite.ins.referential import Referential
from maison.migrations import migrate
from maison.seeding.population import generate
from maison.seeding.referential import seed_referential


def test_seeded_people_are_found_by_traits_and_by_carte_vitale(tmp_path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'maison.db'}")
    try:
        migrate(db)
        progress: list[int] = []
        assert seed_referential(db, 300, seed=11, batch=120, progress=progress.append) == 300
        assert progress == [120, 120, 60]
        referential = Referential(db)
        assert referential.count() == 300
        people = list(generate(300, 11))
        adult = next(p for p in people if p.ouvrant_droit is None and p.traits.date_naissance[5:7] != "00")
        t = adult.traits
        found = referential.search_by_traits(TraitsQuery(t.nom_naissance, t.prenoms[:1], t.sexe, t.date_naissance))
        assert found.code.value in ("00", "02")  # 02: a homonym of the population shares the traits
        by_card = referential.search_by_carte_vitale(CarteVitaleQuery(adult.matricule, None, t.date_naissance))
        assert by_card.code.value == "00"
        assert by_card.individu is not None and by_card.individu.active.value == adult.matricule
        assert by_card.individu.traits.nom_naissance == t.nom_naissance
    finally:
        db.dispose()
