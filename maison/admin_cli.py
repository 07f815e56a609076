"""`maison admin …`: the house administrator's acts from the command line (issue 21 §1).

The same functions as `/admin` over HTTP (`maison.admin.service`), acting as the house itself
(whoever runs the command owns the data directory); every act is recorded in the audit trail.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
import typer

from maison.core.config import load_settings
from maison.core.errors import MaisonError

admin = typer.Typer(help="Administration of the house: token, keys, INSi habilitations, outbox.", no_args_is_help=True)

DATA_DIR = typer.Option(None, help="The house's data directory")


@contextmanager
def _house(data_dir: Path | None) -> Iterator:
    from maison.house import House

    house = House.open(load_settings().with_overrides(data_dir=data_dir))
    try:
        yield house
    except MaisonError as exc:
        typer.echo(f"refusé : {exc}", err=True)
        raise typer.Exit(2) from None
    finally:
        house.close()


def _print(data: object) -> None:
    typer.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())


@admin.command("jeton")
def jeton(data_dir: Path = DATA_DIR) -> None:
    """Create a new administrator token (the previous ones are revoked) and print it once."""
    from maison.admin.service import rotate_token

    with _house(data_dir) as house:
        key = rotate_token(house.db)
    typer.echo(key)


@admin.command("boite-envoi")
def boite_envoi(
    destinataire: str = typer.Option(None, help="Only what this e-mail address or mobile number received"),
    data_dir: Path = DATA_DIR,
) -> None:
    """The one-time codes, e-mails and SMS the house sent, newest last (JSON)."""
    from maison.core.audit import SYSTEM

    with _house(data_dir) as house:
        _print({"messages": house.admin.outbox(SYSTEM, destinataire)})


@admin.command("cle")
def cle(
    structure: str = typer.Argument(..., help="The structure (IdNatStruct, FINESS, SIRET)"),
    nom: str = typer.Option(..., help="The software the key is for"),
    scope: str = typer.Option("logiciel", help="administrateur-structure, logiciel, accueil, operateur-mss, …"),
    personne: str = typer.Option(None, help="Who the key is given to"),
    data_dir: Path = DATA_DIR,
) -> None:
    """Issue a structure's API key and print it once (with its id, to revoke it)."""
    from maison.core.audit import SYSTEM

    with _house(data_dir) as house:
        _print(house.admin.issue_key(SYSTEM, structure, nom, scope, personne))


@admin.command("revoquer-cle")
def revoquer_cle(identifiant: str = typer.Argument(..., help="The key's id"), data_dir: Path = DATA_DIR) -> None:
    """Revoke a structure's API key."""
    from maison.core.audit import SYSTEM

    with _house(data_dir) as house:
        _print({"revoquees": house.admin.revoke_key(SYSTEM, identifiant)})


@admin.command("compte-mes")
def compte_mes(
    identifiant: str = typer.Argument(..., help="The patient's login"),
    ins: str = typer.Option(..., help="The patient's INS (15 characters)"),
    naissance: str = typer.Option(..., help="Birth date, AAAA-MM-JJ"),
    mot_de_passe: str = typer.Option(..., help="The account's password (12 characters at least)"),
    email: str = typer.Option(None, help="Where the one-time codes go"),
    telephone: str = typer.Option(None, help="Or the mobile number they go to"),
    data_dir: Path = DATA_DIR,
) -> None:
    """Open a patient's Mon espace santé account."""
    from maison.core.audit import SYSTEM

    with _house(data_dir) as house:
        _print(house.admin.open_mes_account(SYSTEM, identifiant, ins, naissance, mot_de_passe, email, telephone))


@admin.command("contacts-mes")
def contacts_mes(
    identifiant: str = typer.Argument(..., help="The patient's login"),
    email: str = typer.Option(None, help="Where the one-time codes go"),
    telephone: str = typer.Option(None, help="The French mobile they go to without an e-mail (06/07 or +33)"),
    data_dir: Path = DATA_DIR,
) -> None:
    """Set the e-mail and/or mobile of a Mon espace santé account (both replaced): its next codes go there."""
    from maison.core.audit import SYSTEM

    with _house(data_dir) as house:
        _print(house.admin.set_mes_contacts(SYSTEM, identifiant, email, telephone))


@admin.command("structure")
def structure(
    nom: str = typer.Argument(..., help="The structure's name"),
    finess: str = typer.Option(None, help="Its FINESS"),
    siret: str = typer.Option(None, help="Or its SIRET"),
    secteur: str = typer.Option(None, help="Its activity sector (TRE_R02, e.g. SA01)"),
    code_postal: str = typer.Option(None),
    ville: str = typer.Option(None),
    data_dir: Path = DATA_DIR,
) -> None:
    """Register a structure in the Annuaire Santé."""
    from maison.core.audit import SYSTEM

    with _house(data_dir) as house:
        _print(house.admin.add_structure(SYSTEM, nom, finess, siret, secteur, code_postal, ville))


@admin.command("professionnel")
def professionnel(
    rpps: str = typer.Argument(..., help="RPPS number (11 digits)"),
    nom: str = typer.Option(...),
    prenom: str = typer.Option(...),
    profession: str = typer.Option("10", help="TRE_G15 profession code (10 médecin, 21 pharmacien, 60 infirmier…)"),
    structure: str = typer.Option(None, help="IdNatStruct of the structure he practises in"),
    fonction: str = typer.Option(None, help="The role of his situation d'exercice (agent-ars: the observatory)"),
    data_dir: Path = DATA_DIR,
) -> None:
    """Register a test professional in the Annuaire Santé."""
    from maison.core.audit import SYSTEM

    with _house(data_dir) as house:
        _print(house.admin.add_professional(SYSTEM, rpps, nom, prenom, profession, structure, function=fonction))


@admin.command("operateur-mss")
def operateur_mss(
    identifiant: str = typer.Argument(..., help="The operator's identifier (e.g. chu-test)"),
    nom: str = typer.Option(...),
    domaine: list[str] = typer.Option(..., help="A mail domain it serves (repeatable)"),
    relais: int = typer.Option(..., help="Port the other operators deliver to"),
    soumission: int = typer.Option(..., help="Port its users submit mail to"),
    imap: int = typer.Option(None, help="Its IMAP port"),
    data_dir: Path = DATA_DIR,
) -> None:
    """Register a local MSSanté operator publishing to this house's Annuaire; prints its listeners."""
    from maison.core.audit import SYSTEM

    with _house(data_dir) as house:
        _print(house.admin.register_mss_operator(SYSTEM, identifiant, nom, list(domaine), relais, soumission, imap))


@admin.command("bal")
def bal(
    adresse: str = typer.Argument(..., help="The mailbox's address"),
    operateur: str = typer.Option(...),
    type_: str = typer.Option(..., "--type", help="PER, ORG, APP or CAB"),
    titulaire: str = typer.Option(..., help="IdNatPS (PER) or IdNatStruct"),
    nom: str = typer.Option(...),
    data_dir: Path = DATA_DIR,
) -> None:
    """Create a mailbox; an applicative one's password is read from MAISON_BAL_PASSWORD."""
    import os

    from maison.core.audit import SYSTEM

    with _house(data_dir) as house:
        password = os.environ.get("MAISON_BAL_PASSWORD")
        _print(house.admin.create_mailbox(SYSTEM, adresse, operateur, type_, titulaire, nom, password))


@admin.command("client-psc")
def client_psc(
    nom: str = typer.Argument(..., help="The client software's name"),
    redirect: list[str] = typer.Option(..., help="A redirect URI (repeat the option for several)"),
    post_logout: list[str] = typer.Option([], help="A post-logout redirect URI (repeatable)"),
    ciba: bool = typer.Option(False, help="Allow CIBA (decoupled authentication)"),
    data_dir: Path = DATA_DIR,
) -> None:
    """Register a confidential client of Pro Santé Connect; its secret is printed once."""
    from maison.core.audit import SYSTEM

    with _house(data_dir) as house:
        _print(house.admin.register_psc_client(SYSTEM, nom, list(redirect), list(post_logout), ciba))


@admin.command("jeton-enregistrement")
def jeton_enregistrement(
    duree: int = typer.Option(86_400, help="How long the token serves, in seconds"),
    utilisations: int = typer.Option(None, help="How many clients it may register (no limit if not given)"),
    data_dir: Path = DATA_DIR,
) -> None:
    """Issue an initial access token for Pro Santé Connect's dynamic client registration (RFC 7591); printed once."""
    from maison.core.audit import SYSTEM

    with _house(data_dir) as house:
        _print(house.admin.issue_psc_registration_token(SYSTEM, duree, utilisations))


@admin.command("mot-de-passe")
def mot_de_passe(
    idnatps: str = typer.Argument(..., help="The professional's IdNatPS"),
    mot_de_passe: str = typer.Option(..., help="The test password (12 characters at least)"),
    data_dir: Path = DATA_DIR,
) -> None:
    """Give a professional of the Annuaire a test password for Pro Santé Connect."""
    from maison.core.audit import SYSTEM

    with _house(data_dir) as house:
        house.admin.set_test_password(SYSTEM, idnatps, mot_de_passe)
    typer.echo(f"mot de passe de test défini pour {idnatps}")


@admin.command("e-cps")
def e_cps(
    idnatps: str = typer.Argument(..., help="The professional's IdNatPS"),
    png: Path = typer.Option(None, help="Also write the QR code the e-CPS app scans to this PNG file"),
    data_dir: Path = DATA_DIR,
) -> None:
    """Activate a professional's e-CPS: prints the otpauth URI and its seed."""
    import base64

    from maison.core.audit import SYSTEM

    with _house(data_dir) as house:
        done = house.admin.enroll_ecps(SYSTEM, idnatps)
    if png is not None:
        png.write_bytes(base64.b64decode(done["qrPng"]))
    _print({k: v for k, v in done.items() if k != "qrPng"})


@admin.command("identite-ins")
def identite_ins(
    matricule: str = typer.Argument(..., help="NIR or NIA, 15 characters with the key"),
    nom: str = typer.Option(..., help="Birth name"),
    prenoms: str = typer.Option(..., help="Birth first names, space-separated"),
    sexe: str = typer.Option(..., help="M or F"),
    naissance: str = typer.Option(..., help="Birth date AAAA-MM-JJ"),
    lieu: str = typer.Option(None, help="INSEE code of the birth place (99xxx abroad)"),
    ouvrant_droit: str = typer.Option(None, help="The Carte Vitale holder's matricule"),
    rang: int = typer.Option(1, help="Birth rank under that holder"),
    data_dir: Path = DATA_DIR,
) -> None:
    """Add an identity to the INS referential."""
    from maison.core.audit import SYSTEM

    with _house(data_dir) as house:
        _print(house.admin.add_identity(SYSTEM, nom, prenoms, sexe, naissance, lieu, matricule, ouvrant_droit, rang))


@admin.command("remplacer-matricule")
def remplacer_matricule(
    ancien: str = typer.Argument(..., help="The active NIA (or NIR)"),
    nouveau: str = typer.Argument(..., help="The NIR that replaces it"),
    data_dir: Path = DATA_DIR,
) -> None:
    """A NIA replaced by the NIR: the NIA becomes a historic INS."""
    from maison.core.audit import SYSTEM

    with _house(data_dir) as house:
        _print(house.admin.replace_matricule(SYSTEM, ancien, nouveau))


@admin.command("fusionner")
def fusionner(
    survivant: str = typer.Argument(..., help="The INS kept"),
    absorbe: str = typer.Argument(..., help="The INS absorbed"),
    data_dir: Path = DATA_DIR,
) -> None:
    """Merge two identities of the INS referential."""
    from maison.core.audit import SYSTEM

    with _house(data_dir) as house:
        _print(house.admin.merge_identities(SYSTEM, survivant, absorbe))


@admin.command("habilitation-insi")
def habilitation_insi(
    structure: str = typer.Argument(..., help="The structure's identifier in INSi's ContexteLPS"),
    nom: str = typer.Option(..., help="Its name"),
    departement: str = typer.Option(None, help="Its département (read from a FINESS otherwise)"),
    data_dir: Path = DATA_DIR,
) -> None:
    """Habilitate a structure to the INSi teleservice."""
    from maison.core.audit import SYSTEM

    with _house(data_dir) as house:
        _print(house.admin.habilitate_insi(SYSTEM, structure, nom, departement))


@admin.command("certificat-insi")
def certificat_insi(
    structure: str = typer.Argument(..., help="The habilitated structure (ContexteLPS Emetteur)"),
    idam: str = typer.Option(..., help="The registered software's IDAM"),
    sortie: Path = typer.Option(..., help="Directory to write certificat.pem, cle.pem and autorite.pem to"),
    jours: int = typer.Option(365, help="Validity in days"),
    data_dir: Path = DATA_DIR,
) -> None:
    """Issue a software certificate for INSi's mutual TLS; writes it, its key and the authority."""
    from maison.core.audit import SYSTEM

    with _house(data_dir) as house:
        done = house.admin.issue_insi_certificate(SYSTEM, structure, idam, jours)
    sortie.mkdir(parents=True, exist_ok=True)
    files = {"certificat": "certificat.pem", "cle": "cle.pem", "autorite": "autorite.pem"}
    (sortie / "cle.pem").touch(mode=0o600)  # the private key: its owner's alone, before it is written
    for field_name, name in files.items():
        (sortie / name).write_text(done[field_name])
    _print({**{k: str(sortie / v) for k, v in files.items()}, "empreinteSha256": done["empreinteSha256"]})


@admin.command("logiciel")
def logiciel(
    idam: str = typer.Argument(..., help="The software's CNDA authorisation number (IDAM)"),
    nom: str = typer.Option(..., help="Its name"),
    editeur: str = typer.Option(..., help="Its vendor"),
    version: str = typer.Option(..., help="The version the CNDA authorised"),
    categorie: str = typer.Option("", help="Its category in the maison table (DPI, PFI, LGC, DUI…)"),
    data_dir: Path = DATA_DIR,
) -> None:
    """Register a software so that INSi accepts its calls."""
    from maison.core.audit import SYSTEM

    with _house(data_dir) as house:
        _print(house.admin.register_software(SYSTEM, idam, nom, editeur, version, categorie or None))
