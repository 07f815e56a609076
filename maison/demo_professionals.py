"""The demo's professional scene: a doctor logs in through Pro Santé Connect and finds a colleague's
MSSanté address in the Annuaire Santé — over HTTP, as a DPI would, with the e-CPS code."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pyotp
import sqlalchemy as sa
from rich.console import Console
from rich.table import Table

from maison.identite.annuaire import resources as build
from maison.identite.annuaire import store as annuaire_store
from maison.identite.annuaire.index import put
from maison.identite.psc.client import sign_in

RPPS = "99900038441"  # seed 001 L383-384
IDNATPS = "8" + RPPS


def play(house, base: str, console: Console) -> tuple[bool, str, str]:
    """Returns whether the scene held, and the hospital site (IdNatStruct, name) the doctor works in."""
    from maison.terminal import seed_annuaire_with_progress

    seed_annuaire_with_progress(house.db, 5_000, 2026)
    with house.db.read() as conn:  # a hospital site with colleagues who have a personal mailbox
        m, r = annuaire_store.ann_mailbox, annuaire_store.ann_role
        site = conn.execute(
            sa.select(r.c.organization)
            .join(m, sa.and_(m.c.rid == r.c.id, m.c.rtype == "PractitionerRole"))
            .where(m.c.type == "PER", m.c.liste_rouge.is_(False), r.c.organization.like("1%"))
            .group_by(r.c.organization)
            .order_by(sa.func.count().desc())
            .limit(1)
        ).scalar_one()
    now = "2026-11-01T08:00:00+00:00"
    with house.db.write() as conn:
        put(conn, [build.practitioner(RPPS, "MARTIN", "Claire", "DR", "10", "C", "SM54", now)])
        put(conn, [build.practitioner_role("1999999999", IDNATPS, site, now, fonction=None, mode="S")])
    seed = parse_qs(urlsplit(house.psc.enroll_ecps(IDNATPS)).query)["secret"][0]
    redirect = f"{base}/callback"
    client_id, secret = house.psc.register_client("DPI de démonstration", [redirect])

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
    people = {e["resource"]["id"]: e["resource"] for e in found["entry"] if e["search"]["mode"] == "include"}
    table = Table(title=f"Annuaire Santé — collègues de {activity['raisonSocialeSite']} joignables par MSSanté")
    for col in ("nom", "profession", "BAL MSSanté"):
        table.add_column(col)
    for entry in (e for e in found["entry"] if e["search"]["mode"] == "match"):
        role = entry["resource"]
        who = people[role["practitioner"]["reference"].split("/")[1]]
        name = who["name"][0]
        profession = who["qualification"][0]["code"]["coding"][0]["code"]
        table.add_row(f"{name['given'][0]} {name['family']}", profession, role["telecom"][0]["value"])
    console.print(table)
    return bool(found["entry"]) and me["SubjectNameID"] == IDNATPS, site, activity["raisonSocialeSite"]
