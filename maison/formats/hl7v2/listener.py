"""The MLLP listener every HL7 v2 receiver of the house sits behind (issue 22 §1.1, §2).

One asyncio server reads frames (`framing`), decodes each message in its declared character set
(MSH-18), checks its encoding characters, parses it with python-hl7 and hands it to the handler of
its message type (MSH-9.1: ADT to the stays and movements, ORU and MDM to the PFI). A handler is a
plain synchronous callable run in a thread, because receivers write to the database:
`handle(message) -> list[str] | None` returns the extra segments of its ACK, or raises `Hl7Refusal`.
The ACK is written only once the handler has returned, that is after its transaction committed, so
an AA always means "stored" (HL7 v2.5 §2.9.2, original acknowledgment mode).

Messages on one connection are answered in order, one at a time, as MLLP's sender waits for each
ACK before it sends the next (HL7 v2.5 Appendix C). TLS, when given a context, wraps every
connection (required off loopback, as on every listener of the house).

Stopping (`stop`) keeps that promise: no new connection, no new frame taken; a connection waiting
for a frame (idle, half-open, dripping, or sending a frame past the limit) is dropped at once, and a
message being handled is finished and answered before its connection closes — so every stored
message is ACKed, and one not answered was not stored (HL7 v2.5 §2.9.2: its sender resends it, and
the receivers are idempotent on MSH-10). Not left to `asyncio.Server.wait_closed`, which in Python
3.11 returns at once and from 3.12 waits for every connection (a peer that never sends: the idle
timeout), nor to `asyncio.run`'s cancelling, which dropped an ACK whose message had committed.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import hl7

from maison.formats.hl7v2.ack import Header, ack, check_encoding_characters
from maison.formats.hl7v2.fields import Fields
from maison.formats.hl7v2.framing import DEFAULT_MAX_BYTES, FrameTooLarge, frame, read_frame
from maison.formats.hl7v2.refusal import ErrorCode, Hl7Refusal

log = logging.getLogger(__name__)

# A receiver: python-hl7's tree, or the lean `Fields` when it says `reads_fields = True` (PAM's ADT: the
# tree cost a third of a message's CPU, see `fields`)
Handler = Callable[[Any], list[str] | None]
CHARSETS = {"": "utf-8", "UNICODE UTF-8": "utf-8", "8859/1": "latin-1", "ASCII": "ascii", "8859/15": "iso8859-15"}


def decode(raw: bytes) -> str:
    """The message's text in the character set MSH-18 names (UTF-8 when it names none); a charset
    unknown or bytes that do not decode in it are AR (HL7 v2.5 §2.15.9.18)."""
    charset = Header.read(raw[:2048].decode("latin-1")).charset
    codec = CHARSETS.get(charset.strip().upper())
    if codec is None:
        raise Hl7Refusal(f"jeu de caractères {charset!r} non pris en charge", ErrorCode.TABLE_VALUE, "MSH", 1, 18, "AR")
    try:
        return raw.decode(codec)
    except UnicodeDecodeError:
        raise Hl7Refusal(
            f"octets invalides pour le jeu de caractères {charset or 'UTF-8'}", ErrorCode.DATA_TYPE, "MSH", 1, 18, "AR"
        ) from None


def fields(text: str) -> Fields:
    """The message's segments, separated by CR (a LF or CRLF, as files carry them, is taken as CR),
    its encoding characters checked, each line a segment; or AR."""
    text = text.replace("\r\n", "\r").replace("\n", "\r").strip("\r")
    check_encoding_characters(text)
    return Fields(text)


def parse(text: str) -> hl7.Message:
    """A message python-hl7 can read (its tree, for receivers that walk it: the PFI's ORU/MDM), or AR."""
    return _tree(fields(text).text)


def _tree(text: str) -> hl7.Message:
    try:
        return hl7.parse(text)
    except Exception:  # python-hl7 raises bare ParseException / ValueError / IndexError on bad structure
        raise Hl7Refusal("message HL7 illisible", ErrorCode.SEGMENT_SEQUENCE, "MSH", acknowledgment="AR") from None


class Listener:
    """Answer every message of every connection with its ACK, through `handlers` keyed by MSH-9.1."""

    def __init__(
        self,
        handlers: Mapping[str, Handler],
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        idle_timeout: float = 60.0,
        threads: int = 8,
    ) -> None:
        self.handlers = dict(handlers)
        self.max_bytes = max_bytes
        self.idle_timeout = idle_timeout
        self.executor = ThreadPoolExecutor(threads, thread_name_prefix="mllp")
        self.closing = False
        self._connections: dict[asyncio.StreamWriter, bool] = {}  # writer -> a message being handled
        self._served: set[asyncio.Task[None]] = set()

    def answer(self, raw: bytes) -> str:
        """The ACK of one message (run in a worker thread: the handler may write to the database)."""
        header = Header.read(raw[:2048].decode("latin-1"))
        try:
            text = decode(raw)
            header = Header.read(text)
            lean = fields(text)
            kind = lean.field("MSH", 9)
            handler = self.handlers.get(kind)
            if handler is None:
                raise Hl7Refusal(
                    f"type de message {kind or '(vide)'} non pris en charge",
                    ErrorCode.UNSUPPORTED_MESSAGE_TYPE,
                    "MSH",
                    1,
                    9,
                    "AR",
                )
            message = lean if getattr(handler, "reads_fields", False) else _tree(lean.text)
            return ack(header, "AA", extra=handler(message))
        except Hl7Refusal as refusal:
            return ack(header, refusal.acknowledgment, refusal)
        except Exception:
            log.exception("message HL7 %s : erreur interne", header.control_id)
            internal = Hl7Refusal("erreur interne du destinataire, message non enregistré", ErrorCode.INTERNAL_ERROR)
            return ack(header, "AE", internal)

    async def serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        if self.closing or task is None:
            writer.close()
            return
        self._served.add(task)
        self._connections[writer] = False
        try:
            while not self.closing:
                try:
                    raw = await read_frame(reader, self.idle_timeout)
                except FrameTooLarge as too_large:
                    refusal = Hl7Refusal(
                        f"message de plus de {self.max_bytes} octets refusé",
                        ErrorCode.INTERNAL_ERROR,
                        acknowledgment="AR",
                    )
                    writer.write(
                        frame(
                            ack(Header.read(too_large.head.lstrip(b"\x0b").decode("latin-1")), "AR", refusal).encode()
                        )
                    )
                    await writer.drain()
                    return
                if raw is None or self.closing:  # a frame completed as the listener stops: not taken
                    return
                self._connections[writer] = True
                answer = await loop.run_in_executor(self.executor, self.answer, raw)
                writer.write(frame(answer.encode(self._charset_of(answer))))
                await writer.drain()
                self._connections[writer] = False
        except (TimeoutError, ConnectionError, ssl.SSLError):
            return  # idle, dripping, or gone: the connection is dropped, nothing half-processed
        finally:
            self._connections.pop(writer, None)
            self._served.discard(task)
            writer.close()

    @staticmethod
    def _charset_of(answer: str) -> str:
        return CHARSETS.get(Header.read(answer).charset.strip().upper(), "utf-8")

    async def start(
        self, host: str, port: int, *, ssl_context: ssl.SSLContext | None = None, **kwargs: object
    ) -> asyncio.Server:
        """Listen; the returned server's sockets tell the port when `port` is 0."""
        return await asyncio.start_server(
            self.serve_connection,
            host,
            port,
            ssl=ssl_context,
            limit=self.max_bytes,
            **kwargs,  # type: ignore[arg-type]
        )

    async def stop(self, server: asyncio.Server, grace: float = 10.0) -> None:
        """Stop listening and end every connection (see the module's docstring): at once for those
        waiting for a frame, after its ACK for one whose message is being handled — within `grace`
        seconds, past which the last ones are dropped (a handler stuck on its database, or a peer
        that does not read its ACK)."""
        self.closing = True
        server.close()
        for writer, handling in list(self._connections.items()):
            if not handling:
                writer.transport.abort()  # the pending read ends (end of stream): nothing was taken
        if self._served:
            _done, late = await asyncio.wait(set(self._served), timeout=grace)
            for task in late:
                log.warning("connexion MLLP fermée à l'arrêt sans réponse au message en cours")
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=1)

    def close(self) -> None:
        """Release the handlers' threads (after `stop`: none of them has work left)."""
        self.executor.shutdown(wait=True, cancel_futures=True)
