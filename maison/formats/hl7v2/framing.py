"""MLLP framing (HL7 v2.5 Appendix C, "Minimal Lower Layer Protocol" release 1): a message travels as
VT (0x0B), its bytes, FS (0x1C), CR (0x0D).

What a receiver must survive, and how (issue 22 §3.3):
- a frame longer than `max_bytes` is refused without being read into memory: asyncio's
  `StreamReader.readuntil` stops at the reader's limit (`LimitOverrunError`) with at most that much
  buffered, and the connection is then closed (the rest of the frame is never read);
- bytes outside a frame (before its VT) are dropped, as MLLP's receiver ignores them; a frame whose
  sender restarted it (a second VT before FS) is taken from its last VT;
- a peer that stops mid-frame (EOF) leaves nothing processed;
- a peer that drips bytes (slowloris) or stays idle is dropped after `idle_timeout` seconds for the
  whole frame, not per byte.

python-hl7's `MLLPStreamReader.readblock` is not used for reading: on an overrun it clears its buffer
(losing the MSH the AR must answer) and it refuses a block with bytes before VT instead of dropping
them. Parsing stays python-hl7's (`hl7.parse`), and so does the `mllp_send` client the tests use.
"""

from __future__ import annotations

import asyncio

VT, FS, CR = b"\x0b", b"\x1c", b"\x0d"
END = FS + CR
DEFAULT_MAX_BYTES = 16 * 1024 * 1024  # a CDA in OBX (Base64) fits; 50 MB does not


class FrameTooLarge(Exception):
    """The frame exceeds the configured limit: answered AR, then the connection is closed."""

    def __init__(self, head: bytes) -> None:
        super().__init__("trame MLLP trop longue")
        self.head = head  # the first bytes received, for the ACK's MSH (never the whole frame)


def frame(message: bytes) -> bytes:
    """One message as an MLLP block."""
    return VT + message + END


def unframe(block: bytes) -> bytes | None:
    """The message of a block read up to FS CR (separator included): from its last VT, or None when
    the block holds no VT at all (garbage between frames)."""
    start = block.rfind(VT)
    if start < 0:
        return None
    return block[start + 1 : -len(END)]


async def read_frame(reader: asyncio.StreamReader, idle_timeout: float) -> bytes | None:
    """The next message on the stream, or None at a clean end of stream (or a truncated last frame).

    Raises `FrameTooLarge` past the reader's limit and `TimeoutError` past `idle_timeout`."""
    while True:
        try:
            block = await asyncio.wait_for(reader.readuntil(END), idle_timeout)
        except asyncio.IncompleteReadError:
            return None  # EOF: a truncated frame is never processed
        except asyncio.LimitOverrunError:
            # only its head, for the ACK's MSH: StreamReader keeps what it read in `_buffer`
            head = bytes(getattr(reader, "_buffer", b"")[:4096])
            raise FrameTooLarge(head) from None
        message = unframe(block)
        if message is not None:
            return message
