"""The dashboard home page's list, one page at a time (`/observatoire/tableau?page=N&filtre=…`).

An ARS or ANS agent may read every GHT and every structure SUN-ES has figures of: some 3 000
structures at national scale, too many for one page to render or a person to scan. So the list
`Observatoire.readable` gives is laid out as entries — each GHT with its members first, then each
structure in no GHT of the list (a member is read through its GHT's entry, where it is linked when the
reader may read it) — narrowed by a filter on a name or an identifier, and cut into pages of
`LIST_PAGE_SIZE` entries. Plain functions on the list: the service already decided what is readable,
and the list is held in memory (it is what SUN-ES folded), so no query pages it.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from maison.core.errors import InvalidInput
from maison.observatoire.service import Readable

LIST_PAGE_SIZE = 50  # entries per page of the home page's list
FILTER_MAX = 100  # characters of a `filtre`: a name or an identifier, never longer


@dataclass(frozen=True)
class Entry:
    """One line of the list: a GHT (`kind` "ght") with the members shown — only those the filter
    kept when `partial` — or a structure in no GHT."""

    kind: str
    code: str
    members: tuple[str, ...] = ()
    partial: bool = False


@dataclass(frozen=True)
class ListPage:
    """The page asked of the entries kept by the filter: `entries` are this page's, `total` all kept."""

    entries: list[Entry]
    number: int
    pages: int
    total: int
    first: int  # the rank of this page's first entry (from 1)

    @property
    def ghts(self) -> list[Entry]:
        return [e for e in self.entries if e.kind == "ght"]

    @property
    def structures(self) -> list[Entry]:
        return [e for e in self.entries if e.kind == "structure"]


def folded(text: str) -> str:
    """Lower case without accents: "Hôpital" is found by "hopital", as a person types it."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def filter_of(text: str | None) -> str:
    """The `filtre` asked, trimmed ("" for none); too long a one is the French 400 page."""
    wanted = (text or "").strip()
    if len(wanted) > FILTER_MAX:
        raise InvalidInput(f"filtre de {len(wanted)} caractères : {FILTER_MAX} au plus", code="filtre-invalide")
    return wanted


def entries(readable: Readable, names: Mapping[str, str], wanted: str = "") -> list[Entry]:
    """The GHTs with their members, then the structures in none of them, kept by `wanted` (a part of
    a name or an identifier, accents and case ignored): a GHT whose code matches with all its members,
    else with only the members that match; a structure if it matches."""
    needle = folded(wanted)

    def matches(code: str) -> bool:
        return needle in folded(code) or needle in folded(names.get(code, ""))

    out = []
    for code, members in readable.ghts.items():
        shown = members if matches(code) else [m for m in members if matches(m)]
        if shown:
            out.append(Entry("ght", code, tuple(shown), partial=len(shown) < len(members)))
    in_ght = {m for members in readable.ghts.values() for m in members}
    out.extend(Entry("structure", code) for code in readable.structures if code not in in_ght and matches(code))
    return out


def page_of(items: list[Entry], number: int, size: int = LIST_PAGE_SIZE) -> ListPage:
    """Page `number` (from 1, `web.page_number`) of `items`; beyond the last, the French 400 page —
    as the explanation's. An empty list has one page, empty."""
    pages = max(1, -(-len(items) // size))
    if number > pages:
        raise InvalidInput(f"page {number} : la liste en compte {pages}", code="page-invalide")
    start = (number - 1) * size
    return ListPage(items[start : start + size], number, pages, len(items), start + 1)


def codes(shown: list[Entry]) -> set[str]:
    """The structures these entries name (to ask the Annuaire their names)."""
    return {c for e in shown for c in (e.members if e.kind == "ght" else (e.code,))}
