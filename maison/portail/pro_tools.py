"""The professional's tools under `/pro`, mounted together: the Annuaire Santé, the ordonnance numérique
and a structure's desks (PFI, identitovigilance). One call for the house to wire them (`mount`), on
the /pro login's `PscConnexion` (the sessions pro.py's pages use), so that the house's wiring stays one
call and each page module stays about its pages."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI

from maison.core import audit
from maison.core.blobs import Blobs
from maison.etablissement.insi.transport import InsiGateway
from maison.etablissement.vigilance.cellule import Cellule
from maison.etablissement.vigilance.service import PatientIndex
from maison.formats.namespace import Namespace
from maison.partage.ordonnance.service import Base
from maison.portail import pro_annuaire, pro_etablissement, pro_ordonnance
from maison.portail.pro_pages import BASE, ProPages
from maison.portail.psc_connexion import PscConnexion


def mount(
    app: FastAPI,
    connexion: PscConnexion,
    trail: audit.Trail,
    *,
    ordonnance: Base,
    units: Callable[[], frozenset[str]],
    ns: Namespace,
    pfi_blobs: Blobs,
    patients: PatientIndex,
    cellule: Cellule,
    insi: InsiGateway,
) -> None:
    pages = ProPages(connexion)
    annuaire = pro_annuaire.Annuaire(trail.db, trail)
    ordonnances = pro_ordonnance.Ordonnances(ordonnance, annuaire, units, ns)
    desks = pro_etablissement.Etablissement(trail.db, pfi_blobs, patients, cellule, trail, insi)
    for prefix, r in (
        ("annuaire", pro_annuaire.router(pages, annuaire)),
        ("ordonnances", pro_ordonnance.router(pages, ordonnances)),
        ("etablissement", pro_etablissement.router(pages, desks)),
    ):
        app.include_router(r, prefix=f"{BASE}/{prefix}", include_in_schema=False)
