"""Fetching a caller-named URL (maison.core.outbound): public addresses only, every resolved address
checked, the connection pinned to the address checked (DNS rebinding), one error whatever failed."""

from __future__ import annotations

import ipaddress
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from maison.core import outbound


class Seen(BaseHTTPRequestHandler):
    requests: list[tuple[str, str]] = []

    def do_GET(self):  # noqa: N802
        Seen.requests.append((self.path, self.headers.get("Host", "")))
        body = b'{"keys": []}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # noqa: ANN002
        pass


@pytest.fixture
def loopback():
    Seen.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Seen)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_port
    server.shutdown()


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "255.255.255.255",
        "224.0.0.1",
        "239.1.2.3",
        "192.0.2.1",
        "::1",
        "::",
        "fe80::1",
        "fd00::1",
        "::ffff:127.0.0.1",
        "64:ff9b::7f00:1",
        "2002:0a00:0001::1",
        "2001:db8::1",
        "ff02::1",
    ],
)
def test_non_public_addresses_are_refused(address):
    assert not outbound.is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "2a00:1450:4007::1", "64:ff9b::808:808"])
def test_public_addresses_are_accepted(address):
    assert outbound.is_public(ipaddress.ip_address(address))


def test_loopback_is_never_contacted_by_default(loopback):
    for url in (
        f"http://127.0.0.1:{loopback}/jwks",
        f"https://127.0.0.1:{loopback}/jwks",
        f"https://localhost:{loopback}/jwks",
        f"https://[::ffff:127.0.0.1]:{loopback}/jwks",
        f"https://user:pw@example.org:{loopback}/",
        "file:///etc/passwd",
        "https:///x",
        "pas une url",
    ):
        with pytest.raises(outbound.Unreachable) as refused:
            outbound.fetch(url, max_bytes=1000)
        assert str(refused.value) == ""  # says nothing of why
    assert Seen.requests == []


def test_one_private_answer_among_public_ones_refuses_the_name(loopback, monkeypatch):
    monkeypatch.setattr(
        outbound, "resolve", lambda host, port: [ipaddress.ip_address("8.8.8.8"), ipaddress.ip_address("127.0.0.1")]
    )
    with pytest.raises(outbound.Unreachable):
        outbound.fetch(f"https://jwks.example.org:{loopback}/jwks", max_bytes=1000)
    assert Seen.requests == []


def test_the_connection_goes_to_the_checked_address_not_to_a_second_resolution(loopback, monkeypatch):
    """DNS rebinding: the name answers a public address when checked, then loopback. The fetch goes
    to the address checked (here unreachable), never to what a second resolution would give."""
    real = socket.getaddrinfo
    answers: list[str] = []

    def rebinding(host, port, *args, **kwargs):
        if host != "jwks.rebind.example":
            return real(host, port, *args, **kwargs)
        answers.append(host)
        address = "8.8.8.8" if len(answers) == 1 else "127.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    connected: list[str] = []

    def no_network(target, address, max_bytes, timeout):
        connected.append(str(address))
        raise httpx.ConnectError("unreachable in this test")

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    monkeypatch.setattr(outbound, "_get", no_network)
    with pytest.raises(outbound.Unreachable):
        outbound.fetch(f"http://jwks.rebind.example:{loopback}/jwks", max_bytes=1000, private_addresses=False)
    with pytest.raises(outbound.Unreachable):
        outbound.fetch(f"https://jwks.rebind.example:{loopback}/jwks", max_bytes=1000)
    assert answers == ["jwks.rebind.example"] and connected == ["8.8.8.8"] and Seen.requests == []


def test_a_pinned_fetch_keeps_the_name_for_host(loopback, monkeypatch):
    """Where private addresses are allowed (tests, a lab): the name resolved once, the connection made
    to that address, the name sent as Host."""
    real = socket.getaddrinfo
    calls: list[str] = []

    def once(host, port, *args, **kwargs):
        if host == "idp.clinique.test":
            calls.append(host)
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1" if len(calls) == 1 else "10.9.9.9", port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", once)
    body = outbound.fetch(f"http://idp.clinique.test:{loopback}/jwks", max_bytes=1000, private_addresses=True)
    assert body == b'{"keys": []}' and calls == ["idp.clinique.test"]
    assert Seen.requests == [("/jwks", f"idp.clinique.test:{loopback}")]
    with pytest.raises(outbound.Unreachable):  # bounded size
        outbound.fetch(f"http://127.0.0.1:{loopback}/jwks", max_bytes=5, private_addresses=True)
