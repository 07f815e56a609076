"""Typed reads of a received JSON document, each naming its FHIRPath when the sender got a type wrong.

A reader written as `resource.get("identifier", [])` then `i.get("type", {}).get("coding", [])`
trusts the sender's types: an `identifier` that is a string, a `coding` that is a number, and the
server fails (a 500) where the sender made the mistake. `Node` wraps a value with its path
(`Patient.identifier[0].type`): `obj`, `objects`, `text`, `texts`, `flag`, `integer` answer the
member when it has the expected JSON type, an empty value when it is absent or null, and a 400
OperationOutcome whose `expression` is the member's path otherwise. So every reader built on it
refuses a wrong type the same way, without one check per field.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TypeVar

from maison.core.errors import InvalidInput

T = TypeVar("T")
D = TypeVar("D")

BIGINT_MAX = 2**63 - 1  # what a column holds; a JSON number past it is refused, not overflowed in SQL
_NAMES = {dict: "objet", list: "liste", str: "texte", bool: "booléen", int: "entier", float: "nombre"}


def wrong_type(path: str, expected: str) -> InvalidInput:
    return InvalidInput(f"{path} : {expected} attendu", code="type-json", expression=path)


class Node:
    """A JSON value and where it is in the received document."""

    __slots__ = ("path", "value")

    def __init__(self, value: object, path: str) -> None:
        self.value = value
        self.path = path

    def __repr__(self) -> str:
        return f"Node({self.path})"

    def _member(self, key: str, kind: type[T], default: D) -> T | D:
        if not isinstance(self.value, dict):
            raise wrong_type(self.path, _NAMES[dict])
        value = self.value.get(key)
        if value is None:
            return default
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise wrong_type(f"{self.path}.{key}", _NAMES[kind])
        return value

    def has(self, key: str) -> bool:
        return isinstance(self.value, dict) and self.value.get(key) is not None

    def obj(self, key: str) -> Node:
        """The member, an object (an empty one when absent)."""
        return Node(self._member(key, dict, {}), f"{self.path}.{key}")

    def objects(self, key: str) -> list[Node]:
        """The member, a list of objects (empty when absent)."""
        items = self._member(key, list, [])
        where = f"{self.path}.{key}"
        out = []
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise wrong_type(f"{where}[{i}]", _NAMES[dict])
            out.append(Node(item, f"{where}[{i}]"))
        return out

    def text(self, key: str, default: str = "") -> str:
        return self._member(key, str, default)

    def texts(self, key: str) -> list[str]:
        """The member, a list of strings (empty when absent)."""
        items = self._member(key, list, [])
        for i, item in enumerate(items):
            if not isinstance(item, str):
                raise wrong_type(f"{self.path}.{key}[{i}]", _NAMES[str])
        return list(items)

    def flag(self, key: str) -> bool | None:
        return self._member(key, bool, None)

    def integer(self, key: str, minimum: int = -BIGINT_MAX, maximum: int = BIGINT_MAX) -> int | None:
        value = self._member(key, int, None)
        if value is not None and not minimum <= value <= maximum:
            raise InvalidInput(
                f"{self.path}.{key} : entier de {minimum} à {maximum} attendu",
                code="type-json",
                expression=f"{self.path}.{key}",
            )
        return value

    def number(self, key: str) -> float | int | None:
        value = self.value.get(key) if isinstance(self.value, dict) else None
        if value is None:
            return None
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or abs(value) > BIGINT_MAX
        ):
            raise wrong_type(f"{self.path}.{key}", "nombre fini")
        return value

    def __iter__(self) -> Iterator[tuple[str, object]]:
        return iter(self.value.items() if isinstance(self.value, dict) else ())
