"""Pro Santé Connect token endpoint: authorization-code exchanges per second.

Prepares a fresh database with one professional in the Annuaire and one confidential client, has
the provider issue N authorization codes (each bound to its own PKCE challenge, as after N
logins), starts `maison serve --workers 2`, and drives the token endpoint with `wrk` from a
separate process, each request exchanging a different code (client_secret_basic, PKCE verifier):
every exchange signs an access token and an ID token (RS256) and stores a refresh token.
Writes bench/results/psc.json and prints a table.

Goal (issue 3): >= 300 code exchanges/s.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import httpx
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from maison.core.storage import Database  # noqa: E402
from maison.identite.annuaire import resources as build  # noqa: E402
from maison.identite.annuaire.index import put  # noqa: E402
from maison.identite.psc.provider import Provider  # noqa: E402
from maison.migrations import migrate  # noqa: E402

GOAL = 300
REDIRECT = "https://dpi.example.fr/callback"
console = Console(width=120)

LUA = """
local bodies = {}
local f = io.open("%s", "r")
for line in f:lines() do bodies[#bodies + 1] = line end
f:close()
local i = 0
request = function()
  i = i + 1
  if i > #bodies then i = #bodies end
  return wrk.format("POST", "/psc/auth/realms/esante-wallet/protocol/openid-connect/token",
    {["Content-Type"] = "application/x-www-form-urlencoded", ["Authorization"] = "%s"}, bodies[i])
end
done = function(summary, latency, requests)
  io.write(string.format("JSON {\\"requests\\": %%d, \\"non2xx\\": %%d, \\"errors\\": %%d, \\"duration_us\\": %%d, \\"p50_us\\": %%d, \\"p99_us\\": %%d}\\n",
    summary.requests, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.duration, latency:percentile(50), latency:percentile(99)))
end
"""  # noqa: E501 (wrk reads this JSON line: one Lua format string)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(data: Path, codes: int) -> tuple[str, list[str]]:
    db = Database(f"sqlite:///{data / 'maison.db'}")
    migrate(db)
    now = "2026-11-01T08:00:00+00:00"
    with db.write() as conn:
        put(conn, [build.practitioner("99900038441", "MARTIN", "Claire", "DR", "10", "C", "SM54", now)])
    provider = Provider(db)
    client_id, secret = provider.register_client("Bench", [REDIRECT])
    client = provider.client(client_id)
    bodies = []
    for i in range(codes):
        verifier = f"verifier-{i:08d}-" + "x" * 40
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        code = provider.issue_code(
            client,
            "899900038441",
            redirect_uri=REDIRECT,
            code_challenge=challenge,
            nonce=None,
            scope="openid scope_all",
            auth_mode="MOBILE",
        )
        bodies.append(
            urlencode(
                {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier}
            )
        )
    provider.keys.signing()  # the signing key exists before the workers start
    db.dispose()
    basic = "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return basic, bodies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, capture_output=True)
    data = Path(tempfile.mkdtemp(prefix="maison-psc-bench-"))
    codes = 2000 * args.seconds  # more than the server can exchange in the time: each request uses a fresh one
    started = time.perf_counter()
    basic, bodies = prepare(data, codes)
    console.print(f"{codes} codes issued in {time.perf_counter() - started:.1f} s")
    (data / "bodies.txt").write_text("\n".join(bodies))
    (data / "load.lua").write_text(LUA % (data / "bodies.txt", basic))
    port = _port()
    server = subprocess.Popen(
        [sys.executable, "-m", "maison", "serve", "--port", str(port), "--workers", str(args.workers)],
        env={**os.environ, "MAISON_DATA_DIR": str(data)},
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        time.sleep(1)
        out = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{args.connections}",
                f"-d{args.seconds}s",
                "-s",
                str(data / "load.lua"),
                f"http://127.0.0.1:{port}",
            ],
            capture_output=True,
            text=True,
        ).stdout
    finally:
        server.terminate()
        server.wait(timeout=20)
    stats = json.loads(re.search(r"JSON (\{.*\})", out).group(1))
    rps = stats["requests"] / (stats["duration_us"] / 1e6)
    result = {
        "benchmark": "psc-token-code-exchange",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "workers": args.workers,
        "connections": args.connections,
        "seconds": args.seconds,
        "exchanges": stats["requests"],
        "failed": stats["non2xx"] + stats["errors"],
        "exchanges_per_s": round(rps, 1),
        "p50_ms": stats["p50_us"] / 1000,
        "p99_ms": stats["p99_us"] / 1000,
        "goal": {"exchanges_per_s": GOAL},
        "goal_met": rps >= GOAL and stats["non2xx"] == 0,
    }
    shutil.rmtree(data, ignore_errors=True)
    (ROOT / "bench" / "results").mkdir(exist_ok=True)
    (ROOT / "bench" / "results" / "psc.json").write_text(json.dumps(result, indent=2))
    table = Table(title="Pro Santé Connect — authorization code exchanges")
    for col in ("exchanges/s", "p50 ms", "p99 ms", "exchanges", "failed", "goal met"):
        table.add_column(col, justify="right")
    table.add_row(
        f"{rps:,.0f}",
        f"{result['p50_ms']:.2f}",
        f"{result['p99_ms']:.2f}",
        str(stats["requests"]),
        str(result["failed"]),
        "yes" if result["goal_met"] else "no",
    )
    console.print(table)
    console.print(f"goal: ≥ {GOAL} code exchanges/s")


if __name__ == "__main__":
    main()
