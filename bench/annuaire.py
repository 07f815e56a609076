"""Annuaire Santé searches over HTTP against a directory of about 1 million PractitionerRole.

Generates (once, cached in bench/.cache) a synthetic directory in SQLite, starts `maison serve` as
its own process, and times the common searches a DPI or an MSSanté client makes, one request at a
time from this process: by name (family prefix), by RPPS (identifier), by mailbox (mailbox-mss),
by city (Organization address-city), and a PractitionerRole search by practitioner with its
organisation included. Reports p50/p95 per search, then times a full bulk `$export`; writes bench/results/annuaire.json.

Goals (issue 3): p95 < 30 ms; full export < 60 s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import socket
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import sqlalchemy as sa
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from maison.core.auth import issue_key  # noqa: E402
from maison.core.storage import Database  # noqa: E402
from maison.identite.annuaire import store  # noqa: E402
from maison.identite.annuaire.vocabulary import CS_ACTIVITE_SANITAIRE, SYS_RPPS  # noqa: E402
from maison.migrations import migrate  # noqa: E402
from maison.terminal import seed_annuaire_with_progress  # noqa: E402

GOAL_P95_MS, GOAL_EXPORT_S = 30, 60
console = Console(width=120)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(roles: int) -> Path:
    data = ROOT / "bench" / ".cache" / f"annuaire-{roles}"
    done = data / "done"
    if done.is_file() and "HealthcareService" in json.loads(done.read_text())["counts"]:
        return data
    shutil.rmtree(data, ignore_errors=True)
    db = Database(f"sqlite:///{data / 'maison.db'}")
    migrate(db)
    started = time.perf_counter()
    counts = seed_annuaire_with_progress(db, roles, 2026)
    with db.write() as conn:
        conn.exec_driver_sql("ANALYZE")
    db.dispose()
    done.write_text(json.dumps({"counts": counts, "seconds": round(time.perf_counter() - started, 1)}))
    return data


def samples(db: Database, n: int) -> dict[str, list[tuple[str, list[tuple[str, str]]]]]:
    rnd = random.Random(11)
    with db.read() as conn:
        prac = conn.execute(
            sa.select(store.ann_practitioner.c.id, store.ann_practitioner.c.family).order_by(sa.func.random()).limit(n)
        ).all()
        boxes = conn.execute(
            sa.select(store.ann_mailbox.c.address_exact)
            .where(store.ann_mailbox.c.liste_rouge.is_(False), store.ann_mailbox.c.rtype == "PractitionerRole")
            .order_by(sa.func.random())
            .limit(n)
        ).all()
        cities = [r[0] for r in conn.execute(sa.select(store.ann_organization.c.city).distinct())]
        hospital_sites = [
            r[0]
            for r in conn.execute(
                sa.select(store.ann_service.c.organization)
                .where(store.ann_service.c.resource.contains("R274"))
                .distinct()
                .order_by(sa.func.random())
                .limit(n)
            )
        ]
        sites = [
            r[0]
            for r in conn.execute(
                sa.select(store.ann_service.c.organization).distinct().order_by(sa.func.random()).limit(n)
            )
        ]
    return {
        "by name (Practitioner?family=)": [
            ("Practitioner", [("family", p.family[: max(3, len(p.family) - 2)])]) for p in prac
        ],
        "by RPPS (Practitioner?identifier=)": [
            ("Practitioner", [("identifier", f"{SYS_RPPS}|{p.id[1:]}")]) for p in prac
        ],
        "by mailbox (PractitionerRole?mailbox-mss=)": [("PractitionerRole", [("mailbox-mss", b[0])]) for b in boxes],
        "by city (Organization?address-city=)": [
            ("Organization", [("address-city", rnd.choice(cities))]) for _ in range(n)
        ],
        "roles of a practitioner, _include organization": [
            ("PractitionerRole", [("practitioner", p.id), ("_include", "PractitionerRole:organization")]) for p in prac
        ],
        "activities of a site (HealthcareService?organization=&service-type=)": [
            ("HealthcareService", [("organization", s), ("service-type", f"{CS_ACTIVITE_SANITAIRE}|01")])
            for s in hospital_sites
        ],
        "a site with _revinclude HealthcareService": [
            ("Organization", [("_id", s), ("_revinclude", "HealthcareService:organization")]) for s in sites
        ],
    }


def _export(http: httpx.Client) -> dict:
    """Time a full `$export` of the four types, from kick-off to the manifest, and read the files."""
    started = time.perf_counter()
    kickoff = http.get("/$export", headers={"Prefer": "respond-async"})
    kickoff.raise_for_status()
    status_url = kickoff.headers["Content-Location"]
    while (status := http.get(status_url)).status_code == 202:
        time.sleep(0.5)
    status.raise_for_status()
    ready = time.perf_counter() - started
    manifest = status.json()
    size = 0
    for output in manifest["output"]:
        with http.stream("GET", output["url"]) as response:
            size += sum(len(chunk) for chunk in response.iter_bytes())
    return {
        "seconds_to_manifest": round(ready, 1),
        "seconds_with_download": round(time.perf_counter() - started, 1),
        "resources": {o["type"]: o["count"] for o in manifest["output"]},
        "megabytes": round(size / 1e6),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--roles", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=300, help="requests per search")
    parser.add_argument("--no-export", action="store_true", help="the searches only, not the full $export")
    parser.add_argument("--out", default="", help="result file (default bench/results/annuaire.json)")
    args = parser.parse_args()
    data = prepare(args.roles)
    db = Database(f"sqlite:///{data / 'maison.db'}")
    key = issue_key(db, "1750000019", "bench", "bench")
    plan = samples(db, args.queries)
    db.dispose()
    port = _port()
    env = {**os.environ, "MAISON_DATA_DIR": str(data)}
    server = subprocess.Popen(
        [sys.executable, "-m", "maison", "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL
    )
    results = []
    try:
        http = httpx.Client(base_url=f"http://127.0.0.1:{port}/annuaire", headers={"ESANTE-API-KEY": key}, timeout=30)
        deadline = time.monotonic() + 180  # a loaded machine takes a while to start the server
        while True:
            try:
                http.get("/metadata")
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)
        for name, requests in plan.items():
            for rtype, params in requests[:20]:  # warm-up
                http.get(f"/{rtype}", params=params)
            timings, hits = [], 0
            for rtype, params in requests:
                started = time.perf_counter()
                response = http.get(f"/{rtype}", params=params)
                timings.append((time.perf_counter() - started) * 1000)
                response.raise_for_status()
                hits += bool(response.json().get("entry"))
            timings.sort()
            results.append(
                {
                    "search": name,
                    "requests": len(timings),
                    "with_results": hits,
                    "p50_ms": round(statistics.median(timings), 2),
                    "p95_ms": round(timings[int(len(timings) * 0.95) - 1], 2),
                    "max_ms": round(timings[-1], 2),
                }
            )
        export = None if args.no_export else _export(http)
    finally:
        server.terminate()
        server.wait(timeout=20)
    meta = json.loads((data / "done").read_text())
    result = {
        "benchmark": "annuaire-search",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "directory": meta["counts"],
        "generation_seconds": meta["seconds"],
        "searches": results,
        "export": export,
        "goal": {"p95_ms": GOAL_P95_MS, "export_seconds": GOAL_EXPORT_S},
        "goal_met": all(r["p95_ms"] < GOAL_P95_MS for r in results)
        and (export is None or export["seconds_to_manifest"] < GOAL_EXPORT_S),
    }
    out = Path(args.out) if args.out else ROOT / "bench" / "results" / "annuaire.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    table = Table(
        title=f"Annuaire searches — {meta['counts']['PractitionerRole']:,} PractitionerRole, "
        f"{meta['counts']['Practitioner']:,} Practitioner, "
        f"{meta['counts']['Organization']:,} Organization, "
        f"{meta['counts']['HealthcareService']:,} HealthcareService"
    )
    for col in ("search", "requests", "with results", "p50 ms", "p95 ms", "max ms"):
        table.add_column(col, justify="left" if col == "search" else "right")
    for r in results:
        table.add_row(
            r["search"],
            str(r["requests"]),
            str(r["with_results"]),
            f"{r['p50_ms']:.2f}",
            f"{r['p95_ms']:.2f}",
            f"{r['max_ms']:.1f}",
        )
    console.print(table)
    if export is not None:
        console.print(
            f"$export: manifest after {export['seconds_to_manifest']} s, files read after "
            f"{export['seconds_with_download']} s ({export['megabytes']} MB, {export['resources']})"
        )
    console.print(
        f"goal: p95 < {GOAL_P95_MS} ms, full export < {GOAL_EXPORT_S} s — {'met' if result['goal_met'] else 'not met'}"
    )


if __name__ == "__main__":
    main()
