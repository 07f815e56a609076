"""Bulk `$export` of the Annuaire (FHIR Bulk Data Access, NDJSON), asynchronous.

The real directory only offers paged search, and its users report hours to walk it (SPEC §2);
this is the flat export they ask for, following FHIR Bulk Data: a kick-off answered 202 with a
status URL, a status that says 202 (with `X-Progress`) until the manifest is ready, NDJSON files
one per resource type, and DELETE to cancel or forget a job. Jobs are rows in `ann_export`, so any
server process answers the status; files are written under the data directory, each one complete
before it is named in the manifest. What the public directory hides (mailboxes on the liste
rouge) is hidden here too. A job belongs to whoever started it.
"""

from __future__ import annotations

import logging
import shutil
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path

import orjson

from maison.core.errors import Forbidden, InvalidInput, NotFound
from maison.core.storage import Database
from maison.identite.annuaire import store
from maison.identite.annuaire.search import public

TYPES = ("Organization", "Practitioner", "PractitionerRole", "HealthcareService")
log = logging.getLogger("maison.annuaire.export")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Exports:
    def __init__(self, db: Database, directory: Path) -> None:
        self.db = db
        self.directory = directory

    def start(self, requester: str, request_url: str, types: str | None, since: str | None) -> str:
        wanted = [t.strip() for t in (types or ",".join(TYPES)).split(",") if t.strip()]
        unknown = [t for t in wanted if t not in TYPES]
        if unknown or not wanted:
            raise InvalidInput(f"_type : types exportables {', '.join(TYPES)}", code="type-inconnu", expression="_type")
        if since:
            try:
                since = (
                    datetime.fromisoformat(since.replace("Z", "+00:00")).astimezone(UTC).isoformat(timespec="seconds")
                )
            except ValueError:
                raise InvalidInput(
                    f"_since '{since}' : instant ISO 8601 attendu", code="date-invalide", expression="_since"
                ) from None
        job = uuid.uuid4().hex
        with self.db.write() as conn:
            store.insert_export(
                conn,
                id=job,
                requester=requester,
                request=request_url[:1000],
                types=",".join(wanted),
                since=since,
                status="en-cours",
                created_at=_now(),
            )
        threading.Thread(target=self._run, args=(job, wanted, since), name=f"export-{job[:8]}", daemon=True).start()
        return job

    def status(self, requester: str, job: str) -> dict:
        with self.db.read() as conn:
            row = store.export(conn, job)
        if row is None:
            raise NotFound(f"export {job} inconnu", code="export-inconnu")
        if row.requester != requester:
            raise Forbidden("cet export appartient à un autre demandeur", code="export-autre")
        return dict(row._mapping)

    def cancel(self, requester: str, job: str) -> None:
        self.status(requester, job)
        with self.db.write() as conn:
            store.update_export(conn, job, status="annule", finished_at=_now())
        shutil.rmtree(self.directory / job, ignore_errors=True)

    def file(self, requester: str, job: str, name: str) -> Path:
        row = self.status(requester, job)
        if row["status"] != "termine" or name not in {o["file"] for o in orjson.loads(row["output"])}:
            raise NotFound(f"fichier {name} inconnu pour l'export {job}", code="fichier-inconnu")
        return self.directory / job / name

    def _cancelled(self, job: str) -> bool:
        with self.db.read() as conn:
            return store.export_status(conn, job) == "annule"

    def _run(self, job: str, types: list[str], since: str | None) -> None:
        folder = self.directory / job
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)  # files then follow the umask (077 under `maison`)
        output = []
        try:
            for rtype in types:
                if self._cancelled(job):
                    return
                count = self._write(rtype, since, folder / f"{rtype}.ndjson")
                output.append({"type": rtype, "file": f"{rtype}.ndjson", "count": count})
            with self.db.write() as conn:
                store.update_export(
                    conn,
                    job,
                    only_if_status="en-cours",
                    status="termine",
                    finished_at=_now(),
                    output=orjson.dumps(output).decode(),
                )
        except Exception as exc:  # noqa: BLE001 - the job says it failed; the log has the trace
            log.exception("export %s failed", job)
            with self.db.write() as conn:
                store.update_export(conn, job, status="erreur", finished_at=_now(), error=str(exc)[:500])

    def _write(self, rtype: str, since: str | None, path: Path) -> int:
        partial = path.with_suffix(".part")
        count = 0
        with self.db.read() as conn, partial.open("wb") as out:
            hidden = store.listed_in_red(conn, rtype)
            for row in store.stream_resources(conn, rtype, since):
                if row.id in hidden:
                    out.write(orjson.dumps(public(orjson.loads(row.resource))))
                else:
                    out.write(row.resource.encode())
                out.write(b"\n")
                count += 1
        partial.rename(path)
        return count
