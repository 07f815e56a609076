"""`maison dmp-sweep`: the orphan blobs a crash leaves go; the blobs a DMP entry names stay."""

import os
import time

from typer.testing import CliRunner

from maison.cli import app
from maison.core.blobs import Blobs
from maison.core.storage import Database
from maison.migrations import migrate
from maison.partage.dmp.store import dmp_document


def test_sweep_removes_only_what_no_entry_names(tmp_path, reference_path, monkeypatch):
    monkeypatch.setenv("MAISON_REFERENCE_PATH", str(reference_path))
    monkeypatch.delenv("MAISON_DATABASE_URL", raising=False)
    db = Database(f"sqlite:///{tmp_path / 'maison.db'}")
    migrate(db)
    blobs = Blobs(tmp_path / "documents")
    named, orphan = blobs.put(b"<ClinicalDocument/> named"), blobs.put(b"<ClinicalDocument/> orphan")
    with db.write() as conn:
        conn.execute(
            dmp_document.insert().values(
                id="d1",
                unique_id="1.2.3",
                ins="279035121518989",
                submission="s1",
                status="current",
                type_code="11490-0",
                class_code="10",
                format_code="urn:ihe:iti:xds-sd:pdf:2008",
                level="N1",
                author="810000000001",
                author_structure="1750000019",
                confidentiality="N",
                masque_ps=False,
                invisible_patient=False,
                invisible_representants=False,
                size=1,
                sha1="x",
                blob=named,
                content_type="text/xml",
                submitted_at="2026-11-21",
                creation="2026-11-21",
                period_start="2026-11-21",
                setting="",
                facility="",
                version=1,
                last_updated="2026-11-21",
                resource="{}",
            )
        )
    db.dispose()
    old = time.time() - 7200
    for digest in (named, orphan):
        os.utime(blobs.path(digest), (old, old))
    result = CliRunner().invoke(app, ["dmp-sweep", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "1 unreferenced" in result.output
    assert blobs.exists(named) and not blobs.exists(orphan)
