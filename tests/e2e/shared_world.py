"""The world of an end-to-end module whose tests share one house per backend (module_live): its
structures, professionals and patients made once, the professionals signed in to Pro Santé Connect
once; each test then gets it with tokens young enough for it (they last 120 s)."""

from __future__ import annotations

import pytest

from tests.partage.world import World, make_world


def shared_world(*keys: str):
    """The module's `module_world` (made on the module's house, `keys` signed in) and `world` (that
    world, renewed for the test) fixtures: `module_world, world = shared_world("hospitalier")`."""

    @pytest.fixture(scope="module", name="module_world")
    def _module_world(module_live) -> World:
        return make_world(module_live.house, module_live, keys)

    @pytest.fixture(name="world")
    def _world(module_world: World) -> World:
        return module_world.renew()

    return _module_world, _world


def shared_house():
    """`house` and `live` fixtures that name the module's shared house and where it is served
    (module_live), for tests written against conftest's per-test ones: `house, live = shared_house()`."""

    @pytest.fixture(name="house")
    def _house(module_live):
        return module_live.house

    @pytest.fixture(name="live")
    def _live(module_live):
        return module_live

    return _house, _live
