"""UCUM units (Unified Code for Units of Measure) as the CI-SIS accepts them in a PQ.

Two checks, because each catches what the other lets through:

1. The UCUM grammar (UCUM specification, "The Grammar of Valid Unit Terms"): `mmol//L`, `m/`,
   `10+3/L`, `12h`, `µg/L` or `mg /L` are not unit expressions at all. The grammar alone does not
   know which atoms exist (`IU` parses, but UCUM writes `[IU]`).
2. The CI-SIS table. The ANS terminology schematron
   (`cisis/schematrons/profils/terminologies/schematron/terminologie.sch`, abstract rule
   `is-code-ucum-exist`, applied to every `value[@xsi:type='PQ']/@unit` and IVL_PQ `low`/`high`)
   strips annotations with `replace(@unit, '\\{.[a-z]*.\\}', '')` and requires what is left to be
   empty or listed, verbatim, in `terminologie/2.16.840.1.113883.6.8.xml` — the Regenstrief table
   of the ~760 units used in clinical practice. That table is read at run time from the
   configured reference path, never copied here.

A full UCUM engine (atom table, dimensions, conversions) is more than a producer needs: the
table only admits units a validating registry will accept, and the grammar gives the reason a
typo is refused.
"""

from __future__ import annotations

import re
import string
from functools import lru_cache
from pathlib import Path

from maison.formats import xmlsafe

CISIS_TABLE = Path("cisis/schematrons/profils/terminologies/terminologie/2.16.840.1.113883.6.8.xml")
_CISIS_ANNOTATION = re.compile(r"\{.[a-z]*.\}")  # verbatim from terminologie.sch, rule is-code-ucum-exist
_NOT_IN_SYMBOL = set('"()+-./=[]{}' + string.digits)  # UCUM §2.1: characters a terminal symbol can't hold


class _Invalid(Exception):
    pass


def syntax_error(expression: str) -> str | None:
    """Why `expression` is not a UCUM unit term, in French, or None when it is one."""
    try:
        _Parser(expression).main_term()
    except _Invalid as exc:
        return str(exc)
    return None


class _Parser:
    """Recursive descent over the UCUM BNF:
    main-term := "/" term | term;  term := component (("." | "/") component)*;
    component := annotatable annotation? | annotation | factor annotation? | "(" term ")" annotation?;
    annotatable := simple-unit exponent?;  exponent := ("+" | "-")? digits.
    An annotation after a factor or a parenthesis (`/100{cells}`, `g/(8.h){shift}`) is outside the
    strict BNF but used by LOINC and listed in the CI-SIS table, so it is accepted. No UCUM atom
    begins with a digit except 10* and 10^, so `12h` is refused with the fix (`12.h`)."""

    def __init__(self, text: str) -> None:
        self.text, self.i = text, 0

    def peek(self) -> str:
        return self.text[self.i] if self.i < len(self.text) else ""

    def fail(self, message: str) -> None:
        raise _Invalid(f"{message} (position {self.i + 1})")

    def main_term(self) -> None:
        if not self.text:
            raise _Invalid("unité vide")
        for index, char in enumerate(self.text):
            if not (33 <= ord(char) <= 126):
                self.i = index
                hint = " : le micro s'écrit « u » (ug, umol)" if char in "µμ" else ""
                self.fail(f"caractère « {char} » interdit (ASCII imprimable sans espace){hint}")
        if self.peek() == "/":
            self.i += 1
        self.term()
        if self.i < len(self.text):
            self.fail(f"« {self.peek()} » inattendu")

    def term(self) -> None:
        self.component()
        while self.peek() in (".", "/"):
            operator = self.peek()
            self.i += 1
            if self.peek() in ("", ".", "/", ")"):
                self.fail(f"« {operator} » n'est suivi d'aucun terme")
            self.component()

    def component(self) -> None:
        char = self.peek()
        if char == "(":
            self.i += 1
            self.term()
            if self.peek() != ")":
                self.fail("parenthèse non fermée")
            self.i += 1
            if self.peek() == "{":
                self.annotation()
        elif char == "{":
            self.annotation()
        elif char.isascii() and char.isdigit():  # '²'.isdigit() is True
            self.number()
        else:
            self.simple_unit()

    def number(self) -> None:
        start = self.i
        while self.peek().isascii() and self.peek().isdigit():
            self.i += 1
        digits = self.text[start : self.i]
        if digits == "10" and self.peek() in ("*", "^"):  # the special atoms 10* and 10^ (UCUM §2.3)
            self.i += 1
            self.exponent()
        elif self.peek() in ("+", "-"):
            self.fail(f"« {digits}{self.peek()} » : une puissance de dix s'écrit 10*n (10*3, 10*-3)")
        elif self.peek() not in ("", ".", "/", ")", "{"):
            self.fail(f"le nombre {digits} doit être séparé de l'unité par un opérateur ({digits}.h, pas {digits}h)")
        if self.peek() == "{":
            self.annotation()

    def simple_unit(self) -> None:
        start = self.i
        while self.peek():
            char = self.peek()
            if char == "[":  # square brackets are part of the symbol: [IU], [in_i'H2O], mm[Hg]
                end = self.text.find("]", self.i + 1)
                if end < 0 or "[" in self.text[self.i + 1 : end]:
                    self.fail("crochet non fermé")
                self.i = end + 1
            elif char in _NOT_IN_SYMBOL:
                break
            else:
                self.i += 1
        if self.i == start:
            self.fail(f"unité attendue, trouvé « {self.peek()} »" if self.peek() else "unité attendue")
        self.exponent()
        if self.peek() == "{":
            self.annotation()

    def exponent(self) -> None:
        if self.peek() in ("+", "-"):
            self.i += 1
            if not (self.peek().isascii() and self.peek().isdigit()):
                self.fail("signe d'exposant sans chiffre")
        while self.peek().isascii() and self.peek().isdigit():
            self.i += 1

    def annotation(self) -> None:
        end = self.text.find("}", self.i + 1)
        if end < 0 or "{" in self.text[self.i + 1 : end]:
            self.fail("accolade non fermée")
        self.i = end + 1


@lru_cache(maxsize=4)
def cisis_units(reference_path: Path) -> frozenset[str]:
    """The units of the CI-SIS UCUM table, exactly as its `<code>` elements hold them (the schematron
    compares text nodes verbatim: the table's `g/kg ` with a trailing space does not admit `g/kg`)."""
    root = xmlsafe.parse((reference_path / CISIS_TABLE).read_bytes())
    return frozenset(code.text or "" for code in root.iter("code"))


def check_unit(unit: str, known: frozenset[str]) -> None:
    """Raise ValueError saying why `unit` can't be a PQ unit of a CI-SIS document; `known` is `cisis_units(...)`."""
    error = syntax_error(unit)
    if error:
        raise ValueError(f"unité UCUM « {unit} » invalide : {error}")
    remainder = _CISIS_ANNOTATION.sub("", unit)
    if remainder and remainder not in known:
        raise ValueError(
            f"unité « {unit} » absente de la table UCUM du CI-SIS ({CISIS_TABLE.name}), "
            "refusée par terminologie.sch (règle is-code-ucum-exist)"
        )
