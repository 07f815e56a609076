"""MSSanté operators registered while `maison serve` runs are started within seconds (issue 21 §1.4).

The house is started as a vendor starts it, on an empty data directory; an operator is registered
over `/admin` and another by `maison admin operateur-mss` in another process; each listens within
seconds, where the answer and `serve`'s output say, and a mailbox created over `/admin` sends and
reads a message over SMTP and IMAP, and is published in the house's Annuaire. An operator whose port
is taken is said precisely, the house goes on serving, and it starts once the port is free. The
client part imports nothing of `maison`: what it does, a vendor's script can do.
"""

from __future__ import annotations

import imaplib
import json
import re
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from tests.conftest import free_port
from tests.e2e.test_admin_sandbox import _environ, _luhn  # the client's own: it imports no maison

PASSWORD = "mot-de-passe-pfi-2026"


def _port() -> int:
    return free_port()  # below the ephemeral range: not handed to an outgoing connection meanwhile


class Output:
    """What a process writes on one stream, line by line, read in a thread (no pipe left to fill)."""

    def __init__(self, stream) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            self.lines.append(line)

    def wait_for(self, pattern: str, seconds: float) -> re.Match:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for line in list(self.lines):
                found = re.search(pattern, line)
                if found:
                    return found
            time.sleep(0.1)
        raise AssertionError(f"nothing matches {pattern!r} in:\n{''.join(self.lines)}")


def _connect_smtp(port: int, seconds: float) -> smtplib.SMTP:
    deadline = time.monotonic() + seconds
    while True:
        try:
            return smtplib.SMTP("127.0.0.1", port, timeout=10)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_operators_registered_while_serve_runs_listen_within_seconds(tmp_path: Path) -> None:
    port, data_dir = _port(), tmp_path / "data"
    environ = _environ(data_dir)
    proc = subprocess.Popen(
        [sys.executable, "-m", "maison", "serve", "--port", str(port)],
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = Output(proc.stdout), Output(proc.stderr)
    held = socket.socket()
    try:
        token = out.wait_for(r"Jeton administrateur.*: (mk_\S+)", 60).group(1)
        admin = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            for _ in range(300):
                try:
                    client.get("/")
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            # the structure the applicative mailbox belongs to, so that the Annuaire takes its publication
            finess = _luhn("75000002")
            structure = client.post(
                "/admin/annuaire/structures", headers=admin, json={"nom": "CHU DE TEST", "finess": finess}
            )
            assert structure.status_code == 201, structure.text
            reader = client.post("/admin/cles", headers=admin, json={"structure": f"1{finess}", "nom": "lecteur"})
            assert reader.status_code == 201, reader.text

            relay, submission, imap = _port(), _port(), _port()
            operator = {
                "identifiant": "chu-test",
                "nom": "CHU DE TEST",
                "domaines": ["chu-test.mssante.fr"],
                "relais": relay,
                "soumission": submission,
                "imap": imap,
            }
            registered = client.post("/admin/mss/operateurs", headers=admin, json=operator)
            assert registered.status_code == 201, registered.text
            started = time.monotonic()
            listeners = {e["role"]: e for e in registered.json()["ecoutes"]}
            assert listeners["soumission"] == {
                "role": "soumission",
                "protocole": "SMTP",
                "adresse": f"127.0.0.1:{submission}",
                "tls": "STARTTLS exigé",
            }
            assert listeners["relais"]["adresse"] == f"127.0.0.1:{relay}" and listeners["relais"]["protocole"] == "SMTP"
            assert listeners["imap"]["adresse"] == f"127.0.0.1:{imap}" and listeners["imap"]["protocole"] == "IMAP"
            trusted = ssl.create_default_context(cadata=registered.json()["autoriteCertification"])
            box = {
                "adresse": "pfi@chu-test.mssante.fr",
                "operateur": "chu-test",
                "type": "APP",
                "titulaire": f"1{finess}",
                "nom": "PFI du CHU",
                "motDePasse": PASSWORD,
            }
            assert client.post("/admin/mss/bal", headers=admin, json=box).status_code == 201

            with _connect_smtp(submission, 30) as smtp:  # the registry read within 1 s, then the process starts
                assert time.monotonic() - started < 30  # within seconds, no restart of the house
                smtp.starttls(context=trusted)
                smtp.login(box["adresse"], PASSWORD)
                message = (
                    f"From: {box['adresse']}\r\nTo: {box['adresse']}\r\nSubject: Bonjour du bac a sable\r\n"
                    "Message-ID: <live-operator@test>\r\n\r\nUn message.\r\n"
                )
                assert smtp.sendmail(box["adresse"], [box["adresse"]], message.encode()) == {}
            mailbox = imaplib.IMAP4("127.0.0.1", imap, timeout=10)
            mailbox.starttls(ssl_context=trusted)
            mailbox.login(box["adresse"], PASSWORD)
            mailbox.select("INBOX")
            for _ in range(100):
                found = mailbox.search(None, 'SUBJECT "Bonjour du bac a sable"')[1][0].split()
                if found:
                    break
                time.sleep(0.1)
                mailbox.noop()
            assert found, "the message never reached the mailbox"
            mailbox.logout()
            out.wait_for(
                rf"MSSanté chu-test à l'écoute : soumission SMTP 127\.0\.0\.1:{submission} \(STARTTLS exigé\), "
                rf"relais SMTP 127\.0\.0\.1:{relay} .*imap IMAP 127\.0\.0\.1:{imap}",
                5,
            )
            published = 0
            for _ in range(150):  # published in the house's Annuaire by the operator, within its pass
                published = client.get(
                    "/annuaire/Organization",
                    params={"mailbox-mss": box["adresse"]},
                    headers={"ESANTE-API-KEY": reader.json()["cle"]},
                ).json()["total"]
                if published:
                    break
                time.sleep(0.2)
            assert published == 1, "".join(err.lines)  # the operator's key admitted by the Annuaire

            # another operator, registered by the command line in another process, its relay port taken
            held.bind(("127.0.0.1", _port()))
            held.listen()
            taken, submission2 = held.getsockname()[1], _port()
            done = subprocess.run(
                [sys.executable, "-m", "maison", "admin", "operateur-mss", "cab-test", "--nom", "Cabinet"]
                + ["--domaine", "cab-test.mssante.fr", "--relais", str(taken), "--soumission", str(submission2)],
                env=environ,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == 0, done.stderr
            said = {e["role"]: e["adresse"] for e in json.loads(done.stdout)["ecoutes"]}
            assert said == {"soumission": f"127.0.0.1:{submission2}", "relais": f"127.0.0.1:{taken}"}
            err.wait_for(rf"cab-test : impossible d'écouter en relais SMTP 127\.0\.0\.1:{taken} .*— .*in use", 30)
            assert client.get("/").status_code == 200  # the house goes on serving
            with _connect_smtp(submission, 5) as smtp:  # and so does the other operator
                assert smtp.noop()[0] == 250
            held.close()
            with _connect_smtp(submission2, 60) as smtp:  # tried again, started once the port is free
                assert smtp.noop()[0] == 250
            out.wait_for(rf"MSSanté cab-test à l'écoute : soumission SMTP 127\.0\.0\.1:{submission2}", 5)
    finally:
        held.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    for closed in (submission, imap, submission2):  # the operators stopped with the house
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", closed)) != 0
