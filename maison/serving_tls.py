"""An HTTP listener that tells the application which client certificate the TLS handshake verified.

INSi authenticates its callers by certificate (mutual TLS), so the application must see the
certificate the handshake verified. uvicorn, the house's server, does not pass it: its 0.55
release puts no TLS information in the ASGI scope (the ASGI TLS extension is proposed there in
Kludex/uvicorn#1119, #3132 and #3133, none released), and hypercorn 0.18 does not implement the
extension either (pgjones/hypercorn#62 still open; #324 asks how to read the peer certificate).
A TLS-terminating front (stunnel, nginx) would pass it only as a forgeable header and adds a hop.

So this module subclasses uvicorn's httptools protocol: once per connection it reads the verified
peer certificate from `transport.get_extra_info("ssl_object")` and adds the ASGI TLS extension
(version 0.2: `scope["extensions"]["tls"]`, `client_cert_chain` leaf first, PEM) to the scope of
every request of that connection. Everything else is uvicorn's (httptools, uvloop, flow control),
so the INSi listener keeps the house's measured serving path. Measured (bench/insi.py, both modes
back to back, bench/README.md 2026-12-07): the server's CPU per INSi request is 2.7–2.9 ms over
mutual TLS against 2.3–2.9 ms in clear, the same within the run-to-run spread, and throughput
could not be told apart (0 errors).
Python 3.11's `ssl` exposes only the leaf certificate of the client's chain; that is the one the
application needs (the chain was verified by OpenSSL against the configured authority).
"""

from __future__ import annotations

import ssl
from typing import Any

import uvicorn

from maison.serving_http import GuardedHttpProtocol

TLS_VERSIONS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


def tls_extension(ssl_object: ssl.SSLObject) -> dict[str, Any]:
    """The ASGI TLS extension of one connection (keys the `ssl` module cannot give are None)."""
    der = ssl_object.getpeercert(binary_form=True)
    return {
        "server_cert": None,
        "client_cert_chain": [ssl.DER_cert_to_PEM_cert(der)] if der else [],
        "client_cert_name": None,
        "client_cert_error": None,
        "tls_version": TLS_VERSIONS.get(ssl_object.version() or ""),
        "cipher_suite": None,
    }


class TlsScopeProtocol(GuardedHttpProtocol):  # the head deadline of every house listener (serving_http)
    """uvicorn's httptools protocol, with the ASGI TLS extension in each request's scope."""

    _tls: dict[str, Any] | None = None

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._tls is None:
            ssl_object = self.transport.get_extra_info("ssl_object")
            if ssl_object is None:
                return  # not TLS: the extension must be absent (ASGI TLS extension, "When to use")
            self._tls = tls_extension(ssl_object)
        # uvicorn's scope types its extensions as dict[object, object]
        self.scope["extensions"] = {"tls": self._tls}  # type: ignore[dict-item]

    def shutdown(self) -> None:
        """At exit, an idle connection is dropped: closing a TLS connection waits for the peer's
        close_notify, up to asyncio's 30 s `ssl_shutdown_timeout`, and an idle keep-alive client
        never sends one (measured: `maison serve` took 31 s to stop with one such client)."""
        if self.cycle is None or self.cycle.response_complete:
            self.transport.abort()
        else:
            super().shutdown()


def tls_server(app: Any, context: ssl.SSLContext, **options: Any) -> uvicorn.Server:
    """A uvicorn server whose connections are TLS with `context` and whose scopes carry the extension."""
    config = uvicorn.Config(
        app,
        http=TlsScopeProtocol,
        loop="uvloop",
        log_level="warning",
        access_log=False,
        server_header=False,
        ssl_context_factory=lambda _config, _default: context,
        **options,
    )
    return uvicorn.Server(config)
