"""The demo's professional scene: a doctor logs in through Pro Santé Connect and finds a colleague's
MSSanté address in the Annuaire Santé — over HTTP, as a DPI would, with the e-CPS code.

The doctor works at the hospital site of the synthetic directory with the most colleagues reachable
by a personal mailbox: the demo reads that from the directory it generated (`maison.seeding`), as
its author, and adds the doctor to the directory the way its operator loads the RPPS.
"""

from __future__ import annotations

from collections import Counter

import httpx
import pyotp
from rich.console import Console
from rich.table import Table

from maison.demo import backoffice
from maison.etablissement.psc.client import sign_in
from maison.house import House
from maison.identite.annuaire import resources as build
from maison.identite.annuaire.vocabulary import EXT_MAILBOX
from maison.seeding.directory import Directory

RPPS = "99900038441"  # seed 001 L383-384
IDNATPS = "8" + RPPS
UPDATED = "2026-11-01T08:00:00+00:00"  # the cast's entries in the directory, as of the RPPS extraction


def personal_mailboxes(resource: dict) -> int:
    """How many personal (PER) MSSanté mailboxes off the liste rouge a resource publishes (its
    `telecom`, as-mailbox-mss)."""
    count = 0
    for telecom in resource.get("telecom", []):
        meta: dict = next((e for e in telecom.get("extension", []) if e.get("url") == EXT_MAILBOX), {})
        subs = {sub["url"]: sub for sub in meta.get("extension", [])}
        kind = subs.get("type", {}).get("valueCodeableConcept", {}).get("coding", [{}])[0].get("code")
        if kind == "PER" and not subs.get("listeRouge", {}).get("valueBoolean", False):
            count += 1
    return count


def busiest_site(parts: list[Directory]) -> str:
    """The hospital site (an IdNatStruct of a FINESS, `1…`) with the most situations d'exercice that
    carry a personal mailbox: the doctor's colleagues the scene looks for."""
    sites: Counter[str] = Counter()
    for part in parts:
        for role in part.roles:
            org = role.get("organization", {}).get("reference", "").removeprefix("Organization/")
            if org.startswith("1"):
                sites[org] += personal_mailboxes(role)
    return sites.most_common(1)[0][0]


def play(house: House, base: str, console: Console) -> tuple[bool, str, str]:
    """Returns whether the scene held, and the hospital site (IdNatStruct, name) the doctor works in."""
    from maison.terminal import seed_annuaire_with_progress

    parts: list[Directory] = []
    seed_annuaire_with_progress(house.db, 5_000, 2026, seen=parts.append)
    site = busiest_site(parts)
    backoffice.directory(
        house,
        [build.practitioner(RPPS, "MARTIN", "Claire", "DR", "10", "C", "SM54", UPDATED)],
        [build.practitioner_role("1999999999", IDNATPS, site, UPDATED, fonction=None, mode="S")],
    )
    redirect = f"{base}/callback"
    client_id, secret = backoffice.psc_client(house, "DPI de démonstration", redirect)
    seed = backoffice.ecps_seed(house, IDNATPS)

    tokens = sign_in(base, client_id, secret, redirect, IDNATPS, otp=pyotp.TOTP(seed).now())
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    me = httpx.get(tokens["userinfo_endpoint"], headers=bearer).json()
    activity = me["SubjectRefPro"]["exercices"][0]["activities"][0]
    console.print(
        f"Pro Santé Connect: Dr {me['given_name']} {me['family_name']} ({me['SubjectNameID']}), "
        f"e-CPS ({me['authMode']}), exerce à {activity['raisonSocialeSite']}"
    )

    found = httpx.get(
        f"{base}/annuaire/PractitionerRole",
        headers=bearer,
        params={
            "organization": site,
            "mailbox-mss-type": "PER",
            "_include": "PractitionerRole:practitioner",
            "_count": "5",
        },
    ).json()
    people = {e["resource"]["id"]: e["resource"] for e in found.get("entry", []) if e["search"]["mode"] == "include"}
    table = Table(title=f"Annuaire Santé — collègues de {activity['raisonSocialeSite']} joignables par MSSanté")
    for col in ("nom", "profession", "BAL MSSanté"):
        table.add_column(col)
    for entry in (e for e in found.get("entry", []) if e["search"]["mode"] == "match"):
        role = entry["resource"]
        who = people[role["practitioner"]["reference"].split("/")[1]]
        name = who["name"][0]
        profession = who["qualification"][0]["code"]["coding"][0]["code"]
        table.add_row(f"{name['given'][0]} {name['family']}", profession, role["telecom"][0]["value"])
    console.print(table)
    return bool(found["entry"]) and me["SubjectNameID"] == IDNATPS, site, activity["raisonSocialeSite"]
