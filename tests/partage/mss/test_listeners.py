"""Where an operator listens, and a listener it cannot open named precisely
(maison.partage.mss.listeners, issue 21 §1.4)."""

from __future__ import annotations

import asyncio
import socket

import pytest

from maison.partage.mss.listeners import ListenerUnavailable, listeners_of
from maison.partage.mss.smtp import Endpoints
from tests.conftest import free_port
from tests.partage.mss_world import _loop


def test_each_listener_says_its_protocol_address_and_tls():
    endpoints = Endpoints("127.0.0.1", 2587, 2525, 2143, submissions=2465, imaps=2993)
    assert [str(listener) for listener in listeners_of(endpoints)] == [
        "soumission SMTP 127.0.0.1:2587 (STARTTLS exigé)",
        "relais SMTP 127.0.0.1:2525 (STARTTLS, certificat client de l'opérateur)",
        "soumission-tls SMTP 127.0.0.1:2465 (TLS implicite, RFC 8314)",
        "imap IMAP 127.0.0.1:2143 (STARTTLS exigé)",
        "imap-tls IMAP 127.0.0.1:2993 (TLS implicite, RFC 8314)",
    ]
    assert [listener.role for listener in listeners_of(Endpoints("::1", 1, 2))] == ["soumission", "relais"]
    assert listeners_of(Endpoints("::1", 1, 2))[0].as_json() == {
        "role": "soumission",
        "protocole": "SMTP",
        "adresse": "[::1]:1",
        "tls": "STARTTLS exigé",
    }


@pytest.mark.parametrize("taken", ["relais", "imap"])
def test_a_port_taken_is_named_with_its_listener(house, taken):
    """SMTP (asyncio) and IMAP (Twisted) alike: the operator does not start, and says which of its
    listeners could not be opened and why, rather than a bare traceback."""
    ports = {"soumission": free_port(), "relais": free_port(), "imap": free_port()}
    held = socket.socket()
    held.bind(("127.0.0.1", ports[taken]))
    held.listen()
    mss = house.mss
    mss.local_operator(
        "chu-test",
        "CHU",
        ["chu-test.mssante.fr"],
        Endpoints("127.0.0.1", ports["soumission"], ports["relais"], ports["imap"]),
    )
    loop, _thread = _loop()
    try:
        with pytest.raises(ListenerUnavailable) as refused:
            asyncio.run_coroutine_threadsafe(mss.start(), loop).result(30)
    finally:
        asyncio.run_coroutine_threadsafe(mss.stop(), loop).result(30)
        held.close()
    assert refused.value.listener.role == taken and refused.value.listener.port == ports[taken]
    assert f"chu-test : impossible d'écouter en {taken} " in refused.value.message
    assert f"127.0.0.1:{ports[taken]}" in refused.value.message and "in use" in refused.value.reason
    with socket.socket() as probe:  # what it had opened before is closed again
        assert probe.connect_ex(("127.0.0.1", ports["soumission"])) != 0
