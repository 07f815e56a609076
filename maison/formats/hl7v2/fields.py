"""A lean reader of an HL7 v2 message's fields, for receivers that read a few fields of short messages
(IHE PAM's ADT: the GAM's announcements).

Why not python-hl7's tree, which DESIGN.md chose for HL7 v2 (a choice changed here, for ADT only,
with this measured reason): on bench/flux.py's A01, python-hl7's parse alone costs 5 to 6 times
what this reader and the whole PAM read take together (3.1 ms against 0.5-0.7 ms side by side on a
loaded 2-core machine, 2026-12-07; 0.96 ms parse + 0.67 ms of `extract_field` reads when it was
quieter) — a third of a GAM message's CPU once its SQL statements were prepared once. The PFI's
ORU/MDM still walk python-hl7's tree. The addressing and its compatibility rules are python-hl7's (after
http://wiki.medical-objects.com.au/index.php/Hl7v2_parsing): a path deeper than the value reads its
first child, a path that ends early reads the value when every level left is 1; anything absent
reads "". MSH-1 is the field separator and MSH-2 the encoding characters (HL7 v2.5 §2.15.9).

Escape sequences (HL7 v2.5 §2.7): \\F\\ \\S\\ \\T\\ \\R\\ \\E\\ are the separators, \\Xhh…\\ bytes (as
Latin-1 characters, as python-hl7 reads them), \\H\\ and \\N\\ (highlighting) are dropped. Formatting
commands (\\.br\\, \\.sp<n>\\…, §2.7.6) belong to the FT data type only, which no field read here is:
they are refused as a data type error naming the field. (python-hl7 expands `\\.sp<n>\\` into n
line breaks: `\\.sp999999999\\` in a name would be a gigabyte.)
"""

from __future__ import annotations

import re

from maison.formats.hl7v2.refusal import ErrorCode, Hl7Refusal

_SEGMENT_ID = re.compile(r"[A-Z][A-Z0-9]{2}", re.ASCII)
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})+", re.ASCII)


class Fields:
    """A message's segments by name, each occurrence's fields split once; deeper levels on demand."""

    __slots__ = ("_escape", "_repetition", "_component", "_subcomponent", "_segments", "text")

    def __init__(self, text: str) -> None:
        """`text`: the message with CR between segments and valid encoding characters (checked by the
        listener, `ack.check_encoding_characters`); a line that is not a segment is refused (AR)."""
        if not text.startswith("MSH") or len(text) < 8:
            raise Hl7Refusal("segment MSH absent en tête", ErrorCode.SEGMENT_SEQUENCE, "MSH", acknowledgment="AR")
        self.text = text
        separator = text[3]
        self._component, self._repetition, self._escape, self._subcomponent = text[4], text[5], text[6], text[7]
        segments: dict[str, list[list[str]]] = {}
        for line in text.split("\r"):
            if not line:
                continue
            parts = line.split(separator)
            name = parts[0]
            if not _SEGMENT_ID.fullmatch(name):
                raise Hl7Refusal("message HL7 illisible", ErrorCode.SEGMENT_SEQUENCE, "MSH", acknowledgment="AR")
            if name == "MSH":  # MSH-1 is the separator itself: the fields after it keep their numbers
                parts.insert(1, separator)
            segments.setdefault(name, []).append(parts)
        self._segments = segments

    def has(self, segment: str) -> bool:
        return segment in self._segments

    def occurrences(self, segment: str) -> int:
        return len(self._segments.get(segment, ()))

    def repetitions(self, segment: str, fld: int, occurrence: int = 1) -> int:
        """How many times the field repeats (0 when the segment or the field is absent, 1 for an empty one)."""
        raw = self._raw(segment, fld, occurrence)
        if raw is None:
            return 0
        return raw.count(self._repetition) + 1

    def field(self, segment: str, fld: int, rep: int = 1, comp: int = 1, sub: int = 1, occurrence: int = 1) -> str:
        """SEGMENT-fld.rep.comp.sub of the occurrence, unescaped and stripped ("" when absent)."""
        raw = self._raw(segment, fld, occurrence)
        if not raw:
            return ""
        if segment == "MSH" and fld in (1, 2):  # the separators themselves, never split
            return raw if rep == comp == sub == 1 else ""
        value = _nth(raw, self._repetition, rep)
        value = _nth(value, self._component, comp)
        value = _nth(value, self._subcomponent, sub)
        if self._escape in value:
            value = self._unescape(value, segment, fld)
        return value.strip()

    def _raw(self, segment: str, fld: int, occurrence: int) -> str | None:
        found = self._segments.get(segment)
        if found is None or len(found) < occurrence:
            return None
        parts = found[occurrence - 1]
        return parts[fld] if fld < len(parts) else None

    def _unescape(self, value: str, segment: str, fld: int) -> str:
        esc = self._escape
        pieces = value.split(esc)
        if len(pieces) % 2 == 0:  # an escape character left open
            raise Hl7Refusal(
                f"séquence d'échappement non fermée dans {segment}-{fld}", ErrorCode.DATA_TYPE, segment, 1, fld
            )
        out = []
        for n, piece in enumerate(pieces):
            if n % 2 == 0:
                out.append(piece)
                continue
            mapped = {
                "F": self.text[3],
                "S": self._component,
                "R": self._repetition,
                "T": self._subcomponent,
                "E": esc,
                "H": "",
                "N": "",
            }.get(piece)
            if mapped is not None:
                out.append(mapped)
            elif piece.startswith("X") and _HEX.fullmatch(piece[1:]):
                out.append(bytes.fromhex(piece[1:]).decode("latin-1"))
            else:  # formatting commands (.br, .sp<n>…) are FT's only; Z escapes are local
                raise Hl7Refusal(
                    f"séquence d'échappement \\{piece[:16]}\\ non admise dans {segment}-{fld}",
                    ErrorCode.DATA_TYPE,
                    segment,
                    1,
                    fld,
                )
        return "".join(out)


_TEXT_ESCAPE = re.compile(r"\\([^\\]*)\\")
_TEXT_SEPARATORS = {"F": "|", "S": "^", "R": "~", "T": "&", "E": "\\"}


def unescape_text(value: str) -> str:
    """A text value (ED data as plain text, TX, FT: a CDA sent in OBX-5 with encoding A) unescaped
    with the house's encoding characters (`ack.ENCODING_CHARACTERS`, which the listener requires):
    the separators and \\Xhh…\\ as in `Fields`; each formatting command (\\.br\\, \\.sp<n>\\, \\.ce\\…,
    HL7 v2.5 §2.7.6) one line break at most, whatever its count says (python-hl7 repeats a line break
    n times: a few bytes asked for a gigabyte); highlighting and unknown escapes dropped."""

    def one(match: re.Match[str]) -> str:
        piece = match.group(1)
        if piece in _TEXT_SEPARATORS:
            return _TEXT_SEPARATORS[piece]
        if piece.startswith("X") and _HEX.fullmatch(piece[1:]):
            return bytes.fromhex(piece[1:]).decode("latin-1")
        if piece[:3] in (".br", ".sp", ".ce"):
            return "\n"
        return ""

    return _TEXT_ESCAPE.sub(one, value) if "\\" in value else value


def _nth(value: str, separator: str, n: int) -> str:
    """The n-th (1-based) part of `value` cut at `separator`, or "" beyond the last."""
    if n == 1:
        cut = value.find(separator)
        return value if cut < 0 else value[:cut]
    parts = value.split(separator)
    return parts[n - 1] if n <= len(parts) else ""
