"""One SMTP transaction carrying a message the operator already holds, as received.

aiosmtplib's sendmail runs a line-ending regex over the whole message twice (once for SIZE, once
for DATA) and a second regex for dot-stuffing: for a 270 KB XDM message that was a third of the
relaying operator's CPU. A message this operator stored came in over SMTP, so its lines already
end in CRLF; checking that takes three C-speed counts, and dot-stuffing is one bytes.replace.
A message that is not in that form goes through the library's own path unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import aiosmtplib
from aiosmtplib import SMTPDataError, SMTPRecipientRefused, SMTPRecipientsRefused, SMTPResponse


def on_the_wire(raw: bytes) -> bytes | None:
    """The DATA payload (dot-stuffed, ending with CRLF.CRLF) of a message whose every line ends
    in CRLF, else None (RFC 5321 §4.5.2 transparency; §2.3.8 lines end in CRLF)."""
    crlf = raw.count(b"\r\n")
    if raw.count(b"\r") != crlf or raw.count(b"\n") != crlf:
        return None
    body = raw.replace(b"\r\n.", b"\r\n..") if _a_line_starts_with_a_dot(raw) else raw
    if body.startswith(b"."):
        body = b"." + body
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    return body + b".\r\n"


def _a_line_starts_with_a_dot(raw: bytes) -> bool:
    """From the dots themselves (a one-octet `find` runs at memory speed and base64 has none)
    rather than by searching CRLF. (whose CRLF prefix matches at every line); text full of dots
    goes back to that search."""
    if raw.startswith(b"."):
        return True
    dot = raw.find(b".")
    for _ in range(64):
        if dot < 0:
            return False
        if raw[dot - 2 : dot] == b"\r\n":
            return True
        dot = raw.find(b".", dot + 1)
    return dot >= 0 and raw.find(b"\r\n.", max(dot - 2, 0)) >= 0


def _needs_smtputf8(sender: str, recipients: Sequence[str], raw: bytes) -> bool:
    """Whether the transaction carries UTF-8 where SMTP and RFC 5322 allow ASCII only: the envelope's
    addresses or the header fields (RFC 6531 §3.4, RFC 6532); a UTF-8 body alone is 8BITMIME's."""
    end = raw.find(b"\r\n\r\n")
    return not (
        sender.isascii() and all(r.isascii() for r in recipients) and raw[: end if end >= 0 else None].isascii()
    )


class RelayClient(aiosmtplib.SMTP):
    """aiosmtplib's client with a transaction for stored messages (public methods only)."""

    async def transfer(self, sender: str, recipients: Sequence[str], raw: bytes) -> dict[str, SMTPResponse]:
        """MAIL (with SIZE when offered), RCPT for each recipient, DATA: sendmail's contract —
        SMTPRecipientsRefused when every recipient is refused, the refused ones returned
        otherwise, the transaction reset after a refusal."""
        wire = on_the_wire(raw)
        if wire is None:
            errors, _reply = await self.sendmail(sender, list(recipients), raw)
            return errors
        if self.is_ehlo_or_helo_needed:
            await self.ehlo()  # an operator speaks ESMTP; a HELO-only peer is no MSSanté operator
        options = [f"SIZE={len(raw)}"] if self.supports_extension("size") else []
        if _needs_smtputf8(sender, recipients, raw) and self.supports_extension("smtputf8"):
            options.append("SMTPUTF8")  # RFC 6531 §3.4: UTF-8 in the envelope or the header fields
        refused: list[SMTPRecipientRefused] = []
        try:
            await self.mail(sender, options=options)
            for recipient in recipients:
                try:
                    await self.rcpt(recipient)
                except SMTPRecipientRefused as exc:
                    refused.append(exc)
            if len(refused) == len(recipients):
                raise SMTPRecipientsRefused(refused)
            start = await self.execute_command(b"DATA")
            if start.code != 354:
                raise SMTPDataError(start.code, start.message)
            assert self.protocol is not None  # connected: execute_command raised otherwise
            # No await between the write and read_response: the reply cannot arrive unawaited.
            self.protocol.write(wire)
            reply = await self.protocol.read_response(timeout=self.timeout)
            if reply.code != 250:
                raise SMTPDataError(reply.code, reply.message)
        except (aiosmtplib.SMTPResponseException, SMTPRecipientsRefused):
            try:
                await self.rset()
            except (ConnectionError, aiosmtplib.SMTPException):
                pass
            raise
        return {e.recipient: SMTPResponse(e.code, e.message) for e in refused}
