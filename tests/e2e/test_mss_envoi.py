"""One action, four destinations (000 L4121-4125): the hospital's discharge letter goes by MSSanté to
the médecin traitant (another operator) and to the patient's citizen mailbox, and into the DMP."""

from __future__ import annotations

import pytest

from maison.etablissement.pfi.envoi import Submission, dispatch
from maison.identite.psc.api import issuer_for
from tests.e2e.test_mss_smtp import _delivered
from tests.partage.mss_world import GP, PFI, PFI_PASSWORD, start_world
from tests.partage.world import PROS, SARAH_ID, make_world, n1

SARAH_BOX = f"{SARAH_ID.ins}@patient.mssante.fr"


@pytest.fixture
def setting(house, live, tmp_path):
    world = make_world(house, live, keys=("hospitalier", "generaliste"))
    mss = start_world(house, tmp_path, issuer_for(live.url))
    yield world, mss
    mss.close()


def _submission(mss) -> Submission:
    return Submission(
        "127.0.0.1", mss.endpoints("chu-test").submission, str(mss.mss.authority.cert_path), PFI, PFI_PASSWORD
    )


def test_the_letter_reaches_the_gp_the_patient_and_the_dmp(setting, house):
    world, mss = setting
    assert world.inform("hospitalier").status_code == 201
    letter = n1(PROS["hospitalier"])
    out = dispatch(
        letter,
        submission=_submission(mss),
        source_oid="1.2.250.1.213.4.1.9.1",
        medecin_traitant=GP,
        dmp_url=f"{world.base}/dmp",
        dmp_headers=world.headers("hospitalier"),
    )
    assert sorted(out.sent_to) == sorted([GP, SARAH_BOX]) and not out.refused
    assert out.dmp == "201 Created"
    for box in (GP, SARAH_BOX):
        [row] = _delivered(house, box)
        raw = mss.mss.delivery.content(row.sha256)
        assert b"IHE_XDM.ZIP" in raw and b"application/pdf" in raw and b"Disposition-Notification-To" in raw
    assert world.inform("generaliste").status_code == 201
    found = world.search("generaliste")  # the GP finds it in the DMP too
    assert found.status_code == 200 and found.json()["total"] == 1, found.text[:400]


def test_a_document_invisible_to_the_patient_is_not_sent_to_her(setting, house):
    world, mss = setting
    out = dispatch(
        n1(PROS["hospitalier"]),
        submission=_submission(mss),
        source_oid="1.2.250.1.213.4.1.9.1",
        medecin_traitant=GP,
        visibility=("INVISIBLE_PATIENT",),
    )
    assert out.sent_to == [GP] and out.dmp == ""
    assert _delivered(house, GP) and not _delivered(house, SARAH_BOX, timeout=1)
