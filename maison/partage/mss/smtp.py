"""SMTP of an MSSanté operator (aiosmtpd): submission for its users, relay between operators.

Listeners of an operator (docs/research/mssante-servers.md §1):
- submission (RFC 6409, the port 587 role): STARTTLS before anything, then AUTH — PLAIN/LOGIN with
  the password of an applicative mailbox, or XOAUTH2 / OAUTHBEARER (RFC 7628) with a Pro Santé
  Connect access token for people (Réf. socle MSSanté: XOAUTH2 with a PSC token). The MAIL FROM
  must be a mailbox the authenticated caller may send from (553 5.7.1 otherwise); and the same
  submission over TLS from the first byte when the operator has a `submissions` port (RFC 8314 §3.3,
  the port 465 role: RFC 8314 §3.3 has clients prefer it to STARTTLS);
- relay (the port 25 role) between operators: STARTTLS with a client certificate; the certificate
  must be the one the trust space registered for an operator (550 5.7.1 otherwise), the sender's
  domain must be that operator's, and recipients must be this operator's mailboxes.

Each accepted message gets this hop's `Received` line on top (RFC 5321 §4.4, maison.partage.mss.trace);
the mailbox's delivery adds `Return-Path`.

Replies are RFC 5321 codes with RFC 3463 enhanced codes; texts are ASCII. Database work runs in
worker threads so that the loop keeps serving other sessions.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import hashlib
import logging
import re
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import MISSING, SMTP, AuthResult

from maison.core.actor import Actor
from maison.core.errors import MaisonError, NotFound
from maison.core.lockout import Locked
from maison.formats import mime
from maison.identite.psc.provider import OAuthError, Provider
from maison.partage.mss import citizen, trace
from maison.partage.mss.delivery import Delivery, DuplicateMessageId, Queued
from maison.partage.mss.listeners import ListenerUnavailable, listeners_of
from maison.partage.mss.logins import token_login
from maison.partage.mss.mailboxes import Mailboxes, normalise
from maison.partage.mss.pki import Issued, harden
from maison.partage.mss.trust import Operator, TrustSpace, domain_of

# aiosmtpd logs every session at INFO, and warns at every AUTH that it sets a deprecated field itself
logging.getLogger("mail.log").setLevel(logging.ERROR)
MAX_RECIPIENTS = 100
# RCPT answers for a local mailbox found open are kept this long (as the trust space's registry): a
# mailbox closed meanwhile is refused at DATA (550 5.1.1) by the delivery, which reads it under lock.
RECIPIENT_CACHE_SECONDS = 2.0
SENDING_ROLES = ("titulaire", "co-titulaire", "delegue")
# Connections the kernel queues for a listener before the loop accepts them (asyncio's default 100,
# Twisted's 50): a burst of 500 relays and clients (issue 18 §3) must wait in the queue, not be
# dropped; the kernel caps it at net.core.somaxconn (4096 by default since Linux 5.4).
LISTEN_BACKLOG = 1024


@dataclass(frozen=True)
class Endpoints:
    host: str
    submission: int  # the operator's users (port 587 role)
    relay: int  # the other operators (port 25 role)
    imap: int = 0  # the users' IMAP access (port 143 role, STARTTLS); 0: none
    submissions: int = 0  # submission over implicit TLS (port 465 role, RFC 8314 §3.3); 0: none
    imaps: int = 0  # IMAP over implicit TLS (port 993 role, RFC 8314 §3.3); 0: none


@dataclass
class Runtime:
    """What an operator's listeners need: who it is, its certificate, and the house's services."""

    operator: Operator
    issued: Issued
    ca: Path
    trust: TrustSpace
    mailboxes: Mailboxes
    delivery: Delivery
    psc: Provider
    psc_issuer: str
    endpoints: Endpoints
    max_message_bytes: int = 20_000_000
    has_espace: Callable[[str], bool] | None = None  # the Mon espace santé operator: whose espace exists
    servers: list[asyncio.AbstractServer] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)  # the relay has mail to send
    outbound: Any = None  # the running relay (relay.Outbound), which takes new mail in memory
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    def actor(self) -> Actor:
        return Actor(person=f"operateur:{self.operator.id}", structure=self.operator.id, software="maison-mss")


class MssSMTP(SMTP):
    """aiosmtpd's SMTP with two fixes: an AUTH line may carry a Pro Santé Connect token as initial
    response (a JWT of a few KB, beyond RFC 5321's 512 octets: RFC 4954 §4 lets AUTH lines be
    longer), and the per-command limits are this connection's own (aiosmtpd keeps them in a dict
    shared by every instance of the class). aiosmtpd reads every line with one limit, so lines of
    message data up to that length are accepted too (Postfix, likewise, takes long lines)."""

    line_length_limit = 16_384

    def __init__(self, *args, implicit_tls: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.command_size_limits = collections.defaultdict(lambda: self.command_size_limit)
        self.command_size_limits["AUTH"] = self.line_length_limit
        self.implicit_tls = implicit_tls

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """On an implicit-TLS listener the whole session is under TLS, which aiosmtpd counts only
        after STARTTLS (its `auth_require_tls` would then neither offer nor accept AUTH: aiosmtpd
        issues #274/#281; docs/research/mssante-servers.md P1): AUTH is allowed once TLS is there."""
        super().connection_made(transport)
        if self.implicit_tls and transport.get_extra_info("ssl_object") is not None:
            self._auth_require_tls = False

    def under_tls(self) -> bool:
        """Whether this session runs under TLS (after STARTTLS, or from the first byte)."""
        return self.transport is not None and self.transport.get_extra_info("ssl_object") is not None

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        """aiosmtpd's reading of a MAIL / RCPT path, with a fast path for the plain `<local@domain>`
        that software sends: the library's RFC 5322 parser (email._header_value_parser) took a
        tenth of the relaying operator's Python time in bench/mss.py. Anything else (quoted local
        parts, source routes, comments, `<>`) goes to the library, whose answer the fast path gives."""
        plain = _PLAIN_PATH.fullmatch(arg)
        if plain is None:
            return super()._getaddr(arg)
        address, rest = plain.group(1), plain.group(2)
        if self.local_part_limit and len(address.rpartition("@")[0]) > self.local_part_limit:
            return None, None
        return address, rest

    async def smtp_DATA(self, arg: str) -> None:
        """aiosmtpd's DATA, reading the message in one search for CRLF.CRLF instead of one await per
        line (a 270 KB message is 3 600 lines: that loop was a tenth of an operator's CPU). Same
        replies: 503 without RCPT, 501 with an argument, 552 beyond the size limit, 500 for a line
        beyond `line_length_limit`; RFC 5321 §4.5.2 dot-unstuffing; what a pipelining client sent
        after the final dot stays in the reader for the next command."""
        reader = self._reader
        if not isinstance(getattr(reader, "_buffer", None), bytearray):  # another asyncio: aiosmtpd's own loop
            return await super().smtp_DATA(arg)
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            return await self.push("503 Error: need RCPT command")
        if arg:
            return await self.push("501 Syntax: DATA")
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        content, problem = await self._message_data(reader)
        if problem:
            self._set_post_data_state()
            return await self.push(problem)
        self.envelope.content = self.envelope.original_content = content
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()
        await self.push("250 OK" if status is MISSING else status)

    async def _message_data(self, reader: asyncio.StreamReader) -> tuple[bytes, str | None]:
        limit = self.data_size_limit or 0
        try:
            first = await reader.readuntil(b"\r\n")
        except asyncio.LimitOverrunError:
            await self._drain_data(reader)
            return b"", "500 Line too long (see RFC5321 4.5.3.1.6)"
        if first == b".\r\n":
            return b"", None
        # asyncio.StreamReader's private buffer: the measured DATA fast path
        while len(reader._buffer) < 3 and not reader.at_eof():  # type: ignore[attr-defined]
            # asyncio.StreamReader's private buffer: the measured DATA fast path
            await reader._wait_for_data("readuntil")  # type: ignore[attr-defined]
        stuffed = first.startswith(b".")
        if reader._buffer.startswith(b".\r\n"):  # type: ignore[attr-defined]  # a one-line message
            await reader.readexactly(3)
            rest = b""
        else:
            reader._limit = (limit or 1 << 30) + 8  # type: ignore[attr-defined]  # no pause while it comes
            try:
                found = await _until_final_dot(reader, (limit or 1 << 30) + 8)
            finally:
                # asyncio.StreamReader's private buffer: the measured DATA fast path
                reader._limit = self.line_length_limit  # type: ignore[attr-defined]
            if found is None:  # beyond the size limit: drain to the final dot, then 552
                await self._drain_data(reader)
                return b"", "552 Error: Too much mail data"
            rest, stuffed_rest = found
            stuffed = stuffed or stuffed_rest
        data = first + rest
        if limit and len(data) > limit:
            return b"", "552 Error: Too much mail data"
        if _has_long_line(data, self.line_length_limit):
            return b"", "500 Line too long (see RFC5321 4.5.3.1.6)"
        if stuffed:  # RFC 5321 §4.5.2: the first dot of a line is removed
            data = data.replace(b"\r\n.", b"\r\n")
            data = data[1:] if data.startswith(b".") else data
        return data, None

    @staticmethod
    async def _drain_data(reader: asyncio.StreamReader) -> None:
        while True:
            try:
                if await reader.readuntil(b"\r\n") == b".\r\n":
                    return
            except asyncio.LimitOverrunError as exc:
                await reader.read(exc.consumed)


async def _until_final_dot(reader: asyncio.StreamReader, limit: int) -> tuple[bytes, bool] | None:
    """The message data after its first line, up to the line holding a lone dot (RFC 5321 §4.1.1.4;
    the CRLF before it kept, the dot line consumed, what follows left for the next command), and
    whether a line of it starts with a dot (so must be unstuffed); None beyond `limit` octets.

    The buffer starts at a line start. Its line-starting dots are found from the dots themselves
    (`find` of one octet runs at memory speed, and base64 has no dots) rather than by searching
    CRLF.CRLF, whose CRLF prefix matches at every line: that search and the unstuffing replace
    were each 0.2 ms of a 270 KB message. Text full of dots goes back to that search."""
    # asyncio.StreamReader's private buffer: the measured DATA fast path
    buf: bytearray = reader._buffer  # type: ignore[attr-defined]
    at, stuffed, stray = 0, False, 0
    while True:
        while True:
            if stray < 64:
                dot = buf.find(b".", at)
                if dot > 0 and buf[dot - 2 : dot] != b"\r\n":
                    stray, at = stray + 1, dot + 1
                    continue
            else:
                dot = buf.find(b"\r\n.", max(at - 2, 0))
                dot = dot + 2 if dot >= 0 else -1
            if dot < 0:
                at = max(len(buf) - 2, at)  # a CRLF may end the buffer: look there again
                break
            if len(buf) < dot + 3:
                at = dot  # the dot line is not all here yet
                break
            if buf[dot + 1 : dot + 3] == b"\r\n" and dot > 0:
                data = bytes(buf[:dot])
                del buf[: dot + 3]
                # asyncio.StreamReader's private buffer: the measured DATA fast path
                reader._maybe_resume_transport()  # type: ignore[attr-defined]
                return data, stuffed
            stuffed, at = True, dot + 1
        if len(buf) > limit:
            return None
        if reader.at_eof():
            raise asyncio.IncompleteReadError(bytes(buf), None)
        # asyncio.StreamReader's private buffer: the measured DATA fast path
        await reader._wait_for_data("readuntil")  # type: ignore[attr-defined]


# `<dot-atom@domain>` then the parameters (RFC 5321 §4.1.2 Mailbox with a Dot-string local part)
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_PLAIN_PATH = re.compile(
    rf"[ \t]*<({_ATEXT}(?:\.{_ATEXT})*@{_LABEL}(?:\.{_LABEL})*)>[ \t]*(.*)",
    re.ASCII | re.DOTALL,
)


def _has_long_line(data: bytes, limit: int) -> bool:
    """A line with its CRLF of `limit` octets or more (aiosmtpd's measure). A run of that many
    octets without LF covers a whole aligned block of half the limit, so when every such block
    holds an LF (a few `bytes.find`), no line is too long; otherwise the lines are measured. (A
    regex costs 100 ms here, splitting the message into its lines 0.2 ms.)"""
    if len(data) < limit:
        return False
    block = max(1, (limit - 1) // 2)
    if all(data.find(b"\n", start, start + block) >= 0 for start in range(0, len(data) - block + 1, block)):
        return False
    return max(map(len, data.split(b"\n"))) >= limit


def _reply(code: str, text: str) -> str:
    return f"{code} {text}"


class _Base:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self._open_mailboxes: dict[str, float] = {}  # local mailbox found active → when (monotonic)

    async def _trust(self, lookup: Callable, *args: str) -> Operator | None:
        """A trust-space lookup: inline while the registry is cached, else from a worker thread."""
        return lookup(*args) if self.rt.trust.cached() else await asyncio.to_thread(lookup, *args)

    def _relay(self, queued: Queued, raw: bytes) -> None:
        """Queued for another operator: handed to the running relay with its bytes, else the relay
        is woken to read it from the outbox."""
        if self.rt.outbound is not None:
            self.rt.outbound.hand_off(queued, raw)
        else:
            self.rt.wake.set()

    async def handle_exception(self, error: Exception) -> str:  # never the exception's text to the client
        logging.getLogger(__name__).exception("mss smtp", exc_info=error)
        return _reply("451", "4.3.0 Erreur temporaire du service, reessayer plus tard")

    def _stamped(self, server: MssSMTP, session, envelope) -> bytes:
        """The message with this hop's `Received` line on top (RFC 5321 §4.4), the rest as it came."""
        peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer or "")
        line = trace.received(
            helo=session.host_name,
            peer_ip=peer,
            by=self.rt.operator.domains[0],
            with_=trace.protocol(
                tls=server.under_tls(),
                authenticated=bool(session.authenticated),
                utf8=bool(envelope.smtp_utf8),
                extended=bool(session.extended_smtp),
            ),
            id_=trace.queue_id(),
            recipients=list(envelope.rcpt_tos),
        )
        return line + (envelope.original_content or envelope.content)

    async def _store(
        self, raw: bytes, envelope, local: list[str], remote: dict[str, list[str]], parsed: mime.Received
    ) -> str:
        actor = self.rt.actor()
        try:
            for address in local:
                await asyncio.to_thread(
                    self.rt.delivery.deliver, actor, address, raw, envelope.mail_from, parsed.message_id
                )
            for destination, recipients in remote.items():
                queued = await asyncio.to_thread(
                    self.rt.delivery.enqueue,
                    actor,
                    self.rt.operator.id,
                    destination,
                    envelope.mail_from,
                    recipients,
                    raw,
                    parsed.message_id,
                )
                self._relay(queued, raw)
        except DuplicateMessageId as exc:
            return _reply("554", f"5.6.0 {mime.ascii_text(exc.message)}")
        except NotFound:  # closed since RCPT accepted it (RECIPIENT_CACHE_SECONDS)
            return _reply("550", "5.1.1 BAL inconnue ou fermee")
        if citizen.TEST_MAILBOX in local and self.rt.has_espace is not None:  # it reads the attachments
            await self._answer_test(mime.parse(raw, max_bytes=self.rt.max_message_bytes))
        return _reply("250", f"2.0.0 Message {parsed.message_id} accepte")

    @staticmethod
    def _accepted_sender(envelope, sender: str, mail_options: list[str]) -> str:
        envelope.mail_from = sender
        envelope.mail_options.extend(mail_options)
        return _reply("250", "2.1.0 OK")

    @staticmethod
    def _recipient(envelope, address: str) -> tuple[str | None, str | None]:
        """(the normalised recipient, None) or (None, the refusal)."""
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return None, _reply("452", "4.5.3 Trop de destinataires")
        try:
            return normalise(address), None
        except MaisonError:
            return None, _reply("553", "5.1.3 Adresse de destinataire invalide")

    async def _unknown_local(self, recipient: str) -> str | None:
        if self.rt.has_espace is not None and domain_of(recipient) == mime.CITIZEN_DOMAIN:
            box = await asyncio.to_thread(
                citizen.citizen_mailbox, self.rt.mailboxes, self.rt.operator.id, recipient, self.rt.has_espace
            )
        else:
            seen = self._open_mailboxes.get(recipient)
            if seen is not None and time.monotonic() - seen < RECIPIENT_CACHE_SECONDS:
                return None
            box = await asyncio.to_thread(self.rt.mailboxes.find, recipient)
            if box is not None and box.active:
                self._open_mailboxes[recipient] = time.monotonic()
        return None if box is not None and box.active else _reply("550", f"5.1.1 {recipient} : BAL inconnue")

    async def _answer_test(self, parsed: mime.Received) -> None:
        """SUN-ES PS4.1: the citizen test mailbox answers every message (004 L706-712), its verdict
        recorded in the trail before the answer leaves."""
        verdict = citizen.judge_test(parsed)
        raw = citizen.test_answer(parsed, verdict)
        answer = mime.parse(raw, max_bytes=self.rt.max_message_bytes)
        await asyncio.to_thread(
            citizen.record_test, self.rt.delivery.db, self.rt.actor(), parsed, verdict, answer.message_id
        )
        if domain_of(parsed.sender) in self.rt.operator.domains:
            await asyncio.to_thread(
                self.rt.delivery.deliver, self.rt.actor(), parsed.sender, raw, citizen.TEST_MAILBOX, answer.message_id
            )
            return
        operator = await self._trust(self.rt.trust.for_domain, domain_of(parsed.sender))
        if operator is not None:
            queued = await asyncio.to_thread(
                self.rt.delivery.enqueue,
                self.rt.actor(),
                self.rt.operator.id,
                operator.id,
                citizen.TEST_MAILBOX,
                [parsed.sender],
                raw,
                answer.message_id,
            )
            self._relay(queued, raw)

    def _parsed(self, envelope) -> mime.Received | str:
        try:
            return mime.parse(
                envelope.original_content or envelope.content, max_bytes=self.rt.max_message_bytes, attachments=False
            )  # an operator carries attachments, it does not open them
        except mime.MalformedMessage as exc:
            return _reply("554", f"5.6.0 Message refuse : {mime.ascii_text(exc.message)}")


class SubmissionHandler(_Base):
    """Mail from this operator's users."""

    # --- AUTH -----------------------------------------------------------------------------------

    async def auth_PLAIN(self, server: SMTP, args: list[str]) -> AuthResult:
        """RFC 4616, answered off the event loop (the password hash costs tens of milliseconds)."""
        blob = await _initial(server, args)
        if blob is None:
            return AuthResult(success=False, handled=True)
        parts = blob.split("\x00")
        if len(parts) != 3:
            return AuthResult(success=False, handled=False, message="501 5.5.2 Reponse PLAIN mal formee")
        return await self._password(server, parts[1], parts[2])

    async def auth_LOGIN(self, server: SMTP, args: list[str]) -> AuthResult:
        login = await _initial(server, args, challenge="Username:")
        if login is None:
            return AuthResult(success=False, handled=True)
        password = await server.challenge_auth("Password:")
        if not isinstance(password, bytes):
            return AuthResult(success=False, handled=True)
        return await self._password(server, login, password.decode("utf-8", "replace"))

    async def _password(self, server: SMTP, login: str, password: str) -> AuthResult:
        """A password checked under the mailboxes' throttle (maison.core.lockout); while the address or
        this client is locked: 454 4.7.0, RFC 4954 §6's temporary failure (RFC 3463 X.7.0), so that a
        client does not take it for a wrong password."""
        assert server.session is not None  # AUTH is answered within a session
        peer = server.session.peer[0] if isinstance(server.session.peer, tuple) else str(server.session.peer or "")
        try:
            box = await asyncio.to_thread(
                self.rt.mailboxes.authenticate_password,
                login,
                password,
                source=peer,
                operator=self.rt.operator.id,
                via="smtp",
            )
        except Locked as exc:
            return AuthResult(
                success=False,
                handled=False,
                message=f"454 4.7.0 Trop d'echecs d'authentification : reessayer dans {exc.retry_after} s",
            )
        if box is None or box.operator != self.rt.operator.id:
            return AuthResult(success=False, handled=False, message="535 5.7.8 Identifiants refuses")
        return AuthResult(success=True, auth_data={"mailbox": box.address, "person": None})

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        blob = await _initial(server, args)
        if blob is None:
            return AuthResult(success=False, handled=True)
        fields = dict(part.split("=", 1) for part in blob.split("\x01") if "=" in part)
        return await self._bearer(server, fields.get("user", ""), fields.get("auth", ""), oauthbearer=False)

    async def auth_OAUTHBEARER(self, server: SMTP, args: list[str]) -> AuthResult:
        blob = await _initial(server, args)
        if blob is None:
            return AuthResult(success=False, handled=True)
        gs2, _, rest = blob.partition("\x01")
        authzid = (
            next((p[2:] for p in gs2.split(",") if p.startswith("a=")), "").replace("=2C", ",").replace("=3D", "=")
        )
        fields = dict(part.split("=", 1) for part in rest.split("\x01") if "=" in part)
        return await self._bearer(server, authzid, fields.get("auth", ""), oauthbearer=True)

    async def _bearer(self, server: SMTP, user: str, auth: str, *, oauthbearer: bool) -> AuthResult:
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        person = None
        if token:
            try:
                claims = await asyncio.to_thread(self.rt.psc.verify_access_token, token, self.rt.psc_issuer)
                person = claims.get("preferred_username")
            except OAuthError:
                person = None
        role = await asyncio.to_thread(self.rt.mailboxes.role_of, user, person) if person and user else None
        ok = bool(person) and role in SENDING_ROLES
        assert server.session is not None  # AUTH is answered within a session
        peer = server.session.peer[0] if isinstance(server.session.peer, tuple) else str(server.session.peer or "")
        await asyncio.to_thread(
            token_login,
            self.rt.mailboxes.trail,
            ok=ok,
            mailbox=user,
            person=person,
            via="smtp",
            mechanism="OAUTHBEARER" if oauthbearer else "XOAUTH2",
            source=peer,
        )
        if ok:
            return AuthResult(success=True, auth_data={"mailbox": normalise(user), "person": person})
        # RFC 7628 §3.2.2 / XOAUTH2: an error challenge in JSON, the client's empty answer, then 535
        status = "invalid_token" if oauthbearer else "401"
        await server.challenge_auth(f'{{"status":"{status}","schemes":"bearer","scope":"mssante"}}')
        return AuthResult(success=False, handled=False, message="535 5.7.8 Jeton refuse ou BAL non accessible")

    # --- envelope -------------------------------------------------------------------------------

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        auth = session.auth_data or {}
        try:
            sender = normalise(address)
        except MaisonError:
            return _reply("553", "5.1.7 Adresse d'expediteur invalide")
        allowed = auth.get("mailbox") == sender
        if not allowed and auth.get("person"):
            allowed = await asyncio.to_thread(self.rt.mailboxes.role_of, sender, auth["person"]) in SENDING_ROLES
        if not allowed:
            return _reply("553", f"5.7.1 {sender} n'est pas une BAL de l'utilisateur authentifie")
        return self._accepted_sender(envelope, sender, mail_options)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        recipient, refusal = self._recipient(envelope, address)
        if recipient is None:
            return refusal
        domain = domain_of(recipient)
        if domain in self.rt.operator.domains:
            refusal = await self._unknown_local(recipient)
            if refusal:
                return refusal
        elif await self._trust(self.rt.trust.for_domain, domain) is None:
            return _reply("550", f"5.7.1 {domain} hors de l'espace de confiance MSSante")
        envelope.rcpt_tos.append(recipient)
        return _reply("250", "2.1.5 OK")

    async def handle_DATA(self, server, session, envelope):
        parsed = self._parsed(envelope)
        if isinstance(parsed, str):
            return parsed
        if parsed.sender.lower() != envelope.mail_from:
            return _reply("550", "5.7.1 L'en-tete From doit etre l'expediteur authentifie")
        local = [r for r in envelope.rcpt_tos if domain_of(r) in self.rt.operator.domains]
        remote: dict[str, list[str]] = {}
        for r in envelope.rcpt_tos:
            if r not in local:
                operator = await self._trust(self.rt.trust.for_domain, domain_of(r))
                remote.setdefault(operator.id, []).append(r)
        return await self._store(self._stamped(server, session, envelope), envelope, local, remote, parsed)


class RelayHandler(_Base):
    """Mail from the other operators of the trust space, over mutual TLS."""

    async def _peer(self, server: SMTP) -> Operator | None:
        sslobj = server.transport.get_extra_info("ssl_object") if server.transport else None
        der = sslobj.getpeercert(binary_form=True) if sslobj else None
        if not der:
            return None
        return await self._trust(self.rt.trust.by_certificate, hashlib.sha256(der).hexdigest())

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        peer = await self._peer(server)
        if peer is None:
            return _reply("550", "5.7.1 Certificat client absent ou hors de l'espace de confiance MSSante")
        try:
            sender = normalise(address)
        except MaisonError:
            return _reply("553", "5.1.7 Adresse d'expediteur invalide")
        if domain_of(sender) not in peer.domains:
            return _reply("550", f"5.7.1 {domain_of(sender)} n'est pas un domaine de l'operateur {peer.id}")
        session.peer_operator = peer.id
        return self._accepted_sender(envelope, sender, mail_options)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        recipient, refusal = self._recipient(envelope, address)
        if recipient is None:
            return refusal
        if domain_of(recipient) not in self.rt.operator.domains:
            return _reply("554", "5.7.1 Relais refuse : domaine non servi par cet operateur")
        refusal = await self._unknown_local(recipient)
        if refusal:
            return refusal
        envelope.rcpt_tos.append(recipient)
        return _reply("250", "2.1.5 OK")

    async def handle_DATA(self, server, session, envelope):
        parsed = self._parsed(envelope)
        if isinstance(parsed, str):
            return parsed
        stamped = self._stamped(server, session, envelope)
        return await self._store(stamped, envelope, list(envelope.rcpt_tos), {}, parsed)


async def _initial(server: SMTP, args: list[str], challenge: str = "") -> str | None:
    """The SASL initial response (SASL-IR) or one `334 ` round trip; None if the client cancelled."""
    if len(args) > 1 and args[1] != "=":
        try:
            return base64.b64decode(args[1], validate=True).decode("utf-8", "replace")
        except ValueError:
            await server.push("501 5.5.2 Reponse initiale non base64")
            return None
    answer = await server.challenge_auth(challenge)
    if not isinstance(answer, bytes):
        return None
    return answer.decode("utf-8", "replace")


def _never(*_args) -> AuthResult:
    """aiosmtpd wants an authenticator; every mechanism is the handler's own (auth_PLAIN, …)."""
    return AuthResult(success=False, handled=False)


def tls_contexts(runtime: Runtime) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(submission: server auth only; relay: a client certificate requested, checked by the registry)."""
    submission = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    submission.minimum_version = ssl.TLSVersion.TLSv1_2
    submission.load_cert_chain(str(runtime.issued.cert), str(runtime.issued.key))
    relay = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(runtime.ca))
    relay.minimum_version = ssl.TLSVersion.TLSv1_2
    relay.load_cert_chain(str(runtime.issued.cert), str(runtime.issued.key))
    relay.verify_mode = ssl.CERT_OPTIONAL  # no certificate: refused at MAIL with a reply, not a dead handshake
    return harden(submission), harden(relay)  # AEAD suites only (issue 18 §3)


async def start(runtime: Runtime) -> None:
    """Listen for the operator's users and for the other operators, in the running loop."""
    loop = asyncio.get_running_loop()
    host = runtime.endpoints.host
    submission_tls, relay_tls = tls_contexts(runtime)
    hostname = runtime.operator.domains[0]
    common: dict[str, Any] = dict(
        hostname=hostname,
        ident="ESMTP pret",  # the greeting names no software and no version (aiosmtpd's: "Python SMTP 1.4.6")
        data_size_limit=runtime.max_message_bytes,
        enable_SMTPUTF8=True,
        decode_data=False,
        timeout=300,
    )
    submission = SubmissionHandler(runtime)
    relay = RelayHandler(runtime)
    # the operator's users: authenticated, under TLS — after STARTTLS, or from the first byte (RFC 8314 §3.3)
    users = dict(auth_required=True, auth_require_tls=True, authenticator=_never, **common)
    factories: dict[str, tuple[Any, ssl.SSLContext | None]] = {
        "soumission": (lambda: MssSMTP(submission, tls_context=submission_tls, require_starttls=True, **users), None),
        "relais": (lambda: MssSMTP(relay, tls_context=relay_tls, require_starttls=True, **common), None),
        "soumission-tls": (lambda: MssSMTP(submission, implicit_tls=True, **users), submission_tls),
    }
    for listener in listeners_of(runtime.endpoints):
        if listener.role not in factories:
            continue  # IMAP's (maison.partage.mss.imap)
        factory, implicit = factories[listener.role]
        tls: dict[str, Any] = dict(ssl=implicit, ssl_handshake_timeout=30) if implicit is not None else {}
        try:
            server = await loop.create_server(factory, host, listener.port, backlog=LISTEN_BACKLOG, **tls)
        except OSError as exc:  # the port taken, the address not this machine's: said, listener by listener
            raise ListenerUnavailable(runtime.operator.id, listener, exc.strerror or str(exc)) from exc
        runtime.servers.append(server)


async def stop(runtime: Runtime) -> None:
    for server in runtime.servers:
        server.close()  # no new connections; one still open (a relay cut short) must not hold the stop
        try:
            await asyncio.wait_for(server.wait_closed(), 2)
        except TimeoutError:
            pass
    runtime.servers.clear()
