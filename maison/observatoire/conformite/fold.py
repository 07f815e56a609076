"""What each audit record says of a software's use of the services socles (issue 23 §3.1), folded
by seq cursor: `fold(db)` reads only the records after the last one folded, in batches, each batch
in one transaction with the counters it updates (obs_common.md: fold, do not rescan).

The rules, record by record (successful records only: a refused call exercised nothing):
- `insi.rechercher…` — an INSi call by the software named in ContexteLPS (its IDAM); `cr` 00 is
  an identity found (seed 002 L344: the association is made on 00);
- `identitovigilance.insi-retrieval` — the INS associated to a local identity after that 00;
- `annuaire.…` — an act on the Annuaire Santé;
- `dmp.alimenter` — a lot fed; the DMP takes only an INS its referential knows (its refusal:
  "patient non identifié par une INS qualifiée", partage/dmp/service.py), so every fed lot is
  fed with a qualified INS; `niveaux` counts the documents N1 and N3 (seed 002 L790);
- `mss.remettre` — a message delivered: received by the mailbox `bal`, sent by `expediteur`;
- `ordonnance.creer` / `ordonnance.executer` — an ordonnance created / dispensed (001 L424-462);
- any record — `activite` of its software: a Pro Santé Connect client's activity is the use of its
  tokens (an access token's `azp` is the actor's software, core/authz.py);
- `admin.client-psc-enregistre`, `psc.client-enregistre` — a PSC client's name (its software).
A later record never undoes an exercise: a document fed then deleted (`dmp.supprimer`), an
ordonnance created then cancelled (`ordonnance.annuler`) — the software did use the service, and
the maison table asks which services a category integrates (seed 001 L196-216), not what remains.
Per structure (MATURIN-H #1, #3, seed 000 L4494-4496): a software's activity, its use of the
identity referential (INSi, the local patient index) and of the stays referential (`sejours.…`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from maison.core import audit
from maison.core.storage import Database
from maison.observatoire.conformite import store
from maison.observatoire.conformite.store import Tally

CURSOR = "conformite"
BATCH = 5_000

Facts = tuple[dict[tuple[str, str, str], Tally], dict[tuple[str, str, str, str], Tally], dict[str, tuple[str, int]]]


def software_identity(name: str) -> str:
    return f"logiciel:{name}"


def mailbox_identity(address: str) -> str:
    return f"bal:{address.strip().lower()}"


# the actions whose detail the fold reads (the others' detail is never parsed: a full fold reads
# millions of records, most of which it only counts)
_WITH_DETAIL = (
    "insi.rechercher",
    "dmp.alimenter",
    "mss.remettre",
    "admin.client-psc-enregistre",
    "psc.client-enregistre",
)


def _exercises(event: dict[str, Any], detail: dict[str, Any]) -> Iterator[tuple[str, str, int]]:
    """(identity, kind, how many) the record proves."""
    action, me = event["action"], software_identity(event["actor_software"])
    yield me, "activite", 1
    if action.startswith("insi.rechercher"):
        yield me, "insi.appel", 1
        if detail.get("cr") == "00":
            yield me, "insi.cr00", 1
    elif action == "identitovigilance.insi-retrieval":
        yield me, "ins.association", 1
    elif action.startswith("annuaire."):
        yield me, "annuaire.acces", 1
    elif action == "dmp.alimenter":
        yield me, "dmp.alimentation", 1
        levels = detail.get("niveaux") or []
        for level in ("N1", "N3"):
            if n := sum(1 for x in levels if x == level):
                yield me, f"dmp.{level.lower()}", n
    elif action == "mss.remettre":
        if detail.get("bal"):
            yield mailbox_identity(detail["bal"]), "mss.reception", 1
        if detail.get("expediteur"):
            yield mailbox_identity(detail["expediteur"]), "mss.envoi", 1
    elif action == "ordonnance.creer":
        yield me, "ordonnance.creation", 1
    elif action == "ordonnance.executer":
        yield me, "ordonnance.dispensation", 1


def _application(action: str) -> str | None:
    """MATURIN-H's referentials a record shows a software connected to (seed 000 L4494, L4496)."""
    if action.startswith(("insi.rechercher", "identitovigilance.")):
        return "referentiel.identite"
    if action.startswith("sejours."):
        return "referentiel.sejours"
    return None


def _tally(facts: dict, key: tuple, at: str, seq: int, n: int) -> None:
    if key in facts:
        facts[key].add(at, seq, n)
    else:
        facts[key] = Tally(n, at, seq, at, seq)


def facts_of(events: list[dict[str, Any]]) -> Facts:
    """A batch's facts: exercises per (identity, kind, day), applications per (structure, identity,
    kind, day), PSC clients' names."""
    exercises: dict[tuple[str, str, str], Tally] = {}
    applications: dict[tuple[str, str, str, str], Tally] = {}
    clients: dict[str, tuple[str, int]] = {}
    for event in events:
        if event["outcome"] != "success":
            continue
        detail = audit.detail_of(event) if event["action"].startswith(_WITH_DETAIL) else {}
        at, seq, day = event["recorded_at"], event["seq"], event["recorded_at"][:10]
        for identity, kind, n in _exercises(event, detail):
            _tally(exercises, (identity, kind, day), at, seq, n)
        structure, me = event["actor_structure"], software_identity(event["actor_software"])
        if structure:
            _tally(applications, (structure, me, "activite", day), at, seq, 1)
            if referential := _application(event["action"]):
                _tally(applications, (structure, me, referential, day), at, seq, 1)
        if event["action"] in ("admin.client-psc-enregistre", "psc.client-enregistre") and detail.get("client_id"):
            clients[detail["client_id"]] = (str(detail.get("nom", "")), seq)
    return exercises, applications, clients


def fold(db: Database, *, from_zero: bool = False, batch: int = BATCH) -> int:
    """Fold the records after the cursor (all of them with `from_zero`); returns how many were read."""
    total = 0
    if from_zero:
        with db.write() as conn:
            store.clear_folds(conn, CURSOR)
    with db.read() as conn:
        missing = not store.has_cursor(conn, CURSOR)
    if missing:
        try:
            with db.write() as conn:
                store.create_cursor(conn, CURSOR)
        except sa.exc.IntegrityError:
            pass  # another fold created it first: its row lock now orders the two
    while True:
        with db.write() as conn:
            after, head = store.cursor(conn, CURSOR), audit.last_seq(conn)
            if after >= head:
                return total
            upto = min(after + batch, head)
            events = audit.records_after(conn, after, upto, None)  # every action: any names its software
            exercises, applications, clients = facts_of(events)
            store.add_exercises(conn, exercises)
            store.add_applications(conn, applications)
            store.name_psc_clients(conn, clients)
            store.set_cursor(conn, CURSOR, upto)
        total += len(events)
