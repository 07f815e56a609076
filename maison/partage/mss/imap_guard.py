"""Twisted's IMAP server with the limits a hostile client meets (issue 18 §1.5, §2.8, §3).

Imported only inside `imap.listen`, after the reactor is bound to the loop. Each rule is one method:

- **Nothing authenticates before TLS** (RFC 3501 §6.2, RFC 8314 §3.3, RFC 9051 §6.2.3): before
  STARTTLS only CAPABILITY, NOOP, LOGOUT and STARTTLS are served — any other command, whatever its
  mechanism, is answered `NO [PRIVACYREQUIRED]` (RFC 5530 §3) — and the capabilities offer
  LOGINDISABLED and no `AUTH=` (Twisted offered AUTH=XOAUTH2 and accepted it in clear). An allow-list,
  so a mechanism or a command added later cannot slip through.
- **Plaintext pipelined behind STARTTLS is dropped** (RFC 2595 §3.1, CVE-2011-0411's class): what
  the client sent in clear after STARTTLS would otherwise run inside the TLS session.
- **Literals are bounded before they are read** (RFC 7889 APPENDLIMIT): an APPEND whose literal
  exceeds the operator's message size limit is answered `NO [TOOBIG]` (RFC 4469 §4) before any
  continuation, so nothing is read; any other literal beyond the limit is a BAD. A literal spools to
  a temporary file past `MEMORY_LITERAL` bytes (Twisted: 10 MB in memory per connection), and a
  literal cut short by a disconnect or refused is closed at once (Twisted left its file open until
  the protocol was collected).
- **SEARCH is bounded** (RFC 5530 `LIMIT`): a query nested deeper than `SEARCH_DEPTH` or longer than
  `SEARCH_TERMS` keys is refused before it is evaluated; an ill-formed one is a BAD without a trace.
- **No Python in any answer**: Twisted answers some failures with an exception's own text
  (`Server error: …`, `Illegal syntax: Bad message number invalid literal for int()…`); such an
  answer says `[SERVERBUG]` or `[CLIENTBUG]` in French instead, the exception going to the log
  (`_respond`), and the greeting names neither the software nor its version.
- **Pipelined commands are answered one after the other** (RFC 3501 §5.5, found by mbsync): a
  command line arriving while another command runs waits for that command's tagged answer (Twisted
  ran it at once: two FETCHes streaming into one transport cut the session, a STORE's OK came after
  the next command's). At most `MAX_PIPELINED` lines wait; beyond, the session ends with BYE.
- **FETCH of a part the message lacks** (`BODY[1.2]` of a single-part message) is answered
  `NO [NONEXISTENT]` (RFC 5530) before any data is written; Twisted raised in the middle of the
  response and dropped the connection.
"""

from __future__ import annotations

import logging
from typing import Any

from twisted.internet import defer, interfaces
from twisted.internet.defer import maybeDeferred
from twisted.mail import imap4

from maison.partage.mss import imap_structure as structure

log = logging.getLogger(__name__)
BEFORE_TLS = frozenset({b"CAPABILITY", b"NOOP", b"LOGOUT", b"STARTTLS"})
MEMORY_LITERAL = 1 << 20  # a literal past 1 MB spools to a temporary file
SEARCH_DEPTH = 16
SEARCH_TERMS = 256
MAX_PIPELINED = 1000  # command lines a client may send ahead of the answers
SERVER_ERROR = b"[SERVERBUG] erreur interne du serveur"
CLIENT_ERROR = b"[CLIENTBUG] commande mal formee"
# Twisted's syntax errors with a fixed text (kept); any other detail came from an exception
SYNTAX_TEXTS = frozenset(
    {
        b"Missing argument",
        b"Unmatched quotes",
        b"Malformed literal",
        b"Malformed ATOM",
        b"Missing parenthesis",
        b"Mismatched parenthesis",
        b"Missing literal",
        b"Malformed flag",
        b"Malformed date-time",
        b"Missing charset identifier",
        b"Invalid Argument",
        b"Malformed Response - not base64",
    }
)


class MissingPart(Exception):
    """A FETCH names a body part the message does not have."""


class BoundedLiteral(imap4.LiteralFile):
    """Twisted's literal file, spooling to disk past `MEMORY_LITERAL`, and closable."""

    _memoryFileLimit = MEMORY_LITERAL

    def close(self) -> None:
        self.data.close()


class GuardedServer(imap4.IMAP4Server):
    """The operator's IMAP server: `max_literal` is its message size limit (settings
    `mss_max_message_bytes`), advertised as APPENDLIMIT."""

    max_literal = 20_000_000
    _literal: BoundedLiteral | None = None
    IDENT = b"IMAP4rev1 pret"  # the greeting names no software and no version
    _running: bytes | None = None  # the tag of the command being answered
    _waiting: list[bytes] | None = None  # command lines pipelined behind it

    # --- one command at a time (RFC 3501 §5.5) --------------------------------------------------------

    def lineReceived(self, line: bytes) -> None:
        """A command line arriving while a command runs waits for its tagged answer; a line that
        belongs to the running command (a literal's end, an AUTHENTICATE response, IDLE's DONE)
        arrives while Twisted is not in its command state, and passes."""
        if self._running is not None and self.parseState == "command":
            if self._waiting is None:
                self._waiting = []
            if len(self._waiting) >= MAX_PIPELINED:
                self.sendUntaggedResponse(b"BYE [LIMIT] trop de commandes en attente")
                transport: Any = self.transport
                transport.loseConnection()
                return
            self._waiting.append(line)
            return
        super().lineReceived(line)

    def _next_command(self) -> None:
        while self._waiting and self._running is None and self.parseState == "command":
            super().lineReceived(self._waiting.pop(0))

    def _answered(self, state: bytes, tag: bytes | None) -> None:
        """The running command's tagged answer (or an untagged BAD for a line Twisted could not
        handle) lets the next pipelined line run — on the next turn of the loop, once Twisted's own
        bookkeeping after the answer is done."""
        if (tag is not None and tag == self._running) or (tag is None and state.startswith(b"BAD")):
            self._running = None
            if self._waiting:
                from twisted.internet import reactor  # bound to the asyncio loop before this is imported

                later: Any = reactor
                later.callLater(0, self._next_command)

    def _IMAP4Server__ebDispatch(self, failure: Any, tag: bytes) -> None:
        """A command's arguments that could not be read (`BODY[XYZ]`, `LIST` alone): the client's
        error, which Twisted answered `Server error: <the exception>`."""
        if failure.check(imap4.IllegalClientResponse, imap4.IllegalOperation, imap4.IllegalMailboxEncoding):
            imap4.IMAP4Server._IMAP4Server__ebDispatch(self, failure, tag)  # type: ignore[attr-defined]
            return
        log.info("IMAP : commande refusee (%s)", failure.getTraceback())
        self.sendBadResponse(tag, CLIENT_ERROR)

    def _respond(self, state: bytes, tag: bytes | None, message: bytes | None) -> None:
        """Every answer passes here: one an exception's text would reach is given a code instead."""
        if state.startswith(b"BAD Server error"):  # untagged, from Twisted's line handler
            state = b"BAD " + SERVER_ERROR
        elif state in (b"BAD", b"NO") and message:
            head, sep, detail = message.partition(b": ")
            if head == b"Server error" or message.startswith(b"Server error"):
                message = SERVER_ERROR
            elif head == b"Illegal syntax" and sep and detail not in SYNTAX_TEXTS:
                message = CLIENT_ERROR
        super()._respond(state, tag, message)
        self._answered(state, tag)

    def connectionMade(self) -> None:
        # Answers leave as they are written (TCP_NODELAY, as Dovecot sets it): with Nagle's algorithm
        # on, a FETCH answer written in several pieces waited for the client's delayed ACK (40 ms on
        # Linux) before its last piece — 53 ms for 16 RFC822.SIZE lines in bench/mss.py, where
        # asyncio's SMTP transports set TCP_NODELAY by default.
        set_no_delay = getattr(self.transport, "setTcpNoDelay", None)
        if set_no_delay is not None:
            set_no_delay(True)
        super().connectionMade()

    # --- TLS before anything ------------------------------------------------------------------------

    def secure(self) -> bool:
        return bool(self.startedTLS) or interfaces.ISSLTransport(self.transport, None) is not None

    def capabilities(self) -> dict:
        caps = super().capabilities()
        if not self.secure():
            caps.pop(b"AUTH", None)
            caps[b"LOGINDISABLED"] = None
        caps[b"APPENDLIMIT"] = [str(self.max_literal).encode()]
        return caps

    def dispatchCommand(self, tag: bytes, cmd: bytes, rest: bytes | None, uid: Any = None) -> Any:
        if not self.secure() and cmd.upper() not in BEFORE_TLS:
            self.sendNegativeResponse(tag, b"[PRIVACYREQUIRED] STARTTLS d'abord : rien ne s'authentifie en clair")
            return None
        if cmd.upper() == b"APPEND" and self._literal_size(rest) > self.max_literal:
            self.sendNegativeResponse(
                tag, b"[TOOBIG] message au-dela de la limite de la BAL (APPENDLIMIT=%d)" % self.max_literal
            )
            return None
        self._running = tag
        return super().dispatchCommand(tag, cmd, rest, uid)

    def do_STARTTLS(self, tag: bytes) -> None:
        self.clearLineBuffer()  # what came in clear after STARTTLS is not read inside TLS
        self._waiting = None  # nor what was pipelined behind it
        super().do_STARTTLS(tag)

    unauth_STARTTLS = (do_STARTTLS,)  # type: ignore[assignment]  # Twisted's command table: its own class's handlers

    def lineLengthExceeded(self, line: bytes) -> None:
        """A command line beyond Twisted's 16 KB (RFC 7162 §4 asks for 8 KB): the rest of it cannot be
        told from the next command, so the session ends — with a reason, not silently."""
        self.sendLine(b"* BYE ligne de commande trop longue")
        # connected: a transport (zope interface methods are read without self)
        self.transport.loseConnection()  # type: ignore[misc, union-attr]

    # --- literals -------------------------------------------------------------------------------------

    @staticmethod
    def _literal_size(rest: bytes | None) -> int:
        line = (rest or b"").rstrip()
        if not line.endswith(b"}") or b"{" not in line:
            return 0
        digits = line[line.rindex(b"{") + 1 : -1].rstrip(b"+")
        if not digits.isdigit():
            return 0  # not a literal: Twisted's parser answers BAD
        return int(digits) if len(digits) < 20 else 1 << 62

    def _fileLiteral(self, size: int) -> Any:
        if size > self.max_literal:
            raise imap4.IllegalClientResponse(f"litteral de {size} octets au-dela de {self.max_literal}")
        d: defer.Deferred[Any] = defer.Deferred()
        self.parseState = "pending"
        # Twisted declares _pendingLiteral None
        self._pendingLiteral = self._literal = BoundedLiteral(size, d)  # type: ignore[assignment]
        self.sendContinuationRequest(b"Ready for %d octets of data" % size)
        self.setRawMode()
        return d

    def do_APPEND(self, tag: bytes, mailbox: bytes, flags: Any, date: Any, message: Any) -> None:
        """The literal, read whole within APPENDLIMIT, is handed to the folder, which reads and closes
        it (or closes it when it refuses)."""
        self._literal = None
        super().do_APPEND(tag, mailbox, flags, date, message)

    # Twisted's command table: its own class's handlers
    auth_APPEND = (
        do_APPEND,
        imap4.IMAP4Server.arg_astring,
        imap4.IMAP4Server.opt_plist,  # type: ignore[assignment]
        imap4.IMAP4Server.opt_datetime,
        imap4.IMAP4Server.arg_literal,
    )
    select_APPEND = auth_APPEND  # type: ignore[assignment]  # Twisted's command table: its own class's handlers

    def _release_literal(self) -> None:
        literal, self._literal = self._literal, None
        if literal is not None:
            literal.close()

    def connectionLost(self, reason: Any) -> None:  # type: ignore[override]  # Twisted always passes the reason
        self._release_literal()
        pending = self._pendingLiteral
        if isinstance(pending, imap4.LiteralFile):
            pending.data.close()
        self._pendingLiteral = None
        super().connectionLost(reason)

    # --- SEARCH and FETCH -----------------------------------------------------------------------------

    def do_SEARCH(self, tag: bytes, charset: Any, query: list, uid: int = 0) -> None:
        depth, terms = _extent(query)
        if depth > SEARCH_DEPTH or terms > SEARCH_TERMS:
            self.sendNegativeResponse(
                tag, b"[LIMIT] recherche trop complexe (%d niveaux, %d criteres au plus)" % (SEARCH_DEPTH, SEARCH_TERMS)
            )
            return
        super().do_SEARCH(tag, charset, query, uid)

    # Twisted's command table: its own class's handlers
    select_SEARCH = (
        do_SEARCH,
        imap4.IMAP4Server.opt_charset,  # type: ignore[assignment]
        imap4.IMAP4Server.arg_searchkeys,
    )

    def _IMAP4Server__ebSearch(self, failure: Any, tag: bytes) -> None:
        if failure.check(
            imap4.IllegalQueryError, imap4.IllegalIdentifierError, IndexError, ValueError, TypeError, RecursionError
        ):
            self.sendBadResponse(tag, b"SEARCH : critere mal forme ou non pris en charge")
            return
        self.sendNegativeResponse(tag, b"SEARCH : erreur du serveur")

    def do_FETCH(self, tag: bytes, messages: Any, query: list, uid: int = 0) -> Any:
        sections = [p.part for p in query if p.type == "body" and p.part]
        if not query or not sections:
            return super().do_FETCH(tag, messages, query, uid)
        self._oldTimeout = self.setTimeout(None)
        # selected state: Twisted's mbox is set
        d = maybeDeferred(self.mbox.fetch, messages, uid=uid)  # type: ignore[attr-defined]
        d.addCallback(_with_parts, sections)
        # Twisted's own FETCH callback (name-mangled)
        d.addCallback(self._IMAP4Server__cbFetch, tag, query, uid)  # type: ignore[call-overload, attr-defined]
        d.addErrback(self._IMAP4Server__ebFetch, tag)
        return None

    # Twisted's command table: its own class's handlers
    select_FETCH = (do_FETCH, imap4.IMAP4Server.arg_seqset, imap4.IMAP4Server.arg_fetchatt)  # type: ignore[assignment]

    def _IMAP4Server__ebFetch(self, failure: Any, tag: bytes) -> None:
        """A FETCH that could not be answered is a NO (RFC 3501 §6.4.5): a part the message lacks
        `[NONEXISTENT]`, a refusal of the mailbox its own words, anything else `[SERVERBUG]`
        (Twisted answered BAD, the client's fault, with the exception's text)."""
        self.setTimeout(self._oldTimeout)
        del self._oldTimeout
        if failure.check(MissingPart):
            self.sendNegativeResponse(tag, b"[NONEXISTENT] " + str(failure.value).encode("ascii", "replace"))
        elif failure.check(imap4.MailboxException):
            self.sendNegativeResponse(tag, str(failure.value).encode("ascii", "replace"))
        else:
            log.error("IMAP FETCH : %s", failure.getTraceback())
            self.sendNegativeResponse(tag, SERVER_ERROR)


def _extent(query: list) -> tuple[int, int]:
    """(nesting depth, number of keys) of a parsed SEARCH query, without recursion."""
    depth, terms, stack = 0, 0, [(query, 1)]
    while stack:
        items, level = stack.pop()
        depth = max(depth, level)
        for item in items:
            if isinstance(item, list):
                stack.append((item, level + 1))
            else:
                terms += 1
    return depth, terms


def _with_parts(results: Any, sections: list[list[int]]) -> Any:
    """The fetched messages, once every requested section is known to exist in each (RFC 3501
    §6.4.5: a single-part message has part 1 only)."""
    results = list(results)
    for seq, msg in results:
        for section in sections:
            try:
                structure.section(msg.structure, [n + 1 for n in section])
            except structure.SectionError:
                raise MissingPart(f"partie {_name(section)} inexistante dans le message {seq}") from None
    return iter(results)


def _name(section: list[int]) -> str:
    return ".".join(str(n + 1) for n in section)
