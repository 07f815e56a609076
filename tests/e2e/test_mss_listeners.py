"""Every MSSanté listener holds a burst of connections (issue 18 §3: the SMTP listen backlog under
500 simultaneous connections): the kernel queue is deep enough and each connection is greeted."""

from __future__ import annotations

import socket
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from maison.identite.psc.api import issuer_for
from maison.partage.mss.smtp import LISTEN_BACKLOG
from tests.partage.mss_world import start_world


@pytest.fixture
def mss(house, live, tmp_path):
    world = start_world(house, tmp_path, issuer_for(live.url))
    yield world
    world.close()


def _backlog(port: int) -> int:
    """The listening socket's queue length, as the kernel reports it (`ss`: Send-Q of a listener)."""
    out = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=True).stdout
    return int(out.split()[2])


def test_every_listener_queues_at_least_500_connections(mss):
    endpoints = mss.endpoints("chu-test")
    for port in (endpoints.submission, endpoints.relay, endpoints.imap):
        assert _backlog(port) >= min(LISTEN_BACKLOG, 500) + 1, port


@pytest.mark.parametrize("listener", ["submission", "imap"])
def test_500_simultaneous_connections_are_all_greeted(mss, listener):
    port = getattr(mss.endpoints("chu-test"), listener)
    sockets = []
    try:
        for _ in range(500):  # all connected before any is read: the queue, not the loop, holds them
            sockets.append(socket.create_connection(("127.0.0.1", port), timeout=30))
        with ThreadPoolExecutor(32) as pool:
            greetings = list(pool.map(lambda s: s.recv(64), sockets))
    finally:
        for s in sockets:
            s.close()
    expected = b"220" if listener == "submission" else b"* OK"
    assert all(g.startswith(expected) for g in greetings), {g[:20] for g in greetings}
