"""INSi trait lookups over SOAP against a large referential, from a separate load process on loopback.

Seeds (once, cached in bench/.cache) a referential of N synthetic identities in SQLite, starts
`maison serve` as its own process, and drives it with `wrk` (a separate C load generator) cycling
through SOAP 1.2 requests for identities drawn from the referential. Reports requests/s and
latency percentiles, writes bench/results/insi.json and prints a table.

Goal (issue 2): >= 1 000 lookups/s with p99 < 20 ms on 2 cores, against 1 million identities.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import sqlalchemy as sa
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from maison.core.config import load_settings  # noqa: E402
from maison.core.storage import Database  # noqa: E402
from maison.identite.ins import store  # noqa: E402
from maison.identite.ins.client import ClientIdentity, traits_request  # noqa: E402
from maison.identite.ins.service import InsiService  # noqa: E402

STRUCTURE, IDAM = "1750000019", "MAISON-BENCH"
GOAL_RPS, GOAL_P99_MS = 1000, 20
console = Console(width=120)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(count: int) -> Path:
    data = ROOT / "bench" / ".cache" / f"insi-{count}"
    db_file = data / "maison.db"
    db = Database(f"sqlite:///{db_file}")
    db.migrate()
    with db.read() as conn:
        have = store.count_persons(conn)
    if have != count:
        db.dispose()
        shutil.rmtree(data)
        db = Database(f"sqlite:///{db_file}")
        db.migrate()
        from maison.cli import seed_with_progress

        seed_with_progress(db, count, 2026)
    service = InsiService(db)
    service.register_software(IDAM, "Bench", "Maison")
    service.register_structure(STRUCTURE, "Bench")
    db.dispose()
    return data


def bodies(data: Path, n: int) -> list[bytes]:
    db = Database(f"sqlite:///{data / 'maison.db'}")
    me = ClientIdentity(STRUCTURE, IDAM)
    with db.read() as conn:
        top = store.count_persons(conn)
        ids = random.Random(7).sample(range(1, top + 1), min(n, top))
        rows = conn.execute(sa.select(store.ins_person).where(store.ins_person.c.id.in_(ids))).all()
    db.dispose()
    return [traits_request(me, r.nom_naissance, [r.prenoms.split(" ")[0]], r.sexe, r.date_naissance) for r in rows]


LUA = """
local bodies = {}
local f = io.open("%s", "r")
for line in f:lines() do bodies[#bodies + 1] = line end
f:close()
local i = 0
request = function()
  i = (i %% #bodies) + 1
  return wrk.format("POST", "/insi/lps", {["Content-Type"] = "application/soap+xml; charset=utf-8"}, bodies[i])
end
done = function(summary, latency, requests)
  io.write(string.format("JSON {\\"requests\\": %%d, \\"errors\\": %%d, \\"non2xx\\": %%d, \\"duration_us\\": %%d, \\"p50_us\\": %%d, \\"p90_us\\": %%d, \\"p99_us\\": %%d, \\"max_us\\": %%d}\\n",
    summary.requests, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, summary.duration, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=int, default=15, help="duration of each load level")
    parser.add_argument("--connections", default="4,8,16,32", help="load levels: concurrent connections")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="server processes")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, capture_output=True)
    data = prepare(args.count)
    requests = bodies(data, 5000)
    tmp = Path(tempfile.mkdtemp())
    (tmp / "bodies.txt").write_bytes(b"\n".join(b.replace(b"\n", b"") for b in requests))
    (tmp / "load.lua").write_text(LUA % (tmp / "bodies.txt"))
    port = _port()
    env = {**os.environ, "MAISON_DATA_DIR": str(data), "MAISON_REFERENCE_PATH": str(load_settings().reference_path)}
    server = subprocess.Popen([sys.executable, "-m", "maison", "serve", "--port", str(port), "--workers",
                               str(args.workers)], env=env, stdout=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        check = httpx.post(f"http://127.0.0.1:{port}/insi/lps", content=requests[0],
                           headers={"Content-Type": "application/soap+xml"})
        assert check.status_code == 200 and b"<CodeCR>00</CodeCR>" in check.content, check.text[:500]
        subprocess.run(["wrk", "-t1", "-c4", "-d3s", "-s", str(tmp / "load.lua"), f"http://127.0.0.1:{port}"],
                       capture_output=True)  # warm-up
        runs = [_load(port, tmp, int(c), args.seconds) for c in args.connections.split(",")]
    finally:
        server.terminate()
        server.wait(timeout=10)
    met = [r for r in runs if r["requests_per_s"] >= GOAL_RPS and r["p99_ms"] < GOAL_P99_MS and not r["errors"]]
    result = {
        "benchmark": "insi-soap-traits", "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "referential": args.count, "workers": args.workers, "seconds_per_level": args.seconds, "runs": runs,
        "goal": {"requests_per_s": GOAL_RPS, "p99_ms": GOAL_P99_MS}, "goal_met_at_connections": [r["connections"] for r in met],
    }
    (ROOT / "bench" / "results").mkdir(exist_ok=True)
    (ROOT / "bench" / "results" / "insi.json").write_text(json.dumps(result, indent=2))
    table = Table(title=f"INSi SOAP trait lookups — {args.count:,} identities, {args.workers} server process(es)")
    for col in ("connections", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors", "goal met"):
        table.add_column(col, justify="right")
    for r in runs:
        table.add_row(str(r["connections"]), f"{r['requests_per_s']:,.0f}", f"{r['p50_ms']:.2f}", f"{r['p90_ms']:.2f}",
                      f"{r['p99_ms']:.2f}", f"{r['max_ms']:.1f}", str(r["errors"]), "yes" if r in met else "no")
    console.print(table)
    console.print(f"goal: ≥ {GOAL_RPS} req/s with p99 < {GOAL_P99_MS} ms")


def _load(port: int, tmp: Path, connections: int, seconds: int) -> dict:
    """One closed-loop load level with wrk; every request is a different identity's trait lookup."""
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(tmp / "load.lua"),
                          f"http://127.0.0.1:{port}"], capture_output=True, text=True).stdout
    stats = json.loads(re.search(r"JSON (\{.*\})", out).group(1))
    return {
        "connections": connections, "requests": stats["requests"], "errors": stats["errors"] + stats["non2xx"],
        "requests_per_s": round(stats["requests"] / (stats["duration_us"] / 1e6), 1),
        "p50_ms": stats["p50_us"] / 1000, "p90_ms": stats["p90_us"] / 1000, "p99_ms": stats["p99_us"] / 1000,
        "max_ms": stats["max_us"] / 1000,
    }


if __name__ == "__main__":
    main()
