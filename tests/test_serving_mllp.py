"""The MLLP listener's process: TLS required off loopback (as every listener of the house), the
house's certificate used, the sender's certificate required when an authority is configured; a
SIGTERM stops it within seconds whatever its peers do, every ACK sent for a stored message."""

import contextlib
import multiprocessing
import socket
import ssl
import threading
import time

import pytest
import sqlalchemy as sa

from maison import serving_mllp
from maison.core import audit, pki
from maison.core.actor import Actor
from maison.core.config import Settings
from maison.formats.hl7v2.client import MllpClient
from maison.formats.hl7v2.framing import frame
from tests.conftest import free_port
from tests.etablissement.sejours.messages import FINESS, adt

READER = Actor(person="899900038441", structure=FINESS, software="dpi")


def test_off_loopback_without_tls_is_refused(tmp_path):
    with pytest.raises(ValueError, match="TLS"):
        serving_mllp.tls_context(Settings(data_dir=tmp_path, host="0.0.0.0", mllp_port=2575))
    assert serving_mllp.tls_context(Settings(data_dir=tmp_path, mllp_port=2575)) is None


def test_tls_with_the_house_certificate_and_client_authority(tmp_path):
    authority = pki.Authority(tmp_path / "pki")
    issued = authority.issue_server("mllp", ["hopital.example"])
    settings = Settings(data_dir=tmp_path, host="0.0.0.0", tls_cert=str(issued.cert), tls_key=str(issued.key))
    assert serving_mllp.tls_context(settings).verify_mode == ssl.CERT_NONE
    mutual = serving_mllp.tls_context(Settings(**{**settings.__dict__, "mllp_tls_ca": str(authority.cert_path)}))
    assert mutual.verify_mode == ssl.CERT_REQUIRED


def test_the_handlers_of_the_hospital_wing(house):
    assert "ADT" in serving_mllp.handlers(house)


def test_sigterm_with_hostile_connections_open_stops_at_once_and_loses_no_ack(settings, db, house):
    """The MLLP process on SIGTERM, with a half-open frame, a dripping sender, an idle peer and an
    oversized frame's sender connected, and a message held mid-handling (its commit waits on the
    audit chain's lock): it exits 0 within seconds; what was ACKed before is stored, and the message
    being handled is finished, stored and ACKed. (The old shutdown blocked its loop on the executor,
    then let `asyncio.run` cancel the connection: that message was stored and never answered.)"""
    settings = settings.with_overrides(mllp_port=free_port())
    process = multiprocessing.get_context("spawn").Process(target=serving_mllp.run, args=(settings,))
    process.start()
    try:
        _wait_listening(settings.mllp_port, process)
        with MllpClient("127.0.0.1", settings.mllp_port) as gam:
            acked = [_msa(gam.send(adt("A01", f"acked{i}", stay=f"K{i}"))) for i in range(3)]
        assert acked == [("AA", "acked0"), ("AA", "acked1"), ("AA", "acked2")]
        hostile = _hostile_peers(settings.mllp_port)
        locked, release = threading.Event(), threading.Event()
        holder = threading.Thread(target=_hold_the_audit_chain, args=(db, locked, release))
        holder.start()
        assert locked.wait(10)
        inflight = socket.create_connection(("127.0.0.1", settings.mllp_port), timeout=20)
        inflight.sendall(frame(adt("A01", "inflight", stay="K9").encode()))
        time.sleep(1.5)  # its handler is waiting for the lock
        started = time.monotonic()
        process.terminate()
        time.sleep(1)
        release.set()
        holder.join(10)
        answer = inflight.recv(65536)
        process.join(15)
        elapsed = time.monotonic() - started
    finally:
        if process.is_alive():
            process.kill()
            process.join()
    for peer in hostile:
        peer.close()
    assert b"MSA|AA|inflight" in answer
    assert (process.exitcode, elapsed < 8) == (0, True), elapsed
    numbers = sorted(s.number for s in house.sejours.search(READER))
    assert numbers == ["K0", "K1", "K2", "K9"]


def _msa(ack: str) -> tuple[str, str]:
    msa = next(s for s in ack.split("\r") if s.startswith("MSA|")).split("|")
    return msa[1], msa[2]


def _wait_listening(port: int, process) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.is_alive()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("the MLLP process did not listen")


def _hostile_peers(port: int) -> list[socket.socket]:
    """A half-open frame, a dripping sender, an idle peer, and a 20 MB frame's sender, left connected."""
    peers = [socket.create_connection(("127.0.0.1", port), timeout=20) for _ in range(4)]
    half, drip, _idle, huge = peers
    half.sendall(b"\x0b" + adt("A01", "half", stay="H1").encode()[:120])
    text = b"\x0b" + adt("A01", "drip", stay="H2").encode()

    def dripping() -> None:
        with contextlib.suppress(OSError):
            for byte in text:
                drip.send(bytes([byte]))
                time.sleep(0.2)

    def oversized() -> None:
        with contextlib.suppress(OSError):
            huge.sendall(b"\x0b" + adt("A01", "huge", stay="H3").encode())
            for _ in range(20):
                huge.sendall(b"OBX|1|ED|x||" + b"A" * 1_048_576 + b"\r")

    for target in (dripping, oversized):
        threading.Thread(target=target, daemon=True).start()
    return peers


def _hold_the_audit_chain(db, locked: threading.Event, release: threading.Event) -> None:
    """A write transaction holding the audit chain's head: every message's commit waits for it."""
    with db.write() as conn:
        conn.execute(sa.select(audit.audit_head).with_for_update()).all()
        locked.set()
        release.wait(20)
