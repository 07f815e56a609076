"""The demo's last words: where to open the three portals on its data, and with which accounts
(issue 24's Done-when: "the demo ends by printing the three portals' URLs with the sandbox accounts").

The demo served its house on a port of its own for the time of its scenes; `maison serve` on the
demo's data directory (and the same database settings) serves the same house afterwards, at the
configured address. The accounts are the sandbox's (`maison sandbox`, built on the demo's way): a
patient of Mon espace santé, her médecin traitant for /pro (both sign in with their test password;
the patient's one-time code is read in the house's outbox), and the ARS agent for the observatory,
who looks at the demo's hospital — the site whose stay, discharge letter and DMP feed the scenes made.
"""

from __future__ import annotations

import shlex
from datetime import date

from rich.console import Console
from rich.table import Table

from maison.core.config import Settings
from maison.observatoire.report import Period
from maison.portail.observatoire_pages import BASE as OBSERVATOIRE
from maison.portail.patient import BASE as MON_ESPACE
from maison.portail.pro import BASE as PRO
from maison.sandbox.catalogue import Catalogue

PATIENT, PROFESSIONAL, AGENT = "sarah.garcia", "generaliste", "agent-ars"


def serve_command(settings: Settings) -> str:
    """The command that serves the demo's house once the demo is over."""
    command = f"./dev maison serve --data-dir {shlex.quote(str(settings.data_dir))}"
    if settings.port != Settings().port:
        command += f" --port {settings.port}"
    return command


def table(settings: Settings, sandbox: Catalogue, site: str, site_name: str) -> Table:
    """The three portals, their address and the sandbox account to sign in with, in French: one row per
    item, so that each address prints whole (copied from the terminal as it is)."""
    base = settings.public_base_url
    patient = sandbox.patient(PATIENT)
    gp, agent = sandbox.professional(PROFESSIONAL), sandbox.professional(AGENT)
    outbox = f"./dev maison admin boite-envoi --data-dir {shlex.quote(str(settings.data_dir))}"
    semester = Period.semester_of(date.today()).label
    portals = (
        (
            "Mon espace santé",
            f"{base}{MON_ESPACE}/connexion",
            f"{patient.identifiant} (patiente {patient.prenoms.title()} {patient.nomNaissance})",
            patient.motDePasse,
            ("code à usage unique", f"{outbox} --destinataire {patient.email}"),
        ),
        (
            "Espace professionnel",
            f"{base}{PRO}/connexion",
            f"{gp.idnatps} (Dr {gp.prenom.title()} {gp.nom}, son médecin traitant), sur la page de Pro Santé Connect",
            gp.motDePasse,
            ("patiente à chercher", f"INS {patient.ins}"),
        ),
        (
            "Observatoire",
            f"{base}{OBSERVATOIRE}/connexion",
            f"{agent.idnatps} ({agent.prenom.title()} {agent.nom}, agent de l'ARS), sur la page de Pro Santé Connect",
            agent.motDePasse,
            (
                "hôpital de la démonstration",
                f"{site_name} ({site}) : {base}{OBSERVATOIRE}/sunes?structure={site}&periode={semester}, "
                "puis le taux DS1.1 et son explication",
            ),
        ),
    )
    t = Table(title="Les portails sur les données de la démonstration (comptes du bac à sable)")
    t.add_column("portail", no_wrap=True)
    t.add_column("", no_wrap=True)
    t.add_column("valeur", overflow="fold")
    for name, url, login, password, (label, value) in portals:
        t.add_row(name, "adresse", url)
        t.add_row("", "identifiant", login)
        t.add_row("", "mot de passe", password)
        t.add_row("", label, value, end_section=True)
    return t


def show(console: Console, settings: Settings, sandbox: Catalogue, site: str, site_name: str) -> None:
    """`settings`: the house as `maison serve` will serve it (not the demo's own port)."""
    console.rule("Portails")
    where = "la même base de données (MAISON_DATABASE_URL)" if settings.database_url else "sa base SQLite"
    console.print(f"Pour ouvrir les portails sur les données de la démonstration ({where}) : {serve_command(settings)}")
    console.print(table(settings, sandbox, site, site_name))
