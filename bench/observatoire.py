"""The observatory over a GHT-year of synthetic activity (issue 23 §5).

The data set (generated once, cached in `bench/.cache/observatoire-<stays>`): one GHT of three
sites (FINESS), a year of activity up to the day the bench measures — by default 300 000 stays,
2 million documents fed, 500 000 MSSanté messages and 10 million audit records — written as the
services write them, so that the observatory's folds read exactly what a house would hold:

- the stays: `sej_stay` rows (and their A01/A03 `sej_movement` rows) as the GAM's messages left
  them, and the PAM records `sejours.A01/A02/A03/A11` (detail: structure, sejour, mouvement,
  control_id); about 3 % of the stays cancelled by A11, the last days' stays not over;
- the documents the DPI, the lab and the RIS sent through the PFI: `pfi.hl7.document` (stay, LOINC
  type, CDA levels, PID-32), then the DMP's `dmp.alimenter` of the lot (documents, types, levels,
  n1_de, stays) and the PFI's `pfi.hl7.dmp` leg (accepted or refused); a discharge letter for ~60 %
  of the stays, discharge prescriptions, operative reports, biology reports (~70 % sent N1+N3, the
  rest N1 only where N3 is required), imaging reports and other documents; ~85 % of the identities
  qualified (PID-32 QUAL, the rest VALI/PROV); ~3 % refused by the DMP, ~2 % never sent, ~1 %
  withdrawn later (`pfi.hl7.dmp` suppression + `dmp.supprimer`), ~1 % replaced (T10, a new
  version); ~5 % fed by the structure's software directly (`dmp.alimenter` only, the stay from the
  CDA's encompassingEncounter);
- the MSSanté sendings: the PFI's `pfi.hl7.mss` leg per recipient (~40 % to the patient's citizen
  mailbox, the rest to correspondents of a directory of PER/ORG/APP/CAB mailboxes, ~3 % failed) and
  the operator's `mss.remettre`;
- the rest of the trail: reads (`sejours.read`, `dmp.consulter`, logins) up to the record count.

The records are made with `Trail.entry` (the house's record shape), chained with the trail's own
hashing (`audit._chain`: sha256 over the previous hash and the canonical record) in seq order —
`verify_chain` is run on the result — and inserted in bulk (executemany in large transactions,
`synchronous=OFF` while generating: it is a cache rebuilt when incomplete).

The measurement, on a copy of the cached database (SQLite, `synchronous=FULL` as the other
benches), through the real entry points (`SunEs.fold/compute/explain`, `National`, `Conformite`):
the fold from 0 once; then, repeated, (a) every SUN-ES indicator of the GHT for the semester
2026-S1 (goal < 10 s), (b) one more day of generated records appended to the trail (chained by
`audit.append`, the day's new stays in `sej_stay`) then folded (goal < 1 s), (c) the explanation
of DS1.1 for the GHT's semester — its first page of 50 elements with the whole explanation's totals,
what the dashboard and `?page=` serve (goal < 2 s), its last page, and the full list (the export, no
goal) — and every other indicator's first page and full list once; and the
national statistics' month and the conformity rows (fold from 0, then the report). p50 and max.

    ./dev bench observatoire                # the GHT-year (generation once: nice -n 10 advised)
    ./dev bench observatoire --quick        # 1/100 scale smoke run
"""

from __future__ import annotations

import argparse
import functools
import heapq
import json
import os
import platform
import random
import shutil
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from flux import _cpu_model  # noqa: E402  # the machine's CPU as the flows bench records it

from maison.core import audit  # noqa: E402
from maison.core.actor import Actor  # noqa: E402
from maison.core.storage import Database  # noqa: E402
from maison.migrations import migrate  # noqa: E402

GHT = "GHT-75-BENCH"
STRUCTURES = ("750100018", "750100026", "750100034")
OID = "1.2.250.1.213.1.4.8.99.{}"  # the sites' stay-number authority (encompassingEncounter root)
DOC_ROOT = "1.2.250.1.999.77"  # documents: ClinicalDocument/id root.<n>, one OID each
YEAR_START = datetime(2026, 1, 1, tzinfo=UTC)
FIRST_MEASURED_DAY = datetime(2026, 12, 7, tzinfo=UTC)  # the trail ends at its start; (b) folds this day on
SEMESTER = "2026-S1"
MONTH = "2026-05"
GOALS = {"compute_s": 10.0, "day_fold_s": 1.0, "explain_s": 2.0}  # explain: its first page, with the totals
PAGE = 50  # an explanation's elements per page (the dashboard's)
FULL = {"stays": 300_000, "documents": 2_000_000, "messages": 500_000, "records": 10_000_000}
console = Console(width=130)

# document kinds: (LOINC type, mean per stay, when, P(sent by MSSanté)); "when": during the stay or at discharge
LETTER, PRESCRIPTION, CRO, BIO, IMAGING, OTHER = "11490-0", "57833-6", "34874-8", "11502-2", "18748-4", "11488-4"
KINDS = (
    (LETTER, 0.60, "discharge", 0.90),
    (PRESCRIPTION, 0.40, "discharge", 0.30),
    (CRO, 0.15, "stay", 0.50),
    (BIO, 3.00, "stay", 0.15),
    (IMAGING, 1.50, "stay", 0.30),
    (OTHER, 1.00, "stay", 0.10),
)
MAILBOX_KINDS: tuple[tuple[str | None, float], ...] = (
    ("PER", 0.88),
    ("ORG", 0.06),
    ("APP", 0.02),
    ("CAB", 0.02),
    (None, 0.02),  # not in the directory
)
CITIZEN = "patient.mssante.fr"

GAM = [Actor(person=f"system:gam-{s}", structure=s, software="GAM-BENCH") for s in STRUCTURES]
PFI = [Actor(person="system:pfi-hl7", structure=s, software="maison-pfi") for s in STRUCTURES]
DPI = [
    Actor(person=f"logiciel:DPI-BENCH-{i}", structure=s, software=f"DPI-BENCH-{i}") for i, s in enumerate(STRUCTURES)
]
OPERATOR = Actor(person="system:mss", structure="OPERATEUR-BENCH", software="maison-mss")
READERS = [
    Actor(person=f"8{10100000000 + i:011d}", structure=s, software=f"DPI-BENCH-{k}", role="10")
    for k, s in enumerate(STRUCTURES)
    for i in range(50)
]
BENCH_ACTOR = Actor(person="899900038441", structure=STRUCTURES[0], software="bench", role="ARS")

KEYS = tuple(c.name for c in audit.audit_event.columns)  # the trail's columns, in its order
COLUMNS = ", ".join(KEYS)


# --- the world ---------------------------------------------------------------------------------


def ins_of(patient: int) -> str:
    return f"{1 + patient % 2}{patient:014d}"


def directory(size: int, seed: int) -> dict[str, str | None]:
    """The MSSanté directory's type of each correspondent address (None: not in the directory)."""
    rnd = random.Random(seed)
    kinds = [k for k, _ in MAILBOX_KINDS]
    weights = [w for _, w in MAILBOX_KINDS]
    return {f"correspondant.{i}@ville{i % 97}.mssante.fr": rnd.choices(kinds, weights)[0] for i in range(size)}


class World:
    """The generator of one GHT's activity: stays, then every record each stay leads to, in time order."""

    def __init__(self, scale: dict[str, int], seed: int, end: datetime) -> None:
        self.scale = scale
        self.rnd = random.Random(seed)
        self.end = end.timestamp()
        self.patients = max(10, int(scale["stays"] * 0.55))
        self.addresses = list(directory(max(50, scale["messages"] // 25), seed))
        per_stay = sum(k[1] for k in KINDS)
        self.doc_factor = scale["documents"] / (scale["stays"] * per_stay * 0.97)  # ~3 % cancelled stays: none
        mss = sum(k[1] * k[3] for k in KINDS)
        self.mss_factor = scale["messages"] / (scale["stays"] * mss * self.doc_factor * 0.97)
        self.next_doc = 0
        self.next_message = 0
        self.movement = 0
        self.counter = 0

    def uid(self) -> str:
        self.next_doc += 1
        return f"{DOC_ROOT}.{self.next_doc}"

    def stays(self, n: int, start: float, stop: float, first_id: int) -> list[dict[str, Any]]:
        """`n` stays admitted in [start, stop), in admission order, as the GAM left them at `self.end`."""
        rnd = self.rnd
        out = []
        for k, at in enumerate(sorted(rnd.uniform(start, stop) for _ in range(n))):
            i = first_id + k
            patient = rnd.randrange(1, self.patients + 1)
            site = patient % 3 if rnd.random() < 0.85 else rnd.randrange(3)  # patients mostly keep their site
            cancelled = rnd.random() < 0.03
            los = 0.0 if rnd.random() < 0.4 else rnd.expovariate(1 / 4.5) * 86400
            discharge = at + (rnd.uniform(2, 10) * 3600 if los == 0 else los)
            out.append(
                dict(
                    id=i,
                    structure=STRUCTURES[site],
                    site=site,
                    number=f"{site + 1}{i:09d}",
                    patient_id=patient,
                    ipp=f"IPP{patient:09d}",
                    ins=ins_of(patient),
                    qualified=rnd.random() < 0.85,
                    at=at,
                    discharge=None if cancelled or discharge >= self.end else discharge,
                    cancel=at + rnd.uniform(600, 7200) if cancelled else None,
                    patient_class="O" if los == 0 else "I",
                )
            )
        return out

    def events(self, stay: dict[str, Any]) -> Iterator[tuple[float, str, Actor, dict[str, Any]]]:
        """Every record this stay leads to: (time, action, actor, fields of Trail.entry)."""
        rnd, site, s = self.rnd, stay["site"], stay
        key = {"structure": s["structure"], "sejour": s["number"]}
        self.movement += 1
        yield s["at"], "sejours.A01", GAM[site], dict(patient=s["ipp"], detail=key | self._pam(s, 1))
        if s["cancel"] is not None:
            yield s["cancel"], "sejours.A11", GAM[site], dict(patient=s["ipp"], detail=key | self._pam(s, 1))
            return
        end = s["discharge"] if s["discharge"] is not None else self.end
        if rnd.random() < 0.3:
            yield (
                rnd.uniform(s["at"], end),
                "sejours.A02",
                GAM[site],
                dict(patient=s["ipp"], detail=key | self._pam(s, 2)),
            )
        if s["discharge"] is not None:
            yield s["discharge"], "sejours.A03", GAM[site], dict(patient=s["ipp"], detail=key | self._pam(s, 3))
        for type_code, mean, when, p_mss in KINDS:
            count = _poisson(rnd, mean * self.doc_factor)
            if when == "discharge":
                if s["discharge"] is None:
                    continue
                count = min(count, 1)
            for _ in range(count):
                if when == "discharge":
                    t = s["discharge"] + rnd.uniform(0, 3 * 86400)
                else:
                    t = rnd.uniform(s["at"], max(end, s["at"] + 3600))
                yield from self._document(s, type_code, t, p_mss)

    def _pam(self, s: dict[str, Any], n: int) -> dict[str, Any]:
        return {"mouvement": f"{s['number']}-{n}", "control_id": f"MSG{s['id']:09d}{n}"}

    def _document(
        self, s: dict[str, Any], type_code: str, t: float, p_mss: float
    ) -> Iterator[tuple[float, str, Actor, dict[str, Any]]]:
        rnd, site = self.rnd, s["site"]
        uid = self.uid()
        levels = ["N1", "N3"] if type_code == BIO and rnd.random() < 0.7 else ["N1"]
        stay_ref = f"{s['structure']}/{s['number']}"
        status = "QUAL" if s["qualified"] else rnd.choice(("VALI", "PROV"))
        if rnd.random() < 0.05:  # fed by the structure's software itself, not through the PFI
            yield t, "dmp.alimenter", DPI[site], dict(patient=s["ins"], detail=self._lot(s, uid, type_code, levels))
            return
        yield (
            t,
            "pfi.hl7.document",
            PFI[site],
            dict(patient=s["ins"], detail=self._produced(s, uid, type_code, levels, status)),
        )
        fate = rnd.random()
        leg = {"document": uid, "action": "initial", "sejour": stay_ref, "destinataire": ""}
        if fate < 0.02:
            pass  # never sent (DESTDMP=N)
        elif fate < 0.05:
            yield (
                t + 2,
                "pfi.hl7.dmp",
                PFI[site],
                dict(patient=s["ins"], outcome="failure", detail=leg | {"etat": "refuse", "code": "DMP_ERR_INS"}),
            )
        else:
            yield t + 1, "dmp.alimenter", DPI[site], dict(patient=s["ins"], detail=self._lot(s, uid, type_code, levels))
            yield (
                t + 2,
                "pfi.hl7.dmp",
                PFI[site],
                dict(patient=s["ins"], detail=leg | {"etat": "accepte", "code": "", "reference": f"DMP-{uid}"}),
            )
            later = rnd.random()
            if later < 0.01:  # withdrawn by the producer
                w = t + rnd.uniform(3600, 10 * 86400)
                yield (
                    w,
                    "pfi.hl7.dmp",
                    PFI[site],
                    dict(patient=s["ins"], detail=leg | {"action": "suppression", "etat": "accepte", "code": ""}),
                )
                yield w + 1, "dmp.supprimer", DPI[site], dict(patient=s["ins"], detail={"document": uid})
            elif later < 0.02:  # replaced by a new version (T10)
                w = t + rnd.uniform(3600, 5 * 86400)
                new = self.uid()
                produced = self._produced(s, new, type_code, levels, status) | {
                    "action": "remplacement",
                    "remplace": uid,
                }
                yield w, "pfi.hl7.document", PFI[site], dict(patient=s["ins"], detail=produced)
                yield (
                    w + 1,
                    "dmp.alimenter",
                    DPI[site],
                    dict(patient=s["ins"], detail=self._lot(s, new, type_code, levels)),
                )
                yield (
                    w + 2,
                    "pfi.hl7.dmp",
                    PFI[site],
                    dict(
                        patient=s["ins"],
                        detail={**leg, "document": new, "action": "remplacement", "etat": "accepte", "code": ""},
                    ),
                )
        if rnd.random() < p_mss * self.mss_factor:
            if rnd.random() < 0.4:
                to = f"{s['ins']}@{CITIZEN}"
            else:
                to = rnd.choice(self.addresses)
            self.next_message += 1
            message_id = f"<bench.{self.next_message}@pfi.{s['structure']}.mssante.fr>"
            ok = rnd.random() >= 0.03
            yield (
                t + 3,
                "pfi.hl7.mss",
                PFI[site],
                dict(
                    patient=s["ins"],
                    outcome="success" if ok else "failure",
                    detail={
                        "document": uid,
                        "action": "initial",
                        "sejour": stay_ref,
                        "destinataire": to,
                        "etat": "envoye" if ok else "echec",
                        "code": "" if ok else "5.1.1",
                        **({"reference": message_id} if ok else {}),
                    },
                ),
            )
            if ok:
                yield (
                    t + 4,
                    "mss.remettre",
                    OPERATOR,
                    dict(
                        patient=s["ins"] if to.endswith(CITIZEN) else None,
                        detail={"bal": to, "expediteur": f"pfi@{s['structure']}.mssante.fr", "message_id": message_id},
                    ),
                )

    def _produced(self, s: dict[str, Any], uid: str, type_code: str, levels: list[str], status: str) -> dict[str, Any]:
        """The PFI's `pfi.hl7.document` detail (pfi/hl7_documents.py): the stay, the type, levels, PID-32."""
        return {
            "message": f"DOC{self.next_doc}",
            "emetteur": f"DPI-BENCH-{s['site']}",
            "action": "initial",
            "document": uid,
            "sejour": s["number"],
            "structure_sejour": s["structure"],
            "type": type_code,
            "niveaux": levels,
            "statut_ins": status,
            "remplace": "",
        }

    def _lot(self, s: dict[str, Any], uid: str, type_code: str, levels: list[str]) -> dict[str, Any]:
        docs = [uid] + [f"{uid}.3" for level in levels if level == "N3"]
        encounter = f"{OID.format(s['site'] + 1)}^{s['number']}"
        return {
            "lot": f"{uid}.0",
            "documents": docs,
            "types": [type_code] * len(docs),
            "niveaux": levels,
            "n1_de": ["", *([uid] if len(docs) > 1 else [])],
            "sejours": [encounter] * len(docs),
        }

    def filler(self, stay: dict[str, Any], n: int) -> Iterator[tuple[float, str, Actor, dict[str, Any]]]:
        """Reads and logins around the stay: the bulk of a real trail, which no SUN-ES fold reads."""
        rnd, s = self.rnd, stay
        end = s["discharge"] or s["cancel"] or min(self.end, s["at"] + 86400)
        for _ in range(n):
            t = rnd.uniform(s["at"], max(end, s["at"] + 600))
            who = READERS[s["site"] * 50 + rnd.randrange(50)]
            pick = rnd.random()
            if pick < 0.5:
                yield (
                    t,
                    "sejours.read",
                    who,
                    dict(patient=s["ipp"], detail={"structure": s["structure"], "sejour": s["number"]}),
                )
            elif pick < 0.85:
                yield t, "dmp.consulter", who, dict(patient=s["ins"], detail={"documents": 1})
            else:
                yield t, "securite.connexion", who, dict(purpose="SECURITY", detail={"dicom": "110114", "moyen": "PSC"})

    def timeline(
        self, stays: list[dict[str, Any]], records: int, until: float
    ) -> Iterator[tuple[float, str, Actor, dict[str, Any]]]:
        """Every record of `stays` before `until`, in time order (a heap merges the stays' records,
        which all come after their stay's admission), filled with reads up to about `records`."""
        heap: list[tuple[float, int, str, Actor, dict[str, Any]]] = []
        produced = 0
        for i, stay in enumerate(stays):
            while heap and heap[0][0] < stay["at"]:
                t, _, action, actor, fields = heapq.heappop(heap)
                yield t, action, actor, fields
            own = list(self.events(stay))
            produced += len(own)
            need = int(records * (i + 1) / len(stays)) - produced
            if need > 0:
                own += list(self.filler(stay, need))
                produced += need
            for t, action, actor, fields in own:
                if t < until:
                    self.counter += 1
                    heapq.heappush(heap, (t, self.counter, action, actor, fields))
        while heap:
            t, _, action, actor, fields = heapq.heappop(heap)
            yield t, action, actor, fields


def _poisson(rnd: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    whole = int(mean)
    count = whole + (1 if rnd.random() < mean - whole else 0)
    if whole > 0:  # some spread around the mean, the mean kept
        count += (rnd.random() < 0.2) - (rnd.random() < 0.2)
    return count


def entry(t: float, action: str, actor: Actor, fields: dict[str, Any]) -> dict[str, Any]:
    """The record as the house writes it (`Trail.entry`), at the generated time."""
    row = audit.Trail.entry(actor, action, **fields)
    row["recorded_at"] = datetime.fromtimestamp(t, UTC).isoformat(timespec="microseconds")
    return row


def stay_rows(stays: list[dict[str, Any]], now: float) -> tuple[list[tuple], list[tuple]]:
    """sej_stay and sej_movement rows of the stays as they stand at `now`."""
    stay_out, move_out = [], []
    for s in stays:
        admitted = _iso(s["at"])
        discharged = s["discharge"] is not None and s["discharge"] < now
        cancelled = s["cancel"] is not None and s["cancel"] < now
        status = "cancelled" if cancelled else "finished" if discharged else "in-progress"
        unit = f"UF{4400 + s['site']}"
        stay_out.append(
            (
                s["id"],
                s["structure"],
                s["number"],
                s["patient_id"],
                s["ipp"],
                s["patient_class"],
                status,
                admitted,
                _iso(s["discharge"]) if discharged else None,
                unit,
                f"Unité {unit}",
                "",
                "",
                1,
                admitted,
            )
        )
        move_out.append(
            (
                s["id"] * 2,
                s["id"],
                f"{s['number']}-1",
                "A01",
                admitted,
                unit,
                "",
                "",
                "",
                s["patient_class"],
                cancelled,
                f"MSG{s['id']:09d}1",
            )
        )
        if discharged:
            at = _iso(s["discharge"])
            move_out.append(
                (
                    s["id"] * 2 + 1,
                    s["id"],
                    f"{s['number']}-3",
                    "A03",
                    at,
                    unit,
                    "",
                    "",
                    "",
                    s["patient_class"],
                    False,
                    f"MSG{s['id']:09d}3",
                )
            )
    return stay_out, move_out


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")


STAY_COLUMNS = (
    "id structure number patient_id ipp patient_class status admitted_at discharged_at unit unit_name dmp_feeding "
    "dmp_consultation version updated_at"
).split()
MOVE_COLUMNS = (
    "id stay_id movement_id event at unit unit_name care_unit nature patient_class cancelled control_id".split()
)
STAY_SQL = (
    "INSERT INTO sej_stay (id, structure, number, patient_id, ipp, patient_class, status, admitted_at, discharged_at,"
    " unit, unit_name, dmp_feeding, dmp_consultation, version, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
MOVE_SQL = (
    "INSERT INTO sej_movement (id, stay_id, movement_id, event, at, unit, unit_name, care_unit, nature, patient_class,"
    " cancelled, control_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
)


# --- generation (once, cached) -----------------------------------------------------------------


def _stale(path: Path) -> bool:
    """A cache made before a table the bench reads was added to a migration the cache had already
    applied (the placeholders 0032-0035 are filled in place: alembic would not apply them again)."""
    import maison.etablissement.sejours.store
    import maison.observatoire.conformite.store
    import maison.observatoire.national.store
    import maison.observatoire.sunes.store  # noqa: F401 — their tables in the metadata
    from maison.core.storage import metadata

    read = ("audit_", "sej_", "sun_", "obs_", "conf_")  # the trail, the stays, the observatory's facts
    with sqlite3.connect(path) as conn:
        present = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        missing = {t for t in metadata.tables if t.startswith(read)} - present
        for name in sorted(t for t in metadata.tables if t.startswith(read) and t in present):
            columns = {r[1] for r in conn.execute(f"PRAGMA table_info({name})")}
            missing |= {f"{name}.{c.name}" for c in metadata.tables[name].columns if c.name not in columns}
    if missing:
        console.print(f"cached data set lacks {sorted(missing)}: generated anew")
    return bool(missing)


FIELDS = tuple(k for k in KEYS if k not in ("seq", "prev_hash", "hash"))  # what the producer sends of a record
BATCH = 20_000  # records per message from the producer (a queue of 8: ~100 MB in flight at most)
INSERT_BATCH = 200_000  # records per insert transaction


def _produce(scale: dict[str, int], seed: int, queue: Any) -> None:
    """The producer process: the world (stays, then every record in time order) and each record as
    `Trail.entry` makes it, sent in batches of tuples (FIELDS) — the generation's Python half, run
    beside the writer's (chaining and inserting) on the second core. The same world, record for record,
    as generating in one process: one generator, one random sequence."""
    world = World(scale, seed, FIRST_MEASURED_DAY)
    stays = world.stays(scale["stays"], YEAR_START.timestamp(), FIRST_MEASURED_DAY.timestamp(), 1)
    facts = {
        "stays": len(stays),
        "stays_cancelled": sum(s["cancel"] is not None for s in stays),
        "stays_open": sum(s["cancel"] is None and s["discharge"] is None for s in stays),
    }
    queue.put((facts, *stay_rows(stays, world.end)))
    batch: list[tuple] = []
    for t, action, actor, fields in world.timeline(stays, scale["records"] - 1, world.end):
        row = entry(t, action, actor, fields)
        batch.append(tuple(row[k] for k in FIELDS))
        if len(batch) >= BATCH:
            queue.put(batch)
            batch = []
    queue.put(batch)
    queue.put(time.process_time())  # the producer's CPU seconds: what an idle second core would take
    queue.put(None)


def _bulk_indexes(raw: sqlite3.Connection, table: str) -> list[str]:
    """Drop `table`'s secondary indexes for a bulk insert, returning their own DDL to build them after
    (sorted once at the end, instead of 10 M random inserts into the patient index's B-tree)."""
    found = raw.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL", (table,)
    ).fetchall()
    for name, _ in found:
        raw.execute(f'DROP INDEX "{name}"')
    return [sql for _, sql in found]


def prepare(scale: dict[str, int], seed: int) -> Path:
    """The cached data set (generated once). Two processes: the producer (`_produce`: the world and each
    record's `Trail.entry`) and this one, which chains each record with the trail's own hashing
    (`audit._chain`, in seq order) and inserts them in large transactions, the trail's secondary indexes
    built once at the end; then `verify_chain` over the whole trail."""
    import multiprocessing

    data = ROOT / "bench" / ".cache" / f"observatoire-{scale['stays']}"
    done = data / "done"
    if done.is_file() and not _stale(data / "maison.db"):
        return data
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    started = time.perf_counter()
    path = data / "maison.db"
    db = Database(f"sqlite:///{path}")
    migrate(db)
    db.dispose()
    queue: Any = multiprocessing.get_context("fork").Queue(maxsize=8)
    producer = multiprocessing.get_context("fork").Process(target=_produce, args=(scale, seed, queue), daemon=True)
    producer.start()
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute("PRAGMA synchronous=OFF")
    raw.execute("PRAGMA cache_size=-1000000")  # 1 GB of page cache for the indexes while inserting
    facts, stay_out, move_out = queue.get()
    raw.execute("BEGIN")
    raw.executemany(STAY_SQL, stay_out)
    raw.executemany(MOVE_SQL, move_out)
    raw.execute("COMMIT")
    indexes = _bulk_indexes(raw, "audit_event")
    insert = f"INSERT INTO audit_event ({COLUMNS}) VALUES ({','.join('?' * len(KEYS))})"
    seq, prev = 0, audit.GENESIS
    counts: dict[str, int] = {}
    ght = entry(
        YEAR_START.timestamp() - 86400,
        "identitovigilance.ght",
        audit.SYSTEM,
        dict(purpose="HOPERAT", detail={"ght": GHT, "membres": list(STRUCTURES)}),
    )
    batch: list[tuple] = []
    chain_hash = audit._chain  # the trail's own hashing: verify_chain holds

    def chain(row: dict[str, Any]) -> None:
        nonlocal seq, prev
        seq += 1
        row["seq"], row["prev_hash"] = seq, prev
        row["hash"] = prev = chain_hash(prev, row)
        batch.append(tuple(row[k] for k in KEYS))

    def flush() -> None:
        raw.execute("BEGIN")
        raw.executemany(insert, batch)
        raw.execute("COMMIT")
        batch.clear()

    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("audit records", total=scale["records"])
        chain(ght)
        producer_cpu = 0.0
        while (received := queue.get()) is not None:
            if isinstance(received, float):
                producer_cpu = received
                continue
            for values in received:
                action = values[4]
                counts[action] = counts.get(action, 0) + 1
                chain(dict(zip(FIELDS, values, strict=True)))
            if len(batch) >= INSERT_BATCH:
                flush()
                progress.update(task, completed=seq)
        flush()
        progress.update(task, completed=seq)
    producer.join()
    if producer.exitcode != 0:
        raise SystemExit(f"the producer of the data set failed (exit code {producer.exitcode})")
    raw.execute("INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?)", (seq, prev))
    generated = time.perf_counter() - started
    writer_cpu = time.process_time()
    with console.status("the trail's indexes…"):
        for sql in indexes:
            raw.execute(sql)
    indexed = time.perf_counter()
    with console.status("ANALYZE…"):
        raw.execute("ANALYZE")
    raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw.close()
    verified, verify_cpu = time.perf_counter(), time.process_time()
    db = Database(f"sqlite:///{path}")
    with console.status(f"verify_chain over {seq:,} records…"), db.read() as conn:
        intact, broken = audit.verify_chain(conn)
    db.dispose()
    if not intact:
        raise SystemExit(f"the generated chain breaks at seq {broken}")
    facts = {
        "scale": scale,
        "seed": seed,
        "records": seq,
        **facts,
        "documents_produced_by_pfi": counts.get("pfi.hl7.document", 0),
        "dmp_lots": counts.get("dmp.alimenter", 0),
        "mss_legs": counts.get("pfi.hl7.mss", 0),
        "actions": dict(sorted(counts.items())),
        "generate_seconds": round(generated, 1),
        # on a loaded machine the wall clock is the scheduler's: the two processes' CPU seconds say what
        # an idle 2-core machine would take (the larger of the two, the other overlapping it)
        "generate_cpu_seconds": {"producer": round(producer_cpu, 1), "writer": round(writer_cpu, 1)},
        "index_and_analyze_seconds": round(verified - generated - started, 1),
        "index_seconds": round(indexed - generated - started, 1),
        "verify_chain_seconds": round(time.perf_counter() - verified, 1),
        "verify_chain_cpu_seconds": round(time.process_time() - verify_cpu, 1),
        "index_and_analyze_cpu_seconds": round(verify_cpu - writer_cpu, 1),
        "head_hash": prev,
        "database_bytes": path.stat().st_size,
        "seconds": round(time.perf_counter() - started, 1),
    }
    done.write_text(json.dumps(facts, indent=2))
    return data


# --- measurement -------------------------------------------------------------------------------


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def timed_cpu(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """Wall and process CPU seconds (SQLite runs in-process: a loaded machine inflates the wall)."""
    started, cpu = time.perf_counter(), time.process_time()
    value = fn()
    return time.perf_counter() - started, time.process_time() - cpu, value


def summary(values: list[float]) -> dict[str, Any]:
    return {
        "runs": len(values),
        "p50_s": round(statistics.median(values), 3),
        "max_s": round(max(values), 3),
        "all_s": [round(v, 3) for v in values],
    }


def append_day(db: Database, scale: dict[str, int], seed: int, day: int, first_id: int) -> dict[str, int]:
    """One more day of activity (the stays admitted that day, their records up to the day's end) written
    as the house writes it: the stays in sej_stay, the records chained by `audit.append`."""
    start = FIRST_MEASURED_DAY + timedelta(days=day)
    stop = start + timedelta(days=1)
    world = World(scale, seed + 1000 + day, stop)
    world.next_doc = 50_000_000 + day * 1_000_000  # ids apart from the year's
    world.next_message = 50_000_000 + day * 1_000_000
    n = max(1, scale["stays"] // 340)
    stays = world.stays(n, start.timestamp(), stop.timestamp(), first_id)
    stay_out, move_out = stay_rows(stays, world.end)
    rows = [entry(*e) for e in world.timeline(stays, scale["records"] // 340, world.end)]
    from maison.etablissement.sejours.store import sej_movement, sej_stay

    with db.write() as conn:  # as the GAM's messages left them (any backend: the tables' own inserts)
        conn.execute(sej_stay.insert(), [dict(zip(STAY_COLUMNS, r, strict=True)) for r in stay_out])
        moves = [dict(zip(MOVE_COLUMNS, r, strict=True)) for r in move_out]
        conn.execute(sej_movement.insert(), [m | {"cancelled": bool(m["cancelled"])} for m in moves])
    for part in range(0, len(rows), 5000):  # transactions of a size a busy day's flows commit in
        with db.write() as conn:
            audit.append(conn, rows[part : part + 5000])
    return {"stays": n, "records": len(rows)}


def analyze(db: Database) -> None:
    """SQLite's statistics of the folded facts (`ANALYZE`), as an operator's `PRAGMA optimize` would
    leave them: without them the planner picks a range index for DS1.4's correlated subquery."""
    with db.write() as conn:
        conn.exec_driver_sql("ANALYZE")


def to_postgres(data: Path, url: str) -> None:
    """A fresh PostgreSQL database (dropped and created) holding the cached data set's rows."""
    import sqlalchemy as sa

    from maison.etablissement.sejours.store import sej_movement, sej_stay

    server, name = url.rsplit("/", 1)
    admin = sa.create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    db = Database(url)
    migrate(db)
    src = sqlite3.connect(data / "maison.db")
    with Progress(
        TextColumn("[bold]{task.description}"), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as p:
        for table in (sej_stay, sej_movement, audit.audit_event, audit.audit_head):
            columns = [c.name for c in table.columns]
            flags = [c.name for c in table.columns if isinstance(c.type, sa.Boolean)]
            total = src.execute(f"SELECT count(*) FROM {table.name}").fetchone()[0]  # noqa: S608 — the bench's own tables
            task = p.add_task(f"copying {table.name}", total=total)
            cursor = src.execute(f"SELECT {', '.join(columns)} FROM {table.name}")  # noqa: S608
            while rows := cursor.fetchmany(20_000):
                batch = [dict(zip(columns, r, strict=True)) for r in rows]
                for row in batch:
                    for flag in flags:
                        row[flag] = bool(row[flag])
                with db.write() as conn:
                    conn.execute(table.insert(), batch)
                p.advance(task, len(rows))
    src.close()
    db.dispose()


def drop_postgres(url: str) -> None:
    import sqlalchemy as sa

    server, name = url.rsplit("/", 1)
    admin = sa.create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def measure(data: Path, scale: dict[str, int], args: argparse.Namespace) -> dict[str, Any]:
    from maison.core.config import load_settings
    from maison.house import House
    from maison.observatoire.conformite.service import Conformite
    from maison.observatoire.national.service import National
    from maison.observatoire.report import Period
    from maison.observatoire.sunes.model import INDICATORS, Scope
    from maison.observatoire.sunes.service import SunEs

    run = ROOT / "bench" / ".cache" / ("observatoire-run-pg" if args.postgres else "observatoire-run")
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    if args.postgres:
        to_postgres(data, args.postgres)
        url = args.postgres
    else:
        with console.status("copying the cached database…"):
            shutil.copyfile(data / "maison.db", run / "maison.db")
        url = f"sqlite:///{run / 'maison.db'}?synchronous=full"
    house = House.open(load_settings().with_overrides(data_dir=run, database_url=url), migrate=False)
    kinds = directory(max(50, scale["messages"] // 25), args.seed)
    sunes = SunEs(house.db, house.sejours, house.settings, mailbox_kind=kinds.get)
    ght, semester, reps = Scope.ght(GHT), Period.parse(SEMESTER), args.repeat
    out: dict[str, Any] = {}
    try:
        console.print("fold from 0…")
        seconds, _ = timed(lambda: sunes.fold(from_zero=True))
        out["sunes_fold_from_zero_s"] = round(seconds, 2)
        console.print(f"  {seconds:.1f} s")
        if not args.no_stats_compute:
            # the house never runs ANALYZE: the facts' tables have no statistics after their first fold
            seconds, _ = timed(lambda: sunes.compute(BENCH_ACTOR, ght, semester))
            out["compute_without_statistics_s"] = round(seconds, 2)
            console.print(f"compute {SEMESTER} before ANALYZE: {seconds:.1f} s")
        seconds, _ = timed(lambda: analyze(house.db))
        out["analyze_s"] = round(seconds, 2)
        computes, figures = [], {}
        for _ in range(reps):
            seconds, report = timed(lambda: sunes.compute(BENCH_ACTOR, ght, semester))
            computes.append(seconds)
            figures = {r.indicator.code: [r.numerator, r.denominator] for r in report.results}
        out["compute"] = summary(computes) | {"figures": figures}
        console.print(f"compute {SEMESTER}: {out['compute']}")
        structure = [timed(lambda: sunes.compute(BENCH_ACTOR, Scope.structure(STRUCTURES[0]), semester))[0]]
        out["compute_one_structure"] = summary(structure)
        days, day_rows, first_id = [], [], 10_000_000
        # the day's volume: the data set's (1/340 of its year) unless --day-scale sizes it apart
        day_scale = {k: int(v * args.day_scale) for k, v in FULL.items()} if args.day_scale else scale
        for day in range(reps):
            written = append_day(house.db, day_scale, args.seed, day, first_id)
            first_id += written["stays"]
            seconds, _ = timed(sunes.fold)
            days.append(seconds)
            day_rows.append(written)
        out["day_fold"] = summary(days) | {"days": day_rows, "day_scale": args.day_scale or None}
        console.print(f"one more day folded: {out['day_fold']}")
        # (c) what a person reads: the first page (PAGE elements) with the whole explanation's totals; and
        # the last page (the deepest OFFSET); then the full list (the export), every element judged
        pages, cpu, last, count = [], [], [], 0
        for _ in range(reps):
            seconds, seconds_cpu, page = timed_cpu(
                lambda: sunes.explain_page(BENCH_ACTOR, ght, semester, "DS1.1", size=PAGE)
            )
            pages.append(seconds)
            cpu.append(seconds_cpu)
            count = page.pages
            last.append(
                timed(
                    functools.partial(sunes.explain_page, BENCH_ACTOR, ght, semester, "DS1.1", number=count, size=PAGE)
                )[0]
            )
        out["explain_ds11_page"] = summary(pages) | {"cpu_p50_s": round(statistics.median(cpu), 3), "size": PAGE}
        out["explain_ds11_page"] |= {"totals": page.totals.as_dict(), "pages": count, "last_page": summary(last)}
        console.print(f"explain DS1.1, first page with the totals: {out['explain_ds11_page']}")
        explains, cpu, items = [], [], 0
        for _ in range(reps):
            seconds, seconds_cpu, why = timed_cpu(lambda: sunes.explain(BENCH_ACTOR, ght, semester, "DS1.1"))
            explains.append(seconds)
            cpu.append(seconds_cpu)
            items = len(why.items)
        out["explain_ds11"] = summary(explains) | {"items": items, "cpu_p50_s": round(statistics.median(cpu), 3)}
        console.print(f"explain DS1.1, the full list: {out['explain_ds11']}")
        others: dict[str, dict[str, Any]] = {}
        for code in INDICATORS:
            if code in args.skip_explain.split(","):
                others[code] = {"skipped": True}
            elif code != "DS1.1":
                first = timed(functools.partial(sunes.explain_page, BENCH_ACTOR, ght, semester, code, size=PAGE))[0]
                seconds, why = timed(functools.partial(sunes.explain, BENCH_ACTOR, ght, semester, code))
                others[code] = {"s": round(seconds, 3), "items": len(why.items), "page_s": round(first, 3)}
        out["explain_each"] = others
        console.print(f"explain each: {others}")
        if not args.no_national:
            national = National(house.db, software=house.insi.registered_software)
            seconds, _ = timed(national.rebuild)
            month = [timed(lambda: national.compute(BENCH_ACTOR, Period.parse(MONTH)))[0] for _ in range(reps)]
            out["national"] = {"fold_from_zero_s": round(seconds, 2), "month": summary(month)}
            console.print(f"national: {out['national']}")
        if not args.no_conformite:
            conformite = Conformite(house.db, house.insi)
            try:
                seconds, _ = timed(lambda: conformite.compute(BENCH_ACTOR, semester))  # its first fold, from 0
                rows = [timed(lambda: conformite.compute(BENCH_ACTOR, semester))[0] for _ in range(reps)]
                out["conformite"] = {"first_compute_with_fold_from_zero_s": round(seconds, 2), "compute": summary(rows)}
            except Exception as exc:  # noqa: BLE001 — a report still being built elsewhere: say so, keep the rest
                out["conformite_error"] = f"{type(exc).__name__}: {exc}"
            console.print(f"conformité: {out.get('conformite') or out.get('conformite_error')}")
    finally:
        house.close()
        if args.postgres and not args.keep:
            drop_postgres(args.postgres)
    if not args.keep:
        shutil.rmtree(run, ignore_errors=True)
    return out


def _code() -> dict[str, Any]:
    """The commit measured, and the files under maison/ changed but not committed at the start (the
    working tree is shared: a measure may see another helper's work in progress)."""
    import subprocess

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False).stdout

    changed = [line[3:] for line in git("status", "--porcelain", "--", "maison").splitlines() if line.strip()]
    return {"head": git("rev-parse", "--short", "HEAD").strip(), "uncommitted": changed}


def show(result: dict[str, Any]) -> None:
    table = Table(title=f"Observatory over a GHT-year — {result['dataset']['records']:,} audit records")
    for col in ("measure", "runs", "p50 s", "max s", "goal"):
        table.add_column(col, justify="right")
    m = result["measures"]
    table.add_row("SUN-ES fold from 0", "1", f"{m['sunes_fold_from_zero_s']:.2f}", "", "")
    if "compute_without_statistics_s" in m:
        table.add_row("SUN-ES semester, before ANALYZE", "1", f"{m['compute_without_statistics_s']:.2f}", "", "")
    table.add_row("ANALYZE", "1", f"{m['analyze_s']:.2f}", "", "")
    rows = (
        ("SUN-ES semester (GHT, every DS)", m["compute"], GOALS["compute_s"]),
        ("SUN-ES semester (one site)", m["compute_one_structure"], None),
        ("one more day folded", m["day_fold"], GOALS["day_fold_s"]),
        (f"explain DS1.1: first page of {PAGE} + totals", m["explain_ds11_page"], GOALS["explain_s"]),
        (
            f"explain DS1.1: last page (page {m['explain_ds11_page']['pages']:,})",
            m["explain_ds11_page"]["last_page"],
            None,
        ),
        (f"explain DS1.1: the full list ({m['explain_ds11']['items']:,} items)", m["explain_ds11"], None),
    )
    for name, s, goal in rows:
        verdict = "" if goal is None else f"< {goal:g} s " + ("met" if s["max_s"] < goal else "not met")
        table.add_row(name, str(s["runs"]), f"{s['p50_s']:.3f}", f"{s['max_s']:.3f}", verdict)
    for code, e in m["explain_each"].items():
        if e.get("skipped"):
            table.add_row(f"explain {code}", "0", "skipped", "", "")
            continue
        table.add_row(
            f"explain {code}: first page + totals", "1", f"{e['page_s']:.3f}", "", f"< {GOALS['explain_s']:g} s"
        )
        table.add_row(f"explain {code}: the full list ({e['items']:,} items)", "1", f"{e['s']:.3f}", "", "")
    if "national" in m:
        table.add_row("national: fold from 0", "1", f"{m['national']['fold_from_zero_s']:.2f}", "", "")
        table.add_row(
            f"national: month {MONTH}",
            str(m["national"]["month"]["runs"]),
            f"{m['national']['month']['p50_s']:.3f}",
            f"{m['national']['month']['max_s']:.3f}",
            "",
        )
    if "conformite" in m:
        c = m["conformite"]
        table.add_row("conformité: first (fold from 0)", "1", f"{c['first_compute_with_fold_from_zero_s']:.2f}", "", "")
        table.add_row(
            "conformité: rows",
            str(c["compute"]["runs"]),
            f"{c['compute']['p50_s']:.3f}",
            f"{c['compute']['max_s']:.3f}",
            "",
        )
    console.print(table)
    console.print(f"figures {SEMESTER}: {m['compute']['figures']}")
    mc = result["machine"]
    console.print(
        f"machine: {mc['cpus']} × {mc['cpu']}, Python {mc['python']}, {result['database']} (SQLite {mc['sqlite']}); "
        f"load {mc['load_at_start']:.2f} → {mc['load_at_end']:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1/100 scale smoke run (--scale 0.01)")
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the GHT-year (1: 10 M records)")
    parser.add_argument("--skip-explain", default="", help="indicators whose explanation is not timed (comma list)")
    parser.add_argument("--no-stats-compute", action="store_true", help="skip the compute before ANALYZE")
    parser.add_argument(
        "--day-scale", type=float, default=0.0, help="size of the day folded in (b), as a fraction of the GHT-year's"
    )
    parser.add_argument("--repeat", type=int, default=5, help="repetitions of each measure")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--generate-only", action="store_true", help="build the cached data set and stop")
    parser.add_argument(
        "--postgres", default="", help="measure on this PostgreSQL database (created from the cache, dropped after)"
    )
    parser.add_argument("--no-national", action="store_true")
    parser.add_argument("--no-conformite", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the measured copy (bench/.cache/observatoire-run)")
    parser.add_argument("--out", default="", help="result file (default bench/results/observatoire[-quick].json)")
    args = parser.parse_args()
    fraction = 0.01 if args.quick else args.scale
    scale = {k: int(v * fraction) for k, v in FULL.items()}
    result: dict[str, Any] = {
        "benchmark": "observatoire",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "cpu": _cpu_model(),
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            "platform": platform.platform(),
            "load_at_start": os.getloadavg()[0],
        },
        "goals": GOALS,
        "code": _code(),
        "semester": SEMESTER,
        "database": "postgresql" if args.postgres else "sqlite, synchronous=full",
    }
    data = prepare(scale, args.seed)
    result["dataset"] = json.loads((data / "done").read_text())
    console.print(f"data set: {data} — {result['dataset']['records']:,} records")
    if args.generate_only:
        return
    result["measures"] = measure(data, scale, args)
    result["machine"]["load_at_end"] = os.getloadavg()[0]
    name = "observatoire" if fraction == 1 else f"observatoire-{scale['stays']}"
    name += "-pg" if args.postgres else ""
    out = Path(args.out) if args.out else ROOT / "bench" / "results" / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    show(result)


if __name__ == "__main__":
    main()
