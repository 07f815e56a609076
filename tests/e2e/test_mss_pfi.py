"""The hospital's PFI integrates what its applicative mailbox receives (002 L430-431): automatic when
the qualified INS and traits match the local index, otherwise the worklist with candidates and the
guide's code; an MDN when asked (mss-courriel struct-msg-mdn.md, error-codes.md). The PFI reads the
house's operator over IMAP like any client (STARTTLS, LOGIN, `$Integre`); test_pfi_dovecot.py runs it
against a Dovecot.

The tests of one backend share one house and one trust space (tests/e2e/mss_shared.py): each has a
hospital of its own (its FINESS, so its own patient index, worklist and integrated documents), its
own PFI mailbox and GP mailbox, and reads the trail from a mark taken before it acts."""

from __future__ import annotations

import itertools
import json
import smtplib
import ssl
import threading
import time
from dataclasses import dataclass

import httpx
import pytest
import sqlalchemy as sa

from maison.core.actor import Actor
from maison.core.auth import issue_key
from maison.core.errors import NotFound
from maison.core.identifiers.checksums import luhn_check_digit
from maison.core.ins_traits import Traits
from maison.etablissement.pfi import store as pfi_store
from maison.etablissement.pfi.mailbox import HANDLED, ImapAccount, ImapMailbox
from maison.etablissement.pfi.service import Pfi
from maison.formats import mdn
from maison.identite.ins.model import TraitsQuery
from maison.partage.mss import store
from tests.e2e import mss_shared
from tests.e2e.mss_shared import Trail, own_gp, own_pfi
from tests.e2e.test_mss_smtp import _client, _delivered, _letter
from tests.partage.mss_world import GP, HOPITAL_DOMAIN, PFI, PFI_PASSWORD
from tests.partage.world import CABINET, CHILD_ID, HOPITAL, PROS, World, n1

mss, house, module_pros, pros = mss_shared.mss, mss_shared.house, mss_shared.module_pros, mss_shared.pros
_serial = itertools.count(1)


@dataclass(frozen=True)
class Hospital:
    """A test's own hospital: its FINESS, its PFI's mailbox, the GP's mailbox writing to it, its desk
    and identitovigilance cell."""

    structure: str
    pfi: str
    gp: str

    @property
    def desk(self) -> Actor:
        return Actor(person="accueil", structure=self.structure, software="dpi")

    @property
    def vigilance(self) -> Actor:
        return Actor(person="cellule-iv", structure=self.structure, software="dpi")


@pytest.fixture
def hospital(mss) -> Hospital:
    finess = f"7503{next(_serial):04d}"
    return Hospital("1" + finess + luhn_check_digit(finess), own_pfi(mss), own_gp(mss))


@pytest.fixture
def token(pros: World) -> str:
    """The GP's PSC token; the module's world also put Sarah and her child in the INS referential."""
    return pros.tokens["generaliste"]


def _pfi(mss, house, reference_path, hospital: Hospital) -> Pfi:
    submission = mss.endpoints("chu-test")
    pfi = hospital.pfi

    def send(raw: bytes, sender: str, recipients: list[str]) -> None:  # the PFI submits like any client
        with smtplib.SMTP("127.0.0.1", submission.submission, timeout=20) as client:
            client.starttls(context=ssl.create_default_context(cafile=str(mss.mss.authority.cert_path)))
            client.ehlo()
            client.login(pfi, PFI_PASSWORD)
            client.sendmail(sender, recipients, raw)

    imap = ImapMailbox(ImapAccount("127.0.0.1", submission.imap, pfi, PFI_PASSWORD, str(mss.mss.authority.cert_path)))
    return Pfi(
        house.db,
        mss.mss.blobs,
        reference_path,
        hospital.structure,
        imap,
        send,
        address=pfi,
        domain=HOPITAL_DOMAIN,
        patients=house.patients,
    )


WORLDS = Hospital(HOPITAL, PFI, GP)  # start_world's own PFI and GP mailboxes, at the world's hospital


def _qualified_sarah(house, hospital: Hospital = WORLDS) -> int:
    """Sarah admitted at the hospital (by default the world's, for test_pfi_dovecot.py's house), her
    INS retrieved by INSi and her identity document checked."""
    index, desk = house.patients, hospital.desk
    p = index.admit(desk, hospital.structure, "IPP-SARAH", Traits.of("Garcia-Hammadi", "Sarah-Lou", "F", "1977-01-21"))
    found = house.insi.referential.search_by_traits(TraitsQuery("GARCIA-HAMMADI", ("SARAH-LOU",), "F", "1977-01-21"))
    index.record_insi_result(desk, p.id, found)
    return index.check_document(desk, p.id, "PA").id


def _documents(house, hospital: Hospital) -> list[sa.Row]:
    """The documents integrated at this hospital."""
    with house.db.read() as conn:
        return conn.execute(
            sa.select(pfi_store.pfi_document).where(pfi_store.pfi_document.c.structure == hospital.structure)
        ).all()


def _gp_sends(mss, house, token: str, hospital: Hospital, cda: bytes, *, mdn: bool = True) -> None:
    gp, pfi = hospital.gp, hospital.pfi
    raw = _letter(sender=gp, to=pfi, cda=cda, **({"notification_to": gp} if mdn else {}))
    with _client(mss, "medecins") as client:
        client.auth(
            "XOAUTH2", lambda challenge=None: f"user={gp}\x01auth=Bearer {token}\x01\x01" if not challenge else ""
        )
        client.sendmail(gp, [pfi], raw)
    assert _delivered(house, pfi)


def test_qualified_ins_integrated_automatically_and_mdn_processed(mss, house, token, hospital, reference_path):
    patient = _qualified_sarah(house, hospital)
    trail = Trail(house)
    _gp_sends(mss, house, token, hospital, n1(PROS["generaliste"]))
    [outcome] = _pfi(mss, house, reference_path, hospital).run_once()
    # the message carried the CDA (in IHE_XDM.ZIP) and its PDF: only the CDA is integrated (002 L418)
    [document] = outcome.documents
    assert document.code is None and document.patient_id == patient
    [row] = _documents(house, hospital)
    assert row.patient_id == patient and row.how == "automatique" and row.type_code == "11490-0"
    assert trail.since("mss.pfi.integrer")[0]["patient"] == "277010115400329"
    [answer] = _delivered(house, hospital.gp)  # the MDN came back to the GP's mailbox
    disposition = mdn.read_mdn(mss.mss.delivery.content(answer.sha256))
    assert disposition.processed and disposition.error_code is None
    assert disposition.original_message_id == outcome.message_id
    assert _pfi(mss, house, reference_path, hospital).run_once() == []  # handled once
    with house.db.read() as conn:  # the operator keeps the keyword the PFI set over IMAP
        [flags] = conn.execute(
            sa.select(store.mss_message.c.flags).where(
                store.mss_message.c.address == hospital.pfi, store.mss_message.c.uid == outcome.uid
            )
        ).scalars()
    assert {HANDLED, "\\Seen"} <= set(flags.split())


def test_unknown_patient_goes_to_the_worklist_with_mdn_902(mss, house, token, hospital, reference_path):
    # Léa is not in the hospital's index
    _gp_sends(mss, house, token, hospital, n1(PROS["generaliste"], patient=CHILD_ID))
    [outcome] = _pfi(mss, house, reference_path, hospital).run_once()
    assert outcome.documents[0].code == "902"
    [waiting] = _pfi(mss, house, reference_path, hospital).worklist(hospital.vigilance)
    assert waiting.code == "902" and waiting.ins == CHILD_ID.ins
    [answer] = _delivered(house, hospital.gp)
    report = mss.mss.delivery.content(answer.sha256)
    assert mdn.read_mdn(report).error_code == "902"
    assert "[KO Intégration système !][902]".encode() in report or b"=?utf-8?" in report  # subject (RFC 2047)


def test_traits_that_differ_are_not_integrated_904(mss, house, token, hospital, reference_path):
    index, desk = house.patients, hospital.desk
    p = index.admit(desk, hospital.structure, "IPP-SARAH", Traits.of("Garcia-Hammadi", "Sarah-Lou", "F", "1977-01-21"))
    # the local identity keeps its INS but is not qualified (no identity document checked)
    found = house.insi.referential.search_by_traits(TraitsQuery("GARCIA-HAMMADI", ("SARAH-LOU",), "F", "1977-01-21"))
    index.record_insi_result(desk, p.id, found)
    _gp_sends(mss, house, token, hospital, n1(PROS["generaliste"]))
    [outcome] = _pfi(mss, house, reference_path, hospital).run_once()
    assert outcome.documents[0].code == "904"
    [waiting] = _pfi(mss, house, reference_path, hospital).worklist(hospital.vigilance)
    assert [c["id"] for c in json.loads(waiting.candidates)] == [p.id]  # proposed to a human


def test_a_human_attaches_the_waiting_document_or_rejects_it(mss, house, token, hospital, reference_path):
    index = house.patients
    p = index.admit(
        hospital.desk, hospital.structure, "IPP-SARAH", Traits.of("Garcia-Hammadi", "Sarah-Lou", "F", "1977-01-21")
    )
    _gp_sends(mss, house, token, hospital, n1(PROS["generaliste"]))  # Sarah's identity is not qualified: 904
    pfi = _pfi(mss, house, reference_path, hospital)
    pfi.run_once()
    [waiting] = pfi.worklist(hospital.vigilance)
    nurse = Actor(person="secretariat-medical", structure=hospital.structure, software="dpi")
    with pytest.raises(NotFound):
        pfi.attach(nurse, waiting.id, 999_999)
    pfi.attach(nurse, waiting.id, p.id)
    assert pfi.worklist(hospital.vigilance) == []
    assert [w.state for w in pfi.worklist(hospital.vigilance, "rattache")] == ["rattache"]
    [row] = _documents(house, hospital)
    assert row.patient_id == p.id and row.how == "manuel"
    with pytest.raises(NotFound):  # already handled
        pfi.reject(nurse, waiting.id, "doublon")


def test_the_worklist_over_http_for_the_structure_s_desk(mss, house, module_live, token, hospital, reference_path):
    """GET /pfi/liste-travail, the waiting CDA (its reading audited), attach or reject; another
    structure's key sees none of it."""
    index, live = house.patients, module_live
    trail = Trail(house)
    p = index.admit(
        hospital.desk, hospital.structure, "IPP-SARAH", Traits.of("Garcia-Hammadi", "Sarah-Lou", "F", "1977-01-21")
    )
    index.record_insi_result(
        hospital.desk,
        p.id,
        house.insi.referential.search_by_traits(TraitsQuery("GARCIA-HAMMADI", ("SARAH-LOU",), "F", "1977-01-21")),
    )
    _gp_sends(mss, house, token, hospital, n1(PROS["generaliste"]))  # her INS is known, not qualified: 904
    _gp_sends(mss, house, token, hospital, n1(PROS["generaliste"], patient=CHILD_ID))  # Léa: not in the index, 902
    deadline = time.monotonic() + 15
    while len(_delivered(house, hospital.pfi)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [o.documents[0].code for o in _pfi(mss, house, reference_path, hospital).run_once()] == ["904", "902"]
    desk = httpx.Client(
        base_url=f"{live.url}/pfi",
        timeout=30,
        headers={"ESANTE-API-KEY": issue_key(house.db, hospital.structure, "dpi", "accueil")},
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
    events = trail.since("mss.pfi.")
    actions = [e["action"] for e in events]
    assert {"mss.pfi.consulter", "mss.pfi.rattacher", "mss.pfi.rejeter", "mss.pfi.liste"} <= set(actions)
    # reading the worklist names patients by INS: each entry read is audited (issue 19)
    assert CHILD_ID.ins in {e["patient"] for e in events if e["action"] == "mss.pfi.liste"}
    desk.close()
    other.close()


def test_a_message_failing_in_a_batch_fails_alone_and_is_handled_once_later(
    mss, house, token, hospital, reference_path, monkeypatch
):
    """Messages are handled in batches, one transaction each; when it fails (a fault of ours on one
    message), each message is recorded on its own: the others are stored and flagged, the failing one
    stays pending, and handling it again writes its worklist entry once."""
    lea = n1(PROS["generaliste"], patient=CHILD_ID)
    _gp_sends(mss, house, token, hospital, lea, mdn=False)  # Léa: not indexed, 902
    _gp_sends(mss, house, token, hospital, n1(PROS["generaliste"], patient=CHILD_ID), mdn=False)
    deadline = time.monotonic() + 15
    while len(_delivered(house, hospital.pfi)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    pfi = _pfi(mss, house, reference_path, hospital)
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
    assert [w.uid for w in pfi.worklist(hospital.vigilance)] == [second]
    monkeypatch.setattr(pfi, "_write", write)
    [outcome] = pfi.run_once()
    assert outcome.uid == first and outcome.documents[0].code == "902"
    assert sorted(w.uid for w in pfi.worklist(hospital.vigilance)) == [first, second]  # no entry written twice


def test_the_watch_pipeline_retries_a_batch_whose_recording_failed(
    mss, house, token, hospital, reference_path, monkeypatch
):
    """`maison pfi` judges a batch while the previous one is recorded; when a recording fails, that
    batch and the one judged behind it stay pending and are handled at the next turn, once each."""
    for _ in range(3):
        _gp_sends(mss, house, token, hospital, n1(PROS["generaliste"], patient=CHILD_ID), mdn=False)  # Léa: 902
    deadline = time.monotonic() + 15
    while len(_delivered(house, hospital.pfi)) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    pfi = _pfi(mss, house, reference_path, hospital)
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
    assert sorted(w.uid for w in pfi.worklist(hospital.vigilance)) == uids  # each on the worklist once
    assert pfi.pending() == []
