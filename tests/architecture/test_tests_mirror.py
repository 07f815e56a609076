"""The test tree mirrors the package tree (issue 19 §1.5, DESIGN.md §Layout).

A test of `maison/x/y.py` lives in `tests/x/test_y.py`; a module with several test files names the
aspect after the module (`tests/partage/dmp/test_service_annonce.py` tests `maison/partage/dmp/service.py`);
`tests/x/test_x.py` tests what the package `maison/x/` offers as a whole.
So a reader finds a module's tests without searching, and a moved module leaves a test file that
this check names. Three folders hold tests that are not about one module: `tests/e2e/` (real
processes driven over the wire), `tests/hostile/` (attacks, and an auditor's checks, across every
parser, route and file) and `tests/architecture/` (rules over the whole tree).
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ACROSS_MODULES = {"e2e", "hostile", "architecture"}


def _module_tested_by(test: Path) -> Path | None:
    """The module (or package) of maison/ a test file is named after, or None."""
    folder = ROOT / "maison" / test.parent.relative_to(ROOT / "tests")
    words = test.stem.removeprefix("test_").split("_")
    for n in range(len(words), 0, -1):
        name = "_".join(words[:n])
        if (folder / f"{name}.py").is_file():
            return folder / f"{name}.py"
        if name == folder.name and (folder / "__init__.py").is_file():
            return folder / "__init__.py"  # tests/x/test_x.py: what the package x itself offers
    return None


def test_every_test_file_names_the_module_it_tests() -> None:
    astray = []
    for test in sorted((ROOT / "tests").rglob("test_*.py")):
        parts = test.relative_to(ROOT / "tests").parts
        if parts[0] in ACROSS_MODULES:
            continue
        if _module_tested_by(test) is None:
            astray.append(str(test.relative_to(ROOT)))
    assert not astray, "test files naming no module at the mirrored place in maison/: " + ", ".join(astray)


def test_the_check_finds_a_test_astray() -> None:
    """The rule is not vacuous: a file named after a module that is not there is found."""
    assert _module_tested_by(ROOT / "tests" / "partage" / "dmp" / "test_service_annonce.py") == (
        ROOT / "maison" / "partage" / "dmp" / "service.py"
    )
    assert _module_tested_by(ROOT / "tests" / "partage" / "test_dmp_annonce.py") is None
    assert _module_tested_by(ROOT / "tests" / "core" / "test_no_such_module.py") is None
