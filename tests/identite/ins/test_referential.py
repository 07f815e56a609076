"""The national referential: matricule history across merges and replacements."""

import pytest

from maison.core.errors import Conflict
from maison.core.ins_traits import Traits
from maison.formats.insi import CodeCR
from maison.identite.ins.model import CallContext, TraitsQuery
from tests.identite.helpers import IDAM, STRUCTURE, nir, seed_referential

CTX = CallContext(structure=STRUCTURE, software=IDAM)


def test_chained_merges_keep_every_historic_ins(house):
    service = house.insi
    seed_referential(service)
    ref = service.referential
    traits = Traits.of("LEROY", "ANNE", "F", "1985-02-03", "33063")
    a, b, c = nir("8850233063001"), nir("2850233063004"), nir("2850233063005")
    for matricule in (a, b, c):
        ref.register(traits, matricule)
    ref.merge(survivor=b, absorbed=a)
    ref.merge(survivor=c, absorbed=b)  # b had absorbed a: a must follow b into c
    result = service.search_by_traits(CTX, TraitsQuery("LEROY", ("ANNE",), "F", "1985-02-03"))
    assert result.code is CodeCR.TROUVE
    assert result.individu.active.value == c
    assert sorted(h.value for h in result.individu.history) == sorted([a, b])
    assert ref.by_matricule(a).active.value == c
    with pytest.raises(Conflict):
        ref.merge(survivor=c, absorbed=a)  # a historic INS cannot be merged again


def test_replaced_nia_is_historic(house):
    # 000 L183: the matricule is the NIR, or failing that the NIA — replaced once the NIR exists
    service = house.insi
    seed_referential(service)
    traits = Traits.of("NGUYEN", "BAO", "M", "1992-11-30", "99243")
    nia, nir_ = nir("7921199243001"), nir("1921199243017")
    service.referential.register(traits, nia)
    service.referential.replace_matricule(nia, nir_)
    individu = service.referential.by_matricule(nia)
    assert individu.active.value == nir_ and individu.active.type == "NIR"
    assert [(h.value, h.type) for h in individu.history] == [(nia, "NIA")]
