"""The PFI's applicative mailbox read over IMAP, as a hospital's software reads it at any operator.

IMAP4rev1 (RFC 3501) with the stdlib's imaplib: STARTTLS first (RFC 3501 §6.2.1, the MSSanté
operators refuse any login before it), then LOGIN or AUTHENTICATE PLAIN (RFC 4616) with the
mailbox's password. What the PFI has handled carries the keyword `$Integre` (RFC 3501 §2.3.2
keywords; RFC 9051 §2.3.2 keeps them) besides `\\Seen`, so that the state lives in the mailbox
itself: a restart, another PFI instance or another operator sees the same thing. The PFI asks for
`UID SEARCH UNKEYWORD $Integre`, never for `UNSEEN` (a human may have read a message in a webmail).
When the server offers IDLE (RFC 2177) the PFI waits on it for new mail; else it polls.

One connection, used by one thread at a time (a lock): imaplib is not thread-safe, and the PFI's
pipeline fetches in one thread while it flags in another.
"""

from __future__ import annotations

import imaplib
import re
import select
import ssl
import threading
import time
from dataclasses import dataclass

HANDLED = "$Integre"  # the keyword set on a message once its outcome is committed
_UID = re.compile(rb"\bUID (\d+)")
_SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)")


class MailboxError(Exception):
    """The IMAP server refused a command, or the connection broke: the PFI tries again later."""


@dataclass(frozen=True)
class ImapAccount:
    """Where and how the PFI logs in: `mechanism` is `LOGIN` or `PLAIN` with an applicative mailbox's
    password, or `XOAUTH2` with a person's Pro Santé Connect token (a practice's software)."""

    host: str
    port: int
    user: str
    password: str
    cafile: str | None = None  # the operator's CA (the trust space's); None: the system's
    mechanism: str = "LOGIN"
    timeout: float = 60.0
    implicit_tls: bool = False  # TLS from the first byte (port 993's role, RFC 8314 §3.3), not STARTTLS


class ImapMailbox:
    def __init__(self, account: ImapAccount) -> None:
        self.account = account
        self._conn: imaplib.IMAP4 | None = None
        self._lock = threading.Lock()

    # --- the session ---------------------------------------------------------------------------

    def _open(self) -> imaplib.IMAP4:
        a = self.account
        context = ssl.create_default_context(cafile=a.cafile)
        if a.implicit_tls:
            conn: imaplib.IMAP4 = imaplib.IMAP4_SSL(a.host, a.port, ssl_context=context, timeout=a.timeout)
        else:
            conn = imaplib.IMAP4(a.host, a.port, timeout=a.timeout)
        try:
            if not a.implicit_tls:
                conn.starttls(context)  # RFC 3501 §6.2.1, before any login
            if a.mechanism.upper() == "PLAIN":  # RFC 4616: authzid NUL authcid NUL password
                conn.authenticate("PLAIN", lambda _challenge: f"\0{a.user}\0{a.password}".encode())
            elif a.mechanism.upper() == "XOAUTH2":  # a person's mailbox: `password` is his PSC token
                conn.authenticate("XOAUTH2", lambda _c: f"user={a.user}\x01auth=Bearer {a.password}\x01\x01".encode())
            else:
                conn.login(a.user, a.password)
            typ, _data = conn.select("INBOX")
            if typ != "OK":
                raise MailboxError(f"INBOX de {a.user} non sélectionnable")
        except BaseException:
            conn.shutdown()
            raise
        return conn

    def _command(self, *args: str) -> list:
        """A UID command on the open session (opened again when it broke)."""
        with self._lock:
            try:
                if self._conn is None:
                    self._conn = self._open()
                typ, data = self._conn.uid(*args)
            except (imaplib.IMAP4.abort, OSError) as exc:
                self._drop()
                raise MailboxError(f"IMAP {args[0]} : {exc}") from exc
            except imaplib.IMAP4.error as exc:
                raise MailboxError(f"IMAP {args[0]} : {exc}") from exc
            if typ != "OK":
                raise MailboxError(f"IMAP {args[0]} refusé : {data!r}")
            return data

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.shutdown()
            except OSError:
                pass

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.logout()
                except (imaplib.IMAP4.error, OSError):
                    pass
                self._conn = None

    # --- what the PFI asks -----------------------------------------------------------------------

    def unhandled(self, after: int = 0) -> list[int]:
        """UIDs above `after` of the messages without the `$Integre` keyword, in order (RFC 3501
        §6.4.4). `UID n:*` first lets the server look at the new messages only (a PFI's mailbox
        keeps every message it integrated); `n:*` also names the highest UID when it is below n
        (§6.4.8), hence the filter."""
        data = self._command("SEARCH", "UID", f"{after + 1}:*", "UNKEYWORD", HANDLED)
        return sorted(uid for uid in (int(n) for n in b" ".join(d for d in data if d).split()) if uid > after)

    def sizes(self, uids: list[int]) -> dict[int, int]:
        """Each message's size (RFC822.SIZE), to bound what a batch holds before reading it."""
        if not uids:
            return {}
        out = {}
        for item in self._command("FETCH", _set(uids), "(RFC822.SIZE)"):
            line = item[0] if isinstance(item, tuple) else item
            uid, size = _UID.search(line or b""), _SIZE.search(line or b"")
            if uid and size:
                out[int(uid.group(1))] = int(size.group(1))
        return out

    def fetch(self, uids: list[int]) -> dict[int, bytes]:
        """The messages' bytes (BODY.PEEK[]: reading does not set \\Seen, the PFI does it once done).
        The UID may come before or after the literal (Dovecot sends it after)."""
        if not uids:
            return {}
        data = self._command("FETCH", _set(uids), "(UID BODY.PEEK[])")
        out = {}
        for i, item in enumerate(data):
            if not isinstance(item, tuple):
                continue
            found = _UID.search(item[0]) or (
                _UID.search(data[i + 1]) if i + 1 < len(data) and isinstance(data[i + 1], bytes) else None
            )
            if found:
                out[int(found.group(1))] = item[1]
        return out

    def flag_handled(self, uids: list[int]) -> None:
        """`$Integre` and `\\Seen` added (STORE +FLAGS.SILENT, RFC 3501 §6.4.6): only once the
        messages' outcomes are committed, so a crash before leaves them to be handled again."""
        if uids:
            self._command("STORE", _set(uids), "+FLAGS.SILENT", f"({HANDLED} \\Seen)")

    def wait(self, seconds: float, *, idle: float | None = None) -> None:
        """Until new mail may be there: IDLE (RFC 2177) up to `idle` seconds (default `seconds`) when
        the server offers it, else a plain sleep of `seconds` (polling)."""
        with self._lock:
            conn = self._conn
            if conn is None or "IDLE" not in conn.capabilities:
                idling = False
            else:
                idling = True
                try:
                    self._idle(conn, seconds if idle is None else idle)
                except (imaplib.IMAP4.abort, OSError, MailboxError):
                    self._drop()
        if not idling:
            time.sleep(seconds)

    @staticmethod
    def _idle(conn: imaplib.IMAP4, seconds: float) -> None:
        """IDLE until the server sends news or `seconds` pass, then DONE. An EXISTS the server sent
        with an earlier command's answer, or before the continuation (RFC 3501 §7: untagged data
        may come at any time), means mail is there already: no wait."""
        news = conn.untagged_responses.pop("EXISTS", None) is not None
        tag = conn._new_tag()  # type: ignore[attr-defined]  # imaplib < 3.14 has no idle()
        conn.send(tag + b" IDLE\r\n")
        while not (line := conn.readline()).startswith(b"+"):
            if not line or line.startswith(tag):  # closed, or IDLE refused (tagged NO / BAD)
                raise MailboxError("IDLE refusé")
            news = news or line.rstrip().upper().endswith(b"EXISTS")
        sock = conn.sock
        if not news:
            pending = isinstance(sock, ssl.SSLSocket) and sock.pending()
            if pending or select.select([sock], [], [], seconds)[0]:
                conn.readline()  # "* n EXISTS" (or any untagged news): time to look
        conn.send(b"DONE\r\n")
        while not (line := conn.readline()).startswith(tag):
            if not line:
                raise MailboxError("IDLE interrompu")


def _set(uids: list[int]) -> str:
    return ",".join(str(u) for u in uids)
