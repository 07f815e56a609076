"""Hostile and faulty PAM France input to `maison serve --mllp-port` (issue 22 §3.3): each answered with
the right ACK (or the connection closed), and nothing half-written — the tables and the index are as
they were before the message."""

from __future__ import annotations

import socket

import pytest
import sqlalchemy as sa

from maison.formats.hl7v2.client import MllpClient
from tests.etablissement.sejours.messages import adt, pid

TABLES = ("sej_stay", "sej_movement", "sej_message", "sej_dmp_state", "vig_patient")


@pytest.fixture
def served(mllp_served):
    """The server the MLLP modules share on each backend (tests/e2e/conftest.py); each test starts on
    emptied tables (`db`)."""
    return mllp_served


def _rows(db) -> dict[str, int]:
    with db.read() as conn:
        return {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}  # noqa: S608


def _fields(ack: str, segment: str) -> list[str]:
    return next((s for s in ack.split("\r") if s.startswith(segment + "|")), "").split("|")


def _err(ack: str) -> tuple[str, str, str]:
    """(MSA-1, ERR-2 location, ERR-3 code)."""
    err = _fields(ack, "ERR") + [""] * 4
    return _fields(ack, "MSA")[1], err[2], err[3].split("^")[0]


def test_faulty_messages_are_refused_in_hl7_terms_and_leave_nothing(served, db):
    with MllpClient("127.0.0.1", served.mllp) as gam:
        assert _fields(gam.send(adt("A01", "ok1", stay="S1")), "MSA")[1] == "AA"
        before = _rows(db)
        cases = {
            # an A03 before its A01: AE 204 on PV1-19
            "A03 avant A01": (adt("A03", "h1", stay="S404", movement="M9"), ("AE", "PV1^1^19", "204")),
            # a cancellation of a movement never received: AE 204 on ZBE-1
            "annulation inconnue": (
                adt("A11", "h2", stay="S1", movement="M404", action="CANCEL"),
                ("AE", "ZBE^1^1", "204"),
            ),
            # a merge of an unknown patient: AE 204 on MRG-1
            "fusion inconnue": (
                adt("A40", "h3", stay="", movement="", patient=pid(ipp="000003", ins=""), mrg="GHOST"),
                ("AE", "MRG^1^1", "204"),
            ),
            # a required segment missing: AR naming it
            "PV1 absent": (adt("A02", "h4", stay=""), ("AR", "PV1^1", "100")),
            "ZBE absent": (adt("A02", "h5", movement=""), ("AR", "ZBE^1", "100")),
            # a required field missing: AE naming segment and field
            "PV1-19 vide": (adt("A02", "h6", stay="S1").replace("|S1^^^", "|^^^"), ("AE", "PV1^1^19", "101")),
            "IPP absent": (adt("A01", "h7").replace("000003^^^CHU-X&000897406&M^PI~", ""), ("AE", "PID^1^3", "101")),
            # wrong encoding characters: AR on MSH-2
            "MSH-2": (adt("A01", "h8").replace("MSH|^~\\&|", "MSH|^~\\#|"), ("AR", "MSH^1^2", "102")),
            # an event the profile does not have: AR 201
            "A60": (adt("A60", "h9"), ("AR", "MSH^1^9", "201")),
        }
        for name, (text, expected) in cases.items():
            assert _err(gam.send(text)) == expected, name
        # the same MSH-10 with another content: AE 205 on MSH-10
        assert _err(gam.send(adt("A01", "ok1", stay="S2"))) == ("AE", "MSH^1^10", "205")
        assert _rows(db) == before
        # unknown segments are tolerated (HL7 v2.5 §2.12)
        tolerated = gam.send(adt("A02", "t1", stay="S1", movement="M2", segments=("ZZZ|1|2", "OBX|1|TX|x||y")))
        assert _fields(tolerated, "MSA")[1:3] == ["AA", "t1"]


def test_broken_frames_and_oversized_messages(served, db):
    before = _rows(db)
    # a truncated frame, then the connection closed: nothing processed
    with socket.create_connection(("127.0.0.1", served.mllp), timeout=10) as sock:
        sock.sendall(b"\x0b" + adt("A01", "cut", stay="S9").encode()[:200])
    # garbage, then a frame restarted inside another: only the whole one is taken
    with socket.create_connection(("127.0.0.1", served.mllp), timeout=10) as sock:
        sock.sendall(
            b"GET / HTTP/1.1\r\n\r\n\x0bMSH|half" + b"\x0b" + adt("A01", "whole", stay="S8").encode() + b"\x1c\r"
        )
        assert b"MSA|AA|whole" in sock.recv(65536)
    # a 50 MB message: refused before it is all read, the connection closed
    with socket.create_connection(("127.0.0.1", served.mllp), timeout=30) as sock:
        sock.sendall(b"\x0b" + adt("A01", "huge", stay="S7").encode())
        sent = 0
        try:
            while sent < 50 * 1024 * 1024:
                sock.sendall(b"OBX|1|ED|x||" + b"A" * 1_048_576 + b"\r")
                sent += 1_048_588
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
    assert sent < 50 * 1024 * 1024 or b"MSA|AR|huge" in answer
    if answer:
        assert b"MSA|AR|huge" in answer
    after = _rows(db)
    assert after["sej_stay"] == before["sej_stay"] + 1  # S8 only
    with MllpClient("127.0.0.1", served.mllp) as gam:  # and the listener still serves
        assert "MSA|AA|after" in gam.send(adt("A01", "after", stay="S6"))
