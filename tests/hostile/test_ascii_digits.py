"""`str.isdigit()` is True for '²', '٣' or '１', which `int()` then refuses (a 500) or reads as another
number: every digit test on text in the house checks `isascii()` too (or uses
`maison.formats.path_ids.ascii_digits`). Checked on the source, and over HTTP where the pentest's
inputs reached such a test (issue 18 §2.4)."""

from __future__ import annotations

import ast
from pathlib import Path

import httpx
import orjson

import maison
from tests.hostile.world import credentials

BYTES_ONLY = {  # bytes.isdigit() is ASCII-only
    "partage/mss/imap.py": "IMAP command bytes",
    "partage/mss/imap_guard.py": "IMAP literal size, bytes",
}


def test_no_digit_test_on_text_without_isascii():
    root = Path(maison.__file__).parent
    unchecked = []
    for path in sorted(root.rglob("*.py")):
        name = path.relative_to(root).as_posix()
        if name in BYTES_ONLY:
            continue
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "isdigit":
                if "isascii()" not in lines[node.lineno - 1]:
                    unchecked.append(f"{name}:{node.lineno}")
    assert not unchecked, f"str.isdigit() without isascii(): {unchecked}"


def test_unicode_digits_in_parameters_are_refused_over_http(house, live):
    creds = credentials(house, live)
    for caller, path in (
        ("professionnel", "/annuaire/Practitioner?_count=%C2%B2"),
        ("hospitalier", "/fhir/Patient?_count=%C2%B2&family=X"),
    ):
        answer = httpx.get(f"{live.url}{path}", headers=creds[caller])
        assert answer.status_code < 500 and answer.json()["resourceType"] in ("OperationOutcome", "Bundle"), path
    refused = httpx.put(
        f"{live.url}/dmp/espace/preferences",
        content=orjson.dumps({"medecinTraitant": "٣٣٣"}),
        headers={**creds["patient"], "Content-Type": "application/json"},
    )
    assert refused.status_code == 400, refused.text
