"""The hospital's PFI integrates what its applicative mailbox receives (002 L430-431): automatic when
the qualified INS and traits match the local index, otherwise the worklist with candidates and the
guide's code; an MDN when asked (mss-courriel struct-msg-mdn.md, error-codes.md). The PFI reads the
house's operator over IMAP like any client (STARTTLS, LOGIN, `$Integre`); test_pfi_dovecot.py runs it
against a Dovecot."""

from __future__ import annotations

import json
import smtplib
import ssl
import threading
import time

import httpx
import pytest
import sqlalchemy as sa

from maison.core import audit
from maison.core.actor import Actor
from maison.core.auth import issue_key
from maison.core.errors import NotFound
from maison.core.ins_traits import Traits
from maison.etablissement.pfi import store as pfi_store
from maison.etablissement.pfi.mailbox import HANDLED, ImapAccount, ImapMailbox
from maison.etablissement.pfi.service import Pfi
from maison.formats import mdn
from maison.identite.ins.model import TraitsQuery
from maison.identite.psc.api import issuer_for
from maison.partage.mss import store
from tests.e2e.test_mss_smtp import _client, _delivered, _letter
from tests.partage.mss_world import GP, HOPITAL_DOMAIN, PFI, PFI_PASSWORD, start_world
from tests.partage.world import CABINET, CHILD_ID, HOPITAL, PROS, make_world, n1

DESK = Actor(person="accueil", structure=HOPITAL, software="dpi")
VIGILANCE = Actor(person="cellule-iv", structure=HOPITAL, software="dpi")


@pytest.fixture
def mss(house, live, tmp_path):
    world = start_world(house, tmp_path, issuer_for(live.url))
    yield world
    world.close()


@pytest.fixture
def token(house, live) -> str:
    """The GP's PSC token; the world also puts Sarah and her child in the INS referential."""
    return make_world(house, live, keys=("generaliste",)).tokens["generaliste"]


def _pfi(mss, house, reference_path) -> Pfi:
    submission = mss.endpoints("chu-test")

    def send(raw: bytes, sender: str, recipients: list[str]) -> None:  # the PFI submits like any client
        with smtplib.SMTP("127.0.0.1", submission.submission, timeout=20) as client:
            client.starttls(context=ssl.create_default_context(cafile=str(mss.mss.authority.cert_path)))
            client.ehlo()
            client.login(PFI, PFI_PASSWORD)
            client.sendmail(sender, recipients, raw)

    imap = ImapMailbox(ImapAccount("127.0.0.1", submission.imap, PFI, PFI_PASSWORD, str(mss.mss.authority.cert_path)))
    return Pfi(
        house.db,
        mss.mss.blobs,
        reference_path,
        HOPITAL,
        imap,
        send,
        address=PFI,
        domain=HOPITAL_DOMAIN,
        patients=house.patients,
    )


def _qualified_sarah(house) -> int:
    """Sarah admitted at the hospital, her INS retrieved by INSi and her identity document checked."""
    index = house.patients
    p = index.admit(DESK, HOPITAL, "IPP-SARAH", Traits.of("Garcia-Hammadi", "Sarah-Lou", "F", "1977-01-21"))
    found = house.insi.referential.search_by_traits(TraitsQuery("GARCIA-HAMMADI", ("SARAH-LOU",), "F", "1977-01-21"))
    index.record_insi_result(DESK, p.id, found)
    return index.check_document(DESK, p.id, "PA").id


def _gp_sends(mss, house, token: str, cda: bytes, *, mdn: bool = True) -> None:
    raw = _letter(sender=GP, to=PFI, cda=cda, **({"notification_to": GP} if mdn else {}))
    with _client(mss, "medecins") as client:
        client.auth(
            "XOAUTH2", lambda challenge=None: f"user={GP}\x01auth=Bearer {token}\x01\x01" if not challenge else ""
        )
        client.sendmail(GP, [PFI], raw)
    assert _delivered(house, PFI)


def test_qualified_ins_integrated_automatically_and_mdn_processed(mss, house, token, reference_path):
    patient = _qualified_sarah(house)
    _gp_sends(mss, house, token, n1(PROS["generaliste"]))
    [outcome] = _pfi(mss, house, reference_path).run_once()
    # the message carried the CDA (in IHE_XDM.ZIP) and its PDF: only the CDA is integrated (002 L418)
    [document] = outcome.documents
    assert document.code is None and document.patient_id == patient
    with house.db.read() as conn:
        [row] = conn.execute(sa.select(pfi_store.pfi_document)).all()
        assert row.patient_id == patient and row.how == "automatique" and row.type_code == "11490-0"
        assert list(audit.events(conn, action_prefix="mss.pfi.integrer"))[0]["patient"] == "277010115400329"
    [answer] = _delivered(house, GP)  # the MDN came back to the GP's mailbox
    disposition = mdn.read_mdn(mss.mss.delivery.content(answer.sha256))
    assert disposition.processed and disposition.error_code is None
    assert disposition.original_message_id == outcome.message_id
    assert _pfi(mss, house, reference_path).run_once() == []  # handled once
    with house.db.read() as conn:  # the operator keeps the keyword the PFI set over IMAP
        [flags] = conn.execute(
            sa.select(store.mss_message.c.flags).where(
                store.mss_message.c.address == PFI, store.mss_message.c.uid == outcome.uid
            )
        ).scalars()
    assert {HANDLED, "\\Seen"} <= set(flags.split())


def test_unknown_patient_goes_to_the_worklist_with_mdn_902(mss, house, token, reference_path):
    _gp_sends(mss, house, token, n1(PROS["generaliste"], patient=CHILD_ID))  # Léa is not in the hospital's index
    [outcome] = _pfi(mss, house, reference_path).run_once()
    assert outcome.documents[0].code == "902"
    [waiting] = _pfi(mss, house, reference_path).worklist(VIGILANCE)
    assert waiting.code == "902" and waiting.ins == CHILD_ID.ins
    [answer] = _delivered(house, GP)
    report = mss.mss.delivery.content(answer.sha256)
    assert mdn.read_mdn(report).error_code == "902"
    assert "[KO Intégration système !][902]".encode() in report or b"=?utf-8?" in report  # subject (RFC 2047)


def test_traits_that_differ_are_not_integrated_904(mss, house, token, reference_path):
    index = house.patients
    p = index.admit(DESK, HOPITAL, "IPP-SARAH", Traits.of("Garcia-Hammadi", "Sarah-Lou", "F", "1977-01-21"))
    # the local identity keeps its INS but is not qualified (no identity document checked)
    found = house.insi.referential.search_by_traits(TraitsQuery("GARCIA-HAMMADI", ("SARAH-LOU",), "F", "1977-01-21"))
    index.record_insi_result(DESK, p.id, found)
    _gp_sends(mss, house, token, n1(PROS["generaliste"]))
    [outcome] = _pfi(mss, house, reference_path).run_once()
    assert outcome.documents[0].code == "904"
    [waiting] = _pfi(mss, house, reference_path).worklist(VIGILANCE)
    assert [c["id"] for c in json.loads(waiting.candidates)] == [p.id]  # proposed to a human


def test_a_human_attaches_the_waiting_document_or_rejects_it(mss, house, token, reference_path):
    index = house.patients
    p = index.admit(DESK, HOPITAL, "IPP-SARAH", Traits.of("Garcia-Hammadi", "Sarah-Lou", "F", "1977-01-21"))
    _gp_sends(mss, house, token, n1(PROS["generaliste"]))  # Sarah's identity is not qualified: 904
    pfi = _pfi(mss, house, reference_path)
    pfi.run_once()
    [waiting] = pfi.worklist(VIGILANCE)
    nurse = Actor(person="secretariat-medical", structure=HOPITAL, software="dpi")
    with pytest.raises(NotFound):
        pfi.attach(nurse, waiting.id, 999_999)
    pfi.attach(nurse, waiting.id, p.id)
    assert pfi.worklist(VIGILANCE) == [] and [w.state for w in pfi.worklist(VIGILANCE, "rattache")] == ["rattache"]
    with house.db.read() as conn:
        [row] = conn.execute(sa.select(pfi_store.pfi_document)).all()
        assert row.patient_id == p.id and row.how == "manuel"
    with pytest.raises(NotFound):  # already handled
        pfi.reject(nurse, waiting.id, "doublon")


def test_the_worklist_over_http_for_the_structure_s_desk(mss, house, live, token, reference_path):
    """GET /pfi/liste-travail, the waiting CDA (its reading audited), attach or reject; another
    structure's key sees none of it."""
    index = house.patients
    p = index.admit(DESK, HOPITAL, "IPP-SARAH", Traits.of("Garcia-Hammadi", "Sarah-Lou", "F", "1977-01-21"))
    index.record_insi_result(
        DESK,
        p.id,
        house.insi.referential.search_by_traits(TraitsQuery("GARCIA-HAMMADI", ("SARAH-LOU",), "F", "1977-01-21")),
    )
    _gp_sends(mss, house, token, n1(PROS["generaliste"]))  # her INS is known, not qualified: 904
    _gp_sends(mss, house, token, n1(PROS["generaliste"], patient=CHILD_ID))  # Léa: not in the index, 902
    deadline = time.monotonic() + 15
    while len(_delivered(house, PFI)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [o.documents[0].code for o in _pfi(mss, house, reference_path).run_once()] == ["904", "902"]
    desk = httpx.Client(
        base_url=f"{live.url}/pfi",
        timeout=30,
        headers={"ESANTE-API-KEY": issue_key(house.db, HOPITAL, "dpi", "accueil")},
    )
    other = httpx.Client(
        base_url=f"{live.url}/pfi",
        timeout=30,
        headers={"ESANTE-API-KEY": issue_key(house.db, CABINET, "logiciel-cabinet", "secretaire")},
    )
    entries = desk.get("/liste-travail").json()["entrees"]
    assert sorted(e["code"] for e in entries) == ["902", "904"]
    unqualified = next(e for e in entries if e["code"] == "904")
    assert [c["id"] for c in unqualified["candidats"]] == [p.id]
    assert other.get("/liste-travail").json()["entrees"] == []  # the structure's own only
    assert other.get(f"/liste-travail/{unqualified['id']}/document").status_code == 404
    cda = desk.get(f"/liste-travail/{unqualified['id']}/document")
    assert cda.status_code == 200 and b"ClinicalDocument" in cda.content
    # the sender's XML is downloaded, never rendered in the house's origin (issue 18 §3)
    assert cda.headers["x-content-type-options"] == "nosniff" and "sandbox" in cda.headers["content-security-policy"]
    assert cda.headers["content-disposition"].startswith("attachment;")
    bad = desk.post(f"/liste-travail/{unqualified['id']}/rattacher", json={"patient": "un"})
    huge = desk.post(f"/liste-travail/{unqualified['id']}/rattacher", json={"patient": 10**20})
    assert huge.status_code == 400  # refused before any database (an integer beyond the column)
    assert bad.status_code == 400 and bad.json()["issue"][0]["details"]["coding"][0]["code"] == "patient"
    assert desk.post(f"/liste-travail/{unqualified['id']}/rattacher", json={"patient": p.id}).status_code == 201
    unknown = next(e for e in entries if e["code"] == "902")
    assert desk.post(f"/liste-travail/{unknown['id']}/rejeter", json={"motif": "patient non suivi ici"}).json() == {
        "id": unknown["id"],
        "etat": "rejete",
    }
    assert desk.get("/liste-travail").json()["entrees"] == []
    assert [e["id"] for e in desk.get("/liste-travail", params={"etat": "rattache"}).json()["entrees"]] == [
        unqualified["id"]
    ]
    assert desk.get("/liste-travail", params={"etat": "n-importe"}).status_code == 400
    with house.db.read() as conn:
        events = list(audit.events(conn, action_prefix="mss.pfi."))
    actions = [e["action"] for e in events]
    assert {"mss.pfi.consulter", "mss.pfi.rattacher", "mss.pfi.rejeter", "mss.pfi.liste"} <= set(actions)
    # reading the worklist names patients by INS: each entry read is audited (issue 19)
    assert CHILD_ID.ins in {e["patient"] for e in events if e["action"] == "mss.pfi.liste"}
    desk.close()
    other.close()


def test_a_message_failing_in_a_batch_fails_alone_and_is_handled_once_later(
    mss, house, token, reference_path, monkeypatch
):
    """Messages are handled in batches, one transaction each; when it fails (a fault of ours on one
    message), each message is recorded on its own: the others are stored and flagged, the failing one
    stays pending, and handling it again writes its worklist entry once."""
    _gp_sends(mss, house, token, n1(PROS["generaliste"], patient=CHILD_ID), mdn=False)  # Léa: not indexed, 902
    _gp_sends(mss, house, token, n1(PROS["generaliste"], patient=CHILD_ID), mdn=False)
    deadline = time.monotonic() + 15
    while len(_delivered(house, PFI)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    pfi = _pfi(mss, house, reference_path)
    first, second = pfi.pending()
    write = pfi._write

    def broken_disk(conn, judged, digests):
        if first in [one.uid for one in judged]:
            raise OSError("disque plein")
        write(conn, judged, digests)

    monkeypatch.setattr(pfi, "_write", broken_disk)
    with pytest.raises(OSError):
        pfi.run_once()
    assert pfi.pending() == [first]
    assert [w.uid for w in pfi.worklist(VIGILANCE)] == [second]
    monkeypatch.setattr(pfi, "_write", write)
    [outcome] = pfi.run_once()
    assert outcome.uid == first and outcome.documents[0].code == "902"
    assert sorted(w.uid for w in pfi.worklist(VIGILANCE)) == [first, second]  # no entry written twice


def test_the_watch_pipeline_retries_a_batch_whose_recording_failed(mss, house, token, reference_path, monkeypatch):
    """`maison pfi` judges a batch while the previous one is recorded; when a recording fails, that
    batch and the one judged behind it stay pending and are handled at the next turn, once each."""
    for _ in range(3):
        _gp_sends(mss, house, token, n1(PROS["generaliste"], patient=CHILD_ID), mdn=False)  # Léa: 902
    deadline = time.monotonic() + 15
    while len(_delivered(house, PFI)) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    pfi = _pfi(mss, house, reference_path)
    uids = pfi.pending()
    flag, failures = pfi._flag, []

    def disk_full_once(flagged):  # type: ignore[no-untyped-def]  # committed, not flagged: handled again
        if uids[1] in flagged and not failures:
            failures.append(flagged)
            raise OSError("IMAP perdu")
        flag(flagged)

    monkeypatch.setattr(pfi, "_flag", disk_full_once)
    stopping, handled = threading.Event(), []
    watcher = threading.Thread(
        target=pfi.watch,
        args=(stopping,),
        kwargs={"interval": 0.05, "batch": 1, "on_outcome": lambda outcome: handled.append(outcome.uid)},
    )
    watcher.start()
    deadline = time.monotonic() + 20
    while pfi.pending() and time.monotonic() < deadline:
        time.sleep(0.05)
    stopping.set()
    watcher.join(10)
    assert failures == [[uids[1]]]
    assert sorted(handled) == uids  # each reported once, the failed one after its retry
    assert sorted(w.uid for w in pfi.worklist(VIGILANCE)) == uids  # each on the worklist once
    assert pfi.pending() == []
