"""One trust space of MSSanté operators per test module and backend, on the module's house (module_live),
and the mailboxes each test opens in it for itself.

Starting the operators (their certificates, six listeners) and the house under them cost a second or
more per test; what a test of the IMAP or SMTP listeners checks is one mailbox's messages, flags and
folders, and the trail of its own acts. So the tests of a module share the listeners, each with mailboxes
of its own (`own_pfi`, `own_gp`: a fresh address, so an empty INBOX whose first UID is 1), and read the
trail from a mark taken before they act (`Trail`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from maison.core import audit
from maison.core.audit import SYSTEM
from maison.identite.psc.api import issuer_for
from tests.partage.mss_world import HOPITAL_DOMAIN, MEDECIN_DOMAIN, PFI_PASSWORD, MssWorld, start_world
from tests.partage.world import PROS, World, make_world


@pytest.fixture(scope="module")
def mss(module_live, tmp_path_factory) -> Iterator[MssWorld]:
    """The module's two operators of the trust space (and Mon espace santé's), on its shared house."""
    world = start_world(module_live.house, tmp_path_factory.mktemp("mss"), issuer_for(module_live.url))
    yield world
    world.close()


@pytest.fixture(scope="module")
def module_pros(module_live) -> World:
    """The module's professionals in the Annuaire, signed in to Pro Santé Connect once."""
    return make_world(module_live.house, module_live, keys=("generaliste", "infirmier"))


@pytest.fixture
def pros(module_pros: World) -> World:
    """The module's professionals, with tokens young enough for this test (they last 120 s)."""
    return module_pros.renew()


@pytest.fixture
def house(module_live):
    """The module's shared house (what the per-test `house` fixture gave these tests)."""
    return module_live.house


def _unique(local: str) -> str:
    return f"{local}-{uuid.uuid4().hex[:8]}"


def own_pfi(mss: MssWorld, local: str = "pfi") -> str:
    """A new applicative mailbox at the hospital's operator, with the PFI's password."""
    address = f"{_unique(local)}@{HOPITAL_DOMAIN}"
    mss.mss.mailboxes.create(SYSTEM, address, "chu-test", "APP", "1750000019", "PFI du CHU", password=PFI_PASSWORD)
    return address


def own_gp(mss: MssWorld) -> str:
    """A new personal mailbox at the regional operator, held by the GP (she opens it with her PSC token)."""
    address = f"{_unique('claire.martin')}@{MEDECIN_DOMAIN}"
    mss.mss.mailboxes.create(SYSTEM, address, "medecins", "PER", PROS["generaliste"].idnatps, "MARTIN Claire")
    return address


class Trail:
    """The audit records written after this mark: a shared house's trail holds the other tests' too."""

    def __init__(self, house) -> None:
        self.db = house.db
        with self.db.read() as conn:
            self.mark = max((e["seq"] for e in audit.events(conn, newest_first=True, limit=1)), default=0)

    def since(self, action_prefix: str) -> list[dict]:
        with self.db.read() as conn:
            return [e for e in audit.events(conn, action_prefix=action_prefix) if e["seq"] > self.mark]
