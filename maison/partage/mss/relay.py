"""The outbound relay of a local operator: its outbox delivered to the other operators.

Each queued message goes to the destination operator's relay endpoint over SMTP with STARTTLS,
presenting this operator's certificate (mutual TLS) and verifying the peer against the trust
space's authority and the registered fingerprint. A 4xx or a network failure is retried on a
schedule; a 5xx (or retries exhausted) gives up and sends the sender a DSN (RFC 3464) into his
mailbox.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import ssl

import aiosmtplib

from maison.partage.mss import message as mime
from maison.partage.mss.mdn import dsn
from maison.partage.mss.pki import client_context
from maison.partage.mss.smtp import Runtime
from maison.partage.mss.trust import domain_of

log = logging.getLogger(__name__)


class PeerNotTrusted(Exception):
    pass


async def relay_forever(runtime: Runtime, *, idle_seconds: float = 1.0) -> None:
    """Run until the operator stops: send what is due, then wait to be woken (new mail) or for the
    next retry."""
    context = client_context(runtime.ca, runtime.issued)
    while not runtime.stopping.is_set():
        runtime.wake.clear()
        for queued in await asyncio.to_thread(runtime.delivery.due, runtime.operator.id):
            await _send(runtime, context, queued)
        # not asyncio.wait_for: on 3.11 it may swallow a cancellation that coincides with the wake-up
        await asyncio.wait([asyncio.ensure_future(runtime.wake.wait())], timeout=idle_seconds)


async def _send(runtime: Runtime, context: ssl.SSLContext, queued) -> None:  # type: ignore[no-untyped-def]
    destination = await asyncio.to_thread(runtime.trust.get, queued.destination)
    raw = await asyncio.to_thread(runtime.delivery.content, queued.sha256)
    try:
        client = aiosmtplib.SMTP(hostname=destination.relay_host, port=destination.relay_port, start_tls=True,
                                 tls_context=context, local_hostname=runtime.operator.domains[0], timeout=30)
        async with client:
            _check_peer(client, destination.certificate_sha256)
            errors, reply = await client.sendmail(queued.sender, queued.recipients, raw)
    except aiosmtplib.SMTPRecipientsRefused as exc:
        await _give_up(runtime, queued, raw, [(r.recipient, _status(r.code, r.message), f"{r.code} {r.message}")
                                              for r in exc.recipients], permanent=True)
        return
    except aiosmtplib.SMTPResponseException as exc:
        await _give_up(runtime, queued, raw, [(r, _status(exc.code, exc.message), f"{exc.code} {exc.message}")
                                              for r in queued.recipients], permanent=exc.code >= 500)
        return
    except (aiosmtplib.SMTPException, OSError, PeerNotTrusted, ssl.SSLError) as exc:
        await _give_up(runtime, queued, raw, [(r, "4.4.1", f"451 4.4.1 {exc}") for r in queued.recipients],
                       permanent=False)
        return
    refused = [(r, _status(code, text), f"{code} {text}") for r, (code, text) in errors.items()]
    if refused:
        await _give_up(runtime, queued, raw, refused, permanent=True)
        return
    await asyncio.to_thread(runtime.delivery.sent, queued)


def _check_peer(client: aiosmtplib.SMTP, expected_sha256: str) -> None:
    """The destination must present the certificate the trust space registered for it."""
    transport = client.transport
    sslobj = transport.get_extra_info("ssl_object") if transport else None
    der = sslobj.getpeercert(binary_form=True) if sslobj else None
    if not der or hashlib.sha256(der).hexdigest() != expected_sha256:
        raise PeerNotTrusted("certificat du destinataire différent de celui de l'espace de confiance")


def _status(code: int, text: str) -> str:
    found = next((w for w in text.split() if w.count(".") == 2 and w[0] in "245"), None)
    return found or ("5.0.0" if code >= 500 else "4.0.0")


async def _give_up(runtime: Runtime, queued, raw: bytes, failures: list[tuple[str, str, str]], *,  # type: ignore[no-untyped-def]
                   permanent: bool) -> None:
    gave_up = await asyncio.to_thread(runtime.delivery.failed, queued, "; ".join(f[2] for f in failures),
                                      permanent=permanent)
    if not gave_up or domain_of(queued.sender) not in runtime.operator.domains:
        return
    report = dsn(raw, failures, reporting_mta=runtime.operator.domains[0],
                 postmaster=f"postmaster@{runtime.operator.domains[0]}", to=queued.sender)
    wire = mime.as_bytes(report)
    try:
        await asyncio.to_thread(runtime.delivery.deliver, runtime.actor(), queued.sender, wire,
                                f"postmaster@{runtime.operator.domains[0]}", str(report["Message-ID"]))
    except Exception:  # noqa: BLE001 - a DSN that cannot be delivered is logged, never bounced again
        log.exception("DSN non remis à %s", queued.sender)
