"""What the tests of Mon espace santé's profil, measures, agenda, upload and choice of espace share:
the DMP's test world with one N1 of Sarah's, Sarah logged in to the portal, a helper that posts a
page's form with the token the page carries, and the audit records of one action. On a world the
module's tests share (`shared_world`), a test that writes a dossier takes a patient of its own
(`own`, logged in by `logged_in`), so that Sarah's stays as the other tests read it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from maison.core import audit
from maison.core.authz import patient_actor
from maison.etablissement.dmp.producer import Produced
from maison.partage.dmp.model import Access, Who
from tests.identite.helpers import SARAH_NIR
from tests.partage.world import PROS, World, make_world, n1
from tests.portail.own_patient import Patient, own_patient
from tests.portail.test_patient import _token, log_in


def make(house, live) -> World:
    """The DMP's world, one N1 of Sarah's fed by the hospital."""
    world = make_world(house, live, keys=("hospitalier",))
    fed = world.provide("hospitalier", [Produced(n1(PROS["hospitalier"], title="Lettre de liaison de sortie"))])
    assert fed.status_code == 200, fed.text
    return world


@pytest.fixture
def world(house, live) -> World:
    """Each file's `world` (`world = espace_world.world` in it)."""
    return make(house, live)


@pytest.fixture
def client(world: World) -> Iterator[httpx.Client]:
    """Each file's `client`: Sarah's browser, logged in to /mon-espace."""
    with httpx.Client(base_url=world.base, timeout=120) as client:
        assert log_in(world, client).status_code == 303
        yield client


@pytest.fixture(scope="module")
def shared_world(module_live) -> World:
    """`world` on the module's one house (module_live), for modules whose tests are all refused."""
    return make(module_live.house, module_live)


@pytest.fixture(scope="module")
def shared_client(shared_world: World) -> Iterator[httpx.Client]:
    """`client` on the module's one house: Sarah logged in once; a refused form leaves her session as it was."""
    with httpx.Client(base_url=shared_world.base, timeout=120) as client:
        assert log_in(shared_world, client).status_code == 303
        yield client


@pytest.fixture(name="world")
def module_world(shared_world: World) -> World:
    """A module's `world` when all its tests share its house: imported with `shared_world`."""
    return shared_world


@pytest.fixture(name="client")
def module_client(shared_client: httpx.Client) -> httpx.Client:
    """A module's `client` when all its tests share Sarah's one session: imported with `shared_client`."""
    return shared_client


def own(world: World, *, letter: bool = True) -> Patient:
    """A patient of this test's own on the module's world, in the INS referential with her login (the
    world's PASSWORD); `letter`: one N1 of hers fed by the hospital (her DMP then exists, as Sarah's
    does), the hospital's token renewed first (PSC's last 120 s)."""
    patient = own_patient(world.house)
    if letter:
        document = n1(PROS["hospitalier"], patient=patient.identity, title="Lettre de liaison de sortie")
        fed = world.renew().provide("hospitalier", [Produced(document)])
        assert fed.status_code == 200, fed.text
    return patient


@contextmanager
def logged_in(world: World, patient: Patient | None = None) -> Iterator[httpx.Client]:
    """A browser logged in to /mon-espace: as `patient`, or as Sarah (a session of the test's own)."""
    who = (patient.login, patient.email) if patient else ()
    with httpx.Client(base_url=world.base, timeout=120) as client:
        assert log_in(world, client, *who).status_code == 303
        yield client


@pytest.fixture
def renewed_world(shared_world: World) -> World:
    """`world` on the module's one house, its professionals' tokens young enough for this test (PSC's
    access tokens last 120 s; a module's tests outlive them)."""
    return shared_world.renew()


@pytest.fixture
def patient(world: World) -> Patient:
    """This test's own patient on the module's world, one N1 of hers in her DMP: what she sets or
    files is hers alone, and her records are the only ones the test counts."""
    return own(world)


@pytest.fixture
def new_patient(world: World) -> Patient:
    """`patient` with no document yet: for a module whose tests write Mon espace santé's own parts
    (profile, measures), not the DMP. A module takes it as its `patient` (`patient = new_patient`)."""
    return own(world, letter=False)


@pytest.fixture
def her(world: World, patient: Patient) -> Iterator[httpx.Client]:
    """This test's patient logged in to /mon-espace."""
    with logged_in(world, patient) as client:
        yield client


def post(client: httpx.Client, page: str, action: str, **data: str) -> httpx.Response:
    """The form at `action` as the page at `page` sends it: with the session's CSRF token."""
    return client.post(action, data={"csrf": _token(client.get(page).text), **data})


def records(house, action: str, patient: str = SARAH_NIR) -> list[dict]:
    with house.db.read() as conn:
        return [r for r in audit.events(conn, patient=patient, action_prefix=action) if r["action"] == action]


def patient_who(ins: str, acting: str | None = None) -> Who:
    """A patient as the services see her (to make another patient's entries through the service)."""
    return Who(patient_actor(ins, acting or ins), Access())


def refused_without_token(client: httpx.Client, action: str, **data: str) -> None:
    """The form posted without its token, then with a wrong one: 403 in French, nothing done."""
    for token in ({}, {"csrf": "pas-le-bon"}):
        refused = client.post(action, data={**token, **data, "envoi": "1"})  # a body, as a browser sends
        assert refused.status_code == 403, (action, refused.text)
        assert "CSRF" in refused.text and '<html lang="fr">' in refused.text
