"""IMAP access to MSSanté mailboxes (Twisted's imap4 server on the operator's asyncio loop).

Why Twisted and not Dovecot (docs/research/mssante-servers.md §2.4): every FETCH and STORE is a
call into Maison's store, so each reading of health data is authenticated, authorised and audited
like any other; all operators live in one process; no daemon to install. Twisted must be bound to
the running loop before anything imports its reactor (`install_reactor`).

Logins: LOGIN / AUTHENTICATE PLAIN with an applicative mailbox's password; AUTHENTICATE XOAUTH2 or
OAUTHBEARER with a Pro Santé Connect token for a person, naming the mailbox he opens (his own, a
shared one, or one delegated to him). STARTTLS is required before any login. The mailbox is the
account's INBOX. The limits a hostile client meets (nothing before TLS, bounded literals and
searches, missing parts) are `imap_guard.GuardedServer`'s. IDLE (RFC 2177) tells a session
`* n EXISTS` as soon as this process delivers to its mailbox, and within IDLE_CHECK_S for mail
another process wrote (Twisted offers IDLE but never tells anything in it). FETCH and STORE read
only the rows their set names, with sequence numbers the database computes.

Fixes to Twisted 26.10 (each covered by the imaplib tests): SASL challenges longer than 57 bytes
were split by newlines; FETCH BODY[] did not set \\Seen; BODY[] was rebuilt from parsed headers
unless the message offers `IMessageFile`; SEARCH on headers failed on Python 3 (SEARCH is answered
here); a message set's `last` can be set only once.
"""

from __future__ import annotations

import asyncio
import base64
import email
import email.parser
import email.policy
import email.utils
import io
import json
import logging
import re
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from zope.interface import Interface, implementer

from maison.core import audit
from maison.core.actor import Actor
from maison.core.lockout import Locked
from maison.identite.psc.provider import OAuthError
from maison.partage.mss import imap_structure as structure
from maison.partage.mss import store
from maison.partage.mss.logins import token_login
from maison.partage.mss.pki import twisted_server_options
from maison.partage.mss.smtp import LISTEN_BACKLOG, SENDING_ROLES, Runtime

log = logging.getLogger(__name__)
FLAG_KEYS = {
    b"SEEN": ("\\Seen", True),
    b"UNSEEN": ("\\Seen", False),
    b"FLAGGED": ("\\Flagged", True),
    b"UNFLAGGED": ("\\Flagged", False),
    b"DELETED": ("\\Deleted", True),
    b"UNDELETED": ("\\Deleted", False),
    b"ANSWERED": ("\\Answered", True),
    b"UNANSWERED": ("\\Answered", False),
    b"RECENT": ("\\Recent", True),
    b"NEW": ("\\Recent", True),
    b"DRAFT": ("\\Draft", True),
}
HEADER_KEYS = {b"SUBJECT", b"FROM", b"TO", b"CC", b"BCC"}
SENT = "Sent"  # every mailbox's folder for what its owner sent (RFC 6154 \\Sent), made at its first message
MAX_FOLDERS = 100  # folders a mailbox may hold besides INBOX and Sent
IDLE_CHECK_S = 2.0  # how often a session in IDLE reads its mailbox's count again (other processes' mail)
MAX_RANGES = 200  # ranges of a set selected by the database; beyond, every row is read and filtered


def install_reactor(loop: asyncio.AbstractEventLoop):
    """Bind Twisted to `loop` (once per process, before any import of its reactor)."""
    import sys

    if "twisted.internet.reactor" not in sys.modules:
        from twisted.internet import asyncioreactor

        asyncioreactor.install(loop)
    from twisted.internet import reactor

    return reactor


def listen(runtime: Runtime, port: int, host: str, *, implicit_tls: bool = False):
    """Start the operator's IMAP listener on the loop the reactor is bound to: STARTTLS (port 143's
    role), or TLS from the first byte with `implicit_tls` (port 993's, RFC 8314 §3.3)."""
    from twisted.cred import checkers, credentials, error, portal
    from twisted.internet import defer, protocol, reactor, task
    from twisted.mail import imap4
    from twisted.mail.interfaces import IChallengeResponse

    from maison.partage.mss.imap_guard import GuardedServer

    db, blobs = runtime.delivery.db, runtime.delivery.blobs
    trail = runtime.mailboxes.trail  # reads and token logins change nothing: recorded through the journal
    idling: dict[str, set[Mailbox]] = {}  # the mailboxes of this listener's sessions in IDLE

    def _delivered(address: str) -> None:  # on the loop: the sessions waiting on it hear of it
        for box in list(idling.get(address, ())):
            box.refresh()

    # a message delivered by this process (its SMTP): news for IDLE at once (RFC 2177)
    runtime.delivery.observers.append(lambda address: reactor.callFromThread(_delivered, address))  # type: ignore[attr-defined]

    def _off_loop(work, *args):
        return defer.Deferred.fromFuture(asyncio.ensure_future(asyncio.to_thread(work, *args)))

    def _mailbox_work(work, *args):
        """A mailbox command's work off the loop; an unexpected failure (the database, a blob) is
        logged and answered as the server's, never with the exception's text."""

        def guarded():
            try:
                return work(*args)
            except (imap4.MailboxException, imap4.IllegalQueryError, imap4.IllegalIdentifierError):
                raise
            except Exception:
                log.exception("IMAP %s : échec de %s", runtime.operator.id, getattr(work, "__name__", "commande"))
                raise imap4.MailboxException("[SERVERBUG] erreur interne du serveur") from None

        return _off_loop(guarded)

    @implementer(imap4.IMessage)
    class Part:
        def __init__(self, msg: email.message.Message) -> None:
            self.msg = msg

        def getHeaders(self, negate, *names):
            wanted = {n.lower() if isinstance(n, str) else n.decode().lower() for n in names}
            return {k.lower(): v for k, v in self.msg.items() if (k.lower() in wanted) != bool(negate)}

        def getBodyFile(self):
            raw = self.msg.as_bytes(policy=email.policy.SMTP)
            return io.BytesIO(raw.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in raw else b"")

        def getSize(self) -> int:
            return len(self.msg.as_bytes(policy=email.policy.SMTP))

        def isMultipart(self) -> bool:
            return self.msg.is_multipart()

        def getSubPart(self, part):
            return Part(self.msg.get_payload(part))

    @implementer(imap4.IMessage, imap4.IMessageFile)
    class Message(Part):
        """Served byte for byte from the blob (IMessageFile), never rebuilt.

        The blob is read, and parsed, only when a FETCH item needs it: FLAGS, UID, RFC822.SIZE and
        INTERNALDATE come from the row, BODY[] from the raw bytes, headers from a header-only parse.
        Parsing every fetched message whole (270 KB XDM mail) took 36 % of the operator's time in
        bench/mss.py, where the PFI fetches RFC822.SIZE and BODY.PEEK[] of each message."""

        def __init__(self, row: Any) -> None:  # Part's __init__ is not called: `msg` is lazy here
            self.row = row
            self._raw: bytes | None = None
            self._msg: email.message.Message | None = None
            self._structure: structure.Entity | None = None

        @property
        def raw(self) -> bytes:
            if self._raw is None:
                self._raw = blobs.get(self.row.sha256)
            return self._raw

        @property
        def structure(self) -> structure.Entity:
            """The message's MIME tree over its bytes (ENVELOPE, BODYSTRUCTURE, BODY[section])."""
            if self._structure is None:
                self._structure = structure.parse(self.raw)
            return self._structure

        @property
        def msg(self) -> email.message.Message:  # type: ignore[override]  # Part's attribute, computed here
            if self._msg is None:
                self._msg = email.message_from_bytes(self.raw, policy=email.policy.compat32)
            return self._msg

        def getHeaders(self, negate, *names):
            wanted = {n.lower() if isinstance(n, str) else n.decode().lower() for n in names}
            source = self._msg or email.parser.BytesParser(policy=email.policy.compat32).parsebytes(
                self.raw, headersonly=True
            )
            return {k.lower(): v for k, v in source.items() if (k.lower() in wanted) != bool(negate)}

        def open(self):
            return io.BytesIO(self.raw)

        def getBodyFile(self):
            return io.BytesIO(self.raw.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in self.raw else b"")

        def getSize(self) -> int:
            return self.row.size

        def getUID(self) -> int:
            return self.row.uid

        def getFlags(self) -> list[str]:
            return self.row.flags.split()

        def getInternalDate(self) -> str:
            return email.utils.format_datetime(datetime.fromisoformat(self.row.received_at))

    @implementer(imap4.IMailboxInfo, imap4.IMailbox, imap4.ICloseableMailbox, imap4.ISearchableMailbox)
    class Mailbox:
        """One folder of a mailbox, as a session selects it: INBOX (where the trust space delivers)
        or one the person made (CREATE), a Sent folder among them (RFC 6154)."""

        def __init__(self, address: str, actor: Actor, folder: str = store.INBOX) -> None:
            self.address, self.actor, self.folder = address, actor, folder
            self.listeners: list[Any] = []
            self._uids: dict[int, int] = {}  # sequence numbers → UIDs, of the last SEARCH or STORE
            self._told = -1  # the message count the session was last given (SELECT, EXISTS)
            self._refreshing = self._again = False

        def _rows(self) -> Sequence[Any]:
            with db.read() as conn:
                return store.messages_by_uid(conn, self.address, self.folder)

        def _box(self) -> Any:
            """(uidvalidity, uidnext) of the folder: the mailbox's for INBOX; a Sent folder not yet
            written to has the one it will be created with."""
            with db.read() as conn:
                if self.folder == store.INBOX:
                    return store.mailbox_one(conn, self.address)
                return store.folder(conn, self.address, self.folder) or _unborn(conn, self.address, self.folder)

        def getFlags(self) -> list[str]:
            return ["\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft"]

        def getHierarchicalDelimiter(self) -> str:
            return "/"

        def getUIDValidity(self) -> int:
            return self._box().uidvalidity

        def getUIDNext(self) -> int:
            return self._box().uidnext

        def _count(self) -> int:
            with db.read() as conn:
                return store.mailbox_extent(conn, self.address, self.folder)[0]

        def getMessageCount(self) -> int:
            self._told = self._count()
            return self._told

        def getRecentCount(self) -> int:
            with db.read() as conn:
                return store.count_flagged(conn, self.address, "\\Recent", present=True, folder=self.folder)

        def getUnseenCount(self) -> int:
            with db.read() as conn:
                return store.count_flagged(conn, self.address, "\\Seen", present=False, folder=self.folder)

        def isWriteable(self) -> bool:
            return True

        def destroy(self) -> None:
            raise imap4.MailboxException("Suppression de BAL interdite")

        def addListener(self, listener) -> None:
            self.listeners.append(listener)

        def removeListener(self, listener) -> None:
            if listener in self.listeners:
                self.listeners.remove(listener)
            if not self.listeners:
                self.idle(False)

        def idle(self, waiting: bool) -> None:
            """A session enters or leaves IDLE: only then does a delivery cost it a count (a session
            busy with commands learns of new mail by asking, as the PFI does between batches)."""
            if waiting and self.folder == store.INBOX:  # deliveries reach the INBOX only
                idling.setdefault(self.address, set()).add(self)
            elif self in idling.get(self.address, ()):
                idling[self.address].discard(self)
                if not idling[self.address]:
                    del idling[self.address]

        def refresh(self) -> None:
            """On the loop: the message count read again (in a worker thread) and, when it changed,
            told the session as an untagged EXISTS (RFC 3501 §7.3.1) — at once in IDLE (RFC 2177),
            else with its next command's answer (Twisted queues it). One read at a time: news
            arriving meanwhile reads again once it is done."""
            if self._refreshing:
                self._again = True
                return
            self._refreshing = True

            def done(result: Any) -> None:
                self._refreshing = False
                if isinstance(result, int) and result != self._told:
                    self._told = result
                    for listener in list(self.listeners):
                        listener.newMessages(result, None)
                if self._again:
                    self._again = False
                    self.refresh()

            _off_loop(self._count).addBoth(done)

        def getUID(self, seq: int) -> int:
            # UID SEARCH maps each result through here, on the loop: from the search's own rows,
            # not one query per result (a PFI's mailbox searched for `UNKEYWORD $Integre`)
            # (and a non-silent UID STORE answers each message's UID through here too)
            known = self._uids.get(seq)
            if known is not None:
                return known
            with db.read() as conn:
                found = store.messages_in(conn, self.address, [(seq, seq)], by_uid=False, folder=self.folder)
            if not found:
                raise imap4.MailboxException(f"message {seq} inexistant")
            return int(found[0][1].uid)

        def requestStatus(self, names):
            return imap4.statusRequestHelper(self, names)

        def addMessage(self, message, flags, date=None):
            """APPEND (RFC 3501 §6.3.11): into a folder of the person's, never the INBOX."""
            return _mailbox_work(self._append, message, list(flags), date)

        def _append(self, message: Any, flags: list[str], date: Any) -> int:
            try:  # the literal (spooled to a file past 1 MB) is released whatever happens
                _writable(self.folder)
                raw = message.read()
            finally:
                message.close()
            digest = blobs.put(raw)
            when = _internal_date(date)
            with db.write() as conn:
                uid = _take_uids(conn, self.address, self.folder, 1)
                header = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(raw, headersonly=True)
                message_id = str(header.get("message-id", "")).strip()[:256]
                kept = " ".join(sorted({f for f in flags if f != "\\Recent"} | {"\\Recent"}))
                store.insert_messages(
                    conn,
                    [
                        dict(
                            address=self.address,
                            folder=self.folder,
                            uid=uid,
                            message_id=message_id,
                            sha256=digest,
                            size=len(raw),
                            sender="",
                            flags=kept,
                            received_at=when,
                        )
                    ],
                )
                audit.Trail.write(
                    conn, self.actor, "mss.deposer", detail={"bal": self.address, "dossier": self.folder, "uid": uid}
                )
            return uid

        def transfer(self, messages, uid: bool, target: str, *, move: bool) -> Any:
            """COPY (RFC 3501 §6.4.7) or MOVE (RFC 6851): one transaction; the new UIDs and, for a
            move, the sequence numbers expunged here (highest first)."""
            return _mailbox_work(self._transfer, messages, uid, target, move)

        def _transfer(self, messages, uid: bool, target: str, move: bool) -> tuple[list[int], list[int], list[int]]:
            _writable(target)
            if target == self.folder:
                raise imap4.MailboxException("[CANNOT] dossier de destination identique a la source")
            self._uids = {}
            with db.write() as conn:
                if target != store.INBOX and store.folder(conn, self.address, target) is None:
                    if target != SENT:
                        raise imap4.MailboxException("[TRYCREATE] dossier inexistant")
                selected = self._select_in(conn, messages, uid)
                if not selected:
                    return [], [], []
                first = _take_uids(conn, self.address, target, len(selected))
                rows = [
                    dict(
                        address=self.address,
                        folder=target,
                        uid=first + i,
                        message_id=r.message_id,
                        sha256=r.sha256,
                        size=r.size,
                        sender=r.sender,
                        flags=" ".join(sorted(set(r.flags.split()) | {"\\Recent"})),
                        received_at=r.received_at,
                    )
                    for i, (_seq, r) in enumerate(selected)
                ]
                store.insert_messages(conn, rows)
                if move:
                    store.expunge(conn, self.address, [r.uid for _s, r in selected], self.folder)
                audit.Trail.write(
                    conn,
                    self.actor,
                    "mss.deplacer" if move else "mss.copier",
                    detail={
                        "bal": self.address,
                        "de": self.folder,
                        "vers": target,
                        "uids": [r.uid for _s, r in selected][:200],
                    },
                )
            return (
                [r.uid for _s, r in selected],
                [row["uid"] for row in rows],
                sorted((s for s, _r in selected), reverse=True),
            )

        def _select(self, messages, uid: bool) -> list[tuple[int, Any]]:
            with db.read() as conn:
                return self._select_in(conn, messages, uid)

        def _select_in(self, conn: Any, messages, uid: bool) -> list[tuple[int, Any]]:
            """The messages a set names, with their sequence numbers: the database selects them
            (reading every row of the mailbox for each command took a seventh of the hospital
            operator's time in bench/mss.py, its PFI's mailbox holding every message integrated)."""
            count, top = store.mailbox_extent(conn, self.address, self.folder)
            if not count:
                return []
            try:
                messages.last = top if uid else count  # what `*` stands for
            except ValueError:  # already set by an earlier use of the same set
                pass
            if len(messages.ranges) <= MAX_RANGES:
                return store.messages_in(conn, self.address, list(messages.ranges), by_uid=uid, folder=self.folder)
            every = store.messages_in(conn, self.address, [(1, top if uid else count)], by_uid=uid, folder=self.folder)
            return [(seq, r) for seq, r in every if (r.uid if uid else seq) in messages]

        # FETCH, STORE, EXPUNGE, SEARCH and CLOSE read the database and the blobs in a worker
        # thread (Twisted accepts a Deferred from each): the loop keeps serving SMTP and IMAP.
        def fetch(self, messages, uid):
            return _mailbox_work(self._fetch, messages, uid)

        def store(self, messages, flags, mode, uid):
            return _mailbox_work(self._store, messages, flags, mode, uid)

        def expunge(self):
            return _mailbox_work(self._expunge)

        def search(self, query, uid):
            return _mailbox_work(self._search, query, uid)

        def close(self):
            return _mailbox_work(self._close)

        def _fetch(self, messages, uid):
            selected = self._select(messages, uid)
            if selected:  # reading health data: audited, one record per command, group-committed
                where = {} if self.folder == store.INBOX else {"dossier": self.folder}
                trail.read(
                    self.actor,
                    "mss.lire",
                    detail={"bal": self.address, **where, "uids": [r.uid for _s, r in selected][:200]},
                )
            return [(seq, Message(r)) for seq, r in selected]

        def _store(self, messages, flags, mode, uid):
            """STORE in the group commit's transaction, with the deliveries being committed: a PFI
            flags each batch it integrated, and a write of its own would wait for SQLite's one write
            lock and fsync alone."""
            self._uids = {}

            def work(conn):
                out, changed = {}, {}
                for seq, r in self._select_in(conn, messages, uid):
                    current = set(r.flags.split())
                    new = (
                        set(flags) | (current & {"\\Recent"})
                        if mode == 0
                        else (current | set(flags) if mode == 1 else current - set(flags))
                    )
                    if new != current:
                        changed[r.uid] = " ".join(sorted(new))
                    out[seq] = sorted(new)
                    self._uids[seq] = r.uid
                store.set_flags_of(conn, self.address, changed, self.folder)
                return out, [], []

            return runtime.delivery.group.run(work)

        def _expunge(self) -> list[int]:
            self._uids = {}  # sequence numbers move up
            gone = [r.uid for r in self._rows() if "\\Deleted" in r.flags.split()]
            if gone:
                with db.write() as conn:
                    store.expunge(conn, self.address, gone, self.folder)
                    audit.Trail.write(
                        conn,
                        self.actor,
                        "mss.supprimer",
                        detail={"bal": self.address, "dossier": self.folder, "uids": gone},
                    )
            return gone

        def _search(self, query, uid):
            named = _leading_uid_set(query)
            with db.read() as conn:
                if named is None:  # every message is a candidate
                    rows = list(enumerate(store.flags_by_uid(conn, self.address, self.folder), 1))
                else:  # `UID <set> …` first (the PFI's `UID n:* UNKEYWORD $Integre`): those rows only
                    named.last = store.mailbox_extent(conn, self.address, self.folder)[1]
                    rows = store.messages_in(conn, self.address, list(named.ranges), by_uid=True, folder=self.folder)
            out = []
            self._uids = {seq: row.uid for seq, row in rows}
            # a search on flags and keywords alone reads no message (the PFI's, at every turn)
            content = any(
                isinstance(k, bytes) and (k.upper() in HEADER_KEYS | {b"HEADER", b"BODY", b"TEXT"})
                for k in _flat(query)
            )
            for seq, row in rows:
                q = list(query)
                raw = blobs.get(row.sha256) if content else b""
                parsed = email.message_from_bytes(raw, policy=email.policy.default) if content else None
                # the lambda runs within this iteration (q consumed by _matches)
                if all(_matches(q, seq, row, raw, parsed) for _ in iter(lambda: bool(q), False)):  # noqa: B023
                    out.append(seq)
            return out

        def _close(self) -> None:  # \Recent lasts one session
            with db.write() as conn:
                for r in self._rows():
                    if "\\Recent" in r.flags.split():
                        kept = " ".join(f for f in r.flags.split() if f != "\\Recent")
                        store.set_flags(conn, self.address, r.uid, kept, self.folder)

    def _matches(query: list, seq: int, row: Any, raw: bytes, parsed) -> bool:
        key = query.pop(0)
        if isinstance(key, list):
            return all(_matches(key, seq, row, raw, parsed) for _ in iter(lambda: bool(key), False))
        key = key.upper()
        if key == b"ALL":
            return True
        if key in FLAG_KEYS:
            flag, present = FLAG_KEYS[key]
            return (flag in row.flags.split()) == present
        if key in (b"KEYWORD", b"UNKEYWORD"):  # RFC 3501 §6.4.4 (e.g. a PFI's `$Integre`)
            return (query.pop(0).decode() in row.flags.split()) == (key == b"KEYWORD")
        if key in HEADER_KEYS:
            return query.pop(0).decode().lower() in str(parsed.get(key.decode(), "")).lower()
        if key == b"HEADER":
            name, value = query.pop(0).decode(), query.pop(0).decode()
            return value.lower() in str(parsed.get(name, "")).lower()
        if key in (b"BODY", b"TEXT"):
            return query.pop(0).lower() in raw.lower()
        if key == b"NOT":
            return not _matches(query, seq, row, raw, parsed)
        if key == b"OR":
            first = _matches(query, seq, row, raw, parsed)
            return _matches(query, seq, row, raw, parsed) or first
        if key == b"UID":
            wanted = imap4.parseIdList(query.pop(0))
            wanted.last = row.uid
            return row.uid in wanted
        if key[:1].isdigit() or key[:1] == b"*":
            wanted = imap4.parseIdList(key)
            wanted.last = seq
            return seq in wanted
        raise imap4.IllegalQueryError(f"critère de recherche non pris en charge : {key.decode()}")

    def _folder_name(name: str) -> str:
        """A folder name a client gave (Twisted decoded its modified UTF-7, RFC 3501 §5.1.3): INBOX
        in any case is INBOX; no wildcard, control character or empty level; at most 200 characters."""
        if name.upper() == store.INBOX:
            return store.INBOX
        levels = name.split("/")
        if (
            not name
            or len(name) > 200
            or any(not level.strip() for level in levels)
            or any(c in name for c in "*%")
            or any(ord(c) < 32 or ord(c) == 127 for c in name)
        ):
            raise imap4.MailboxException("[CANNOT] nom de dossier invalide")
        return name

    def _writable(folder: str) -> None:
        """The INBOX receives only what the trust space delivered (traced, audited `mss.remettre`):
        APPEND, COPY and MOVE into it would let a message appear received that was not."""
        if folder == store.INBOX:
            raise imap4.MailboxException("[CANNOT] l'INBOX ne recoit que le courrier remis par l'espace de confiance")

    def _unborn(conn: Any, address: str, folder: str) -> Any:
        """The Sent folder before its first message: the UIDVALIDITY it will be created with."""
        if folder != SENT:
            raise imap4.MailboxException("[NONEXISTENT] dossier inexistant")
        box = store.mailbox_one(conn, address)
        return type("Unborn", (), {"uidvalidity": box.uidvalidity + 1, "uidnext": 1})

    def _take_uids(conn: Any, address: str, folder: str, count: int) -> int:
        """The first of `count` new UIDs of a folder (its row locked till the commit; the Sent folder
        made on its first message)."""
        row = store.folder(conn, address, folder, lock=True)
        if row is None:
            if folder != SENT:
                raise imap4.MailboxException("[TRYCREATE] dossier inexistant")
            store.create_folder(conn, address, folder, store.mailbox_one(conn, address).uidvalidity + 1, _now())
            row = store.folder(conn, address, folder, lock=True)
            assert row is not None  # made just now, in this transaction
        store.set_folder_uidnext(conn, address, folder, row.uidnext + count)
        return int(row.uidnext)

    def _internal_date(date: Any) -> str:
        """APPEND's date-time (RFC 3501 §6.3.11), else now: the message's INTERNALDATE."""
        if date:
            try:
                parsed = email.utils.parsedate_to_datetime(date.decode() if isinstance(date, bytes) else str(date))
                if parsed.tzinfo is not None:
                    return parsed.isoformat()
            except (TypeError, ValueError):
                pass
        return _now()

    def _now() -> str:
        return datetime.now(UTC).isoformat()

    def _literal(data: bytes) -> bytes:
        return b"{%d}\r\n" % len(data) + data

    def _section_bytes(message: structure.Entity, part: Any) -> bytes:
        """The octets of BODY[n.n…(HEADER|HEADER.FIELDS (…)|TEXT|MIME)] (RFC 3501 §6.4.5)."""
        try:
            entity = structure.section(message, [n + 1 for n in part.part])
        except structure.SectionError:
            return b""  # RFC 3501 §6.4.5 has no error for it; Dovecot answers an empty string too
        if part.mime:  # the part's own MIME header
            return entity.header
        if part.part and (part.header or part.text):  # HEADER/TEXT of a part: of the message it carries
            if entity.embedded is None:
                return b""
            entity = entity.embedded
        if part.header:
            if not part.header.fields:
                return entity.header
            names = [n.decode("ascii", "replace") if isinstance(n, bytes) else n for n in part.header.fields]
            return structure.header_fields(entity.header, names, negate=bool(part.header.negate))
        if part.text:
            return entity.body
        return entity.body if part.part else entity.raw

    def _leading_uid_set(query: list) -> Any:
        """The UID set of a search whose first criterion is `UID <set>` (ANDed with the rest, RFC 3501
        §6.4.4) when it has few enough ranges for the database to select; else None."""
        if len(query) < 2 or not isinstance(query[0], bytes) or query[0].upper() != b"UID":
            return None
        try:
            named = imap4.parseIdList(query[1])
        except (imap4.IllegalIdentifierError, TypeError, ValueError):
            return None  # the criterion itself answers the error, as before
        return named if len(named.ranges) <= MAX_RANGES else None

    def _flat(query: list) -> list:
        return [k for item in query for k in (_flat(item) if isinstance(item, list) else [item])]

    @implementer(imap4.IAccount)
    class Account:
        """A mailbox's folders: INBOX, Sent (RFC 6154) and those its owner made; every folder is
        subscribed (LSUB lists them all, SUBSCRIBE and UNSUBSCRIBE change nothing)."""

        def __init__(self, address: str, actor: Actor) -> None:
            self.address, self.actor = address, actor

        def names(self) -> list[str]:
            with db.read() as conn:
                made = [row.name for row in store.folders(conn, self.address)]
            return [store.INBOX, *sorted(set(made) | {SENT})]

        def select(self, name: str, rw: bool = True) -> Any:
            try:
                folder = _folder_name(name)
            except imap4.MailboxException:
                return None  # no folder has such a name
            return Mailbox(self.address, self.actor, folder) if folder in self.names() else None

        def listMailboxes(self, ref: str, wildcard: str) -> list[tuple[str, Any]]:
            """LIST (RFC 3501 §6.3.8): `*` matches across levels, `%` within one; names are matched
            whole and case-sensitively, INBOX in any case."""
            spec = ref + wildcard if ref and not wildcard.startswith("/") else wildcard
            pattern = imap4.wildcardToRegexp(spec, "/").pattern
            exact, inbox = re.compile(pattern), re.compile(pattern, re.IGNORECASE)
            return [(n, None) for n in self.names() if (inbox if n == store.INBOX else exact).fullmatch(n)]

        def attributes(self, name: str, names: list[str]) -> list[bytes]:
            """LIST's attributes (RFC 3501 §7.2.2, RFC 3348 children, RFC 6154 \\Sent)."""
            children = any(other.startswith(name + "/") for other in names)
            out = [b"\\HasChildren" if children else b"\\HasNoChildren"]
            return out + ([b"\\Sent"] if name == SENT else [])

        def isSubscribed(self, name: str) -> bool:
            return True

        def subscribe(self, name: str) -> bool:
            return True

        def unsubscribe(self, name: str) -> bool:
            return True

        def create(self, name: str) -> bool:
            """CREATE (RFC 3501 §6.3.3): the folder and any level above it not there yet."""
            folder = _folder_name(name.rstrip("/"))
            if folder in (store.INBOX, SENT):
                raise imap4.MailboxException("[ALREADYEXISTS] dossier deja present")
            levels = folder.split("/")
            with db.write() as conn:
                known = {row.name for row in store.folders(conn, self.address)}
                if folder in known:
                    raise imap4.MailboxException("[ALREADYEXISTS] dossier deja present")
                wanted = [p for p in ("/".join(levels[: i + 1]) for i in range(len(levels))) if p not in known]
                if len(known) + len(wanted) > MAX_FOLDERS:
                    raise imap4.MailboxException(f"[LIMIT] {MAX_FOLDERS} dossiers au plus")
                base = store.mailbox_one(conn, self.address).uidvalidity
                for path in wanted:  # a UIDVALIDITY never given before to that name (RFC 3501 §2.3.1.1)
                    store.create_folder(conn, self.address, path, max(base + 2, int(time.time())), _now())
                audit.Trail.write(
                    conn, self.actor, "mss.dossier.creer", detail={"bal": self.address, "dossiers": wanted}
                )
            return True

        def delete(self, name: str) -> None:
            """DELETE (RFC 3501 §6.3.4): the folder and its messages; INBOX and a folder with
            folders below it stay."""
            folder = _folder_name(name)
            if folder == store.INBOX:
                raise imap4.MailboxException("[CANNOT] l'INBOX ne se supprime pas")
            with db.write() as conn:
                known = {row.name for row in store.folders(conn, self.address)}
                if folder not in known:
                    raise imap4.MailboxException("[NONEXISTENT] dossier inexistant")
                if any(other.startswith(folder + "/") for other in known):
                    raise imap4.MailboxException("[CANNOT] le dossier contient d'autres dossiers")
                gone = store.delete_folder(conn, self.address, folder)
                audit.Trail.write(
                    conn,
                    self.actor,
                    "mss.dossier.supprimer",
                    detail={"bal": self.address, "dossier": folder, "messages": gone},
                )

        def rename(self, old: str, new: str) -> None:
            """RENAME (RFC 3501 §6.3.5): with the folders below it; INBOX is not renamed."""
            source, target = _folder_name(old), _folder_name(new.rstrip("/"))
            if store.INBOX in (source, target):
                raise imap4.MailboxException("[CANNOT] l'INBOX ne se renomme pas")
            with db.write() as conn:
                known = {row.name for row in store.folders(conn, self.address)}
                if source not in known:
                    raise imap4.MailboxException("[NONEXISTENT] dossier inexistant")
                if target in known or target == SENT:
                    raise imap4.MailboxException("[ALREADYEXISTS] dossier deja present")
                for name in sorted(n for n in known if n == source or n.startswith(source + "/")):
                    store.rename_folder(conn, self.address, name, target + name[len(source) :])
                audit.Trail.write(
                    conn,
                    self.actor,
                    "mss.dossier.renommer",
                    detail={"bal": self.address, "dossier": source, "nouveau": target},
                )

    @implementer(portal.IRealm)
    class Realm:
        def requestAvatar(self, avatar_id, mind, *interfaces):
            if imap4.IAccount not in interfaces:  # twisted.cred's contract for an interface a realm lacks
                raise NotImplementedError("seul l'accès IMAP (IAccount) est servi")
            address, person = json.loads(avatar_id)
            box = runtime.mailboxes.get(address)
            actor = Actor(person=person or address, structure=box.owner if box.kind != "PER" else "", software="imap")
            return imap4.IAccount, Account(address, actor), lambda: None

    def _avatar(address: str, person: str | None) -> bytes:
        return json.dumps([address, person]).encode()

    @implementer(checkers.ICredentialsChecker)
    class PasswordChecker:
        credentialInterfaces = (credentials.IUsernamePassword,)

        def requestAvatarId(self, c):
            async def check() -> bytes:
                try:  # one throttle with SMTP AUTH, per address and per client (maison.core.lockout)
                    box = await asyncio.to_thread(
                        runtime.mailboxes.authenticate_password,
                        c.username.decode("utf-8", "replace"),
                        c.password.decode("utf-8", "replace"),
                        source=getattr(c, "source", ""),
                        operator=runtime.operator.id,
                        via="imap",
                    )
                except Locked as exc:
                    raise Throttled(exc.retry_after) from None
                if box is None or box.operator != runtime.operator.id:
                    raise error.UnauthorizedLogin()
                return _avatar(box.address, None)

            return defer.Deferred.fromFuture(asyncio.ensure_future(check()))

    class Throttled(error.UnauthorizedLogin):
        """The address or the client is locked for a while: answered `NO [UNAVAILABLE]` (RFC 5530 §3,
        a temporary failure: a client must not take it for a wrong password and prompt again)."""

        def __init__(self, retry_after: int) -> None:
            super().__init__(retry_after)
            self.retry_after = retry_after

    class IBearer(Interface):
        """A mailbox and a Pro Santé Connect token, from XOAUTH2 or OAUTHBEARER."""

    @implementer(IChallengeResponse, IBearer)
    class Xoauth2:
        def __init__(self) -> None:
            self.user = self.person = None
            self.error_sent = self.refused = False

        def getChallenge(self) -> bytes:
            if self.user is None and not self.refused:
                return b""
            self.error_sent = True
            return json.dumps(self.error()).encode()

        def error(self) -> dict:
            return {"status": "401", "schemes": "bearer", "scope": "mssante"}

        def parse(self, text: str) -> tuple[str | None, str]:
            fields = dict(p.split("=", 1) for p in text.split("\x01") if "=" in p)
            scheme, _, token = fields.get("auth", "").partition(" ")
            return fields.get("user"), token if scheme.lower() == "bearer" else ""

        def setResponse(self, response: bytes) -> None:
            if self.error_sent:
                return
            try:
                # Twisted declares the authenticator's user None
                self.user, token = self.parse(response.decode("utf-8"))  # type: ignore[assignment]
                claims = runtime.psc.verify_access_token(token, runtime.psc_issuer)
                self.person = claims.get("preferred_username")
                role = runtime.mailboxes.role_of(self.user or "", self.person) if self.user else None
                self.refused = role not in SENDING_ROLES
            except (UnicodeDecodeError, ValueError, OAuthError, Exception):  # noqa: BLE001 - any failure refuses
                self.refused = True

        def moreChallenges(self) -> bool:
            return self.refused and not self.error_sent

    @implementer(IChallengeResponse, IBearer)
    class OAuthBearer(Xoauth2):
        def error(self) -> dict:
            return {
                "status": "invalid_token",
                "scope": "mssante",
                "openid-configuration": f"{runtime.psc_issuer}/.well-known/openid-configuration",
            }

        def parse(self, text: str) -> tuple[str | None, str]:
            gs2, _, rest = text.partition("\x01")
            authzid = next((a[2:] for a in gs2.split(",")[1:] if a.startswith("a=")), None)
            return authzid, super().parse(rest)[1]

    @implementer(checkers.ICredentialsChecker)
    class BearerChecker:
        credentialInterfaces = (IBearer,)

        def requestAvatarId(self, c):
            ok = not c.refused and bool(c.user) and bool(c.person)
            recorded = _off_loop(
                lambda: token_login(
                    trail,
                    ok=ok,
                    mailbox=c.user or "",
                    person=c.person,
                    via="imap",
                    mechanism="OAUTHBEARER" if isinstance(c, OAuthBearer) else "XOAUTH2",
                    source=getattr(c, "source", ""),
                )
            )
            if not ok:
                return recorded.addCallback(lambda _: defer.fail(error.UnauthorizedLogin()))
            return recorded.addCallback(lambda _: _avatar(c.user.lower(), c.person))

    class Server(GuardedServer):
        # --- SELECT (RFC 3501 §6.3.1, RFC 9051 §6.3.2): what a client needs to cache by UID --------------

        def _cbSelectWork(self, mbox, cmdName, tag):
            if mbox is None:
                self.sendNegativeResponse(tag, b"[NONEXISTENT] dossier inexistant")
                return
            flags = " ".join(mbox.getFlags()).encode()
            self.sendUntaggedResponse(b"%d EXISTS" % mbox.getMessageCount())
            self.sendUntaggedResponse(b"%d RECENT" % mbox.getRecentCount())
            self.sendUntaggedResponse(b"FLAGS (" + flags + b")")
            self.sendPositiveResponse(None, b"[PERMANENTFLAGS (" + flags + b" \\*)] drapeaux et mots-cles conserves")
            self.sendPositiveResponse(None, b"[UIDVALIDITY %d] UID valides" % mbox.getUIDValidity())
            self.sendPositiveResponse(None, b"[UIDNEXT %d] prochain UID" % mbox.getUIDNext())
            writeable = mbox.isWriteable() and cmdName == b"SELECT"
            mbox.addListener(self)
            self.sendPositiveResponse(
                tag, b"[" + (b"READ-WRITE" if writeable else b"READ-ONLY") + b"] " + cmdName + b" termine"
            )
            self.state = "select"
            self.mbox = mbox

        # --- folders (RFC 3501 §6.3.3-6.3.9, §6.4.7; RFC 6851 MOVE; RFC 6154 SPECIAL-USE) -------------

        def capabilities(self) -> dict:
            caps = super().capabilities()
            caps[b"MOVE"] = None
            caps[b"SPECIAL-USE"] = None
            return caps

        def _answer(self, tag: bytes, done: bytes, work, *args) -> None:
            """A folder command's work off the loop: OK `done`, else NO with the refusal's own words."""
            d = _mailbox_work(work, *args)
            d.addCallback(lambda _r: self.sendPositiveResponse(tag, done))
            d.addErrback(lambda f: self.sendNegativeResponse(tag, str(f.value).encode("ascii", "replace")))

        def do_CREATE(self, tag, name):
            self._answer(tag, b"CREATE termine", self.account.create, imap4._parseMbox(name))

        def do_DELETE(self, tag, name):
            self._answer(tag, b"DELETE termine", self.account.delete, imap4._parseMbox(name))

        def do_RENAME(self, tag, old, new):
            self._answer(tag, b"RENAME termine", self.account.rename, imap4._parseMbox(old), imap4._parseMbox(new))

        auth_CREATE = select_CREATE = (do_CREATE, imap4.IMAP4Server.arg_finalastring)  # type: ignore[assignment]
        auth_DELETE = select_DELETE = (do_DELETE, imap4.IMAP4Server.arg_finalastring)  # type: ignore[assignment]
        auth_RENAME = select_RENAME = (do_RENAME, imap4.IMAP4Server.arg_astring, imap4.IMAP4Server.arg_finalastring)  # type: ignore[assignment]

        def _cbListWork(self, mailboxes, tag, sub, cmdName):
            names = self.account.names()
            for name, _box in mailboxes:
                attributes = b" ".join(self.account.attributes(name, names))
                self.sendUntaggedResponse(
                    cmdName + b" (" + attributes + b') "/" ' + imap4._quote(name.encode("imap4-utf-7"))
                )
            self.sendPositiveResponse(tag, cmdName + b" termine")

        def _cbAppendGotMailbox(self, mbox, tag, flags, date, message):
            if not mbox:
                message.close()
                self.sendNegativeResponse(tag, b"[TRYCREATE] dossier inexistant")
                return
            d = mbox.addMessage(message, [f.decode() if isinstance(f, bytes) else f for f in flags or ()], date)
            d.addCallback(lambda _uid: self.sendPositiveResponse(tag, b"APPEND termine"))
            d.addErrback(lambda f: self.sendNegativeResponse(tag, str(f.value).encode("ascii", "replace")))

        def _transfer(self, tag, messages, mailbox, uid, *, move: bool) -> None:
            name = b"MOVE" if move else b"COPY"
            try:
                target = _folder_name(imap4._parseMbox(mailbox))
            except imap4.MailboxException as refused:
                self.sendNegativeResponse(tag, str(refused).encode("ascii", "replace"))
                return
            source: Any = self.mbox  # selected state: Twisted's mbox is set
            d = source.transfer(messages, bool(uid), target, move=move)

            def done(result) -> None:
                _old, _new, expunged = result
                for seq in expunged:  # highest first: each number still right when it is told
                    self.sendUntaggedResponse(b"%d EXPUNGE" % seq)
                if expunged:
                    source._told = max(source._told - len(expunged), 0)
                self.sendPositiveResponse(tag, name + b" termine")

            d.addCallback(done)
            d.addErrback(lambda f: self.sendNegativeResponse(tag, str(f.value).encode("ascii", "replace")))

        def do_COPY(self, tag, messages, mailbox, uid=0):
            self._transfer(tag, messages, mailbox, uid, move=False)

        def do_MOVE(self, tag, messages, mailbox, uid=0):
            self._transfer(tag, messages, mailbox, uid, move=True)

        select_COPY = (do_COPY, imap4.IMAP4Server.arg_seqset, imap4.IMAP4Server.arg_finalastring)  # type: ignore[assignment]
        select_MOVE = (do_MOVE, imap4.IMAP4Server.arg_seqset, imap4.IMAP4Server.arg_finalastring)

        def do_UID(self, tag, command, line):
            if command.upper() == b"MOVE":  # Twisted's UID knows COPY, FETCH, STORE and SEARCH
                self.dispatchCommand(tag, b"MOVE", line, uid=1)
                return
            super().do_UID(tag, command, line)

        select_UID = (do_UID, imap4.IMAP4Server.arg_atom, imap4.IMAP4Server.arg_line)  # type: ignore[assignment]

        # --- what FETCH tells of a message, from its bytes (imap_structure) -----------------------------

        def spew_envelope(self, id, msg, _w=None, _f=None):
            (_w or self.transport.write)(b"ENVELOPE " + structure.envelope(msg.structure))

        def spew_bodystructure(self, id, msg, _w=None, _f=None):
            (_w or self.transport.write)(b"BODYSTRUCTURE " + structure.body_structure(msg.structure, extended=True))

        def spew_rfc822header(self, id, msg, _w=None, _f=None):
            (_w or self.transport.write)(b"RFC822.HEADER " + _literal(msg.structure.header))

        def spew_rfc822text(self, id, msg, _w=None, _f=None):
            (_w or self.transport.write)(b"RFC822.TEXT " + _literal(msg.structure.body))

        def spew_body(self, part, id, msg, _w=None, _f=None):
            """BODY (the structure) or BODY[section]<partial> (RFC 3501 §6.4.5): the whole message goes
            out from the blob as it is; any other section from the parsed bytes, a partial fetch
            answered `BODY[section]<origin>` with the octets asked for."""
            write = _w or self.transport.write
            whole = part.empty and not part.part
            if not (part.header or part.text or part.mime or part.empty):
                write(b"BODY " + structure.body_structure(msg.structure, extended=False))
                return None
            if whole and part.partialBegin is None:
                return super().spew_body(part, id, msg, _w, _f)  # streamed from the blob
            data = msg.raw if whole else _section_bytes(msg.structure, part)
            begin, length = part.partialBegin, part.partialLength
            part.partialBegin = None  # the label without Twisted's <start.length>
            label = part.__bytes__()
            part.partialBegin = begin
            if begin is not None:
                data, label = data[begin : begin + length], label + b"<%d>" % begin
            write(label + b" " + _literal(data))
            return None

        # --- IDLE (RFC 2177): news of this process's deliveries at once, of others' within IDLE_CHECK_S

        _idle_check: Any = None

        def do_IDLE(self, tag):
            super().do_IDLE(tag)
            if self.mbox is not None:
                self.mbox.idle(True)  # this process's deliveries tell it at once
                # what came before, and deliveries by another process (the Mon espace santé messaging)
                self._idle_check = task.LoopingCall(self.mbox.refresh)
                self._idle_check.start(IDLE_CHECK_S, now=True)

        select_IDLE = (do_IDLE,)  # type: ignore[assignment]  # Twisted's command table: its own class's handlers

        def parse_idle(self, *args):
            self._stop_idle_check()
            super().parse_idle(*args)

        def _stop_idle_check(self) -> None:
            if self._idle_check is not None and self._idle_check.running:
                self._idle_check.stop()
            self._idle_check = None
            if self.mbox is not None:
                self.mbox.idle(False)

        def connectionLost(self, reason):
            self._stop_idle_check()
            if self.mbox is not None:  # Twisted leaves the session among the mailbox's listeners
                self.mbox.removeListener(self)
            super().connectionLost(reason)

        # --- the client's address for the login throttle, and its answer -----------------------------

        def authenticateLogin(self, user, passwd):
            """LOGIN, as Twisted's, with the client's address on the credentials."""
            c = credentials.UsernamePassword(user, passwd)
            c.source = self.transport.getPeer().host
            return self.portal.login(c, None, imap4.IAccount)

        def authenticate(self, chal, tag):
            chal.source = self.transport.getPeer().host
            super().authenticate(chal, tag)

        def _IMAP4Server__ebLogin(self, failure, tag):
            if not self._throttled(failure, tag):
                imap4.IMAP4Server._IMAP4Server__ebLogin(self, failure, tag)

        def _IMAP4Server__ebAuthResp(self, failure, tag):
            if not self._throttled(failure, tag):
                imap4.IMAP4Server._IMAP4Server__ebAuthResp(self, failure, tag)

        def _throttled(self, failure, tag) -> bool:
            if not failure.check(Throttled):
                return False
            self.sendNegativeResponse(
                tag,
                b"[UNAVAILABLE] Trop d'echecs d'authentification : reessayer dans "
                + str(failure.value.retry_after).encode()
                + b" s",
            )
            return True

        def do_FETCH(self, tag, messages, query, uid=0):
            """RFC 3501 §6.4.5: BODY[] (not PEEK), RFC822 and RFC822.TEXT set \\Seen."""
            if (
                any(
                    (p.type == "body" and not getattr(p, "peek", False)) or p.type in ("rfc822", "rfc822text")
                    for p in query
                )
                and self.mbox is not None
            ):
                seen = defer.maybeDeferred(self.mbox.store, messages, ["\\Seen"], 1, uid)
                seen.addCallback(lambda _: GuardedServer.do_FETCH(self, tag, messages, query, uid))
                seen.addErrback(lambda _failure: self.sendBadResponse(tag, b"FETCH failed"))
                return None
            return super().do_FETCH(tag, messages, query, uid)

        # Twisted's command table: its own class's handlers
        select_FETCH = (
            do_FETCH,
            imap4.IMAP4Server.arg_seqset,  # type: ignore[assignment]
            imap4.IMAP4Server.arg_fetchatt,
        )

        def _setupChallenge(self, chal, tag):
            """As Twisted's, with the challenge in one base64 line (encodebytes() split it)."""
            try:
                challenge = chal.getChallenge()
            except Exception:  # noqa: BLE001
                self.sendBadResponse(tag, b"Erreur du serveur")
                return
            self.parseState = "pending"
            self._pendingLiteral = defer.Deferred()
            self.sendContinuationRequest(base64.b64encode(challenge))
            self._pendingLiteral.addCallback(self._IMAP4Server__cbAuthChunk, chal, tag)
            self._pendingLiteral.addErrback(self._IMAP4Server__ebAuthChunk, tag)

    tls = twisted_server_options(runtime.issued)  # TLS ≥ 1.2, AEAD suites only (issue 18 §3)
    # zope @implementer classes (mypy has no zope plugin here)
    the_portal = portal.Portal(Realm(), [PasswordChecker(), BearerChecker()])  # type: ignore[arg-type, list-item]

    class Factory(protocol.Factory):
        def buildProtocol(self, addr):
            server = Server(chal={b"XOAUTH2": Xoauth2, b"OAUTHBEARER": OAuthBearer}, contextFactory=tls)
            server.portal = the_portal
            server.max_literal = runtime.max_message_bytes  # APPENDLIMIT (RFC 7889)
            server.factory = self
            return server

    # the reactor's zope interface methods are read without self
    if implicit_tls:
        return reactor.listenSSL(port, Factory(), tls, backlog=LISTEN_BACKLOG, interface=host)  # type: ignore[attr-defined]
    return reactor.listenTCP(port, Factory(), backlog=LISTEN_BACKLOG, interface=host)  # type: ignore[misc, arg-type]
