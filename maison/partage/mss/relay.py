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

from maison.core.errors import MaisonError
from maison.formats import mime
from maison.formats.mdn import dsn
from maison.partage.mss.delivery import Queued
from maison.partage.mss.pki import client_context
from maison.partage.mss.smtp import Runtime
from maison.partage.mss.transfer import RelayClient
from maison.partage.mss.trust import domain_of

log = logging.getLogger(__name__)


class PeerNotTrusted(Exception):
    pass


# Postfix's defaults for the same roles: default_destination_concurrency_limit = 20 sessions per
# destination, smtp_connection_cache_time_limit = 2 s for a cached session with nothing to send.
SESSIONS_PER_DESTINATION = 20
IDLE_SESSION_SECONDS = 2.0
ACTIVE_LIMIT = 200  # messages in the relay's hands at once (Postfix's active queue, qmgr_message_active_limit)
HAND_OFF_DEPTH = 2 * SESSIONS_PER_DESTINATION  # a destination's waiting line for messages handed over in memory
SENT_BATCH = 8  # messages a session marks sent in one transaction


async def relay_forever(runtime: Runtime, *, idle_seconds: float = 1.0) -> None:
    """Run until the operator stops: what the SMTP sessions queue is handed over in memory (see
    `Outbound.hand_off`); the outbox is read for the rest (retries come due, mail queued by the web
    messaging or before a restart) at each wake-up and every `idle_seconds`."""
    outbound = Outbound(runtime, client_context(runtime.ca, runtime.issued))
    runtime.outbound = outbound
    try:
        while not runtime.stopping.is_set():
            runtime.wake.clear()
            await outbound.poll()
            await until(runtime.wake, idle_seconds)
    finally:
        runtime.outbound = None
        await outbound.close()


async def until(event: asyncio.Event, seconds: float) -> None:
    """Wait for `event` at most `seconds`. Not asyncio.wait_for: on 3.11 it may swallow a
    cancellation that coincides with the wake-up; the waiter is cancelled, not left behind."""
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait([waiter], timeout=seconds)
    finally:
        waiter.cancel()


class Outbound:
    """The messages in the relay's hands, each in its destination's waiting line, and the SMTP
    sessions that carry them: up to SESSIONS_PER_DESTINATION per destination, opened when the line
    grows, each carrying message after message over one TLS handshake, and closed after
    IDLE_SESSION_SECONDS with nothing to send (as an MTA's connection cache). A message is in the
    relay's hands once until its outcome is stored (sent, retried later, or given up), so it is
    never sent by two sessions; what a crash loses from memory is still pending in the outbox."""

    def __init__(self, runtime: Runtime, context: ssl.SSLContext) -> None:
        self.rt, self.context = runtime, context
        self.active: set[str] = set()
        self.lines: dict[str, asyncio.Queue] = {}
        self.sessions: dict[str, set[asyncio.Task]] = {}
        self.idle: dict[str, int] = {}
        self.behind = False  # the outbox holds due messages that are not in hand
        self.released: set[str] | None = None  # outcomes stored while `poll` reads the outbox

    def hand_off(self, queued: Queued, raw: bytes) -> None:
        """A message just queued by an SMTP session, with its bytes: sent without reading the outbox
        or the blob back, unless the relay is behind (then `poll` takes it from the outbox)."""
        line = self.lines.get(queued.destination)
        if len(self.active) >= ACTIVE_LIMIT or (line is not None and line.qsize() >= HAND_OFF_DEPTH):
            self.behind = True
            return
        self._take(queued, raw)

    async def poll(self) -> None:
        """Due messages of the outbox not in hand, as many as there is room for."""
        room = ACTIVE_LIMIT - len(self.active)
        if room <= 0:
            self.behind = True
            return
        self.released = set()
        try:
            due = await asyncio.to_thread(self.rt.delivery.due, self.rt.operator.id, ACTIVE_LIMIT)
            # not those whose outcome was stored while the outbox was read: they were read as pending
            fresh = [q for q in due if q.id not in self.active and q.id not in self.released][:room]
        finally:
            self.released = None
        self.behind = len(due) == ACTIVE_LIMIT and len(fresh) == room
        for queued in fresh:
            self._take(queued, None)

    def _take(self, queued: Queued, raw: bytes | None) -> None:
        if queued.id in self.active:
            return
        self.active.add(queued.id)
        self.lines.setdefault(queued.destination, asyncio.Queue()).put_nowait((queued, raw))
        self._open(queued.destination)

    def _open(self, destination: str) -> None:
        """One more session when more messages wait than sessions are idle (and one ending lets
        another start if messages still wait)."""
        line, sessions = self.lines[destination], self.sessions.setdefault(destination, set())
        if (
            line.qsize() > self.idle.get(destination, 0)
            and len(sessions) < SESSIONS_PER_DESTINATION
            and not self.rt.stopping.is_set()
        ):
            task = asyncio.create_task(self._session(destination), name=f"relais-{destination}")
            sessions.add(task)

            def ended(task: asyncio.Task[None]) -> None:
                sessions.discard(task)
                self._open(destination)

            task.add_done_callback(ended)

    def _release(self, done: list[Queued]) -> None:
        self.active.difference_update(q.id for q in done)
        if self.released is not None:
            self.released.update(q.id for q in done)
        if self.behind and len(self.active) < ACTIVE_LIMIT // 2:
            self.rt.wake.set()  # room again: read the outbox now rather than at the next idle turn

    async def _session(self, destination_id: str) -> None:
        """One SMTP session to the destination operator, its messages one after the other; a broken
        session is opened again for the next message."""
        line = self.lines[destination_id]
        destination = await asyncio.to_thread(self.rt.trust.get, destination_id)
        client: RelayClient | None = None
        done: list[Queued] = []  # accepted by the destination; marked sent together (Delivery.sent)
        try:
            while not self.rt.stopping.is_set():
                if line.empty() and done:
                    await self._sent(done)
                    done = []
                self.idle[destination_id] = self.idle.get(destination_id, 0) + 1
                try:
                    taken = await _next(line, IDLE_SESSION_SECONDS)
                finally:
                    self.idle[destination_id] -= 1
                if taken is None:
                    return
                queued, raw = taken
                if raw is None:
                    try:
                        raw = await asyncio.to_thread(self.rt.delivery.content, queued.sha256)
                    except MaisonError as exc:  # a blob gone bad: our fault, retried on the schedule
                        log.error("relais %s : %s", queued.id, exc.message)
                        await asyncio.to_thread(
                            self.rt.delivery.failed, queued, f"451 4.3.0 {exc.message}", permanent=False
                        )
                        self._release([queued])
                        continue
                try:
                    if client is None or not client.is_connected:
                        client = RelayClient(
                            hostname=destination.relay_host,
                            port=destination.relay_port,
                            start_tls=True,
                            tls_context=self.context,
                            local_hostname=self.rt.operator.domains[0],
                            timeout=30,
                        )
                        await client.connect()
                        _check_peer(client, destination.certificate_sha256)
                    if await _send(self.rt, client, queued, raw):
                        done.append(queued)
                        if len(done) >= SENT_BATCH:
                            await self._sent(done)
                            done = []
                    else:
                        self._release([queued])
                except (aiosmtplib.SMTPException, OSError, PeerNotTrusted, ssl.SSLError) as exc:
                    await _give_up(
                        self.rt,
                        queued,
                        raw,
                        [(r, "4.4.1", f"451 4.4.1 {exc}") for r in queued.recipients],
                        permanent=False,
                    )
                    self._release([queued])
                    if client is not None:
                        client.close()
                    client = None
        finally:
            await self._sent(done)
            if client is not None and client.is_connected:
                try:
                    await client.quit()
                except (aiosmtplib.SMTPException, OSError):
                    client.close()

    async def _sent(self, done: list[Queued]) -> None:
        if done:
            await asyncio.to_thread(self.rt.delivery.sent, done)
            self._release(done)

    async def close(self) -> None:
        """Stopping: each session ends after its current message; those still waiting stay pending."""
        for destination, tasks in self.sessions.items():
            for _ in tasks:
                self.lines[destination].put_nowait(None)  # an idle session wakes and ends
        sessions = [task for tasks in self.sessions.values() for task in tasks]
        if not sessions:
            return
        _done, late = await asyncio.wait(sessions, timeout=3)
        for task in late:  # a session stuck on a silent peer: its message stays pending in the outbox
            task.cancel()
        if late:
            await asyncio.wait(late, timeout=1)


async def _next(line: asyncio.Queue, seconds: float):
    """The next item of `line`, or None after `seconds` (no asyncio.wait_for, as `until`). An item
    the getter took as it was cancelled is kept: Queue.get leaves it in the queue, or it is done."""
    getter = asyncio.ensure_future(line.get())
    try:
        await asyncio.wait([getter], timeout=seconds)
    finally:
        if not getter.done():
            getter.cancel()
    return getter.result() if getter.done() and not getter.cancelled() else None


async def _send(runtime: Runtime, client: RelayClient, queued, raw: bytes) -> bool:
    """One message on an open session; a refusal ends the message (DSN), not the session. True
    when the destination accepted it."""
    try:
        errors = await client.transfer(queued.sender, queued.recipients, raw)
    except aiosmtplib.SMTPRecipientsRefused as exc:  # aiosmtplib has reset the transaction
        await _give_up(
            runtime,
            queued,
            raw,
            [(r.recipient, _status(r.code, r.message), f"{r.code} {r.message}") for r in exc.recipients],
            permanent=True,
        )
        return False
    except aiosmtplib.SMTPResponseException as exc:
        if exc.code == 421:  # the server is closing the session: a temporary failure of the session
            raise
        await _give_up(
            runtime,
            queued,
            raw,
            [(r, _status(exc.code, exc.message), f"{exc.code} {exc.message}") for r in queued.recipients],
            permanent=exc.code >= 500,
        )
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


async def _give_up(
    runtime: Runtime, queued, raw: bytes, failures: list[tuple[str, str, str]], *, permanent: bool
) -> None:
    gave_up = await asyncio.to_thread(
        runtime.delivery.failed, queued, "; ".join(f[2] for f in failures), permanent=permanent
    )
    if not gave_up or domain_of(queued.sender) not in runtime.operator.domains:
        return
    report = dsn(
        raw,
        failures,
        reporting_mta=runtime.operator.domains[0],
        postmaster=f"postmaster@{runtime.operator.domains[0]}",
        to=queued.sender,
    )
    wire = mime.as_bytes(report)
    try:
        await asyncio.to_thread(
            runtime.delivery.deliver,
            runtime.actor(),
            queued.sender,
            wire,
            "",  # the null reverse-path (RFC 5321 §4.5.5, RFC 3464 §2): a report is never bounced
            str(report["Message-ID"]),
        )
    except Exception:  # noqa: BLE001 - a DSN that cannot be delivered is logged, never bounced again
        log.exception("DSN non remis à %s", queued.sender)
