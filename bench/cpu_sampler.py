"""CPU seconds taken by each part of a bench run, read from /proc while it runs (Linux only).

    python bench/cpu_sampler.py OUT.json -- COMMAND...

Runs COMMAND and, every 0.25 s, reads utime + stime of every process of the run, kept per pid at its
last reading (a process that exits loses at most its last 0.25 s). Each process is put in one part
by its nearest ancestor (or itself) that is one of (only processes below COMMAND count, but Postfix's):

- `operators`: a `maison serve` process and its workers (the MSSanté operators, INSi, the DMP);
- `pfi`: a `maison pfi` process;
- `bench`: COMMAND itself and its forks (the load generator, the reference's IMAP reader, message
  building), and `wrk`;
- `postfix`: a process whose environment holds MAIL_CONFIG under the run's directory (`--under`);
- `dovecot`: a `dovecot -c <config under the run's directory>` master and everything below it.

Other processes of the machine (other people's tests) are not counted. Written: {part: seconds}
and the wall time; the bench's own figures say how many messages or requests they served.
It does not change what it measures: the command runs as it would without it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, float] | None:
    """(ppid, CPU seconds) of a live process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _environ_has(pid: int, needle: bytes) -> bool:
    try:
        return needle in Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False


def _own(pid: int, cmd: str, root: int, under: str) -> str | None:
    """The part this process starts (None: it belongs to its parent's)."""
    if pid == root:
        return "bench"
    if " -m maison serve" in cmd:
        return "operators"
    if " -m maison pfi" in cmd:
        return "pfi"
    if cmd.startswith("wrk "):
        return "bench"
    if "dovecot" in cmd and " -c " in cmd and under in cmd:
        return "dovecot"
    if _environ_has(pid, b"MAIL_CONFIG=" + under.encode()):
        return "postfix"
    return None


def main() -> None:
    args = sys.argv[1:]
    under = str(Path.cwd() / "bench" / ".cache")
    if args and args[0].startswith("--under="):
        under = args.pop(0).split("=", 1)[1]
    out, command = Path(args[0]), args[args.index("--") + 1 :]
    started = time.time()
    child = subprocess.Popen(command)
    seen: dict[int, tuple[str, float]] = {}  # pid -> (part, CPU seconds at its last reading)
    parts: dict[int, str | None] = {}  # pid -> its own part, once decided (pids are not reused in a run)
    while True:
        done = child.poll() is not None
        table = {}
        for name in os.listdir("/proc"):
            if name.isdigit():
                got = _stat(int(name))
                if got:
                    table[int(name)] = got
        for pid in table:
            if pid not in parts:
                parts[pid] = _own(pid, _cmdline(pid), child.pid, under)
        for pid, (_ppid, cpu) in table.items():
            p, part, ours = pid, None, False
            for _ in range(64):  # the nearest ancestor with a part, and whether the run started it
                part = part or parts.get(p)
                if p == child.pid:
                    ours = True
                    break
                if p not in table or p <= 1:
                    break
                p = table[p][0]
            # another user's `maison serve` or `maison pfi` (a test meanwhile) is not the run's;
            # Postfix's daemons are not below the run (its master detaches) but carry its MAIL_CONFIG
            if part and (ours or part == "postfix"):
                seen[pid] = (part, cpu)
        if done:
            break
        time.sleep(0.25)
    totals: dict[str, float] = {}
    for part, cpu in seen.values():
        totals[part] = round(totals.get(part, 0.0) + cpu, 2)
    out.write_text(json.dumps({"command": command, "wall_s": round(time.time() - started, 1), "cpu_s": totals}))
    sys.exit(child.returncode)


if __name__ == "__main__":
    main()
