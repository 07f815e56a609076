"""The national report as tables: monthly series drawn as lines, per-key breakdowns as tables."""

from __future__ import annotations

from maison.observatoire.national.model import MAILBOX_KINDS, DmpLine, NationalReport
from maison.observatoire.report import Table

DMP_SERIES = "DMP : alimentations hors historique de remboursement, par mois (003 L1749-1750)"
MSS_TITLE = "MSSanté : par opérateur et par mois"
ORDONNANCE_TITLE = "Ordonnance numérique : compteurs par mois (001 L424-462)"
INSI_TITLE = "INSi : appels par mois (003 L316-322)"


def _dmp(title: str, key: str, lines: list[DmpLine], *, label: str = "") -> Table:
    columns = ("mois", key, *((label,) if label else ()), "transactions", "documents")
    rows = tuple((x.month, x.key, *((x.label,) if label else ()), x.feeds, x.documents) for x in lines)
    return Table(title, columns, rows)


def dmp_tables(report: NationalReport) -> list[Table]:
    series = Table(
        DMP_SERIES,
        ("mois", "transactions", "documents", "documents HR exclus"),
        tuple((x.month, x.feeds, x.documents, report.hr_excluded.get(x.month, 0)) for x in report.dmp),
        chart="line",
        notes=("HR : historique des remboursements (typeCode REMB), alimenté par l'Assurance Maladie, exclu.",),
    )
    return [
        series,
        _dmp("DMP : par type de structure (secteur d'activité TRE_R02)", "type", report.dmp_by_structure_type),
        _dmp("DMP : par logiciel", "logiciel", report.dmp_by_software, label="nom"),
        _dmp("DMP : par éditeur", "éditeur", report.dmp_by_vendor),
    ]


def mss_table(report: NationalReport) -> Table:
    return Table(
        MSS_TITLE,
        (
            "mois",
            "opérateur",
            "messages envoyés",
            "messages reçus",
            "messages aux patients",
            "BAL citoyennes ouvertes",
            *(f"BAL {k} actives" for k in MAILBOX_KINDS),
            *(f"BAL {k} créées" for k in MAILBOX_KINDS),
        ),
        tuple(
            (
                x.month,
                x.operator,
                x.sent,
                x.received,
                x.to_patients,
                x.citizen_opened,
                *(x.active[k] for k in MAILBOX_KINDS),
                *(x.created[k] for k in MAILBOX_KINDS),
            )
            for x in report.mss
        ),
        notes=("BAL active : a envoyé ou reçu au moins un message dans le mois (piste d'audit).",),
    )


def ins_table(report: NationalReport) -> Table:
    return Table(
        f"Part des échanges portant l'INS (cible {report.targets.ins_share:.0%}, 000 L2017)",
        ("mois", "documents DMP", "avec INS", "messages MSSanté", "avec INS", "part", "cible atteinte"),
        tuple(
            (x.month, x.dmp_documents, x.dmp_with_ins, x.mss_messages, x.mss_with_ins, x.share, x.met)
            for x in report.ins_share
        ),
        chart="line",
    )


def ordonnance_table(report: NationalReport) -> Table:
    return Table(
        ORDONNANCE_TITLE,
        (
            "mois",
            "créées",
            "consultées (prescripteur)",
            "recherchées",
            "médecins ayant créé",
            "nouveaux médecins",
            "logiciels prescripteurs",
            "consultées (exécutant)",
            "exécutées",
            "structures ayant exécuté",
            "nouvelles structures",
            "logiciels exécutants",
        ),
        tuple(
            (
                x.month,
                x.created,
                x.read_by_prescriber,
                x.searched,
                x.prescribers,
                x.new_prescribers,
                x.prescriber_software,
                x.read_by_dispenser,
                x.executed,
                x.dispensers,
                x.new_dispensers,
                x.dispenser_software,
            )
            for x in report.ordonnance
        ),
        chart="line",
        notes=tuple(f"depuis le début : {k} = {v}" for k, v in sorted(report.ordonnance_since_start.items())),
    )


def segur_table(report: NationalReport) -> Table:
    return Table(
        f"Ségur vague 1 : envois DMP par logiciel (seuil {report.targets.segur_sendings}, 002 L145)",
        ("logiciel", "nom", "éditeur", "structures", "envois DMP", "seuil", "atteint"),
        tuple((x.software, x.name, x.vendor, x.structures, x.sendings, x.threshold, x.reached) for x in report.segur),
        chart="bar",
    )


def insi_table(report: NationalReport) -> Table:
    return Table(
        INSI_TITLE,
        ("mois", "appels", "cr_00", "cr_01", "cr_02", "cr_erreur", "établissements"),
        tuple(
            (x.month, x.calls, *(x.answers.get(a, 0) for a in ("00", "01", "02", "erreur")), x.structures)
            for x in report.insi
        ),
        chart="line",
    )


def tables(report: NationalReport) -> list[Table]:
    return [
        *dmp_tables(report),
        mss_table(report),
        ins_table(report),
        ordonnance_table(report),
        segur_table(report),
        insi_table(report),
    ]
