"""INSi trait lookups over SOAP against a large referential, from a separate load process on loopback.

Seeds (once, cached in bench/.cache) a referential of N synthetic identities in SQLite, starts
`maison serve` as its own process, and drives it with `wrk` (a separate C load generator) cycling
through SOAP 1.2 requests for identities drawn from the referential. Reports requests/s and
latency percentiles, writes bench/results/insi.json and prints a table.

Two modes, run back to back in one session so that their figures compare (issue 18, 1.4):
`plain` is INSi as it was served before certificates, in clear on the house port (now only under
`insi_dev_sans_certificat`); `mtls` is INSi's own mutual-TLS listener (`insi_port`), the caller
presenting the structure's certificate that `maison insi-certificat` issued. wrk cannot present a
client certificate, so in `mtls` it speaks through a stunnel client (one TLS connection per wrk
connection; its CPU time, taken from the same two cores, is reported beside the figures).

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
import ssl
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

from maison.core import pki  # noqa: E402
from maison.core.config import load_settings  # noqa: E402
from maison.core.storage import Database  # noqa: E402
from maison.etablissement.insi.client import ClientIdentity, traits_request  # noqa: E402
from maison.identite.ins import store  # noqa: E402
from maison.identite.ins.service import InsiService  # noqa: E402
from maison.migrations import migrate  # noqa: E402

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
    migrate(db)
    with db.read() as conn:
        have = store.count_persons(conn)
    if have != count:
        db.dispose()
        shutil.rmtree(data)
        db = Database(f"sqlite:///{db_file}")
        migrate(db)
        from maison.terminal import seed_with_progress

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
    summary.errors.status, summary.duration, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max))
end
"""  # noqa: E501 (wrk reads this JSON line: one Lua format string)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=int, default=15, help="duration of each load level")
    parser.add_argument("--connections", default="4,8,16,32", help="load levels: concurrent connections")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="server processes")
    parser.add_argument("--modes", default="plain,mtls", help="plain (clear, as before certificates), mtls, or both")
    args = parser.parse_args()
    for tool, package in (("wrk", "wrk"), ("stunnel", "stunnel4")):
        if not shutil.which(tool):
            subprocess.run(["apt-get", "install", "-y", "-qq", package], check=True, capture_output=True)
    data = prepare(args.count)
    requests = bodies(data, 5000)
    tmp = Path(tempfile.mkdtemp())
    (tmp / "bodies.txt").write_bytes(b"\n".join(b.replace(b"\n", b"") for b in requests))
    (tmp / "load.lua").write_text(LUA % (tmp / "bodies.txt"))
    levels = [int(c) for c in args.connections.split(",")]
    runs = {mode: _mode(mode, data, tmp, requests[0], levels, args) for mode in args.modes.split(",")}
    met = {mode: [r["connections"] for r in rs if _met(r)] for mode, rs in runs.items()}
    result = {
        "benchmark": "insi-soap-traits",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "cpu": _cpu_model(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "referential": args.count,
        "workers": args.workers,
        "seconds_per_level": args.seconds,
        "runs": runs,
        "goal": {"requests_per_s": GOAL_RPS, "p99_ms": GOAL_P99_MS},
        "goal_met_at_connections": met,
    }
    (ROOT / "bench" / "results").mkdir(exist_ok=True)
    (ROOT / "bench" / "results" / "insi.json").write_text(json.dumps(result, indent=2))
    for mode, rs in runs.items():
        table = Table(
            title=f"INSi SOAP trait lookups ({mode}) — {args.count:,} identities, {args.workers} server process(es)"
        )
        for col in (
            "connections",
            "req/s",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "max ms",
            "errors",
            "server CPU ms/req",
            "stunnel CPU",
            "goal met",
        ):
            table.add_column(col, justify="right")
        for r in rs:
            table.add_row(
                str(r["connections"]),
                f"{r['requests_per_s']:,.0f}",
                f"{r['p50_ms']:.2f}",
                f"{r['p90_ms']:.2f}",
                f"{r['p99_ms']:.2f}",
                f"{r['max_ms']:.1f}",
                str(r["errors"]),
                f"{r.get('server_cpu_ms_per_request', 0):.3f}",
                f"{r['stunnel_cpu']:.0%}" if "stunnel_cpu" in r else "",
                "yes" if _met(r) else "no",
            )
        console.print(table)
    console.print(f"goal: ≥ {GOAL_RPS} req/s with p99 < {GOAL_P99_MS} ms")


def _met(run: dict) -> bool:
    return run["requests_per_s"] >= GOAL_RPS and run["p99_ms"] < GOAL_P99_MS and not run["errors"]


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def _mode(mode: str, data: Path, tmp: Path, probe: bytes, levels: list[int], args: argparse.Namespace) -> list[dict]:
    """Start the server for one mode, check one call, warm up, run the levels, stop it."""
    port, insi_port = _port(), _port()
    env = {**os.environ, "MAISON_DATA_DIR": str(data), "MAISON_REFERENCE_PATH": str(load_settings().reference_path)}
    stunnel = None
    if mode == "plain":
        env["MAISON_INSI_DEV_SANS_CERTIFICAT"] = "true"
    else:
        env["MAISON_INSI_PORT"] = str(insi_port)
        issued = _certificate(env, data)
    server = subprocess.Popen(
        [sys.executable, "-m", "maison", "serve", "--port", str(port), "--workers", str(args.workers)],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    try:
        if mode == "plain":
            _check(f"http://127.0.0.1:{port}/insi/lps", probe, None)
            target = port
        else:
            _check(
                f"https://127.0.0.1:{insi_port}/insi/lps", probe, pki.client_context(data / "pki" / "ca.pem", issued)
            )
            stunnel, target = _stunnel(tmp, issued, data / "pki" / "ca.pem", insi_port)
            _check(f"http://127.0.0.1:{target}/insi/lps", probe, None)
        subprocess.run(
            ["wrk", "-t1", "-c4", "-d3s", "-s", str(tmp / "load.lua"), f"http://127.0.0.1:{target}"],
            capture_output=True,
        )  # warm-up
        return [_load(target, tmp, c, args.seconds, stunnel, server) for c in levels]
    finally:
        if stunnel is not None:
            stunnel.terminate()
            stunnel.wait(timeout=10)
        server.terminate()
        server.wait(timeout=30)


def _certificate(env: dict, data: Path) -> pki.Issued:
    """The structure's certificate, as an administrator gets it: `maison insi-certificat`."""
    subprocess.run(
        [sys.executable, "-m", "maison", "insi-certificat", STRUCTURE, "--idam", IDAM],
        env=env,
        check=True,
        capture_output=True,
    )
    name = pki.label("structure", STRUCTURE, IDAM)
    return pki.Issued(data / "pki" / f"{name}.pem", data / "pki" / f"{name}.key")


def _check(url: str, probe: bytes, verify: ssl.SSLContext | None) -> None:
    """Wait for the server, then one lookup must find its identity."""
    for _ in range(600):
        try:
            check = httpx.post(
                url, content=probe, headers={"Content-Type": "application/soap+xml"}, timeout=5, verify=verify or True
            )
            break
        except httpx.TransportError:
            time.sleep(0.1)
    assert check.status_code == 200 and b"<CodeCR>00</CodeCR>" in check.content, check.text[:500]


def _stunnel(tmp: Path, issued: pki.Issued, ca: Path, insi_port: int) -> tuple[subprocess.Popen, int]:
    """A TLS client front for wrk: plain on a loopback port, mutual TLS to INSi with the certificate."""
    port = _port()
    conf = tmp / "stunnel.conf"
    conf.write_text(f"""foreground = yes
pid =
[insi]
client = yes
accept = 127.0.0.1:{port}
connect = 127.0.0.1:{insi_port}
cert = {issued.cert}
key = {issued.key}
CAfile = {ca}
verifyChain = yes
checkIP = 127.0.0.1
sslVersionMin = TLSv1.2
""")
    proc = subprocess.Popen(["stunnel", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    return proc, port


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _tree_cpu_seconds(pid: int) -> float:
    """CPU time of a process and its descendants still running (the server's workers): unlike
    throughput, CPU per request hardly moves when other work shares the cores."""
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            total += _cpu_seconds(current)
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except FileNotFoundError:
            continue
    return total


def _load(
    port: int,
    tmp: Path,
    connections: int,
    seconds: int,
    front: subprocess.Popen | None = None,
    server: subprocess.Popen | None = None,
) -> dict:
    """One closed-loop load level with wrk; every request is a different identity's trait lookup."""
    cpu = _cpu_seconds(front.pid) if front else 0.0
    server_cpu = _tree_cpu_seconds(server.pid) if server else 0.0
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(tmp / "load.lua"), f"http://127.0.0.1:{port}"],
        capture_output=True,
        text=True,
    ).stdout
    stats = json.loads(re.search(r"JSON (\{.*\})", out).group(1))
    extra = {"stunnel_cpu": round((_cpu_seconds(front.pid) - cpu) / (stats["duration_us"] / 1e6), 3)} if front else {}
    if server and stats["requests"]:
        extra["server_cpu_ms_per_request"] = round(
            (_tree_cpu_seconds(server.pid) - server_cpu) * 1000 / stats["requests"], 3
        )
    return {
        **extra,
        "connections": connections,
        "requests": stats["requests"],
        "errors": stats["errors"] + stats["non2xx"],
        "requests_per_s": round(stats["requests"] / (stats["duration_us"] / 1e6), 1),
        "p50_ms": stats["p50_us"] / 1000,
        "p90_ms": stats["p90_us"] / 1000,
        "p99_ms": stats["p99_us"] / 1000,
        "max_ms": stats["max_us"] / 1000,
    }


if __name__ == "__main__":
    main()
