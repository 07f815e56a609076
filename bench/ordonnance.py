"""Ordonnance numérique: prescriptions created with their paper PDF, then dispensed, per second.

`maison serve` runs as its own process (SQLite, WAL, synchronous=FULL by default: every commit waits for
its fsync); the load comes from other
processes on the same 2 cores:

1. Creations — prescribers' software (2 processes × 8 threads, one GP's Pro Santé Connect token per
   thread): POST /ordonnance/RequestGroup with a 3-line envelope (a coded medicine, a device in free
   text, a nursing act; consent OUI or NON), then the paper ordonnance rendered with its QR code
   (maison.etablissement.ordonnance.papier, as the LAP prints it, from the base's answer read by
   maison.etablissement.ordonnance.prescription). Timed from the POST to the PDF in hand.
2. Dispensations — pharmacists' software, wrk (C, low overhead, a pharmacist's token per request):
   POST /ordonnance/RequestGroup/{numero}/$executer, each prescription created in step 1 dispensed
   once (line 1 delivered), judged by the base under its row lock and committed with its audit record.

Goals (issue 6): ≥ 200 creations/s with PDF, ≥ 500 dispensations/s on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import sqlalchemy as sa
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from dmp import LUA, wrk  # noqa: E402 — the DMP bench's wrk driver

from maison.core.config import load_settings  # noqa: E402
from maison.core.identifiers.checksums import luhn_check_digit  # noqa: E402
from maison.core.storage import Database  # noqa: E402
from maison.etablissement.ordonnance import papier  # noqa: E402
from maison.etablissement.ordonnance.prescription import Line, LineKind, prescription_from_fhir  # noqa: E402
from maison.formats.ordonnance import EXT_CONSENT, SYS_CIP  # noqa: E402

GOALS = {"creations_per_s": 200, "dispensations_per_s": 500}
NOW = "2026-11-01T08:00:00+00:00"
PASSWORD = "mot-de-passe-bench-ordonnance"
REDIRECT = "https://lap.example.fr/callback"
CABINET, PHARMACIE = (
    "3" + "98000000" + luhn_check_digit("98000000") + "00011",
    "3" + "97000000" + luhn_check_digit("97000000") + "00012",
)
GPS = [("8" + p + luhn_check_digit(p), p + luhn_check_digit(p)) for p in (f"18{i:08d}" for i in range(1, 17))]
PHARMACISTS = [("8" + p + luhn_check_digit(p), p + luhn_check_digit(p)) for p in (f"28{i:08d}" for i in range(1, 9))]
LINES = (
    Line(
        1,
        LineKind.MEDICAMENT,
        "Paracétamol 1 000 mg comprimé",
        "3400930000014",
        SYS_CIP,
        "1 comprimé si fièvre, 3 par jour au plus",
        1,
        "boîte",
    ),
    Line(2, LineKind.DISPOSITIF, "Thermomètre médical"),
    Line(3, LineKind.ACTE, "", instructions="Soins infirmiers : prise de sang à domicile"),
)
PRESCRIBER_ZONE = papier.PaperPrescriber(
    "Dr MARTIN Claire",
    ("26 avenue du Professeur Lemierre", "72020 Paris"),
    "Médecine Générale",
    "99900038441",
    "991118019",
)
PATIENT_ZONE = papier.PaperPatient("ESSAI", "Alain", date(1975, 1, 1), 80)
console = Console()


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(data: Path) -> None:
    """A fresh house with the GPs (profession 10) and pharmacists (21) in the Annuaire, each with a
    Pro Santé Connect test password, and the LAP's OIDC client."""
    from maison.house import House
    from maison.identite.annuaire import resources as build
    from maison.identite.annuaire.index import put

    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    house = House.open(load_settings().with_overrides(data_dir=data))
    with house.db.write() as conn:
        for sid, name in ((CABINET, "CABINET MEDICAL DE BENCH"), (PHARMACIE, "PHARMACIE DE BENCH")):
            put(
                conn,
                [
                    build.organization(
                        sid,
                        name,
                        NOW,
                        siret=sid[1:],
                        entity="LEGAL-ENTITY",
                        secteur="SA07",
                        city="LYON",
                        postal_code="69002",
                        insee="69382",
                    )
                ],
            )
        for i, (idnatps, rpps) in enumerate(GPS + PHARMACISTS):
            profession, site = ("10", CABINET) if i < len(GPS) else ("21", PHARMACIE)
            put(conn, [build.practitioner(rpps, f"BENCH{i}", "Alex", "DR", profession, "C", None, NOW)])
            put(conn, [build.practitioner_role(f"28{i:08d}", idnatps, site, NOW, fonction=None, mode="L")])
    for idnatps, _ in GPS + PHARMACISTS:
        house.psc.set_test_password(idnatps, PASSWORD)
    client_id, secret = house.psc.register_client("LAP et LGO de bench", [REDIRECT])
    (data / "client.json").write_text(json.dumps({"id": client_id, "secret": secret}))
    house.close()


def tokens(base: str, data: Path, people: list[tuple[str, str]]) -> list[str]:
    """Fresh access tokens (they live 120 s)."""
    from maison.etablissement.psc.client import sign_in

    client = json.loads((data / "client.json").read_text())
    return [
        sign_in(base, client["id"], client["secret"], REDIRECT, idnatps, password=PASSWORD)["access_token"]
        for idnatps, _ in people
    ]


def envelope(consent: bool) -> dict:
    requests = [
        {
            "resourceType": "MedicationRequest",
            "intent": "order",
            "medicationCodeableConcept": {
                "coding": [{"system": SYS_CIP, "code": LINES[0].code}],
                "text": LINES[0].label,
            },
            "dosageInstruction": [{"text": LINES[0].instructions}],
            "dispenseRequest": {"quantity": {"value": 1, "unit": "boîte"}},
        },
        {"resourceType": "DeviceRequest", "intent": "order", "codeCodeableConcept": {"text": LINES[1].label}},
        {"resourceType": "ServiceRequest", "intent": "order", "code": {"text": LINES[2].instructions}},
    ]
    group = {
        "resourceType": "RequestGroup",
        "intent": "order",
        "status": "active",
        "authoredOn": date.today().isoformat(),
        "extension": [{"url": EXT_CONSENT, "valueBoolean": consent}],
        "action": [{"resource": {"reference": f"urn:uuid:r{i}"}} for i in range(len(requests))],
    }
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"fullUrl": "urn:uuid:rg", "resource": group}]
        + [{"fullUrl": f"urn:uuid:r{i}", "resource": r} for i, r in enumerate(requests)],
    }


def _prescriber_thread(base: str, token: str, idnatps: str, count: int, out: list) -> None:
    """One LAP: create, then print. Records (number, seconds from POST to PDF, PDF bytes)."""
    bodies = [json.dumps(envelope(consent=i % 2 == 0)).encode() for i in range(2)]
    with httpx.Client(
        base_url=base, headers={"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"}, timeout=30
    ) as http:
        for i in range(count):
            started = time.perf_counter()
            r = http.post("/ordonnance/RequestGroup", content=bodies[i % 2])
            if r.status_code != 201:
                out.append(("", time.perf_counter() - started, r.status_code))
                continue
            number = r.headers["location"].rsplit("/", 1)[1]
            prescription = prescription_from_fhir(r.json(), created_at=datetime.now(UTC))
            pdf = papier.ordonnance_pdf(prescription, PRESCRIBER_ZONE, PATIENT_ZONE)
            out.append((number, time.perf_counter() - started, len(pdf)))


def _prescriber_process(base: str, work: list[tuple[str, str, int]], results) -> None:
    out: list = []
    threads = [
        threading.Thread(target=_prescriber_thread, args=(base, token, idnatps, n, out)) for token, idnatps, n in work
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results.put(out)


def create(base: str, data: Path, count: int, processes: int, threads: int) -> tuple[dict, list[str]]:
    toks = tokens(base, data, GPS)
    per = count // (processes * threads)
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    work = [
        [(toks[(p * threads + t) % len(toks)], GPS[(p * threads + t) % len(GPS)][0], per) for t in range(threads)]
        for p in range(processes)
    ]
    procs = [ctx.Process(target=_prescriber_process, args=(base, w, results)) for w in work]
    started = time.perf_counter()
    for p in procs:
        p.start()
    done = [item for _ in procs for item in results.get()]
    elapsed = time.perf_counter() - started
    for p in procs:
        p.join()
    ok = [d for d in done if d[0]]
    latencies = sorted(d[1] * 1000 for d in ok)
    pct = (
        (lambda q: round(latencies[min(len(latencies) - 1, int(q * len(latencies)))], 1))
        if latencies
        else (lambda q: None)
    )
    return (
        {
            "created": len(ok),
            "errors": len(done) - len(ok),
            "seconds": round(elapsed, 1),
            "per_s": round(len(ok) / elapsed, 1),
            "p50_ms": pct(0.5),
            "p95_ms": pct(0.95),
            "p99_ms": pct(0.99),
            "pdf_kb": round(sum(d[2] for d in ok) / max(1, len(ok)) / 1000, 1),
            "connections": processes * threads,
        },
        [d[0] for d in ok],
    )


EXECUTER = json.dumps(
    {
        "resourceType": "Parameters",
        "parameter": [
            {
                "name": "ligne",
                "part": [{"name": "numero", "valueInteger": 1}, {"name": "resultat", "valueCode": "delivre"}],
            },
            {"name": "aLaDelivrance", "valueBoolean": True},
        ],
    }
)
DISPENSE_REQUEST = (
    'local number, token = items[i]:match("(%S+) (%S+)")\n'
    '  local h = {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/fhir+json"}\n'
    '  return wrk.format("POST", "/ordonnance/RequestGroup/" .. number .. "/$executer", h, [[' + EXECUTER + "]])"
)


def dispense(port: int, base: str, data: Path, numbers: list[str], connections: int, seconds: int) -> dict:
    toks = tokens(base, data, PHARMACISTS)
    items = [f"{n} {toks[i % len(toks)]}".encode() for i, n in enumerate(numbers)]
    tmp = Path(tempfile.mkdtemp())
    assert "%(request)s" in LUA
    run = wrk(port, tmp, items, "unused", DISPENSE_REQUEST, connections, seconds)
    run["exhausted"] = run["requests"] > len(items)
    return run


def executions_stored(db_url: str) -> int:
    db = Database(db_url)
    with db.read() as conn:
        n = conn.execute(sa.text("select count(*) from ordo_execution")).scalar_one()
    db.dispose()
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--creations", type=int, default=10000)
    parser.add_argument("--processes", type=int, default=2, help="prescribers' load processes")
    parser.add_argument("--threads", type=int, default=8, help="threads (LAP sessions) per load process")
    parser.add_argument("--connections", default="16,32", help="dispensation load levels (wrk connections)")
    parser.add_argument("--seconds", type=int, default=6, help="duration of each dispensation level")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="server processes")
    parser.add_argument(
        "--synchronous",
        default="full",
        choices=["normal", "full"],
        help="SQLite commit mode (full: every commit waits for the WAL's fsync)",
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, capture_output=True)
    data = ROOT / "bench" / ".cache" / "ordonnance"
    prepare(data)
    url = f"sqlite:///{data / 'maison.db'}?synchronous={args.synchronous}"
    port, env = (
        _port(),
        {
            **os.environ,
            "MAISON_DATA_DIR": str(data),
            "MAISON_DATABASE_URL": url,
            "MAISON_REFERENCE_PATH": str(load_settings().reference_path),
        },
    )
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "maison", "serve", "--port", str(port), "--workers", str(args.workers)],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    levels = []
    try:
        for _ in range(300):
            try:
                httpx.get(f"{base}/", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        create(base, data, 64, 1, 4)  # warm-up: workers' caches, the PDF fonts
        creation, numbers = create(base, data, args.creations, args.processes, args.threads)
        console.print(f"creations with PDF: {creation['per_s']}/s, p95 {creation['p95_ms']} ms")
        start = 0
        for c in (int(c) for c in args.connections.split(",") if c):
            before = executions_stored(url)
            run = dispense(port, base, data, numbers[start:], c, args.seconds)
            run["stored"] = executions_stored(url) - before
            start += run["requests"] + 4 * c  # requests still in flight when wrk stopped were served too
            levels.append(run)
            console.print(f"dispensations, {c} connections: {run['per_s']}/s, p95 {run['p95_ms']} ms")
    finally:
        server.terminate()
        server.wait(timeout=20)
    best = max((r["per_s"] for r in levels if not r["errors"]), default=0)
    result = {
        "benchmark": "ordonnance-numerique",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "server_workers": args.workers,
        "sqlite_synchronous": args.synchronous,
        "creation": creation,
        "dispensation": levels,
        "goals": GOALS,
        "goals_met": {
            "creations": creation["per_s"] >= GOALS["creations_per_s"] and not creation["errors"],
            "dispensations": best >= GOALS["dispensations_per_s"],
        },
    }
    (ROOT / "bench" / "results").mkdir(exist_ok=True)
    (ROOT / "bench" / "results" / "ordonnance.json").write_text(json.dumps(result, indent=2))
    table = Table(
        title=f"Ordonnance numérique — {args.workers} server process(es), SQLite synchronous="
        f"{args.synchronous}, {os.cpu_count()} cores"
    )
    for col in ("step", "load", "per s", "p50 ms", "p95 ms", "p99 ms", "errors", "goal"):
        table.add_column(col, justify="right")
    table.add_row(
        "create + PDF/QR",
        f"{creation['connections']} LAP sessions",
        f"{creation['per_s']:.0f}",
        str(creation["p50_ms"]),
        str(creation["p95_ms"]),
        str(creation["p99_ms"]),
        str(creation["errors"]),
        f"≥ {GOALS['creations_per_s']}",
    )
    for r in levels:
        table.add_row(
            "$executer",
            f"{r['connections']} wrk connections",
            f"{r['per_s']:.0f}",
            f"{r['p50_ms']:.1f}",
            f"{r['p95_ms']:.1f}",
            f"{r['p99_ms']:.1f}",
            str(r["errors"]),
            f"≥ {GOALS['dispensations_per_s']}",
        )
    console.print(table)
    console.print(f"goals: {result['goals_met']}")


if __name__ == "__main__":
    main()
