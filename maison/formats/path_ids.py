"""The types of the identifiers a route takes in its path: one declaration, checked before any query.

Every `{…}` of every route is annotated with one of these types (tests/hostile/test_path_ids.py walks
the app to check it), so a path id is refused with a 400 OperationOutcome naming it before a
service sees it. What broke before: `int()` and `str.isdigit()` accept `²`, `٣` or `1_0`, and a
number past 2^63 reached SQL (an overflow, a 500, in SQLite as in PostgreSQL).

- `RowId` — a database row number: ASCII digits only, 1 to 2^63-1 (BIGINT's range);
- `Index` — a position in a short list (an attachment of a message): ASCII digits, at most 9 999;
- `FhirId` — a FHIR `id` (R4 datatype id: `[A-Za-z0-9\\-\\.]{1,64}`), also used by this house for
  the identifiers of its own records (documents, measures, jobs…);
- `Code` — a name or code of the API itself (a resource type, a profile section);
- `Identifier` — a national identifier carried in a path (IdNatPS, a prescription number): ASCII
  letters and digits, at most 64;
- `Login` — an account's login (Mon espace santé): ASCII letters, digits, `.`, `_`, `-`, `@`, `+`,
  at most 100 (an e-mail address as a login included);
- `FileName` — a file published by the house: letters, digits, `.`, `_`, `-`, no leading dot;
- `RelativePath` — a relative path under a published directory (segments as `FileName`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any

from fastapi import Path
from pydantic import BeforeValidator

from maison.core.errors import InvalidInput

BIGINT_MAX = 2**63 - 1
_DIGITS = re.compile(r"[0-9]{1,19}")


class PathId:
    """The mark every path id type carries, so a test can find a route whose id was left untyped."""

    def __repr__(self) -> str:
        return "PathId()"


PATH_ID = PathId()


def ascii_digits(text: str, max_length: int = 19) -> bool:
    """ASCII digits only: `str.isdigit()` also accepts '²' or '٣', which `int()` refuses or reads
    as another number."""
    return 0 < len(text) <= max_length and text.isascii() and text.isdigit()


def _bounded_int(maximum: int, minimum: int) -> Callable[[object], int]:
    def check(value: object) -> int:
        if isinstance(value, str) and _DIGITS.fullmatch(value) and minimum <= int(value) <= maximum:
            return int(value)
        raise ValueError(f"entier attendu (chiffres ASCII, de {minimum} à {maximum})")

    return check


RowId = Annotated[
    int,
    BeforeValidator(_bounded_int(BIGINT_MAX, 1)),
    PATH_ID,
    Path(json_schema_extra={"minimum": 1, "maximum": BIGINT_MAX, "examples": [1]}),
]
Index = Annotated[
    int,
    BeforeValidator(_bounded_int(9_999, 0)),
    PATH_ID,
    Path(json_schema_extra={"minimum": 0, "maximum": 9_999, "examples": [0]}),
]
FhirId = Annotated[str, PATH_ID, Path(pattern=r"^[A-Za-z0-9\-.]{1,64}$", examples=["1"])]
Code = Annotated[str, PATH_ID, Path(pattern=r"^[A-Za-z][A-Za-z0-9_\-]{0,63}$", examples=["a"])]
Identifier = Annotated[str, PATH_ID, Path(pattern=r"^[A-Za-z0-9]{1,64}$", examples=["1"])]
Login = Annotated[str, PATH_ID, Path(pattern=r"^[A-Za-z0-9._@+\-]{1,100}$", examples=["a"])]
FileName = Annotated[str, PATH_ID, Path(pattern=r"^[A-Za-z0-9_\-][A-Za-z0-9._\-]{0,127}$", examples=["a"])]
RelativePath = Annotated[
    str,
    PATH_ID,
    Path(pattern=r"^[A-Za-z0-9_\-][A-Za-z0-9._\-]{0,127}(/[A-Za-z0-9_\-][A-Za-z0-9._\-]{0,127}){0,7}$", examples=["a"]),
]


_PLACES = {"path": "chemin", "query": "requête", "header": "en-tête", "cookie": "cookie", "body": "corps"}


def parameter_error(errors: Sequence[Mapping[str, Any]]) -> InvalidInput:
    """FastAPI's validation errors as one 400 naming the parameter (its name as the expression), in
    French, without echoing the value sent."""
    first = errors[0] if errors else {}
    loc = [str(part) for part in first.get("loc", ())]
    place, name = (loc[0], ".".join(loc[1:])) if loc else ("", "")
    kind = first.get("type", "")
    if kind == "string_pattern_mismatch":
        why = f"format attendu {first.get('ctx', {}).get('pattern', '')}"
    elif kind == "value_error":
        why = str(first.get("msg", "")).removeprefix("Value error, ")
    elif kind == "missing":
        why = "absent"
    else:
        why = f"valeur refusée ({kind})"
    return InvalidInput(
        f"paramètre de {_PLACES.get(place, place)} '{name}' invalide : {why}",
        code="parametre-invalide",
        expression=name or None,
    )
