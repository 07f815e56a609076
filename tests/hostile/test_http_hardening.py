"""HTTP and TLS hardening (issue 18 §3), on real sockets: a request's head slower than the deadline or
larger than the bound is cut (slowloris); every answer says nosniff and names no server; HSTS over
TLS; only AEAD suites on every TLS listener (HTTP, MSSanté SMTP/IMAP/relay); absolute URLs never
taken from the client's Host header."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from OpenSSL import SSL

from maison.core import pki
from maison.formats.http_headers import HSTS
from maison.partage.mss import pki as mss_pki
from maison.serving_http import GuardedHttpProtocol, http_config
from tests.conftest import free_port

CBC_SUITE = "ECDHE-ECDSA-AES128-SHA"  # a TLS 1.2 suite without AEAD


@contextmanager
def served(app, context: ssl.SSLContext | None = None):
    """The app behind the house's own uvicorn configuration (serving.py's), on a loopback port."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(http_config(app, context, host="127.0.0.1", port=port, loop="asyncio"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _closed_within(sock: socket.socket, seconds: float, drip: bytes = b"") -> float | None:
    """Send `drip` one byte every 0.3 s; the time at which the server closed the connection, or None."""
    started = time.monotonic()
    sock.settimeout(0.3)
    for i in range(int(seconds / 0.3) + 1):
        try:
            if drip:
                sock.sendall(drip[i % len(drip) : i % len(drip) + 1])
            if sock.recv(4096) == b"":
                return time.monotonic() - started
        except TimeoutError:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return time.monotonic() - started
    return None


@pytest.fixture
def quick_deadline(monkeypatch):
    monkeypatch.setattr(GuardedHttpProtocol, "head_timeout", 1.0)


def test_a_slow_request_head_is_cut(house, quick_deadline):
    with served(house.app()) as port:
        slow = socket.create_connection(("127.0.0.1", port))
        slow.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        assert (_closed_within(slow, 4, drip=b"X-Lent: abcdefghijklmnop") or 99) < 3
        silent = socket.create_connection(("127.0.0.1", port))
        assert (_closed_within(silent, 4) or 99) < 3  # connected, never wrote a byte
        # a normal client on a keep-alive connection is not affected, and its next request has its own deadline
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            assert client.get("/").status_code == 200
            time.sleep(0.5)
            assert client.get("/").status_code == 200


def test_an_oversized_request_head_is_refused(house):
    with served(house.app()) as port:
        big = socket.create_connection(("127.0.0.1", port))
        big.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        for _ in range(10):
            try:
                big.sendall(b"X-Gros: " + b"a" * 10_000 + b"\r\n")
            except (ConnectionResetError, BrokenPipeError):
                break
        big.settimeout(5)
        try:
            answer = big.recv(4096)
        except ConnectionResetError:
            answer = b""
        assert answer == b"" or answer.startswith(b"HTTP/1.1 400")


def test_every_answer_says_nosniff_and_names_no_server(house):
    with served(house.app()) as port:
        for path in (
            "/",
            "/nexiste-pas",
            "/fhir/Patient",
            "/psc/auth/realms/esante-wallet/.well-known/openid-configuration",
        ):
            answer = httpx.get(f"http://127.0.0.1:{port}{path}")
            assert answer.headers.get("x-content-type-options") == "nosniff", path
            assert "server" not in answer.headers, path
            assert "strict-transport-security" not in answer.headers  # plain HTTP: RFC 6797 §7.2


@pytest.fixture
def tls(tmp_path: Path):
    authority = pki.Authority(tmp_path / "pki")
    issued = authority.issue_server("maison", ["localhost", "127.0.0.1"])
    return authority, issued


def test_over_tls_hsts_and_aead_suites_only(house, tls):
    authority, issued = tls
    with served(house.app(), pki.server_context(issued.cert, issued.key, None)) as port:
        answer = httpx.get(
            f"https://127.0.0.1:{port}/", verify=ssl.create_default_context(cafile=str(authority.cert_path))
        )
        assert answer.status_code == 200
        assert answer.headers["strict-transport-security"] == HSTS.decode()
        assert "server" not in answer.headers
        cbc = ssl.create_default_context(cafile=str(authority.cert_path))
        cbc.maximum_version = ssl.TLSVersion.TLSv1_2
        cbc.set_ciphers(CBC_SUITE)
        with socket.create_connection(("127.0.0.1", port)) as raw, pytest.raises(ssl.SSLError):
            cbc.wrap_socket(raw, server_hostname="127.0.0.1").do_handshake()


def _aead(name: str) -> bool:
    return name.startswith("TLS_") or "GCM" in name or "CHACHA20" in name


def test_every_mssante_tls_context_offers_aead_suites_only(tmp_path):
    authority = mss_pki.Authority(tmp_path / "mss")
    issued = authority.issue("op", ["op.fr"], "OP")
    ca = authority.cert_path
    contexts = {
        "serveur": mss_pki.server_context(issued, ca, require_client=True),
        "client": mss_pki.client_context(ca, issued),
    }
    from maison.partage.mss.smtp import tls_contexts

    class Runtime:
        pass

    runtime = Runtime()
    runtime.issued, runtime.ca = issued, ca  # type: ignore[attr-defined]  # a stand-in runtime
    # a stand-in runtime
    contexts["smtp-soumission"], contexts["smtp-relais"] = tls_contexts(runtime)  # type: ignore[arg-type]
    for name, context in contexts.items():
        suites = [c["name"] for c in context.get_ciphers()]
        assert suites and all(_aead(s) for s in suites), (name, [s for s in suites if not _aead(s)])
        assert context.minimum_version >= ssl.TLSVersion.TLSv1_2, name
    imap = SSL.Connection(mss_pki.twisted_server_options(issued).getContext(), None)
    assert all(_aead(s) for s in imap.get_cipher_list()), [s for s in imap.get_cipher_list() if not _aead(s)]


def test_absolute_urls_never_come_from_the_host_header(house, live):
    evil = {"Host": "evil.example:666", "X-Forwarded-Host": "evil.example"}
    config = httpx.get(f"{live.url}/psc/auth/realms/esante-wallet/.well-known/openid-configuration", headers=evil)
    assert config.status_code == 200 and "evil" not in config.text
    assert config.json()["issuer"].startswith(live.url)
    metadata = httpx.get(f"{live.url}/annuaire/metadata", headers=evil)
    assert "evil" not in metadata.text


def test_the_configured_public_url_is_the_origin(settings, db):
    from maison.house import House
    from tests.conftest import LiveServer

    house = House.open(settings.with_overrides(public_url="https://maison.example.fr"), migrate=False)
    try:
        with LiveServer(house.app()) as live:
            config = httpx.get(
                f"{live.url}/psc/auth/realms/esante-wallet/.well-known/openid-configuration",
                headers={"Host": "evil.example"},
            ).json()
            assert config["issuer"] == "https://maison.example.fr/psc/auth/realms/esante-wallet"
            answer = httpx.get(f"{live.url}/")
            assert answer.headers["strict-transport-security"] == HSTS.decode()  # TLS at the public front
    finally:
        house.insi.journal.close()
