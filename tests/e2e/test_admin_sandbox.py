"""A vendor's first steps against a fresh `maison serve`, over the wire only (issue 21 §1, §1.3).

The house is started as a vendor starts it, on an empty data directory; the administrator token is
read from what it prints; then a structure key is issued and a Mon espace santé login code read back
from the outbox, over HTTP with httpx and by `maison admin boite-envoi` in a subprocess. The client
part imports nothing of `maison`: what it does, a vendor's script can do. The rest of §1 follows, each
act by the path `test_admin_vendor` does not take (so both tests together run every act both ways).
"""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import smtplib
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

SARAH_NIR = "277010115400329"  # seed 003 L229
PASSWORD = "mot-de-passe-de-test-2026"


def _luhn(payload: str) -> str:
    """`payload` with its Luhn check digit (RPPS, FINESS), computed here: the client imports no maison."""
    total = 0
    for i, digit in enumerate(reversed(payload)):
        d = int(digit) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return payload + str((10 - total % 10) % 10)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _environ(data_dir: Path) -> dict[str, str]:
    environ = {**os.environ, "MAISON_DATA_DIR": str(data_dir)}
    environ.pop("MAISON_DATABASE_URL", None)
    return environ


def _read_token(proc: subprocess.Popen, deadline: float) -> str:
    """The administrator token from what `maison serve` prints at its first start."""
    assert proc.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    seen = ""
    while time.monotonic() < deadline:
        if selector.select(timeout=0.5):
            line = proc.stdout.readline()
            if not line:
                break
            seen += line
            found = re.search(r"Jeton administrateur.*: (mk_\S+)", line)
            if found:
                return found.group(1)
    raise AssertionError(f"no administrator token printed:\n{seen}")


def _nir_key(first13: str) -> str:
    """A NIR or NIA with its key: 97 - (number mod 97), Corsica's 2A/2B read as 19/18."""
    number = int(first13.replace("2A", "19").replace("2B", "18"))
    return f"{first13}{97 - number % 97:02d}"


def _serve(data_dir: Path, port: int, **env: str) -> subprocess.Popen:
    """`maison serve` on `data_dir`, its output read by the test (the administrator token)."""
    return subprocess.Popen(
        [sys.executable, "-m", "maison", "serve", "--port", str(port)],
        env={**_environ(data_dir), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def _wait_until_up(client: httpx.Client, tries: int = 150) -> None:
    for _ in range(tries):
        try:
            client.get("/")
            return
        except httpx.TransportError:
            time.sleep(0.1)


def _admin_cli(data_dir: Path, *args: str, **env: str) -> dict:
    """`maison admin …` in a subprocess; its JSON answer."""
    done = subprocess.run(
        [sys.executable, "-m", "maison", "admin", *args],
        env={**_environ(data_dir), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"maison admin {' '.join(args)}: {done.stdout}{done.stderr}"
    return json.loads(done.stdout) if done.stdout.lstrip().startswith("{") else {"sortie": done.stdout}


def _ehlo(port: int) -> bytes:
    """What an SMTP listener registered a moment ago answers to EHLO, once it has started."""
    for _ in range(150):
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
                return smtp.ehlo("dpi.example")[1]
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"nothing listens on {port}")


def test_a_vendor_gets_a_key_and_reads_the_login_code_without_python(tmp_path: Path) -> None:
    port, data_dir = _port(), tmp_path / "data"
    base = f"http://127.0.0.1:{port}"
    proc = _serve(data_dir, port)
    try:
        token = _read_token(proc, time.monotonic() + 60)
        admin = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, timeout=30) as client:
            _wait_until_up(client)
            key = client.post("/admin/cles", headers=admin, json={"structure": "1750000019", "nom": "mon-dpi"})
            assert key.status_code == 201, key.text
            assert key.json()["cle"].startswith("mk_") and key.json()["scope"] == "logiciel"
            index = client.get("/fhir/Patient", headers={"ESANTE-API-KEY": key.json()["cle"]})
            assert index.status_code == 200, index.text  # the structure's software is admitted with it

            account = {
                "identifiant": "sarah.garcia",
                "ins": SARAH_NIR,
                "dateNaissance": "1977-01-21",
                "motDePasse": PASSWORD,
                "email": "sarah@example.fr",
            }
            assert client.post("/admin/mes/comptes", headers=admin, json=account).status_code == 201
            started = client.post("/mes/connexion", json={"identifiant": "sarah.garcia", "motDePasse": PASSWORD})
            assert started.status_code == 202, started.text
            box = client.get("/admin/boite-envoi", headers=admin, params={"destinataire": "sarah@example.fr"})
            assert box.status_code == 200, box.text
            code = re.search(r"\b(\d{6})\b", box.json()["messages"][-1]["corps"]).group(1)  # type: ignore[union-attr]

            listed = subprocess.run(
                [sys.executable, "-m", "maison", "admin", "boite-envoi", "--destinataire", "sarah@example.fr"],
                env=_environ(data_dir),
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert listed.returncode == 0, listed.stderr
            assert code in json.loads(listed.stdout)["messages"][-1]["corps"]

            # the rest of a vendor's onboarding (issue 21 §1), each step's answer used by the next
            finess, rpps = _luhn("75000001"), _luhn("1000000789")
            steps = [
                ("/admin/annuaire/structures", {"nom": "CHU DE TEST", "finess": finess, "secteur": "SA01"}),
                ("/admin/insi/habilitations", {"structure": f"1{finess}", "nom": "CHU DE TEST"}),
                (
                    "/admin/insi/logiciels",
                    {"idam": "IDAM-DPI-1", "nom": "Mon DPI", "editeur": "Éditeur", "version": "1.0"},
                ),
                (
                    "/admin/annuaire/professionnels",
                    {"rpps": rpps, "nom": "MARTIN", "prenom": "ALICE", "profession": "10", "structure": f"1{finess}"},
                ),
                ("/admin/psc/clients", {"nom": "Mon DPI", "redirectUris": ["https://dpi.example/cb"], "ciba": True}),
            ]
            for path, body in steps:
                done = client.post(path, headers=admin, json=body)
                assert done.status_code == 201, f"{path}: {done.text}"
            idnatps = f"8{rpps}"
            password = client.put(
                f"/admin/professionnels/{idnatps}/mot-de-passe", headers=admin, json={"motDePasse": PASSWORD}
            )
            assert password.status_code == 200, password.text
            ecps = client.post(f"/admin/professionnels/{idnatps}/e-cps", headers=admin)
            assert ecps.status_code == 201 and ecps.json()["qrPng"], ecps.text
            found = client.get(
                "/annuaire/Practitioner", params={"identifier": idnatps}, headers={"ESANTE-API-KEY": key.json()["cle"]}
            )
            assert found.status_code == 200 and found.json()["total"] == 1, found.text

            logged = client.post(
                "/mes/connexion/code", json={"transaction": started.json()["transaction"], "code": code}
            )
            assert logged.status_code == 200 and logged.json()["access_token"], logged.text

            # an MSSanté operator and an applicative mailbox by the CLI while `serve` runs (the other
            # path of test_admin_vendor's): it starts within seconds where the CLI said (issue 21 §1.4)
            submission = _port()
            operator = _admin_cli(
                data_dir, "operateur-mss", "chu-test", "--nom", "CHU DE TEST", "--domaine", "chu-test.mssante.fr",
                "--relais", str(_port()), "--soumission", str(submission),
            )  # fmt: skip
            assert {"role": "soumission", "protocole": "SMTP", "adresse": f"127.0.0.1:{submission}",
                    "tls": "STARTTLS exigé"} in operator["ecoutes"]  # fmt: skip
            box = _admin_cli(
                data_dir, "bal", "dpi@chu-test.mssante.fr", "--operateur", "chu-test", "--type", "APP",
                "--titulaire", f"1{finess}", "--nom", "Mon DPI", MAISON_BAL_PASSWORD=PASSWORD,
            )  # fmt: skip
            assert box["type"] == "APP"
            assert b"STARTTLS" in _ehlo(submission)

            # the other path of test_admin_vendor's acts: a NIA replaced by its NIR by the CLI, a merge
            # over HTTP, a key revoked and an INSi certificate issued by the CLI
            nia, nir = _nir_key("7921199243001"), _nir_key("1921199243017")
            leblanc = [_nir_key("1850575056048"), _nir_key("1850575056031")]
            for matricule, family, given, born, place in [
                (nia, "NGUYEN", "BAO", "1992-11-30", "99243"),
                *[(m, "LEBLANC", "PAUL", "1985-05-12", "75056") for m in leblanc],
            ]:
                body = {"nomNaissance": family, "prenoms": given, "sexe": "M", "dateNaissance": born,
                        "lieuNaissance": place, "matricule": matricule}  # fmt: skip
                assert client.post("/admin/ins/identites", headers=admin, json=body).status_code == 201
            assert _admin_cli(data_dir, "remplacer-matricule", nia, nir) == {"ancien": nia, "nouveau": nir}
            merged = client.post(
                "/admin/ins/fusions", headers=admin, json={"survivant": leblanc[0], "absorbe": leblanc[1]}
            )
            assert merged.status_code == 201, merged.text
            assert _admin_cli(data_dir, "revoquer-cle", key.json()["id"]) == {"revoquees": 1}
            assert client.get("/fhir/Patient", headers={"ESANTE-API-KEY": key.json()["cle"]}).status_code == 401
            written = _admin_cli(
                data_dir, "certificat-insi", f"1{finess}", "--idam", "IDAM-DPI-1", "--sortie", str(tmp_path / "insi")
            )
            assert Path(written["certificat"]).read_text().startswith("-----BEGIN CERTIFICATE-----")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)

    # a second start prints no token: one is already active, and it was printed once
    again = _serve(data_dir, port)
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            _wait_until_up(client, 300)
            assert client.get("/admin/boite-envoi", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    finally:
        again.send_signal(signal.SIGTERM)
        output, _ = again.communicate(timeout=30)
    assert "Jeton administrateur" not in output
