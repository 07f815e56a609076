"""The qualified-INS share of DMP documents on the real hospital flow (000 L2017): the DPI's letters go
over HL7 v2 to the PFI, which feeds the DMP over PDSm; the PFI records each identity's PID-32, which
the DMP feed does not carry."""

from __future__ import annotations

from datetime import date

from maison.core.actor import Actor
from maison.observatoire.national.service import National
from maison.observatoire.report import Period
from tests.etablissement.pfi.test_hl7_documents import letter, pfi, settled, text  # noqa: F401 - pfi: the fixture
from tests.etablissement.pfi.test_hl7_request import parse

ANALYST = Actor("analyste-ans", "ANS", "maison", kind="professional")


def test_a_letter_fed_for_an_identity_not_qualified_lowers_the_share(pfi, house):  # noqa: F811 - the fixture
    """Hand count: two letters fed through the PFI, one for a qualified identity (PID-32 QUAL), one for
    a validated one whose INS was not checked (VALI): 2 documents, 1 with a qualified INS — 50 %."""
    receiver, _world, _dpi = pfi
    receiver.handle(parse(text(letter(), control_id="Q1", ins_status="QUAL")))
    receiver.handle(parse(text(letter(), control_id="V1", ins_status="VALI")))
    for control in ("Q1", "V1"):
        _, [leg] = settled(house, control)
        assert leg.state == "accepte"
    report = National(house.db).compute(ANALYST, Period.parse(date.today().strftime("%Y-%m")))
    (line,) = report.dmp
    assert (line.feeds, line.documents, line.unqualified) == (2, 2, 1)
    (share,) = report.ins_share
    assert (share.dmp_documents, share.dmp_with_ins, share.mss_messages) == (2, 1, 0)
    assert share.share == 0.5 and share.met is False
