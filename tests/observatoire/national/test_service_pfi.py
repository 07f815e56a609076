"""The qualified-INS share on the real hospital flow (000 L2017): the DPI's letters go over HL7 v2 to
the PFI, which feeds the DMP over PDSm and sends them to the GP over MSSanté (SMTP, relayed between
two operators); the PFI records each identity's PID-32, which neither the DMP feed nor the operators
see. The module's one test has the module's house to itself (test_hl7_documents' fixtures: one house
per module and backend), so the month's totals are its own."""

from __future__ import annotations

from datetime import date

from maison.core.actor import Actor
from maison.observatoire.national.service import National
from maison.observatoire.report import Period
from tests.etablissement.pfi.test_hl7_documents import (  # noqa: F401 - the fixtures
    case,
    house,
    letter,
    module_world,
    mss,
    pfi,
    settled,
    text,
)
from tests.etablissement.pfi.test_hl7_request import parse

ANALYST = Actor("analyste-ans", "ANS", "maison", kind="professional")


def test_a_letter_for_an_identity_not_qualified_lowers_the_share(pfi, house, case):  # noqa: F811 - the fixtures
    """Hand count: two letters fed to the DMP and sent to the GP through the PFI, one for a qualified
    identity (PID-32 QUAL), one for a validated one whose INS was not checked (VALI): DMP 2 documents,
    1 with a qualified INS; MSSanté 2 messages sent, 1 with a qualified INS — 2 of 4, 50 %."""
    receiver, _world, _dpi = pfi
    flags = {"DESTMSSANTEPS": "Y"}
    for control, status in (("Q1", "QUAL"), ("V1", "VALI")):
        message = text(case, letter(case), control_id=control, ins_status=status, flags=flags, recipients=(case.gp,))
        receiver.handle(parse(message))
    for control in ("Q1", "V1"):
        _, legs = settled(house, control)
        assert {leg.channel: leg.state for leg in legs} == {"dmp": "accepte", "mss": "envoye"}
    report = National(house.db).compute(ANALYST, Period.parse(date.today().strftime("%Y-%m")))
    (line,) = report.dmp
    assert (line.feeds, line.documents, line.unqualified) == (2, 2, 1)
    (share,) = report.ins_share
    assert (share.dmp_documents, share.dmp_with_ins, share.mss_messages, share.mss_with_ins) == (2, 1, 2, 1)
    assert share.share == 0.5 and share.met is False
