"""`maison sandbox` as a vendor runs it (issue 21 §2, done-when): built twice, the same catalogue; then
`maison serve` on it answers each INSi case as the catalogue says, lets each professional log in to
Pro Santé Connect (test password and e-CPS code) and each patient to Mon espace santé (password and
the one-time code read from /admin/boite-envoi), serves the catalogue at GET /sandbox in HTML and
JSON, and the README's curl examples (§ Test your software against Maison) work against it as written.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson
import pyotp

from maison.etablissement.insi.client import ClientIdentity, InsiClient
from maison.etablissement.psc.client import sign_in
from tests.e2e.test_admin_sandbox import _port, _read_token  # how a vendor starts the house

README = Path(__file__).resolve().parents[2] / "README.md"


def _mss_base() -> int:
    """A first port with the operators' twelve free after it (they listen on base+0..2 and base+10..12)."""
    for _ in range(50):
        base = _port() // 100 * 100
        if base + 20 > 65535:
            continue
        try:
            for offset in range(20):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", base + offset))
        except OSError:
            continue
        return base
    raise AssertionError("no free range of ports for the MSSanté operators")


def _environ(data_dir: Path) -> dict[str, str]:
    environ = {**os.environ, "MAISON_DATA_DIR": str(data_dir), "MAISON_INSI_DEV_SANS_CERTIFICAT": "true"}
    environ.pop("MAISON_DATABASE_URL", None)
    return environ


def _sandbox(data_dir: Path, mss: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "maison", "sandbox", "--data-dir", str(data_dir), "--mss-port", str(mss)],
        env=_environ(data_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _finished(proc: subprocess.Popen) -> str:
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    return out


def _listening(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.25)
    raise AssertionError(f"nothing listens on {port}")


def readme_script(values: dict[str, str]) -> str:
    """The README's curl examples of § Test your software against Maison (every sh block but the
    two commands), with this house's URL, token, data directory and SMTP port."""
    section = README.read_text(encoding="utf-8").split("## Test your software against Maison", 1)[1]
    blocks = re.findall(r"```sh\n(.*?)```", section.split("\n## ", 1)[0], re.S)
    assert blocks[0].startswith("./dev maison sandbox"), "the two commands first"
    assert len(blocks) >= 8, "then one block per service"
    script = "\n".join(blocks[1:])
    for name, value in values.items():
        script, count = re.subn(rf"(?m)^{name}=\S+", f"{name}={value}", script)
        assert count == 1, name
    return "set -euo pipefail\n" + script


def test_sandbox_twice_the_same_then_every_case_and_login(tmp_path: Path) -> None:
    mss = _mss_base()
    first, other = tmp_path / "a", tmp_path / "b"
    builds = [_sandbox(first, mss), _sandbox(other, mss)]
    for proc in builds:
        _finished(proc)
    catalogue_bytes = (first / "sandbox.json").read_bytes()
    assert (other / "sandbox.json").read_bytes() == catalogue_bytes  # two houses, one catalogue
    again = _finished(_sandbox(first, mss))
    assert "déjà construit" in again and (first / "sandbox.json").read_bytes() == catalogue_bytes
    catalogue = orjson.loads(catalogue_bytes)

    port = _port()
    base = f"http://127.0.0.1:{port}"
    serve = subprocess.Popen(
        [sys.executable, "-m", "maison", "serve", "--port", str(port)],
        env=_environ(first),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        admin = {"Authorization": f"Bearer {_read_token(serve, time.monotonic() + 60)}"}
        _listening(port, time.monotonic() + 30)
        with httpx.Client(base_url=base, timeout=30) as http:
            _insi_cases(http, catalogue)
            _professionals_log_in(base, catalogue)
            _patients_log_in(http, admin, catalogue)
            _catalogue_served(http, catalogue)
        _readme_examples(tmp_path, base, admin, first, catalogue)
    finally:
        serve.terminate()
        serve.wait(timeout=30)


def _insi_cases(http: httpx.Client, catalogue: dict) -> None:
    chu = next(s for s in catalogue["structures"] if s["id"] == "chu")
    identity = ClientIdentity(chu["idnatstruct"], catalogue["logiciel"]["idam"])
    soap = InsiClient(str(http.base_url).rstrip("/") + "/insi/lps", identity, http=http)
    for case in catalogue["insi"]:
        body = {
            "structure": chu["idnatstruct"],
            "idam": catalogue["logiciel"]["idam"],
            "nomNaissance": case["nomNaissance"],
            "prenoms": case["prenoms"],
            "sexe": case["sexe"],
            "dateNaissance": case["dateNaissance"],
        }
        if case["lieuNaissance"]:
            body["lieuNaissance"] = case["lieuNaissance"]
        answer = http.post("/insi/json/rechercherInsAvecTraitsIdentite", json=body)
        assert answer.status_code == 200, (case["id"], answer.text)
        result, expected = answer.json(), case["attendu"]
        assert result["codeCR"] == expected["codeCR"], case["id"]
        if expected["ins"]:
            active = result["individu"]["insActif"]
            assert (active["matricule"] + active["cle"], active["oid"]) == (expected["ins"], expected["oid"]), case
            history = [(h["matricule"] + h["cle"], h["oid"]) for h in result["individu"]["insHisto"]]
            assert history == [(h["matricule"], h["oid"]) for h in expected["insHisto"]], case["id"]
            assert result["individu"]["traits"]["listePrenom"] == expected["listePrenoms"], case["id"]
        _over_soap(soap, case)


def _over_soap(soap: InsiClient, case: dict) -> None:
    """The same case over SOAP 1.2 (the national endpoint's protocol, /insi/lps), as a DPI calls it."""
    expected = case["attendu"]
    result = soap.search_traits(
        case["nomNaissance"], case["prenoms"], case["sexe"], case["dateNaissance"], case["lieuNaissance"]
    )
    assert result.code.value == expected["codeCR"], case["id"]
    if expected["ins"]:
        assert result.individu is not None
        active, history = result.individu.active, result.individu.history
        assert (active.number + active.cle, active.oid) == (expected["ins"], expected["oid"]), case["id"]
        assert [(h.number + h.cle, h.oid) for h in history] == [
            (h["matricule"], h["oid"]) for h in expected["insHisto"]
        ]


def _professionals_log_in(base: str, catalogue: dict) -> None:
    client = catalogue["clientPsc"]
    redirect = client["redirectUris"][0]
    for pro in catalogue["professionnels"]:
        by_password = sign_in(
            base, client["client_id"], client["client_secret"], redirect, pro["idnatps"], password=pro["motDePasse"]
        )
        otp = pyotp.TOTP(pro["eCpsSeed"]).now()
        by_ecps = sign_in(base, client["client_id"], client["client_secret"], redirect, pro["idnatps"], otp=otp)
        for tokens in (by_password, by_ecps):
            me = httpx.get(tokens["userinfo_endpoint"], headers={"Authorization": f"Bearer {tokens['access_token']}"})
            assert me.json()["SubjectNameID"] == pro["idnatps"], pro["id"]


def _patients_log_in(http: httpx.Client, admin: dict, catalogue: dict) -> None:
    for patient in catalogue["patients"]:
        started = http.post(
            "/mes/connexion", json={"identifiant": patient["identifiant"], "motDePasse": patient["motDePasse"]}
        )
        assert started.status_code == 202, (patient["id"], started.text)
        box = http.get("/admin/boite-envoi", headers=admin, params={"destinataire": patient["email"]})
        code = re.search(r"\b(\d{6})\b", box.json()["messages"][-1]["corps"])
        assert code, box.text
        done = http.post(
            "/mes/connexion/code", json={"transaction": started.json()["transaction"], "code": code.group(1)}
        )
        assert done.status_code == 200 and done.json()["access_token"], (patient["id"], done.text)


def _catalogue_served(http: httpx.Client, catalogue: dict) -> None:
    as_json = http.get("/sandbox", params={"_format": "json"}).json()
    assert as_json.pop("urlBase") == str(http.base_url).rstrip("/") and as_json == catalogue
    page = http.get("/sandbox", headers={"Accept": "text/html"})
    assert page.status_code == 200 and '<html lang="fr">' in page.text
    assert all(p["idnatps"] in page.text for p in catalogue["professionnels"])


def _readme_examples(tmp_path: Path, base: str, admin: dict, data_dir: Path, catalogue: dict) -> None:
    chu_operator = catalogue["operateursMss"][0]
    _listening(chu_operator["soumission"], time.monotonic() + 60)  # `maison serve` starts the operators
    script = readme_script(
        {
            "MAISON": base,
            "ADMIN": admin["Authorization"].removeprefix("Bearer "),
            "DATA": str(data_dir),
            "SMTP": f"localhost:{chu_operator['soumission']}",
        }
    )
    ran = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr + ran.stdout[-2000:]
    out = ran.stdout
    assert '"codeCR":"00"' in out  # INSi
    assert '"resourceType":"Practitioner"' in out  # Annuaire
    assert '"SubjectNameID":"899900000029"' in out  # Pro Santé Connect's userinfo
    assert '"resourceType":"DocumentReference"' in out  # the DMP
    assert '"resourceType":"RequestGroup"' in out  # the ordonnance
    assert '"messages"' in out  # /admin
