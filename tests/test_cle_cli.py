"""`maison cle`: a key issued with its scope works, its issuance is in the trail, and once revoked it is refused."""

import pytest
from typer.testing import CliRunner

from maison.cli import app
from maison.core import audit
from maison.core.actor import Credential, KeyScope
from maison.core.auth import key_actor
from maison.core.errors import Unauthenticated
from maison.core.storage import Database


def test_issue_then_revoke(tmp_path, reference_path, monkeypatch):
    monkeypatch.setenv("MAISON_REFERENCE_PATH", str(reference_path))
    monkeypatch.delenv("MAISON_DATABASE_URL", raising=False)
    runner = CliRunner()
    issued = runner.invoke(
        app,
        [
            "cle",
            "emettre",
            "1750000019",
            "--portee",
            "administrateur-structure",
            "--logiciel",
            "dsi",
            "--personne",
            "M. Admin",
            "--data-dir",
            str(tmp_path),
        ],
    )
    assert issued.exit_code == 0, issued.output
    key = issued.output.strip().splitlines()[-1]
    assert key.startswith("mk_")
    db = Database(f"sqlite:///{tmp_path / 'maison.db'}")
    actor = key_actor(db, key)
    assert (actor.structure, actor.person, actor.scope) == ("1750000019", "M. Admin", KeyScope.ADMINISTRATEUR_STRUCTURE)
    assert (actor.kind, actor.credential) == ("software", Credential.API_KEY)
    with db.read() as conn:
        issuance = [audit.detail_of(r) for r in audit.events(conn, action_prefix="securite.cle-emise")]
    assert issuance[0]["scope"] == "administrateur-structure" and key not in str(issuance)  # the key itself never
    assert (
        runner.invoke(
            app,
            [
                "cle",
                "emettre",
                "x",
                "--portee",
                "tout",
                "--logiciel",
                "l",
                "--personne",
                "p",
                "--data-dir",
                str(tmp_path),
            ],
        ).exit_code
        == 2
    )
    revoked = runner.invoke(app, ["cle", "revoquer", issuance[0]["key"], "--data-dir", str(tmp_path)])
    assert revoked.exit_code == 0, revoked.output
    with pytest.raises(Unauthenticated):
        key_actor(db, key)
    db.dispose()
