"""An MLLP client: send a message, wait for its ACK (HL7 v2.5 Appendix C). The demo and the tests play
a GAM or a DPI with it, and the PFI sends its ZAM business acknowledgements back to a DPI with it."""

from __future__ import annotations

import socket
import ssl

import hl7

from maison.formats.hl7v2.framing import END, VT, frame, unframe


class MllpError(Exception):
    """The peer closed the connection or sent no ACK in time."""


class MllpClient:
    """One connection to an MLLP listener; messages are sent one at a time, each waiting for its ACK."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
        max_bytes: int = 16 * 1024 * 1024,
    ) -> None:
        sock = socket.create_connection((host, port), timeout=timeout)
        self.sock: socket.socket = ssl_context.wrap_socket(sock, server_hostname=host) if ssl_context else sock
        self.max_bytes = max_bytes
        self._buffer = b""

    def send(self, message: str | bytes, encoding: str = "utf-8") -> str:
        """Send one message (segments separated by CR; LF as files carry them is turned into CR) and
        return its ACK's text."""
        raw = message.encode(encoding) if isinstance(message, str) else message
        raw = raw.replace(b"\r\n", b"\r").replace(b"\n", b"\r").strip(b"\r") + b"\r"
        self.sock.sendall(frame(raw))
        return self._read_ack().decode(encoding, "replace")

    def send_message(self, message: str | bytes, encoding: str = "utf-8") -> hl7.Message:
        """As `send`, the ACK parsed."""
        return hl7.parse(self.send(message, encoding).strip("\r"))

    def _read_ack(self) -> bytes:
        while END not in self._buffer:
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                raise MllpError("pas d'acquittement dans le délai") from None
            if not chunk:
                raise MllpError("connexion fermée avant l'acquittement")
            self._buffer += chunk
            if len(self._buffer) > self.max_bytes:
                raise MllpError("acquittement trop long")
        block, _, self._buffer = self._buffer.partition(END)
        message = unframe(block + END) if VT in block else None
        if message is None:
            raise MllpError("réponse hors trame MLLP")
        return message

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> MllpClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def send(host: str, port: int, message: str | bytes, *, ssl_context: ssl.SSLContext | None = None) -> str:
    """One message on a connection of its own; its ACK's text."""
    with MllpClient(host, port, ssl_context=ssl_context) as client:
        return client.send(message)
