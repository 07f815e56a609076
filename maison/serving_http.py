"""The house's HTTP/1.1 protocol: uvicorn's httptools protocol, with a deadline and a size bound on
reading each request's head (request line and headers).

uvicorn 0.55 has no header-read timeout: `timeout_keep_alive` runs only between a response and the
next request, and every byte received cancels it. A client that sends a request's head one byte
every few seconds (slowloris) therefore holds its connection, and a file descriptor, forever; a few
thousand of them exhaust the workers' descriptors. `h11_max_incomplete_event_size` bounds only the
h11 parser, and httptools (llhttp) buffers a header of any length.

So a request's head must be complete within `HEAD_TIMEOUT_S` of its first byte (of the connection,
for the first request: a client that connects and sends nothing is cut too) and within
`MAX_HEAD_BYTES`; else the connection is closed (oversize: a 400, as uvicorn answers a malformed
request). Apache's mod_reqtimeout defaults to 20-40 s for headers; 10 s is ample for the house's
clients (software on the same networks), and nginx's `client_header_timeout` default is 60 s.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEAD_TIMEOUT_S = 10.0
# nginx's large_client_header_buffers is 4 x 8 KiB; Apache's LimitRequestFieldSize 8 KiB each
MAX_HEAD_BYTES = 64 * 1024


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol; a request's head is read within a deadline and a size."""

    head_timeout: float = HEAD_TIMEOUT_S
    _head_deadline: asyncio.TimerHandle | None = None
    _head_bytes = 0

    # uvicorn's protocol takes the asyncio transport
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._head_deadline is not None and b"\r\n\r\n" not in data:
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self._disarm()
                self.send_400_response("Request head too large")
                return
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()  # a keep-alive connection's next request: its head has the same deadline

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._head_deadline is None:
            self._head_bytes = 0
            self._head_deadline = self.loop.call_later(self.head_timeout, self._head_expired)

    def _disarm(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_expired(self) -> None:
        self._head_deadline = None
        if not self.transport.is_closing():
            self.transport.abort()  # no close_notify wait on TLS: the peer is the one stalling


def http_config(app: Any, context: ssl.SSLContext | None = None, **options: Any) -> uvicorn.Config:
    """The uvicorn configuration every HTTP listener of the house uses: the guarded protocol, no
    `Server` banner (it names the server's software and version to whoever asks), and the house's
    TLS context (≥ 1.2, AEAD suites only: `maison.core.pki.server_context`) when given."""
    tls = {"ssl_context_factory": lambda _config, _default: context} if context is not None else {}
    options = {
        "http": GuardedHttpProtocol,
        "loop": "uvloop",
        "log_level": "warning",
        "access_log": False,
        "server_header": False,
        **tls,
        **options,
    }
    return uvicorn.Config(app, **options)


def listening_socket(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    """A bound, listening, inheritable TCP socket for one worker of the main or INSi listener.

    With SO_REUSEPORT each worker binds its own socket and the kernel spreads connections (see
    maison.serving's docstring for the measure that chose it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock
