"""`maison seed`: the sandbox catalogue of INSi is loaded beside the synthetic population and stated with
the OID of the configured environment (issue 20 §1.4)."""

from typer.testing import CliRunner

from maison.cli import app
from maison.core.storage import Database
from maison.identite.ins import bac_a_sable
from maison.identite.ins.model import Environment
from maison.identite.ins.referential import Referential


def test_seed_loads_and_states_the_sandbox_catalogue(tmp_path, reference_path, monkeypatch):
    monkeypatch.setenv("MAISON_REFERENCE_PATH", str(reference_path))
    monkeypatch.delenv("MAISON_DATABASE_URL", raising=False)
    monkeypatch.delenv("MAISON_INS_ENVIRONMENT", raising=False)
    runner = CliRunner()
    for count in ("20", "0"):  # a second seed finds the catalogue there and keeps it
        result = runner.invoke(app, ["seed", "--count", count, "--data-dir", str(tmp_path)])
        assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    referential = Referential(Database(f"sqlite:///{tmp_path / 'maison.db'}"), Environment.TEST)
    assert referential.count() == 20 + len(bac_a_sable.CATALOGUE)
    for line in bac_a_sable.statement(Environment.TEST):
        assert f"INS {line.identity.matricule} ({line.oid})" in output
        assert referential.by_matricule(line.identity.matricule).active.oid == line.oid == "1.2.250.1.213.1.4.10"
