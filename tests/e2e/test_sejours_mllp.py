"""`maison serve --mllp-port` as a GAM meets it (issue 22 §1, Done when): the ANS's PAM France examples
sent over MLLP to the running server, each ACKed AA and stored (stay, movements, identity, ZFA state,
Encounter); python-hl7's `mllp_send` (a client Maison did not write) as the GAM; `maison hl7 envoyer`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from maison.core import pki
from maison.core.actor import Actor
from maison.core.auth import issue_key
from maison.etablissement.sejours.model import StayStatus
from maison.etablissement.vigilance.model import Status
from maison.formats.hl7v2.client import MllpClient, MllpError
from tests.e2e.mllp_server import Served
from tests.etablissement.sejours.messages import FINESS, PAM_EXAMPLES, adt

MLLP_SEND = Path(sys.executable).with_name("mllp_send")
READER = Actor(person="899900038441", structure=FINESS, software="dpi")


@pytest.fixture
def served(mllp_served):
    """The server the MLLP modules share on each backend (tests/e2e/conftest.py); each test starts on
    emptied tables (`db`)."""
    return mllp_served


def _example(reference_path: Path, name: str) -> bytes:
    return (reference_path / "hl7v2/exemples" / name).read_bytes()


def _msa(ack: str) -> tuple[str, str]:
    msa = next(s for s in ack.split("\r") if s.startswith("MSA|")).split("|")
    return msa[1], msa[2]


def test_the_admission_and_discharge_examples(served, db, house, reference_path):
    """SGL/admission.er7 (A01 with ZBE and ZFA) then SGL/sortie.er7 (A03), sent by `maison hl7 envoyer`."""
    admission = subprocess.run(
        [sys.executable, "-m", "maison", "hl7", "envoyer", str(reference_path / "hl7v2/exemples" / PAM_EXAMPLES[0])]
        + ["--port", str(served.mllp)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert admission.returncode == 0, admission.stdout + admission.stderr
    assert "MSA|AA|3975" in admission.stdout
    with MllpClient("127.0.0.1", served.mllp) as gam:
        assert _msa(gam.send(_example(reference_path, PAM_EXAMPLES[1]))) == ("AA", "3995")

    (stay,) = house.sejours.search(READER)
    assert (stay.number, stay.status, stay.patient_class) == ("000897406", StayStatus.FINISHED, "I")
    assert [(m.movement_id, m.event, m.unit) for m in stay.movements] == [
        ("001", "A01", "6268"),
        ("002", "A03", "8782"),
    ]
    assert (stay.dmp_feeding, stay.dmp_consultation) == ("INO", "IC")
    identity = house.patients.get(READER, stay.patient_id)
    assert (identity.ipp, identity.traits.nom_naissance, identity.traits.lieu_naissance) == (
        "000003",
        "PAT-TROIS",
        "63220",
    )
    # PID-32 says VALI: the document was checked, but the INS it carries is not taken as qualified
    assert (identity.status, identity.ins_number) == (Status.VALI, None)
    assert house.sejours.dmp_state(READER, stay.patient_id)["dmp_status"] == "ACTIF"

    key = issue_key(house.db, FINESS, "maison-tests", "tests")
    found = httpx.get(
        f"{served.url}/fhir/Encounter",
        params={"patient": f"Patient/{stay.patient_id}", "status": "finished", "class": "IMP"},
        headers={"ESANTE-API-KEY": key},
    ).json()
    assert [e["resource"]["identifier"][0]["value"] for e in found["entry"]] == ["000897406"]


def test_the_dmp_consent_examples(served, db, house, reference_path):
    """Vague 2/Consentement_DMP_PAMFR: five admissions, each with its ZFA information state."""
    with MllpClient("127.0.0.1", served.mllp) as gam:
        acks = [_msa(gam.send(_example(reference_path, name))) for name in PAM_EXAMPLES[2:]]
    assert acks == [("AA", "3975"), ("AA", "3976"), ("AA", "3977"), ("AA", "3978"), ("AA", "3979")]
    states = {s.number: (s.dmp_feeding, s.dmp_consultation) for s in house.sejours.search(READER)}
    assert states == {
        "000897406": ("INO", "IC"),
        "000197406": ("INO", "INC"),
        "000297406": ("IO", "INC"),
        "000597406": ("INO", "NA"),
        "000997406": ("NA", "NA"),
    }
    patient = house.sejours.search(READER)[0].patient_id
    assert house.sejours.dmp_state(READER, patient)["feeding"] == "NA"  # the last one announced


def test_mllp_send_plays_the_gam(served, db, house, tmp_path):
    """python-hl7's `mllp_send` sends an admission, a transfer and a discharge on one connection."""
    messages = tmp_path / "sejour.hl7"
    texts = [
        adt("A01", "G1", stay="V1", movement="M1"),
        adt("A02", "G2", stay="V1", movement="M2", unit="7000", at="20240306120000"),
        adt("A03", "G3", stay="V1", movement="M3", unit="7000", at="20240307100000"),
    ]
    messages.write_text("\n".join(t.replace("\r", "\n") for t in texts))
    for _ in range(2):  # the second time, a resend: AA again, nothing done twice
        sent = subprocess.run(
            [str(MLLP_SEND), "--loose", "-f", str(messages), "-p", str(served.mllp), "127.0.0.1"],
            capture_output=True,
            timeout=60,
        )
        assert sent.returncode == 0, sent.stderr
        out = sent.stdout.decode().replace("\n", "\r")
        assert [f"MSA|AA|G{i}" in out for i in (1, 2, 3)] == [True, True, True], out
    (stay,) = house.sejours.search(READER)
    assert (stay.status, stay.unit, [m.movement_id for m in stay.movements]) == (
        StayStatus.FINISHED,
        "7000",
        ["M1", "M2", "M3"],
    )


def test_the_listener_over_tls(settings, db, house, tmp_path, reference_path, database_url):
    """With the house's certificate, `maison serve` speaks MLLP over TLS; `maison hl7 envoyer --tls-ca`
    sends over it, and a client in clear gets no ACK. On SQLite only: the transport does not depend on
    the engine, and the same message stored on PostgreSQL is the first test's (a server of its own
    here, 7-15 s to start)."""
    if not database_url.startswith("sqlite"):
        pytest.skip("TLS is the transport's: the engine is covered by the plain listener's tests")
    authority = pki.Authority(tmp_path / "ca")
    issued = authority.issue_server("maison", ["127.0.0.1", "localhost"])
    server = Served(settings, tmp_path / "tls.log", MAISON_TLS_CERT=str(issued.cert), MAISON_TLS_KEY=str(issued.key))
    try:
        example = str(reference_path / "hl7v2/exemples" / PAM_EXAMPLES[0])
        sent = subprocess.run(
            [sys.executable, "-m", "maison", "hl7", "envoyer", example, "--port", str(server.mllp)]
            + ["--tls-ca", str(authority.cert_path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert sent.returncode == 0 and "MSA|AA|3975" in sent.stdout, sent.stdout + sent.stderr
        with pytest.raises((MllpError, OSError)):
            with MllpClient("127.0.0.1", server.mllp, timeout=5) as clear:
                clear.send(adt("A01", "clair", stay="C1"))
    finally:
        server.stop()
    assert [s.number for s in house.sejours.search(READER)] == ["000897406"]
