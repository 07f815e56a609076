"""What every HTTP answer of the house carries, and where its absolute URLs point.

- `X-Content-Type-Options: nosniff` on every answer: a browser must not guess an HTML page out of a
  patient's document or a JSON answer (OWASP Secure Headers);
- `Strict-Transport-Security` when the request came over TLS (RFC 6797 §7.2: never over plain HTTP);
- no `Server` banner (uvicorn's is switched off in serving; any left by an application is dropped);
- the origin of the request — what `request.base_url` and so every absolute URL (FHIR Bundle
  `fullUrl`, Pro Santé Connect's issuer, `Location`, `Content-Location`) is built from — is the
  configured `public_url`, or else the address of the socket the client reached: never the
  client's `Host` header, which an attacker sets at will (Host header injection: a poisoned issuer,
  links to another site in a page). Only the scheme, host and port of `public_url` are used.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

HSTS = b"max-age=63072000; includeSubDomains"  # two years (OWASP HSTS cheat sheet)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _host(host: str, port: int | None, scheme: str) -> bytes:
    shown = f"[{host}]" if ":" in host else host
    return (shown if port in (None, _DEFAULT_PORTS.get(scheme)) else f"{shown}:{port}").encode("ascii", "replace")


class HardenedHttp:
    """ASGI middleware: the house's origin in place of the client's Host header, and the security
    headers on each answer."""

    def __init__(self, app: Any, public_url: str = "") -> None:
        self.app = app
        parts = urlsplit(public_url) if public_url else None
        self.origin = (parts.scheme, parts.hostname or "", parts.port) if parts and parts.hostname else None

    def canonical(self, scope: dict[str, Any]) -> dict[str, Any]:
        if self.origin:
            scheme, host, port = self.origin
        elif scope.get("server"):
            (host, port), scheme = scope["server"], scope.get("scheme", "http")
        else:
            return scope  # no socket address (a test transport): nothing better than what came
        headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() != b"host"]
        headers.append((b"host", _host(host, port, scheme)))
        return {**scope, "scheme": scheme, "server": (host, port or _DEFAULT_PORTS.get(scheme)), "headers": headers}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope = self.canonical(scope)
        over_tls = scope.get("scheme") == "https"

        async def send_hardened(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                # an answer that set nosniff itself (a download) does not get it twice
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower() not in (b"server", b"x-content-type-options")
                ]
                headers.append((b"x-content-type-options", b"nosniff"))
                if over_tls:
                    headers.append((b"strict-transport-security", HSTS))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_hardened)
