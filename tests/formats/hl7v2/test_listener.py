"""The MLLP listener: dispatch by MSH-9.1, the ACK after the handler returns, AR/AE in HL7's terms,
a 50 MB frame refused unread, idle and dripping peers dropped, TLS."""

import asyncio
import socket
import ssl
import threading
import time

import hl7
import pytest

from maison.core import pki
from maison.formats.hl7v2.client import MllpClient, MllpError
from maison.formats.hl7v2.framing import frame
from maison.formats.hl7v2.listener import Listener
from maison.formats.hl7v2.refusal import ErrorCode, Hl7Refusal

A01 = (
    "MSH|^~\\&|GAM|CHU-X|DPI|CHU-X|20240306111154||ADT^A01^ADT_A01|{id}|P|2.5^FRA^2.11|||||FRA|UNICODE UTF-8|FR\r"
    "EVN||20240306111154\rPID|1||000003^^^CHU-X&000897406&M^PI||PAT-TROIS^DOMINIQUE\r"
)


class Running:
    """A listener on an ephemeral port, its loop in a thread."""

    def __init__(self, listener: Listener, context: ssl.SSLContext | None = None) -> None:
        self.listener = listener
        self.loop = asyncio.new_event_loop()
        started = threading.Event()

        async def start():
            self.server = await listener.start("127.0.0.1", 0, ssl_context=context)
            self.port = self.server.sockets[0].getsockname()[1]
            started.set()

        self.thread = threading.Thread(target=lambda: (self.loop.run_until_complete(start()), self.loop.run_forever()))
        self.thread.start()
        assert started.wait(5)

    def stop(self) -> None:
        async def shut() -> None:
            self.server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shut(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()
        self.listener.close()


@pytest.fixture
def received():
    return []


@pytest.fixture
def running(received):
    def adt(message: hl7.Message):
        received.append(str(message.extract_field("MSH", 1, 10)))
        event = str(message.extract_field("MSH", 1, 9, 1, 2))
        if event == "A03":
            raise Hl7Refusal("séjour inconnu", ErrorCode.UNKNOWN_KEY, "PV1", 1, 19)
        if event == "A99":
            raise RuntimeError("boom")
        return ["ZZZ|extra"] if event == "A04" else None

    server = Running(Listener({"ADT": adt}, max_bytes=64 * 1024, idle_timeout=1.0))
    yield server
    server.stop()


def _ack(text: str) -> hl7.Message:
    return hl7.parse(text.strip("\r"))


def test_a_message_is_handed_to_its_handler_and_acknowledged(running, received):
    with MllpClient("127.0.0.1", running.port) as client:
        first = _ack(client.send(A01.format(id="m1")))
        second = _ack(client.send(A01.format(id="m2").replace("A01^ADT_A01", "A04^ADT_A01")))
    assert received == ["m1", "m2"]
    assert (str(first.extract_field("MSA", 1, 1)), str(first.extract_field("MSA", 1, 2))) == ("AA", "m1")
    assert str(second.segment("ZZZ")[1]) == "extra"


def test_refusals_and_failures_are_answered_in_hl7_terms(running):
    with MllpClient("127.0.0.1", running.port) as client:
        refused = _ack(client.send(A01.format(id="r1").replace("A01^ADT_A01", "A03^ADT_A03")))
        failed = _ack(client.send(A01.format(id="r2").replace("A01^ADT_A01", "A99^ADT_A01")))
        unknown = _ack(client.send(A01.format(id="r3").replace("ADT^A01^ADT_A01", "QBP^Q22^QBP_Q21")))
        wrong = _ack(client.send(A01.format(id="r4").replace("^~\\&", "^~\\#", 1)))
    assert str(refused.extract_field("MSA", 1, 1)) == "AE"
    assert str(refused.extract_field("ERR", 1, 3, 1, 1)) == "204"
    assert str(refused.extract_field("ERR", 1, 2, 1, 1)) == "PV1"
    assert (str(failed.extract_field("MSA", 1, 1)), str(failed.extract_field("ERR", 1, 3, 1, 1))) == ("AE", "207")
    assert "boom" not in str(failed)  # no stack trace, no internal detail
    assert (str(unknown.extract_field("MSA", 1, 1)), str(unknown.extract_field("ERR", 1, 3, 1, 1))) == ("AR", "200")
    assert str(wrong.extract_field("MSA", 1, 1)) == "AR"
    assert str(wrong.extract_field("MSA", 1, 2)) == "r4"
    assert str(wrong.extract_field("ERR", 1, 2, 1, 3)) == "2"


def test_bytes_that_are_not_the_declared_charset_are_ar(running, received):
    raw = A01.format(id="c1").encode().replace(b"PAT-TROIS", b"PAT-\xff\xfe")
    with MllpClient("127.0.0.1", running.port) as client:
        answer = _ack(client.send(raw))
    assert str(answer.extract_field("MSA", 1, 1)) == "AR"
    assert str(answer.extract_field("ERR", 1, 2, 1, 3)) == "18"
    assert received == []


def test_a_frame_past_the_limit_is_refused_unread_and_the_connection_closed(running, received):
    sock = socket.create_connection(("127.0.0.1", running.port), timeout=5)
    sock.sendall(b"\x0b" + A01.format(id="big").encode())
    sent = 0
    try:
        while sent < 50 * 1024 * 1024:  # a 50 MB message: the listener stops reading long before
            sock.sendall(b"Z" * 65536)
            sent += 65536
    except (BrokenPipeError, ConnectionResetError):
        pass
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    sock.close()
    assert received == []
    if data:  # the AR may be lost to a reset when the kernel still holds unread bytes
        answer = _ack(data.strip(b"\x0b\x1c\r").decode())
        assert str(answer.extract_field("MSA", 1, 1)) == "AR"
        assert str(answer.extract_field("MSA", 1, 2)) == "big"
    assert sent < 50 * 1024 * 1024  # the peer was cut off before all of it was sent


def test_an_idle_or_dripping_peer_is_dropped(running):
    sock = socket.create_connection(("127.0.0.1", running.port), timeout=5)
    start = time.monotonic()
    for byte in b"\x0bMSH|^~\\&":  # slowloris: a byte every 0.3 s, never a whole frame
        try:
            sock.sendall(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            break
        time.sleep(0.3)
    assert sock.recv(10) == b""  # closed by the listener
    assert time.monotonic() - start < 4
    sock.close()


def test_tls(tmp_path, received):
    authority = pki.Authority(tmp_path / "pki")
    issued = authority.issue_server("mllp", ["127.0.0.1"])
    server = Running(Listener({"ADT": lambda m: received.append(1)}), pki.server_context(issued.cert, issued.key, None))
    try:
        client_context = ssl.create_default_context(cafile=str(authority.cert_path))
        with MllpClient("127.0.0.1", server.port, ssl_context=client_context) as client:
            assert "MSA|AA|t1" in client.send(A01.format(id="t1"))
        with pytest.raises((MllpError, OSError)):  # in clear against TLS: no ACK
            with MllpClient("127.0.0.1", server.port, timeout=2) as client:
                client.send(A01.format(id="t2"))
    finally:
        server.stop()
    assert received == [1]


def test_frame_helper_is_what_mllp_send_speaks():
    assert frame(b"x") == b"\x0bx\x1c\r"


def test_stopping_drops_waiting_peers_at_once_and_answers_the_message_being_handled(received):
    """`Listener.stop`: a half-open frame, a dripping sender and an idle peer are dropped at once; the
    message being handled is finished and its ACK sent before its connection closes; nothing new is
    taken. The old way (close the server, shut the executor down on the loop, let `asyncio.run`
    cancel the rest) never sent that ACK, though its handler had returned."""
    handling, release = threading.Event(), threading.Event()

    def slow(message: hl7.Message):
        received.append(str(message.extract_field("MSH", 1, 10)))
        handling.set()
        assert release.wait(10)

    server = Running(Listener({"ADT": slow}, idle_timeout=30.0))
    waiting = [socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(3)]
    waiting[0].sendall(b"\x0b" + A01.format(id="half").encode()[:60])  # half-open: a frame never ended
    waiting[1].sendall(b"\x0b" + b"MSH|^~\\&|")  # a dripping sender, mid-frame
    busy = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    busy.sendall(frame(A01.format(id="busy").encode()))
    assert handling.wait(5)
    stopped = asyncio.run_coroutine_threadsafe(server.listener.stop(server.server, grace=5), server.loop)
    started = time.monotonic()
    for peer in waiting:  # each sees its connection end, without waiting for the idle timeout
        assert peer.recv(1024) == b""
    assert time.monotonic() - started < 3
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2).close()
    assert not stopped.done()  # still waiting for the message being handled
    release.set()
    assert b"MSA|AA|busy" in busy.recv(65536)
    assert busy.recv(1024) == b""  # then closed
    stopped.result(5)
    assert received == ["busy"]
    for peer in [*waiting, busy]:
        peer.close()
    server.stop()
