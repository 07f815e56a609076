"""Every query is built in its package's store.py (DESIGN.md §Layout; issue 19 §2.1).

`service.py` holds the rules of the seeds and the protocol adapters speak their protocol; neither
builds SQL. The ground floor (maison/core: the trail, keys, the throttle, storage itself) and the
schema (maison/migrations) keep theirs. This test walks every other module and names each place
that builds a statement: a sqlalchemy constructor (select, insert, update, delete, text, func,
and_, or_, exists, case, union…), a table's own .insert()/.update()/.delete(), or raw SQL.
"""

from __future__ import annotations

import ast
from pathlib import Path

import maison

ROOT = Path(maison.__file__).parent
BUILDERS = {
    "select",
    "insert",
    "update",
    "delete",
    "text",
    "func",
    "and_",
    "or_",
    "not_",
    "exists",
    "case",
    "union",
    "union_all",
    "literal",
    "literal_column",
    "tuple_",
    "distinct",
    "bindparam",
    "column",
    "table",
}
RAW = {"exec_driver_sql"}


def _exempt(path: Path) -> bool:
    rel = path.relative_to(ROOT)
    return path.name == "store.py" or rel.parts[0] in {"core", "migrations"}


def _sqlalchemy_aliases(tree: ast.Module) -> tuple[set[str], set[str]]:
    """Names bound to the sqlalchemy package (`sa`) and builders imported by name (`select`)."""
    modules, names = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in ("sqlalchemy", "sqlalchemy.sql"):
                    modules.add(alias.asname or alias.name)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
            for alias in node.names:
                if alias.name in BUILDERS:
                    names.add(alias.asname or alias.name)
    return modules, names


def builders_in(source: str) -> list[tuple[int, str]]:
    tree = ast.parse(source)
    modules, names = _sqlalchemy_aliases(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            if isinstance(node.value, ast.Name) and node.value.id in modules and node.attr in BUILDERS:
                found.append((node.lineno, f"{node.value.id}.{node.attr}"))
            elif node.attr in RAW:
                found.append((node.lineno, node.attr))
            elif (
                node.attr in ("insert", "update", "delete")
                and isinstance(node.value, ast.Attribute)
                and isinstance(node.value.value, ast.Name)
                and node.value.value.id.endswith("store")
            ):
                found.append((node.lineno, f"{node.value.value.id}.{node.value.attr}.{node.attr}()"))
        elif isinstance(node, ast.Name) and node.id in names and isinstance(node.ctx, ast.Load):
            found.append((node.lineno, node.id))
    return sorted(set(found))


def test_no_query_is_built_outside_a_store() -> None:
    breaches = []
    for path in sorted(ROOT.rglob("*.py")):
        if _exempt(path):
            continue
        for line, what in builders_in(path.read_text()):
            breaches.append(f"{path.relative_to(ROOT.parent)}:{line} {what}")
    assert not breaches, f"{len(breaches)} statements built outside a store.py:\n" + "\n".join(breaches)


def test_the_walk_sees_each_way_of_building_a_statement() -> None:
    planted = """
import sqlalchemy as sa
from sqlalchemy import select as pick
from maison.partage.dmp import store

def f(conn):
    conn.execute(sa.select(store.dmp_document))
    conn.execute(pick(store.dmp_document))
    conn.execute(store.dmp_document.insert())
    conn.exec_driver_sql("DELETE FROM dmp_document")
    conn.execute(sa.text("SELECT 1"))
"""
    found = {what for _, what in builders_in(planted)}
    assert found == {"sa.select", "pick", "store.dmp_document.insert()", "exec_driver_sql", "sa.text"}
