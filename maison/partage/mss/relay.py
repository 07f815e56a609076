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
from maison.partage.mss.transfer import RelayClient
from maison.partage.mss.trust import domain_of

log = logging.getLogger(__name__)


class PeerNotTrusted(Exception):
    pass


SESSIONS_PER_DESTINATION = 4  # concurrent SMTP sessions to one operator (Postfix's default is 20 per domain)
SENT_BATCH = 8  # messages a session marks sent in one transaction


async def relay_forever(runtime: Runtime, *, idle_seconds: float = 1.0) -> None:
    """Run until the operator stops: send what is due, then wait to be woken (new mail) or for the
    next retry. A turn's messages for one operator share a few sessions, each carrying several
    messages (one TLS handshake for many, as MTAs do); a message is never in two turns at once."""
    context = client_context(runtime.ca, runtime.issued)
    while not runtime.stopping.is_set():
        runtime.wake.clear()
        due = await asyncio.to_thread(runtime.delivery.due, runtime.operator.id)
        by_destination: dict[str, list] = {}
        for queued in due:
            by_destination.setdefault(queued.destination, []).append(queued)
        sessions = []
        for destination, batch in by_destination.items():
            shares = [batch[i::SESSIONS_PER_DESTINATION] for i in range(min(SESSIONS_PER_DESTINATION, len(batch)))]
            sessions += [_session(runtime, context, destination, share) for share in shares]
        if sessions:
            await asyncio.gather(*sessions)
            continue  # more may be due already
        await until(runtime.wake, idle_seconds)


async def until(event: asyncio.Event, seconds: float) -> None:
    """Wait for `event` at most `seconds`. Not asyncio.wait_for: on 3.11 it may swallow a
    cancellation that coincides with the wake-up; the waiter is cancelled, not left behind."""
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait([waiter], timeout=seconds)
    finally:
        waiter.cancel()


async def _session(runtime: Runtime, context: ssl.SSLContext, destination_id: str, batch: list) -> None:
    """One SMTP session to the destination operator, its messages one after the other; a broken
    session is opened again for the next message."""
    destination = await asyncio.to_thread(runtime.trust.get, destination_id)
    client: RelayClient | None = None
    done: list = []  # accepted by the destination; marked sent together (Delivery.sent)
    try:
        for queued in batch:
            if runtime.stopping.is_set():
                return
            raw = await asyncio.to_thread(runtime.delivery.content, queued.sha256)
            try:
                if client is None or not client.is_connected:
                    client = RelayClient(hostname=destination.relay_host, port=destination.relay_port,
                                             start_tls=True, tls_context=context,
                                             local_hostname=runtime.operator.domains[0], timeout=30)
                    await client.connect()
                    _check_peer(client, destination.certificate_sha256)
                if await _send(runtime, client, queued, raw):
                    done.append(queued)
                    if len(done) >= SENT_BATCH:
                        await asyncio.to_thread(runtime.delivery.sent, done)
                        done = []
            except (aiosmtplib.SMTPException, OSError, PeerNotTrusted, ssl.SSLError) as exc:
                await _give_up(runtime, queued, raw, [(r, "4.4.1", f"451 4.4.1 {exc}") for r in queued.recipients],
                               permanent=False)
                if client is not None:
                    client.close()
                client = None
    finally:
        await asyncio.to_thread(runtime.delivery.sent, done)
        if client is not None and client.is_connected:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError):
                client.close()


async def _send(runtime: Runtime, client: RelayClient, queued, raw: bytes) -> bool:  # type: ignore[no-untyped-def]
    """One message on an open session; a refusal ends the message (DSN), not the session. True
    when the destination accepted it."""
    try:
        errors = await client.transfer(queued.sender, queued.recipients, raw)
    except aiosmtplib.SMTPRecipientsRefused as exc:  # aiosmtplib has reset the transaction
        await _give_up(runtime, queued, raw, [(r.recipient, _status(r.code, r.message), f"{r.code} {r.message}")
                                              for r in exc.recipients], permanent=True)
        return False
    except aiosmtplib.SMTPResponseException as exc:
        if exc.code == 421:  # the server is closing the session: a temporary failure of the session
            raise
        await _give_up(runtime, queued, raw, [(r, _status(exc.code, exc.message), f"{exc.code} {exc.message}")
                                              for r in queued.recipients], permanent=exc.code >= 500)
        return False
    refused = [(r, _status(code, text), f"{code} {text}") for r, (code, text) in errors.items()]
    if refused:
        await _give_up(runtime, queued, raw, refused, permanent=True)
        return False
    return True


def _check_peer(client: RelayClient, expected_sha256: str) -> None:
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
