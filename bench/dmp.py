"""DMP: ITI-65 feeding of CDA N1 documents and ITI-67 searches over a store of 1 million entries.

Prepares (once, cached in bench/.cache) an SQLite store holding an INS referential of synthetic
patients, the Annuaire entries and Pro Santé Connect accounts of two hospital doctors, and
1 000 000 document entries spread over the patients' dossiers (bulk-inserted: the search part
measures the registry, not the feeding). Starts `maison serve --workers 2` as its own process and
drives it with `wrk` (a separate C load generator, closed loop) on loopback:

- ITI-65: each request is a transaction Bundle carrying one distinct CDA R2 N1 document (a
  ~100 KB PDF as its body, base64 in the CDA, base64 again in the Bundle) for a patient of the
  referential; the server judges it fully (hash, size, XSD, CI-SIS header rules, INS against the
  referential, header ↔ metadata, access rules), writes the blob durably, commits rows and audit
  record, then answers. Reported: documents/s and latency; the store is checked afterwards to
  hold one new entry per answered request (no replay, nothing lost; the few requests still in
  flight when wrk stops are stored too).
- ITI-67: `GET /dmp/DocumentReference?patient.identifier=…&status=current` for random patients, a
  third with a type filter, a sixth with a date filter; each search authenticated (PSC token)
  and audited before it answers. Reported: searches/s and latency percentiles.

The store runs with `?synchronous=full` (every commit waits for the WAL's fsync) unless
`--synchronous normal` is given; blobs are always fsynced (file and directory) before the commit.

Goals (issue 4): ≥ 200 documents/s; search p95 < 30 ms; on 2 cores.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import multiprocessing
import os
import platform
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import sqlalchemy as sa
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from maison.core.config import load_settings  # noqa: E402
from maison.core.identifiers.checksums import luhn_check_digit  # noqa: E402
from maison.core.identifiers.nir import OID_INS_NIA, OID_INS_NIR_TEST  # noqa: E402
from maison.core.storage import Database  # noqa: E402
from maison.etablissement.dmp.producer import Produced, document_reference, provide_bundle  # noqa: E402
from maison.formats.cda.build import (  # noqa: E402
    LOINC,
    SYS_FACILITY,
    SYS_PRACTICE,
    SYS_SPECIALTY,
    DocumentHeader,
    PatientIdentity,
    Professional,
    n1_from_pdf,
)
from maison.formats.cda.header import Code  # noqa: E402
from maison.formats.pdf import document_pdf  # noqa: E402
from maison.formats.xds_codes import TYPE_CLASS  # noqa: E402
from maison.identite.ins import store as ins_store  # noqa: E402
from maison.migrations import migrate  # noqa: E402
from maison.partage.dmp import store  # noqa: E402
from maison.partage.dmp.model import InformationState  # noqa: E402

GOAL_DOCS_S, GOAL_SEARCH_P95_MS = 200, 30
HOPITAL, HOPITAL_NAME = "1750000019", "CHU DE BENCH"
PASSWORD, REDIRECT = "mot-de-passe-de-bench-2026", "https://dpi.example.fr/callback"
NOW = "2026-11-01T08:00:00+00:00"
SETTING = Code("ETABLISSEMENT", SYS_PRACTICE, "Etablissement de santé")
FACILITY = Code("SA01", SYS_FACILITY, "Etablissement public de santé")
SPECIALTY = Code("G15_10/SM26", SYS_SPECIALTY, "Médecin - Qualifié en médecine générale (SM)")
# What a DMP holds, roughly (lab reports dominate the national feed), with the N3 share of each type.
TYPES = [  # (LOINC, display, weight, N3 format or None)
    ("11502-2", "CR d'examens biologiques", 36, "urn:ihe:lab:xd-lab:2008"),
    ("11490-0", "Lettre de liaison à la sortie d'un établissement de soins", 12, "urn:asip:ci-sis:ldl-ees:2017"),
    ("18748-4", "CR d'imagerie médicale", 12, None),
    ("11488-4", "CR de consultation", 10, None),
    ("57833-6", "Prescription de produits de santé", 9, "urn:ihe:pharm:pre:2010"),
    ("34133-9", "Synthèse d'épisode de soins", 5, None),
    ("60591-5", "Synthèse médicale", 4, "urn:asip:ci-sis:vsm:2012"),
    ("11506-3", "Note de suivi", 12, None),
]
FORMAT_N1 = "urn:ihe:iti:xds-sd:pdf:2008"
console = Console(width=120)


def _rpps(prefix10: str) -> str:
    return prefix10 + luhn_check_digit(prefix10)


FEEDER = ("8" + _rpps("1900000001"), _rpps("1900000001"), "DURAND", "Paul")  # (IdNatPS, RPPS, family, given)
READER = ("8" + _rpps("1900000002"), _rpps("1900000002"), "MARTIN", "Claire")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the store ---------------------------------------------------------------------------------


def prepare(entries: int, patients: int) -> Path:
    data = ROOT / "bench" / ".cache" / f"dmp-{entries}-{patients}"
    done = data / "done"
    if done.is_file():
        return data
    shutil.rmtree(data, ignore_errors=True)
    started = time.perf_counter()
    db = Database(f"sqlite:///{data / 'maison.db'}")
    migrate(db)
    from maison.house import House
    from maison.terminal import seed_with_progress

    seed_with_progress(db, patients, 2026)
    db.dispose()
    house = House.open(load_settings().with_overrides(data_dir=data), migrate=False)
    _professionals(house)
    people = _people(house.db)
    _seed_documents(house.db, people, entries)
    with house.db.write() as conn:
        conn.exec_driver_sql("ANALYZE")
    house.close()
    done.write_text(
        json.dumps({"entries": entries, "patients": len(people), "seconds": round(time.perf_counter() - started, 1)})
    )
    return data


def _professionals(house) -> None:
    from maison.identite.annuaire import resources as build
    from maison.identite.annuaire.index import put

    with house.db.write() as conn:
        put(
            conn,
            [
                build.organization(
                    HOPITAL, HOPITAL_NAME, NOW, secteur="SA01", city="PARIS", postal_code="75013", insee="75113"
                )
            ],
        )
        for i, (idnatps, rpps, family, given) in enumerate((FEEDER, READER)):
            put(conn, [build.practitioner(rpps, family, given, "DR", "10", "C", None, NOW)])
            put(conn, [build.practitioner_role(f"29000000{i:02d}", idnatps, HOPITAL, NOW, fonction=None, mode="S")])
    for idnatps, *_ in (FEEDER, READER):
        house.psc.set_test_password(idnatps, PASSWORD)
    client_id, secret = house.psc.register_client("DPI de bench", [REDIRECT])
    (Path(house.settings.data_dir) / "client.json").write_text(json.dumps({"id": client_id, "secret": secret}))


def _people(db: Database) -> list[PatientIdentity]:
    """Every identity of the referential with its active INS (what a DPI holds once qualified)."""
    p, m = ins_store.ins_person.c, ins_store.ins_matricule.c
    with db.read() as conn:
        rows = conn.execute(
            sa.select(p.nom_naissance, p.prenoms, p.sexe, p.date_naissance, p.lieu_naissance, m.number, m.cle, m.type)
            .join(ins_store.ins_matricule, m.person_id == p.id)
            .where(m.date_fin.is_(None), p.merged_into.is_(None))
            .order_by(p.id)
        ).all()
    return [
        PatientIdentity(
            r.number + r.cle,
            OID_INS_NIA if r.type == "NIA" else OID_INS_NIR_TEST,
            r.nom_naissance,
            r.prenoms,
            r.sexe,
            r.date_naissance,
            r.lieu_naissance or "99999",
        )
        for r in rows
    ]


def _seed_documents(db: Database, people: list[PatientIdentity], entries: int, batch: int = 20_000) -> None:
    """`entries` document entries over the patients' dossiers, skewed as real dossiers are (a few
    patients with many documents, many with a handful), each with the DocumentReference JSON a
    producer would have sent; the hospital informed every patient (consultation not opposed)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    rnd = random.Random(2026)
    small_pdf = document_pdf("Document", [("Synthèse", ["Document de la base de bench."])])
    author = Professional(FEEDER[0], FEEDER[2], FEEDER[3], SPECIALTY, HOPITAL, HOPITAL_NAME)
    created = datetime(2026, 1, 1, tzinfo=UTC)
    lab = Code(TYPES[0][0], LOINC, TYPES[0][1])
    header = DocumentHeader(
        "1.2.250.1.999.3.0",
        "1.2.250.1.999.3.0.0",
        1,
        lab,
        TYPES[0][1],
        created,
        people[0],
        author,
        lab,
        created - timedelta(days=2),
        created,
        SETTING,
        FACILITY,
    )
    template = document_reference(Produced(n1_from_pdf(header, small_pdf)), "urn:uuid:x", [])
    weights = [rnd.lognormvariate(0, 1.1) for _ in people]
    owners = rnd.choices(range(len(people)), weights=weights, k=entries)
    type_weights = [t[2] for t in TYPES]
    authors = [("8" + _rpps(f"2{n:09d}"), f"1{n:08d}") for n in range(4000)]
    start, span = datetime(2021, 1, 1, tzinfo=UTC).timestamp(), 5.8 * 365 * 86400
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as progress:
        task = progress.add_task("DMP dossiers", total=len(people))
        for lo in range(0, len(people), batch):
            with db.write() as conn:
                conn.execute(
                    store.dmp_dossier.insert(),
                    [
                        dict(
                            ins=pat.ins,
                            state="active",
                            created_at="2021-01-01T00:00:00+00:00",
                            updated_at="2021-01-01T00:00:00+00:00",
                        )
                        for pat in people[lo : lo + batch]
                    ],
                )
                conn.execute(
                    store.dmp_information.insert(),
                    [
                        dict(
                            ins=pat.ins,
                            structure=HOPITAL,
                            alimentation=InformationState.NOT_OPPOSED.value,
                            consultation=InformationState.NOT_OPPOSED.value,
                            recorded_by=READER[0],
                            recorded_at="2021-01-01T00:00:00+00:00",
                        )
                        for pat in people[lo : lo + batch]
                    ],
                )
            progress.advance(task, len(people[lo : lo + batch]))
        task = progress.add_task("DMP document entries", total=entries)
        for lo in range(0, entries, batch):
            rows = []
            for n in range(lo, min(entries, lo + batch)):
                pat = people[owners[n]]
                code, display, _w, n3 = rnd.choices(TYPES, weights=type_weights)[0]
                level = "N3" if n3 and rnd.random() < 0.25 else "N1"
                fmt = n3 if level == "N3" else FORMAT_N1
                submitted = datetime.fromtimestamp(start + rnd.random() * span, UTC)
                creation = submitted - timedelta(hours=rnd.randint(1, 96))
                period_start = creation - timedelta(days=rnd.randint(0, 10))
                own = rnd.random() < 0.1
                idnatps, structure = (FEEDER[0], HOPITAL) if own else rnd.choice(authors)
                doc_id, uid = str(uuid.uuid4()), f"1.2.250.1.999.3.{n + 1}"
                status = "superseded" if rnd.random() < 0.07 else "current"
                size = rnd.randint(20_000, 400_000)
                sha1 = base64.b64encode(hashlib.sha1(uid.encode()).digest()).decode()
                resource = _resource(
                    template,
                    pat,
                    uid,
                    code,
                    display,
                    fmt,
                    idnatps,
                    structure,
                    size,
                    sha1,
                    creation,
                    period_start,
                    submitted,
                )
                visibility = rnd.random()
                rows.append(
                    dict(
                        id=doc_id,
                        unique_id=uid,
                        ins=pat.ins,
                        submission=str(uuid.uuid4()),
                        status=status,
                        archived=False,
                        type_code=code,
                        class_code=TYPE_CLASS.get(code, "10"),
                        format_code=fmt,
                        level=level,
                        author=idnatps,
                        author_structure=structure,
                        confidentiality="N",
                        masque_ps=visibility < 0.015,
                        invisible_patient=0.015 <= visibility < 0.02,
                        invisible_representants=0.02 <= visibility < 0.023,
                        secret=False,
                        annonce_notifiee=False,
                        size=size,
                        sha1=sha1,
                        blob=hashlib.sha256(uid.encode()).hexdigest(),
                        content_type="text/xml",
                        submitted_at=submitted.isoformat(timespec="microseconds"),
                        creation=creation.isoformat(timespec="microseconds"),
                        period_start=period_start.isoformat().replace("+00:00", "Z"),
                        period_end=None,
                        setting=SETTING.code,
                        facility=FACILITY.code,
                        version=1 if status == "current" else 2,
                        last_updated=submitted.isoformat(timespec="microseconds"),
                        transforms=None,
                        replaces=None,
                        resource=orjson.dumps(resource).decode(),
                    )
                )
            with db.write() as conn:
                conn.execute(store.dmp_document.insert(), rows)
            progress.advance(task, len(rows))


def _resource(
    template: dict,
    pat: PatientIdentity,
    uid: str,
    code: str,
    display: str,
    fmt: str,
    idnatps: str,
    structure: str,
    size: int,
    sha1: str,
    creation: datetime,
    period_start: datetime,
    submitted: datetime,
) -> dict:
    r = orjson.loads(orjson.dumps(template))
    iso = lambda t: t.isoformat().replace("+00:00", "Z")  # noqa: E731
    r["contained"][0]["identifier"][0]["value"] = idnatps
    r["contained"][1]["identifier"][0].update(system=f"urn:oid:{pat.ins_oid}", value=pat.ins)
    r["contained"][1]["name"] = [{"family": pat.birth_family, "given": pat.birth_givens.split()}]
    r["contained"][1]["birthDate"] = pat.birth_date
    r["masterIdentifier"]["value"] = f"urn:oid:{uid}"
    r["type"]["coding"][0].update(code=code, display=display)
    r["category"][0]["coding"][0]["code"] = TYPE_CLASS.get(code, "10")
    r["subject"]["identifier"].update(system=f"urn:oid:{pat.ins_oid}", value=pat.ins)
    r["date"] = iso(submitted)
    r["custodian"]["identifier"]["value"] = structure
    attachment = r["content"][0]["attachment"]
    attachment.update(size=size, hash=sha1, title=display, creation=iso(creation))
    r["content"][0]["format"]["code"] = fmt
    r["context"]["period"] = {"start": iso(period_start)}
    return r


def clean(data: Path) -> None:
    """Forget what earlier runs fed (the seeded entries stay), so each run starts from the same store."""
    db = Database(f"sqlite:///{data / 'maison.db'}")
    d, s = store.dmp_document.c, store.dmp_submission.c
    with db.write() as conn:
        conn.execute(store.dmp_document.delete().where(d.submission.in_(sa.select(s.id).where(s.structure == HOPITAL))))
        conn.execute(store.dmp_submission.delete().where(s.structure == HOPITAL))
    db.dispose()
    shutil.rmtree(data / "documents", ignore_errors=True)


def fed_count(data: Path) -> int:
    db = Database(f"sqlite:///{data / 'maison.db'}")
    with db.read() as conn:
        n = conn.execute(
            sa.select(sa.func.count())
            .select_from(store.dmp_document)
            .where(store.dmp_document.c.submission.in_(sa.select(store.dmp_submission.c.id)))
        ).scalar_one()
    db.dispose()
    return n


# --- the load ----------------------------------------------------------------------------------

_PDFS: list[bytes] = []


def _pdf_pool(count: int, target: int) -> list[bytes]:
    """`count` distinct PDFs of about `target` bytes (cached); documents take them in turn, each
    CDA being distinct by its header (patient, unique id, dates)."""
    cache = ROOT / "bench" / ".cache" / f"dmp-pdf-{count}-{target}"
    if cache.is_dir() and len(list(cache.iterdir())) == count:
        return [p.read_bytes() for p in sorted(cache.iterdir())]
    cache.mkdir(parents=True, exist_ok=True)
    pad = target
    for _ in range(8):  # document_pdf pads by whole annex lines: aim its minimum so the result is ~target
        size = len(document_pdf("Lettre de liaison", [("Synthèse", ["x"])], min_bytes=pad))
        if abs(size - target) < target * 0.03:
            break
        pad = int(pad * target / size)
    out = []
    for i in range(count):
        pdf = document_pdf(
            f"Lettre de liaison n° {i}",
            [("Synthèse", [f"Séjour du patient, document {i}."]), ("Traitement de sortie", ["Paracétamol 1 g x 3/j."])],
            min_bytes=pad,
        )
        (cache / f"{i:04d}.pdf").write_bytes(pdf)
        out.append(pdf)
    return out


def _bundle(args: tuple) -> bytes:
    i, pat, created_ts, run = args
    created = datetime.fromtimestamp(created_ts, UTC)
    author = Professional(FEEDER[0], FEEDER[2], FEEDER[3], SPECIALTY, HOPITAL, HOPITAL_NAME)
    code, display, _w, _n3 = TYPES[i % 4]
    oid = f"1.2.250.1.999.4.{run}.{i}"
    header = DocumentHeader(
        oid,
        oid + ".0",
        1,
        Code(code, LOINC, display),
        display,
        created,
        pat,
        author,
        Code(code, LOINC, display),
        created - timedelta(days=2),
        created,
        SETTING,
        FACILITY,
    )
    cda = n1_from_pdf(header, _PDFS[i % len(_PDFS)])
    return orjson.dumps(provide_bundle([Produced(cda)], submission_id=f"urn:oid:{oid}.9"))


def _init_pool(pdfs: list[bytes]) -> None:
    _PDFS[:] = pdfs


def bundles(people: list[PatientIdentity], pdfs: list[bytes], n: int, run: str, rnd: random.Random) -> list[bytes]:
    created = datetime.now(UTC).replace(microsecond=0).timestamp()
    work = [(i, rnd.choice(people), created, run) for i in range(n)]
    with multiprocessing.get_context("fork").Pool(os.cpu_count(), initializer=_init_pool, initargs=(pdfs,)) as pool:
        return pool.map(_bundle, work, chunksize=64)


def tokens(base: str, data: Path) -> dict[str, str]:
    """Fresh Pro Santé Connect access tokens (they live 120 s) for the feeding and the reading doctor."""
    from maison.etablissement.psc.client import sign_in

    client = json.loads((data / "client.json").read_text())
    return {
        who: sign_in(base, client["id"], client["secret"], REDIRECT, idnatps, password=PASSWORD)["access_token"]
        for who, idnatps in (("feeder", FEEDER[0]), ("reader", READER[0]))
    }


LUA = """
local items = {}
local f = io.open("%(file)s", "r")
for line in f:lines() do items[#items + 1] = line end
f:close()
local i = 0
local wrapped = 0
local headers = {["Authorization"] = "Bearer %(token)s", ["Content-Type"] = "application/fhir+json"}
request = function()
  i = i + 1
  if i > #items then i = 1; wrapped = wrapped + 1 end
  %(request)s
end
done = function(summary, latency, requests)
  io.write(string.format("JSON {\\"requests\\": %%d, \\"errors\\": %%d, \\"non2xx\\": %%d, \\"duration_us\\": %%d, \\"p50_us\\": %%d, \\"p90_us\\": %%d, \\"p95_us\\": %%d, \\"p99_us\\": %%d, \\"max_us\\": %%d}\\n",
    summary.requests, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(95), latency:percentile(99), latency.max))
end
"""  # noqa: E501 (wrk reads this JSON line: one Lua format string)
PROVIDE_REQUEST = 'return wrk.format("POST", "/dmp", headers, items[i])'
SEARCH_REQUEST = 'return wrk.format("GET", items[i], headers)'


def wrk(port: int, tmp: Path, items: list[bytes], token: str, request: str, connections: int, seconds: int) -> dict:
    (tmp / "items.txt").write_bytes(b"\n".join(items))
    (tmp / "load.lua").write_text(LUA % {"file": tmp / "items.txt", "token": token, "request": request})
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(tmp / "load.lua"),
            f"http://127.0.0.1:{port}",
        ],
        capture_output=True,
        text=True,
    ).stdout
    stats = json.loads(re.search(r"JSON (\{.*\})", out).group(1))
    return {
        "connections": connections,
        "requests": stats["requests"],
        "errors": stats["errors"] + stats["non2xx"],
        "per_s": round(stats["requests"] / (stats["duration_us"] / 1e6), 1),
        "p50_ms": stats["p50_us"] / 1000,
        "p90_ms": stats["p90_us"] / 1000,
        "p95_ms": stats["p95_us"] / 1000,
        "p99_ms": stats["p99_us"] / 1000,
        "max_ms": stats["max_us"] / 1000,
    }


def search_paths(people: list[PatientIdentity], n: int, rnd: random.Random) -> list[bytes]:
    paths = []
    for _ in range(n):
        pat = rnd.choice(people)
        query = f"/dmp/DocumentReference?patient.identifier=urn:oid:{pat.ins_oid}%7C{pat.ins}&status=current"
        kind = rnd.random()
        if kind < 0.33:
            query += f"&type=http://loinc.org%7C{rnd.choice(TYPES[:4])[0]}"
        elif kind < 0.5:
            query += f"&date=ge{rnd.randint(2022, 2026)}-01-01"
        paths.append(query.encode())
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=1_000_000, help="document entries in the store")
    parser.add_argument("--patients", type=int, default=100_000, help="patients (INS referential and dossiers)")
    parser.add_argument("--seconds", type=int, default=10, help="duration of each load level")
    parser.add_argument("--provide-connections", default="4,8,16", help="ITI-65 load levels: concurrent connections")
    parser.add_argument("--search-connections", default="4,8,16", help="ITI-67 load levels: concurrent connections")
    parser.add_argument("--max-rate", type=int, default=450, help="documents/s the Bundles prepared per level allow")
    parser.add_argument("--pdf-bytes", type=int, default=100_000)
    parser.add_argument("--synchronous", default="full", choices=["normal", "full"], help="SQLite commit mode")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="server processes")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, capture_output=True)
    data = prepare(args.entries, args.patients)
    clean(data)
    db = Database(f"sqlite:///{data / 'maison.db'}")
    people = _people(db)
    db.dispose()
    pdfs = _pdf_pool(64, args.pdf_bytes)
    rnd = random.Random(int(time.time()))
    tmp = Path(tempfile.mkdtemp())
    port = _port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "MAISON_DATA_DIR": str(data),
        "MAISON_DATABASE_URL": f"sqlite:///{data / 'maison.db'}?synchronous={args.synchronous}",
        "MAISON_REFERENCE_PATH": str(load_settings().reference_path),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "maison", "serve", "--port", str(port), "--workers", str(args.workers)],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    provides, searches = [], []
    try:
        for _ in range(300):
            try:
                httpx.get(f"{base}/", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        # correctness first: one document fed and found again
        check_bundle = bundles(people, pdfs, 1, str(int(time.time())), rnd)[0]
        t = tokens(base, data)
        fed = httpx.post(
            f"{base}/dmp",
            content=check_bundle,
            timeout=30,
            headers={"Authorization": f"Bearer {t['feeder']}", "Content-Type": "application/fhir+json"},
        )
        assert fed.status_code == 200, fed.text[:800]
        ins = orjson.loads(check_bundle)["entry"][0]["resource"]["subject"]["identifier"]["value"]
        found = httpx.get(
            f"{base}/dmp/DocumentReference",
            params={"patient.identifier": ins, "status": "current"},
            headers={"Authorization": f"Bearer {t['reader']}"},
            timeout=30,
        )
        assert found.status_code == 200 and found.json()["total"] >= 1, found.text[:800]
        pdf_size = len(pdfs[0])
        for level, c in enumerate(int(c) for c in args.provide_connections.split(",") if c):
            items = bundles(people, pdfs, args.max_rate * args.seconds, f"{int(time.time())}{level}", rnd)
            before = fed_count(data)
            run = wrk(port, tmp, items, tokens(base, data)["feeder"], PROVIDE_REQUEST, c, args.seconds)
            stored = fed_count(data) - before
            run.update(
                stored=stored,
                bundle_kb=round(sum(map(len, items)) / len(items) / 1000, 1),
                exhausted=run["requests"] > len(items),
            )
            provides.append(run)
            console.print(f"ITI-65, {c} connections: {run['per_s']:.0f} documents/s, p95 {run['p95_ms']:.1f} ms")
        paths = search_paths(people, 200_000, rnd)
        wrk(port, tmp, paths[:2000], tokens(base, data)["reader"], SEARCH_REQUEST, 4, 3)  # warm-up
        for c in (int(c) for c in args.search_connections.split(",") if c):
            rnd.shuffle(paths)
            run = wrk(port, tmp, paths, tokens(base, data)["reader"], SEARCH_REQUEST, c, args.seconds)
            searches.append(run)
            console.print(f"ITI-67, {c} connections: {run['per_s']:.0f} searches/s, p95 {run['p95_ms']:.1f} ms")
        hits = []
        token = tokens(base, data)["reader"]
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
            for p in paths[:300]:
                hits.append(http.get(p.decode()).json()["total"])
    finally:
        server.terminate()
        server.wait(timeout=20)

    # every answered request stored one entry; those still in flight when wrk stops (at most one per
    # connection) are committed too but not counted by wrk
    def ok_p(r):
        return (
            r["per_s"] >= GOAL_DOCS_S
            and not r["errors"]
            and not r["exhausted"]
            and r["requests"] <= r["stored"] <= r["requests"] + r["connections"]
        )

    def ok_s(r):
        return r["p95_ms"] < GOAL_SEARCH_P95_MS and not r["errors"]

    result = {
        "benchmark": "dmp-iti65-iti67",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "entries": args.entries,
        "patients": len(people),
        "workers": args.workers,
        "sqlite_synchronous": args.synchronous,
        "pdf_bytes": pdf_size,
        "seconds_per_level": args.seconds,
        "provide": provides,
        "search": searches,
        "search_results": {"mean": round(sum(hits) / len(hits), 1), "max": max(hits)},
        "goal": {"documents_per_s": GOAL_DOCS_S, "search_p95_ms": GOAL_SEARCH_P95_MS},
        "goal_met": {
            "provide_at_connections": [r["connections"] for r in provides if ok_p(r)],
            "search_at_connections": [r["connections"] for r in searches if ok_s(r)],
        },
    }
    (ROOT / "bench" / "results").mkdir(exist_ok=True)
    (ROOT / "bench" / "results" / "dmp.json").write_text(json.dumps(result, indent=2))
    table = Table(
        title=f"DMP ITI-65 — CDA N1 with a {pdf_size / 1000:.0f} KB PDF, {args.workers} server process(es), "
        f"SQLite synchronous={args.synchronous.upper()}"
    )
    for col in (
        "connections",
        "docs/s",
        "p50 ms",
        "p90 ms",
        "p95 ms",
        "p99 ms",
        "max ms",
        "errors",
        "stored",
        "goal met",
    ):
        table.add_column(col, justify="right")
    for r in provides:
        table.add_row(
            str(r["connections"]),
            f"{r['per_s']:,.0f}",
            f"{r['p50_ms']:.1f}",
            f"{r['p90_ms']:.1f}",
            f"{r['p95_ms']:.1f}",
            f"{r['p99_ms']:.1f}",
            f"{r['max_ms']:.0f}",
            str(r["errors"]),
            f"{r['stored']:,}",
            "yes" if ok_p(r) else "no",
        )
    console.print(table)
    table = Table(
        title=f"DMP ITI-67 — {args.entries:,} entries, {len(people):,} patients "
        f"(mean {result['search_results']['mean']} entries per answer)"
    )
    for col in ("connections", "searches/s", "p50 ms", "p90 ms", "p95 ms", "p99 ms", "max ms", "errors", "goal met"):
        table.add_column(col, justify="right")
    for r in searches:
        table.add_row(
            str(r["connections"]),
            f"{r['per_s']:,.0f}",
            f"{r['p50_ms']:.2f}",
            f"{r['p90_ms']:.2f}",
            f"{r['p95_ms']:.2f}",
            f"{r['p99_ms']:.2f}",
            f"{r['max_ms']:.1f}",
            str(r["errors"]),
            "yes" if ok_s(r) else "no",
        )
    console.print(table)
    console.print(f"goals: ≥ {GOAL_DOCS_S} documents/s; search p95 < {GOAL_SEARCH_P95_MS} ms")


if __name__ == "__main__":
    main()
