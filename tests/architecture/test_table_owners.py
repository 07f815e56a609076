"""One owner per table (issue 19 §2.1; DESIGN.md §Layout, §Rules), proved over the whole tree.

A service's tables are declared in its `store.py` and queried only inside its package; anybody else
calls the service's functions. import-linter already keeps the stores' imports in their packages,
but a table is reached in other ways too: a store imported under another name, a module that
re-exports a table, SQL text naming it. So this test reads every module under `maison/` (its AST)
and refuses any module outside a table's owning package that names one of that owner's table
objects, or names the table in SQL text. The ground floor's own tables (the audit trail, API keys,
throttling) are declared in `maison.core` and owned by it. `maison.migrations` is the schema of the
whole house: it alone may name every table.
"""

from __future__ import annotations

import ast
import importlib
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

import maison
from maison.migrations import load_all_tables

ROOT = Path(maison.__file__).parent
SCHEMA = "maison.migrations"

# Known exceptions, each with the part of issue 19 that removes it; a listed one that no longer
# occurs is reported (delete its line), like the `ignore_imports` of pyproject.toml's contracts.
# A module name stands for itself and the modules under it.
KNOWN: dict[tuple[str, str], str] = {}  # none today


def _known(breach: Breach) -> tuple[str, str] | None:
    for module, table in KNOWN:
        if table == breach.table.name and (breach.module == module or breach.module.startswith(module + ".")):
            return module, table
    return None


@dataclass(frozen=True)
class Table:
    name: str
    module: str  # where it is declared
    owner: str  # the package whose modules may query it


@dataclass(frozen=True)
class Breach:
    module: str
    line: int
    table: Table
    how: str

    def __str__(self) -> str:
        return (
            f"{self.module}:{self.line} {self.how} table {self.table.name}, owned by {self.table.owner} "
            f"(declared in {self.table.module}): call {self.table.owner}'s public functions instead"
        )


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, ast.Module]:
    return {
        _module_name(path): ast.parse(path.read_text(encoding="utf-8"), str(path))
        for path in sorted(ROOT.rglob("*.py"))
    }


def _is_table_call(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call) or not node.args:
        return False
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    first = node.args[0]
    return name == "Table" and isinstance(first, ast.Constant) and isinstance(first.value, str)


def _declarations(modules: dict[str, ast.Module]) -> dict[str, Table]:
    """Every `sa.Table("name", …)` outside the schema, by table name, with its owner."""
    tables: dict[str, Table] = {}
    for module, tree in modules.items():
        if module == SCHEMA or module.startswith(SCHEMA + "."):
            continue
        for node in ast.walk(tree):
            if _is_table_call(node):
                assert isinstance(node, ast.Call) and isinstance(node.args[0], ast.Constant)
                name = node.args[0].value
                assert name not in tables, f"table {name} declared twice: {tables[name].module} and {module}"
                package, _, leaf = module.rpartition(".")
                assert leaf == "store" or module.startswith("maison.core."), (
                    f"table {name} declared in {module}: a service's tables are declared in its store.py"
                )
                tables[name] = Table(name, module, package)
    return tables


def _table_names(module: str) -> dict[str, set[str]]:
    """The module's attributes that are tables or hold tables (a dict of them, say), with those tables."""
    out: dict[str, set[str]] = {}
    for attr, value in vars(importlib.import_module(module)).items():
        held = (
            list(value.values()) if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else [value]
        )
        names = {t.name for t in held if isinstance(t, sa.Table)}
        if names:
            out[attr] = names
    return out


def _aliases(tree: ast.Module, module: str) -> dict[str, str]:
    """Local name → the dotted name it stands for, from the module's imports."""
    out: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    out[alias.asname] = alias.name
                else:
                    head = alias.name.split(".")[0]
                    out[head] = head
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".")[: -node.level]
                base = ".".join([*package, *([base] if base else [])])
            for alias in node.names:
                out[alias.asname or alias.name] = f"{base}.{alias.name}"
    return out


def _dotted(node: ast.AST) -> list[str] | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return parts[::-1]


def _docstrings(tree: ast.Module) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                out.add(id(first.value))
    return out


def _sql_calls(tree: ast.Module) -> set[int]:
    """The string constants passed to `text(…)` or `exec_driver_sql(…)`: SQL whatever they say."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name in ("text", "exec_driver_sql"):
                for arg in [*node.args, *(k.value for k in node.keywords)]:
                    out |= {id(c) for c in ast.walk(arg) if isinstance(c, ast.Constant)}
    return out


def _breaches(modules: dict[str, ast.Module], tables: dict[str, Table]) -> list[Breach]:
    objects: dict[str, set[str]] = {}  # "<declaring module>.<attribute>" → the tables it names
    for declaring in {t.module for t in tables.values()}:
        for attr, names in _table_names(declaring).items():
            objects[f"{declaring}.{attr}"] = names
    words = re.compile(r"\b(" + "|".join(sorted(tables, key=len, reverse=True)) + r")\b")
    keyword = r"(?:FROM|JOIN|INTO|UPDATE|TABLE|EXISTS)\s+[\"`]?"
    in_sql = {name: re.compile(keyword + re.escape(name) + r"\b", re.IGNORECASE) for name in tables}
    found = []
    for module, tree in modules.items():
        if module == SCHEMA or module.startswith(SCHEMA + "."):
            continue

        def foreign(name: str, module: str = module) -> bool:
            owner = tables[name].owner
            return module != owner and not module.startswith(owner + ".")

        aliases = _aliases(tree, module)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):  # `from <store> import <table>`
                base = _aliases(ast.Module(body=[node], type_ignores=[]), module)
                for local in base.values():
                    for name in objects.get(local, ()):
                        if foreign(name):
                            found.append(Breach(module, node.lineno, tables[name], "imports"))
            elif isinstance(node, ast.Attribute) and (parts := _dotted(node)) and parts[0] in aliases:
                full = ".".join([aliases[parts[0]], *parts[1:]])
                for name in objects.get(full, ()):
                    if foreign(name):
                        found.append(Breach(module, node.lineno, tables[name], "names"))
        docstrings, sql = _docstrings(tree), _sql_calls(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Constant) or not isinstance(node.value, str) or id(node) in docstrings:
                continue
            for name in set(words.findall(node.value)):
                if foreign(name) and (id(node) in sql or in_sql[name].search(node.value)):
                    found.append(Breach(module, node.lineno, tables[name], "queries in SQL text"))
    return sorted(set(found), key=lambda b: (b.module, b.line, b.table.name))


def test_every_table_is_declared_once_by_its_owner() -> None:
    """Every table of the schema is declared in a store.py (or in the ground floor), and nowhere else."""
    declared = _declarations(_modules())
    schema = set(load_all_tables().tables)
    assert schema <= set(declared), (
        f"tables whose declaration this test does not find: {sorted(schema - set(declared))}"
    )
    assert set(declared) <= schema, f"tables maison.migrations does not load: {sorted(set(declared) - schema)}"


def test_no_module_touches_another_owners_tables() -> None:
    modules = _modules()
    breaches = _breaches(modules, _declarations(modules))
    new = [b for b in breaches if _known(b) is None]
    assert not new, "tables touched outside their owner's package:\n" + "\n".join(map(str, new))
    for module, table in sorted(set(KNOWN) - {_known(b) for b in breaches}):
        warnings.warn(f"{module} no longer touches {table}: delete its KNOWN line", stacklevel=1)


def test_the_check_sees_a_breach() -> None:
    """The scan itself is tested: a store under another name, a table imported, and SQL text."""
    modules = _modules()
    tables = _declarations(modules)
    planted = {
        "maison.partage.espace.planted": ast.parse(
            "from maison.partage.dmp import store as s\n"
            "from maison.partage.dmp.store import dmp_dossier\n"
            "import sqlalchemy as sa\n"
            "q = sa.select(s.dmp_document)\n"
            "t = sa.text('select 1')\n"
            "r = 'SELECT ins FROM dmp_submission WHERE ins = :ins'\n"
        )
    }
    found = {(b.line, b.table.name, b.how) for b in _breaches(planted, tables)}
    assert found == {
        (2, "dmp_dossier", "imports"),
        (4, "dmp_document", "names"),
        (6, "dmp_submission", "queries in SQL text"),
    }
    message = str(next(b for b in _breaches(planted, tables) if b.table.name == "dmp_document"))
    assert "maison.partage.espace.planted" in message and "maison.partage.dmp" in message
