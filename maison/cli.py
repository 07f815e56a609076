"""The `maison` command: serve the house, seed it, play the demo."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from maison.core.config import load_settings
from maison.core.errors import MaisonError
from maison.terminal import console, print_report, seed_annuaire_with_progress, seed_with_progress

app = typer.Typer(help="Maison: la maison du numérique en santé, runnable.", no_args_is_help=True)


def _register_groups() -> None:
    from maison.admin_cli import admin
    from maison.audit_cli import audit
    from maison.cda_cli import cda
    from maison.cle_cli import cle
    from maison.hl7_cli import hl7
    from maison.indicateurs_cli import indicateurs

    app.add_typer(cda, name="cda")
    app.add_typer(cle, name="cle")
    app.add_typer(audit, name="audit")
    app.add_typer(admin, name="admin")
    app.add_typer(hl7, name="hl7")
    app.add_typer(indicateurs, name="indicateurs")


@app.callback()
def _private_files() -> None:
    """Every file `maison` creates (database, WAL, blobs, exports, keys) is its owner's alone: 0600/0700."""
    os.umask(0o077)


_register_groups()


def _settings(data_dir: Path | None, host: str | None = None, port: int | None = None):
    return load_settings().with_overrides(data_dir=data_dir, host=host, port=port)


@app.command()
def serve(
    host: str = typer.Option(None, help="Listen address (default 127.0.0.1)"),
    port: int = typer.Option(None, help="HTTP port (default 8080)"),
    data_dir: Path = typer.Option(None, help="Where the embedded SQLite database lives"),
    workers: int = typer.Option(1, help="Server processes sharing the port (one per core)"),
    mllp_port: int = typer.Option(None, help="HL7 v2 over MLLP for the hospital's GAM and DPI (default: none)"),
) -> None:
    """Run every service of the house, one HTTP port, each service under its own path."""
    from maison.serving import serve as run

    settings = _settings(data_dir, host, port).with_overrides(mllp_port=mllp_port)
    scheme = "https" if settings.tls_cert else "http"
    console.print(
        f"Maison on {scheme}://{settings.host}:{settings.port}/ — {workers} process(es), "
        f"database {settings.effective_database_url}"
    )
    if settings.insi_port:
        console.print(f"INSi over mutual TLS on https://{settings.host}:{settings.insi_port}/insi/lps")
    if settings.mllp_port:
        console.print(f"HL7 v2 over MLLP on {settings.host}:{settings.mllp_port}")
    try:
        run(settings, workers)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


@app.command()
def seed(
    count: int = typer.Option(100_000, help="How many synthetic identities"),
    annuaire: int = typer.Option(0, help="How many PractitionerRole in a synthetic Annuaire Santé"),
    seed_value: int = typer.Option(2026, "--seed", help="Random seed (reproducible)"),
    data_dir: Path = typer.Option(None),
) -> None:
    """Fill the national INS referential (and the Annuaire Santé) with synthetic data, and INSi's
    sandbox catalogue (the named test identities a vendor's bench looks for, README § INSi sandbox)."""
    from maison.core.storage import Database
    from maison.identite.ins import bac_a_sable
    from maison.identite.ins.model import Environment
    from maison.identite.ins.referential import Referential
    from maison.migrations import migrate

    settings = _settings(data_dir)
    db = Database(settings.effective_database_url)
    migrate(db)
    if count:
        n = seed_with_progress(db, count, seed_value)
        console.print(f"{n} identities in {settings.effective_database_url}")
    environment = Environment(settings.ins_environment)
    bac_a_sable.load(Referential(db, environment))  # after the bulk load, which assumes unused matricules
    for line in bac_a_sable.statement(environment):
        t = line.identity.traits
        console.print(f"bac à sable : {t.nom_naissance} {t.liste_prenoms} — INS {line.identity.matricule} ({line.oid})")
    if annuaire:
        counts = seed_annuaire_with_progress(db, annuaire, seed_value)
        console.print(", ".join(f"{v} {k}" for k, v in counts.items()) + " in the Annuaire")


@app.command()
def sandbox(
    data_dir: Path = typer.Option(None, help="The test house's data directory"),
    mss_port: int = typer.Option(42500, help="First port of the MSSanté operators' listeners (6 ports from it)"),
) -> None:
    """Build the sandbox: the same documented test dataset every time (INSi cases, structures and their
    keys, professionals, patients, DMP states), its catalogue in <data_dir>/sandbox.json and at
    GET /sandbox. For a test house only: its credentials derive from a published seed."""
    from maison.house import House
    from maison.identite.ins.model import Environment
    from maison.sandbox.api import FILE
    from maison.sandbox.builder import Builder
    from maison.sandbox.catalogue import catalogue

    settings = _settings(data_dir)
    house = House.open(settings)
    content = catalogue(Environment(settings.ins_environment), mss_port)
    try:
        written = Builder(content, house.admin, house.dmp, house.ordonnance, house.terminology).build()
    except MaisonError as exc:
        raise typer.BadParameter(exc.message) from None
    finally:
        house.close()
    path = settings.data_dir / FILE
    path.write_bytes(content.as_json())
    console.print(
        ("bac à sable construit" if written else "bac à sable déjà construit, rien de modifié")
        + f" : {len(content.insi)} cas INSi, {len(content.structures)} structures, "
        f"{len(content.professionnels)} professionnels, {len(content.patients)} patients ; catalogue {path} "
        "et GET /sandbox (maison serve). Secrets de test dérivés d'une graine publiée : maison de test seulement."
    )


@app.command("rapport-civ")
def rapport_civ(
    structure: list[str] = typer.Option(
        ..., help="Structure(s); several make the GHT report, all of one GHT (maison ght), read as the first one's cell"
    ),
    semestre: str = typer.Option(..., help="AAAA-S1 or AAAA-S2"),
    data_dir: Path = typer.Option(None),
    json_out: bool = typer.Option(False, "--json", help="Print the whole report as JSON"),
) -> None:
    """The semester activity report of the identitovigilance cell (meetings, incidents, corrections)."""
    import getpass

    import orjson

    from maison.core.actor import Actor
    from maison.core.errors import MaisonError
    from maison.core.storage import Database
    from maison.etablissement.vigilance.cellule import Cellule

    db = Database(_settings(data_dir).effective_database_url)
    # The house's operator reads as the first structure's cell; the GHT rule still applies, so the
    # command cannot join structures that are not of one GHT (issue 18 §1.3).
    actor = Actor(person=f"cli:{getpass.getuser()}", structure=structure[0], software="maison-cli", role="cellule")
    try:
        report = Cellule(db).report(actor, semestre, structure)
    except MaisonError as exc:
        raise typer.BadParameter(str(exc)) from None
    if json_out:
        typer.echo(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
    else:
        print_report(report)


@app.command("ght")
def ght(
    code: str = typer.Option(..., help="The GHT's identifier"),
    support: str = typer.Option(..., help="The support establishment (its structure identifier)"),
    membre: list[str] = typer.Option([], help="An establishment party to the GHT (repeat)"),
    nom: str = typer.Option("", help="The GHT's name"),
    data_dir: Path = typer.Option(None),
) -> None:
    """Record a GHT and its establishments (the administrator's act: GHT reports follow it, seed 004 L349)."""
    import getpass

    from maison.core.actor import Actor
    from maison.core.errors import MaisonError
    from maison.core.storage import Database
    from maison.etablissement.vigilance.cellule import Cellule

    db = Database(_settings(data_dir).effective_database_url)
    actor = Actor(person=f"cli:{getpass.getuser()}", structure="maison", software="maison-cli", role="administrateur")
    try:
        members = Cellule(db).record_ght(actor, code, nom, support, membre)
    except MaisonError as exc:
        raise typer.BadParameter(str(exc)) from None
    console.print(f"GHT {code}: {', '.join(members)} (support {support})")


@app.command("stats-insi")
def stats_insi(
    mois: str = typer.Option(..., help="AAAA-MM"),
    data_dir: Path = typer.Option(None),
    csv_dir: Path = typer.Option(None, "--csv", help="Also write the three tables as CSV here"),
) -> None:
    """Monthly INSi statistics by département, éditeur and établissement, counted from the audit trail."""
    from rich.table import Table

    from maison.core.errors import MaisonError
    from maison.core.storage import Database
    from maison.observatoire.insi import ANSWERS, DIMENSIONS, monthly, write_csv

    db = Database(_settings(data_dir).effective_database_url)
    try:
        tables = monthly(db, mois)
    except MaisonError as exc:
        raise typer.BadParameter(str(exc)) from None
    for dimension, rows in tables.items():
        peak = max((line.total for line in rows.values()), default=0) or 1
        table = Table(title=f"INSi {mois} — par {DIMENSIONS[dimension]}")
        for col in (DIMENSIONS[dimension], "appels", *ANSWERS, "établ.", ""):
            table.add_column(col, justify="left" if col in (DIMENSIONS[dimension], "") else "right")
        for key, line in rows.items():
            d = line.as_dict()
            table.add_row(
                key,
                str(d["appels"]),
                *(str(d[f"cr_{a}"]) for a in ANSWERS),
                str(d["etablissements"]),
                "█" * max(1, round(20 * line.total / peak)),
            )
        console.print(table)
    if csv_dir:
        for path in write_csv(tables, mois, csv_dir):
            console.print(f"wrote {path}")


@app.command("insi-certificat")
def insi_certificat(
    structure: str = typer.Argument(..., help="The habilitated structure's identifier (ContexteLPS Emetteur)"),
    idam: str = typer.Option(..., help="The software's authorisation number (ContexteLPS IDAM)"),
    sortie: Path = typer.Option(
        None, help="Where to write the certificate and key (default: the house PKI, <data_dir>/pki)"
    ),
    jours: int = typer.Option(3 * 365, help="Validity in days"),
    data_dir: Path = typer.Option(None),
) -> None:
    """Issue the structure's software certificate for INSi (mutual TLS) from the house's test PKI;
    only for a structure habilitated to INSi and a known software, whose identifiers it carries."""
    import getpass
    from datetime import timedelta

    from maison.core.actor import Actor
    from maison.core.storage import Database
    from maison.identite.ins.service import InsiService
    from maison.serving_insi import authority

    settings = _settings(data_dir)
    db = Database(settings.effective_database_url)
    service = InsiService(db)
    actor = Actor(person=f"cli:{getpass.getuser()}", structure=structure, software="maison-cli", role="administrateur")
    try:
        issued = service.issue_certificate(
            actor, authority(settings), structure, idam, directory=sortie, validity=timedelta(days=jours)
        )
    except MaisonError as exc:
        raise typer.BadParameter(exc.message) from None
    finally:
        service.journal.close()
        db.dispose()
    console.print(
        f"certificat INSi de {structure} ({idam}) : {issued.cert}, clé {issued.key} "
        f"(SHA-256 {issued.fingerprint()[:16]}…); autorité {authority(settings).cert_path}"
    )


@app.command("mss-operateur")
def mss_operateur(
    identifiant: str = typer.Argument(..., help="Identifier of the operator (e.g. chu-test)"),
    nom: str = typer.Option(..., help="Its name"),
    domaine: list[str] = typer.Option(..., help="Mail domain(s) it serves"),
    relais: int = typer.Option(..., help="Port the other operators deliver to (SMTP, mutual TLS)"),
    soumission: int = typer.Option(..., help="Port its users submit mail to (SMTP, STARTTLS + AUTH)"),
    imap: int = typer.Option(0, help="Its IMAP port (STARTTLS); 0: none"),
    soumission_tls: int = typer.Option(
        0, help="Port its users submit mail to over implicit TLS (RFC 8314, port 465's role); 0: none"
    ),
    imap_tls: int = typer.Option(0, help="Its IMAP port over implicit TLS (RFC 8314, port 993's role); 0: none"),
    hote: str = typer.Option("127.0.0.1", help="Address it listens on"),
    annuaire: str = typer.Option(
        None,
        help="Annuaire Santé FHIR base it publishes its mailboxes to "
        "(default: this house's /annuaire; key from "
        "MAISON_MSS_ANNUAIRE_KEY, or issued here for this house's)",
    ),
    sans_annuaire: bool = typer.Option(False, help="Publish nothing (a test operator)"),
    data_dir: Path = typer.Option(None),
) -> None:
    """Register a local MSSanté operator in the trust space (its certificate issued by the house's
    test authority); `maison serve` then runs it, and it publishes its new mailboxes."""
    import os

    from maison.core.auth import issue_key
    from maison.house import House
    from maison.partage.mss.listeners import describe
    from maison.partage.mss.publication import OWN, AnnuaireAccess
    from maison.partage.mss.smtp import Endpoints

    settings = _settings(data_dir)
    house = House.open(settings)
    try:
        access = None
        if not sans_annuaire:
            own = f"{settings.public_base_url}/annuaire"
            url = (annuaire or own).rstrip("/")
            key = os.environ.get("MAISON_MSS_ANNUAIRE_KEY") or (
                issue_key(house.db, identifiant, "maison-mss", f"operateur:{identifiant}", "operateur-mss")
                if url == own
                else None
            )
            if key is None:
                raise typer.BadParameter("MAISON_MSS_ANNUAIRE_KEY is needed to publish to another Annuaire")
            access = AnnuaireAccess(OWN if url == own else url, key)
        runtime = house.mss.local_operator(
            identifiant,
            nom,
            domaine,
            Endpoints(hote, soumission, relais, imap, submissions=soumission_tls, imaps=imap_tls),
            annuaire=access,
        )
    finally:
        house.close()
    console.print(
        f"opérateur MSSanté {identifiant} ({', '.join(runtime.operator.domains)}) : {describe(runtime.endpoints)}"
        " — démarré par `maison serve` dans les secondes qui suivent"
        + f"; certificat {runtime.issued.cert} (SHA-256 {runtime.operator.certificate_sha256[:16]}…)"
        + (f"; publie ses BAL dans {url if access.url == OWN else access.url}" if access else "")
    )


@app.command("mss-bal")
def mss_bal(
    adresse: str = typer.Argument(..., help="The mailbox's address"),
    operateur: str = typer.Option(..., help="The local operator that hosts it"),
    type_: str = typer.Option(..., "--type", help="PER, ORG, APP or CAB"),
    titulaire: str = typer.Option(..., help="IdNatPS (PER) or the structure's identifier (ORG, APP, CAB)"),
    nom: str = typer.Option(..., help="Display name"),
    liste_rouge: bool = typer.Option(False, help="The holder refuses to appear in the Annuaire"),
    data_dir: Path = typer.Option(None),
) -> None:
    """Create a mailbox (its operator then publishes it in the Annuaire). An applicative mailbox's
    password is read from MAISON_BAL_PASSWORD (never on the command line)."""
    import os

    from maison.core.audit import SYSTEM
    from maison.house import House

    house = House.open(_settings(data_dir), migrate=False)
    try:
        house.mss.trust.get(operateur)
        box = house.mss.mailboxes.create(
            SYSTEM,
            adresse,
            operateur,
            type_.upper(),
            titulaire,
            nom,
            password=os.environ.get("MAISON_BAL_PASSWORD") or None,
            liste_rouge=liste_rouge,
        )
    except MaisonError as exc:
        raise typer.BadParameter(exc.message) from None
    finally:
        house.close()
    console.print(
        f"BAL {box.address} ({box.kind}) créée chez {box.operator}"
        + ("" if box.kind == "PER" else f" pour {box.owner}")
        + "; publiée dans l'Annuaire à la prochaine passe de l'opérateur"
        + (" (liste rouge : ni trouvée ni affichée)" if box.liste_rouge else "")
    )


@app.command()
def pfi(
    boite: str = typer.Option(..., help="The structure's applicative mailbox (e.g. pfi@chu.mssante.fr)"),
    structure: str = typer.Option(..., help="The structure whose patient index receives the documents"),
    imap_host: str = typer.Option(None, help="The operator's IMAP host (default: its relay host)"),
    imap_port: int = typer.Option(None, help="The operator's IMAP port (STARTTLS; default: the operator's)"),
    imap_tls: bool = typer.Option(
        False, "--imap-tls", help="TLS from the first byte (RFC 8314; default port: the operator's implicit-TLS one)"
    ),
    imap_ca: Path = typer.Option(None, help="CA of the operator's TLS certificate (default: the trust space's)"),
    imap_auth: str = typer.Option("LOGIN", help="LOGIN or PLAIN (both with the mailbox's password)"),
    data_dir: Path = typer.Option(None),
) -> None:
    """Run the structure's integration platform: its applicative mailbox read over IMAP (STARTTLS,
    IDLE when offered), every message integrated by qualified INS or put on the worklist and flagged
    `$Integre`, the MDN sent back over SMTP submission when asked. The mailbox's password is read
    from MAISON_PFI_PASSWORD (never on the command line)."""
    import os
    import signal
    import threading

    from maison.etablissement.pfi import hl7_documents
    from maison.etablissement.pfi.envoi import Submission
    from maison.etablissement.pfi.mailbox import ImapAccount, ImapMailbox
    from maison.etablissement.pfi.service import Pfi
    from maison.house import House

    password = os.environ.get("MAISON_PFI_PASSWORD")
    if not password:
        raise typer.BadParameter("MAISON_PFI_PASSWORD is not set")
    if imap_auth.upper() not in ("LOGIN", "PLAIN"):
        raise typer.BadParameter("--imap-auth: LOGIN or PLAIN")
    house = House.open(_settings(data_dir), migrate=False)
    try:
        box = house.mss.mailboxes.get(boite)
        operator = house.mss.trust.get(box.operator)
        if not operator.submission_port:
            raise typer.BadParameter(f"{boite}: its operator {box.operator} has no submission port")
        default_port = operator.imaps_port if imap_tls else operator.imap_port
        if not (imap_port or default_port):
            raise typer.BadParameter(f"{boite}: its operator {box.operator} has no IMAP port (--imap-port)")
    except MaisonError as exc:
        house.close()
        raise typer.BadParameter(exc.message) from None
    ca = str(imap_ca or house.mss.authority.cert_path)
    submission = Submission(
        operator.relay_host, operator.submission_port, str(house.mss.authority.cert_path), boite, password
    )
    mailbox = ImapMailbox(
        ImapAccount(
            imap_host or operator.relay_host,
            imap_port or default_port or 0,
            boite,
            password,
            ca,
            imap_auth.upper(),
            implicit_tls=imap_tls,
        )
    )
    # the DSN and MDN about what the PFI sent for its DPI become ZAM (issue 22 §2.2), when configured
    documents = hl7_documents.from_settings(house.db, house.mss.blobs, house.settings, resume=False)
    platform = Pfi(
        house.db,
        house.mss.blobs,
        house.settings.reference_path,
        structure,
        mailbox,
        submission.send,
        address=boite,
        domain=boite.rpartition("@")[2],
        patients=house.patients,
        max_message_bytes=house.settings.mss_max_message_bytes,
        reports=documents.report if documents is not None else None,
    )
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    console.print(f"PFI de {structure} : boîte {boite} (IMAP {mailbox.account.host}:{mailbox.account.port})")
    try:
        platform.watch(stopping)
    finally:
        mailbox.close()
        if documents is not None:
            documents.close()
        house.close()


@app.command("dmp-sweep")
def dmp_sweep(
    data_dir: Path = typer.Option(None),
    older_than: float = typer.Option(3600, help="Seconds a leftover must be old before it goes"),
) -> None:
    """Remove the document blobs no DMP entry names: what a crash left between a blob's write and its
    row's commit (the rows are never partial; the blobs may be orphans). Run it from time to time."""
    from maison.house import House

    house = House.open(_settings(data_dir), migrate=False)
    try:
        referenced = house.dmp.referenced_blobs()
        removed = house.dmp.blobs.sweep(referenced, older_than_seconds=older_than)
    finally:
        house.close()
    console.print(f"{removed} unreferenced file(s) removed; {len(referenced)} blob(s) referenced")


@app.command("chiffrer-documents")
def chiffrer_documents(data_dir: Path = typer.Option(None)) -> None:
    """Encrypt, with the key store's blob key, the DMP documents and MSSanté messages stored in clear
    before encryption at rest (they stay readable meanwhile). Idempotent; run once after the upgrade."""
    from maison.house import House

    house = House.open(_settings(data_dir), migrate=False)
    try:
        done = house.dmp.blobs.encrypt_legacy() + house.mss.blobs.encrypt_legacy()
    finally:
        house.close()
    console.print(f"{done} document(s) chiffré(s) (AES-256-GCM)")


@app.command()
def demo(
    count: int = typer.Option(100_000, help="Synthetic identities to seed"),
    data_dir: Path = typer.Option(Path("data/demo"), help="A fresh directory for the demo database"),
) -> None:
    """Seed, start the services, and play the end-to-end scenario over the real protocols."""
    from maison.demo.scenario import play

    raise typer.Exit(play(_settings(data_dir), count, console))


if __name__ == "__main__":
    app()
