"""RFC 6902 JSON Patch on a FHIR resource, for PDSm flux 03 (conditional PATCH of a fiche).

PDSm (st_maj.md L13-18) recommends JSON Patch; the guide's own example is not valid JSON Pointer
(docs/research/pdsm.md §7.2), so only the RFC forms are accepted: add, remove, replace, test, with
RFC 6901 pointers. The caller compares the patched resource with the original to find what changed.
"""

from __future__ import annotations

import copy

from maison.core.errors import MalformedRequest, TransitionRefused
from maison.formats.path_ids import ascii_digits  # '²'.isdigit() is True, int('²') fails


def _tokens(pointer: object) -> list[str]:
    if not isinstance(pointer, str) or (pointer and not pointer.startswith("/")):
        raise MalformedRequest(f"chemin JSON Pointer invalide : {pointer!r}", code="json-patch")
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer.split("/")[1:]]


def _parent(doc: object, tokens: list[str]) -> tuple[object, str]:
    node = doc
    for token in tokens[:-1]:
        if isinstance(node, list) and ascii_digits(token) and int(token) < len(node):
            node = node[int(token)]
        elif isinstance(node, dict) and token in node:
            node = node[token]
        else:
            raise TransitionRefused(f"chemin absent : /{'/'.join(tokens)}", code="json-patch-chemin")
    return node, tokens[-1]


def apply(resource: dict, operations: object) -> dict:
    if not isinstance(operations, list) or not operations:
        raise MalformedRequest("JSON Patch : une liste d'opérations est attendue", code="json-patch")
    doc = copy.deepcopy(resource)
    for op in operations:
        if not isinstance(op, dict) or op.get("op") not in ("add", "remove", "replace", "test"):
            raise MalformedRequest(f"opération JSON Patch non prise en charge : {op!r}", code="json-patch")
        tokens = _tokens(op.get("path"))
        if not tokens:
            raise MalformedRequest("JSON Patch : la ressource entière ne se remplace pas", code="json-patch")
        parent, key = _parent(doc, tokens)
        kind = op["op"]
        if kind != "remove" and "value" not in op:
            raise MalformedRequest(f"JSON Patch {kind} sans 'value'", code="json-patch")
        if isinstance(parent, list):
            index = len(parent) if key == "-" else (int(key) if ascii_digits(key) else -1)
            limit = len(parent) if kind == "add" else len(parent) - 1
            if not 0 <= index <= limit:
                raise TransitionRefused(f"indice hors limites : {op['path']}", code="json-patch-chemin")
            if kind == "add":
                parent.insert(index, op["value"])
            elif kind == "remove":
                parent.pop(index)
            elif kind == "replace":
                parent[index] = op["value"]
            elif parent[index] != op["value"]:
                raise TransitionRefused(f"test JSON Patch échoué : {op['path']}", code="json-patch-test")
        elif isinstance(parent, dict):
            if kind in ("remove", "replace", "test") and key not in parent:
                raise TransitionRefused(f"chemin absent : {op['path']}", code="json-patch-chemin")
            if kind in ("add", "replace"):
                parent[key] = op["value"]
            elif kind == "remove":
                del parent[key]
            elif parent[key] != op["value"]:
                raise TransitionRefused(f"test JSON Patch échoué : {op['path']}", code="json-patch-test")
        else:
            raise TransitionRefused(f"chemin invalide : {op['path']}", code="json-patch-chemin")
    return doc
