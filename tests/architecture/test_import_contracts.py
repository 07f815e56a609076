"""Every store.py is guarded by an import-linter contract (DESIGN.md §Rules, issue 19 §3.2).

`./dev check` runs lint-imports over the contracts pyproject.toml declares; a store added without
its contract would be importable from anywhere and nobody would be told. This test names it."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_store_has_its_protected_contract() -> None:
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    protected = {m for c in contracts if c["type"] == "protected" for m in c["protected_modules"]}
    stores = {".".join(path.relative_to(ROOT).with_suffix("").parts) for path in (ROOT / "maison").rglob("store.py")}
    assert stores, "no store.py found: the walk is wrong"
    assert stores - protected == set(), f"stores without a contract: {sorted(stores - protected)}"


def test_the_wing_and_the_layers_are_contracts() -> None:
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    kinds = {(c["type"], tuple(c.get("source_modules", ()))) for c in contracts}
    assert ("forbidden", ("maison.etablissement",)) in kinds
    assert any(c["type"] == "layers" for c in contracts)
    assert not any(c.get("ignore_imports") for c in contracts), "an import exception came back"
