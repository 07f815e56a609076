"""Monthly INSi statistics by département, éditeur and établissement (seed 003 L316-322), from the trail."""

import csv
from datetime import date

import pytest

from maison.core.errors import InvalidInput, MaisonError
from maison.core.identifiers.checksums import luhn_check_digit
from maison.identite.ins.model import CallContext, TraitsQuery
from maison.observatoire.insi import monthly, write_csv
from tests.identite.helpers import IDAM, STRUCTURE, seed_referential

AJACCIO = "1" + "2A000000" + luhn_check_digit("20000000")  # a FINESS of Corse-du-Sud
LYON = "1" + "69000001" + luhn_check_digit("69000001")
SARAH = TraitsQuery("GARCIA-HAMMADI", ("SARAH-LOU",), "F", "1977-01-21")
NOBODY = TraitsQuery("INCONNU", ("PAUL",), "M", "1990-01-01")


def test_monthly_tables(house, tmp_path):
    insi = house.insi
    seed_referential(insi)
    insi.register_software("EDITEUR-B-01", "DPI B", "Éditeur B")
    insi.register_structure(LYON, "Clinique de Lyon")
    insi.register_structure(AJACCIO, "Hôpital d'Ajaccio")
    paris, lyon = CallContext(STRUCTURE, IDAM), CallContext(LYON, "EDITEUR-B-01")
    for ctx, query in [
        (paris, SARAH),
        (paris, NOBODY),
        (lyon, SARAH),
        (lyon, SARAH),
        (CallContext(AJACCIO, "EDITEUR-B-01"), NOBODY),
    ]:
        insi.search_by_traits(ctx, query)
    with pytest.raises(MaisonError):  # a structure not habilitated: refused, and counted as an error
        insi.search_by_traits(CallContext("1990000001", IDAM), SARAH)

    month = date.today().strftime("%Y-%m")
    tables = monthly(house.db, month)
    by_dept = {k: v.as_dict() for k, v in tables["departement"].items()}
    assert by_dept["75"] == {"appels": 2, "cr_00": 1, "cr_01": 1, "cr_02": 0, "cr_erreur": 0, "etablissements": 1}
    assert by_dept["69"]["cr_00"] == 2 and by_dept["2A"]["cr_01"] == 1
    assert by_dept["inconnu"]["cr_erreur"] == 1
    by_vendor = {k: v.as_dict() for k, v in tables["editeur"].items()}
    assert by_vendor["Éditeur B"]["appels"] == 3 and by_vendor["Éditeur B"]["etablissements"] == 2
    assert by_vendor["Maison"]["appels"] == 2
    assert tables["etablissement"][LYON].total == 2
    assert monthly(house.db, "2020-01") == {"departement": {}, "editeur": {}, "etablissement": {}}

    paths = write_csv(tables, month, tmp_path)
    rows = list(csv.reader(paths[0].open(encoding="utf-8"), delimiter=";"))
    assert rows[0] == ["departement", "appels", "cr_00", "cr_01", "cr_02", "cr_erreur", "etablissements"]
    assert ["75", "2", "1", "1", "0", "0", "1"] in rows


@pytest.mark.parametrize("month", ["2026-13", "2026-1", "novembre"])
def test_bad_month(db, month):
    with pytest.raises(InvalidInput):
        monthly(db, month)
