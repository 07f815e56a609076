"""The audit coverage's scenarios that share one world per backend (`SHARED` in test_audit_coverage.py):
each covered method that only reads, or adds what no other scenario reads, called once allowed and once
refused on the module's house, its records read from a mark taken before it acts. The scenarios that
change Sarah's identity, her DMP's rules or the PFI's letter keep a world each in test_audit_coverage.py."""

from __future__ import annotations

import pytest

from tests.core.test_audit_coverage import SHARED, World, check, open_world


@pytest.fixture(scope="module")
def world(module_house) -> World:
    return open_world(module_house)


@pytest.mark.parametrize("name", sorted(SHARED))
def test_a_covered_method_leaves_its_record_allowed_and_refused(name, world):
    check(name, world, world.house)
