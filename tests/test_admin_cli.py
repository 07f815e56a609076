"""`maison admin …` (issue 21 §1): the same acts as `/admin`, from the command line, on a data directory."""

from pathlib import Path

import orjson
from cryptography import x509
from typer.testing import CliRunner

from maison.cli import app
from maison.core.actor import KeyScope
from maison.core.auth import key_actor
from maison.core.errors import Unauthenticated
from maison.core.storage import Database
from maison.identite.mes.login import PatientLogin
from maison.identite.psc.keys import Keys
from tests.identite.helpers import SARAH_NIR, nir


def test_admin_commands(tmp_path, reference_path, monkeypatch) -> None:
    monkeypatch.setenv("MAISON_REFERENCE_PATH", str(reference_path))
    monkeypatch.delenv("MAISON_DATABASE_URL", raising=False)
    runner = CliRunner()
    data = ["--data-dir", str(tmp_path)]

    def run(*args: str):
        result = runner.invoke(app, ["admin", *args, *data])
        assert result.exit_code == 0, result.output
        return result.output

    first = run("jeton").strip().splitlines()[-1]
    second = run("jeton").strip().splitlines()[-1]
    db = Database(f"sqlite:///{tmp_path / 'maison.db'}")
    assert key_actor(db, second).scope is KeyScope.ADMINISTRATEUR_MAISON
    try:
        key_actor(db, first)
        raise AssertionError("the rotated token still works")
    except Unauthenticated:
        pass
    issued = orjson.loads(run("cle", "1750000019", "--nom", "dpi", "--scope", "accueil"))
    assert key_actor(db, issued["cle"]).scope is KeyScope.ACCUEIL
    assert orjson.loads(run("revoquer-cle", issued["id"])) == {"revoquees": 1}
    assert orjson.loads(run("habilitation-insi", "1750000019", "--nom", "CHU"))["departement"] == "75"
    software = orjson.loads(run("logiciel", "IDAM-1", "--nom", "DPI", "--editeur", "Éditeur", "--version", "3.1"))
    assert software["idam"] == "IDAM-1" and software["version"] == "3.1"
    # INSi's mutual TLS certificate (issue 21 §1): written with its key and the authority that verifies it
    written = orjson.loads(run("certificat-insi", "1750000019", "--idam", "IDAM-1", "--sortie", str(tmp_path / "c")))
    cert = x509.load_pem_x509_certificate(Path(written["certificat"]).read_bytes())
    authority = x509.load_pem_x509_certificate(Path(written["autorite"]).read_bytes())
    assert cert.issuer == authority.subject and "CN=IDAM-1" in cert.subject.rfc4514_string()
    assert Path(written["cle"]).stat().st_mode & 0o077 == 0
    refused = runner.invoke(app, ["admin", "certificat-insi", "1690000035", "--idam", "IDAM-1",
                                  "--sortie", str(tmp_path / "d"), *data])  # fmt: skip
    assert refused.exit_code == 2 and "non habilitée" in refused.output
    run(
        "compte-mes", "sarah.garcia", "--ins", SARAH_NIR, "--naissance", "1977-01-21",
        "--mot-de-passe", "mot-de-passe-de-test-2026", "--telephone", "+33612345678",
    )  # fmt: skip
    assert orjson.loads(run("boite-envoi", "--destinataire", "+33612345678")) == {"messages": []}
    # issue 21 §1.1: the account's contacts set; its next code goes to the new recipient
    contacts = orjson.loads(run("contacts-mes", "sarah.garcia", "--email", "sarah@courriel.fr"))
    assert contacts == {"identifiant": "sarah.garcia", "email": "sarah@courriel.fr", "telephone": ""}
    login = PatientLogin(db, Keys(db))
    login.start("sarah.garcia", "mot-de-passe-de-test-2026")
    sent = orjson.loads(run("boite-envoi", "--destinataire", "sarah@courriel.fr"))["messages"]
    assert len(sent) == 1 and "code de connexion" in sent[0]["corps"]
    bad = runner.invoke(app, ["admin", "contacts-mes", "sarah.garcia", "--telephone", "0123456789", *data])
    assert bad.exit_code == 2 and "mobile" in bad.output
    client = orjson.loads(run("client-psc", "DPI", "--redirect", "https://dpi.example/cb", "--ciba"))
    assert client["client_secret"] and client["ciba"] is True
    unknown = runner.invoke(app, ["admin", "e-cps", "899999999999", *data])
    assert unknown.exit_code == 2 and "899999999999" in unknown.output
    nia, nir_ = nir("7921199243001"), nir("1921199243017")
    run("identite-ins", nia, "--nom", "NGUYEN", "--prenoms", "BAO", "--sexe", "M", "--naissance", "1992-11-30",
        "--lieu", "99243")  # fmt: skip
    assert orjson.loads(run("remplacer-matricule", nia, nir_)) == {"ancien": nia, "nouveau": nir_}
    added = orjson.loads(run("professionnel", "10000004563", "--nom", "MARTIN", "--prenom", "ALICE"))
    assert added["idnatps"] == "810000004563"
    operator = orjson.loads(run("operateur-mss", "cab-test", "--nom", "Cabinet", "--domaine", "cab.mssante.fr",
                                "--relais", "25025", "--soumission", "25587"))  # fmt: skip
    assert operator["relais"] == "127.0.0.1:25025"
    box = orjson.loads(run("bal", "dr@cab.mssante.fr", "--operateur", "cab-test", "--type", "PER",
                           "--titulaire", added["idnatps"], "--nom", "Dr Martin"))  # fmt: skip
    assert box["adresse"] == "dr@cab.mssante.fr"
    refused = runner.invoke(app, ["admin", "cle", "1750000019", "--nom", "dpi", "--scope", "tout", *data])
    assert refused.exit_code == 2 and "scope" in refused.output
