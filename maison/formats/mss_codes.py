"""The error codes of the MSSanté integration guide, read from the reference artefact.

`mss-courriel/input/pagecontent/error-codes.md` holds two HTML tables: the HL7 table 0357
`messageErrorCondition` (technical: 0, 100-207) and the user table 0533
`applicationErrorCondition` (900-906: version, author, unknown patient, INS absent, INS
mismatch, INS incomplete, other). A PFI's MDN carries the code and its label
(`processed/Error: 902^Identifiant patient inconnu^applicationErrorCode`); receivers compare codes,
never labels (the guide's own examples spell 902 two ways).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from lxml import html

GUIDE = Path("mss-courriel") / "input" / "pagecontent" / "error-codes.md"


@dataclass(frozen=True)
class ErrorCode:
    code: str
    label: str
    description: str
    table: str  # messageErrorCondition / applicationErrorCondition

    def mdn(self) -> str:
        """The MDN's error text: `code^label^table` (mss-courriel struct-msg-mdn.md)."""
        suffix = "applicationErrorCode" if self.table == "applicationErrorCondition" else self.table
        return f"{self.code}^{self.label}^{suffix}"


@lru_cache(maxsize=4)
def error_codes(reference_path: Path) -> dict[str, ErrorCode]:
    text = (reference_path / GUIDE).read_text(encoding="utf-8")
    codes: dict[str, ErrorCode] = {}
    for chunk in text.split("<table>")[1:]:
        table = html.fromstring("<table>" + chunk.split("</table>")[0] + "</table>")
        for row in table.iter("tr"):
            cells = [" ".join(td.text_content().split()) for td in row.findall("td")]
            if len(cells) >= 2 and (cells[0].isascii() and cells[0].isdigit()):
                kind = "applicationErrorCondition" if int(cells[0]) >= 900 else "messageErrorCondition"
                codes[cells[0]] = ErrorCode(cells[0], cells[1], cells[2] if len(cells) > 2 else "", kind)
    if "902" not in codes or "906" not in codes:
        raise ValueError(f"{reference_path / GUIDE}: table applicationErrorCondition introuvable")
    return codes
