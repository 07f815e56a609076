"""The SUN-ES indicators as FHIR R4 `Measure` and their values as `MeasureReport` (issue 23 §4).

One Measure per DS indicator (FHIR R4 measure.html): scoring `proportion`, a group whose numerator
and denominator populations describe the seed line's condition in words (`criteria`, text/plain —
the computation itself is the observatory's, over the audit trail), and the seed line cited.
A MeasureReport (measurereport.html) of type `summary` gives one indicator for one subject (the
structure, by its identifier, or the GHT) over the period: numerator and denominator counts, and the
`measureScore` — the proportion (0 to 1), absent when the denominator is 0 (R4: "the score … if
applicable"). The reports of one computation go in one Bundle (collection) whose `signature`
(R4 Bundle.signature, sigFormat application/jose) is the observatory's seal, or is absent with the
reason in an extension when the audit chain is broken.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

from maison.core.errors import NotFound
from maison.formats.fhir import bundle
from maison.formats.namespace import Namespace
from maison.observatoire.signature import Seal
from maison.observatoire.sunes.model import INDICATORS, Indicator, Unit

SCORING = "http://terminology.hl7.org/CodeSystem/measure-scoring"
POPULATION = "http://terminology.hl7.org/CodeSystem/measure-population"
IDNATSTRUCT = "urn:oid:1.2.250.1.71.4.2.2"  # the structures' national identifier (ANS, IdNatStruct)

# the seed's condition of each line, in words (004 L191-203; sunes/service.py states how each is folded)
_NUMERATOR = {
    Unit.STAYS: "séjours du dénominateur dont {doc} a alimenté le DMP{level}{ins}",
    Unit.RETURNING_STAYS: "séjours du dénominateur pour lesquels au moins un document d'un séjour antérieur a "
    "alimenté le DMP{ins}",
    Unit.REPORTS: "{doc} du dénominateur ayant alimenté le DMP{level}{ins}",
    Unit.CORRESPONDENTS: "correspondants du dénominateur à qui un document CDA a été envoyé par MSSanté{ins}",
}
_DENOMINATOR = {
    Unit.STAYS: "séjours terminés (sortie) dans la période, hors séjours annulés",
    Unit.RETURNING_STAYS: "séjours terminés dans la période de patients déjà venus dans la structure",
    Unit.REPORTS: "{doc} produits dans la période",
    Unit.CORRESPONDENTS: "correspondants (BAL personnelles) destinataires d'un envoi MSSanté dans la période",
}


def measure_id(code: str) -> str:
    """`DS1.1` → `sunes-ds1-1` (R4 id: [A-Za-z0-9-.]{1,64})."""
    return "sunes-" + code.lower().replace(".", "-")


def _criteria(i: Indicator) -> tuple[str, str]:
    if i.code == "DS4.2":
        numerator = "séjours du dénominateur pour lesquels un message a été envoyé au patient par la messagerie "
        numerator += "citoyenne de Mon espace santé (sans condition d'INS)"
    else:
        words = {
            "doc": i.document or "un document",
            "level": f" en CDA R2 {i.level}" if i.level else "",
            "ins": " avec une INS qualifiée" if i.qualified_ins else "",
        }
        numerator = _NUMERATOR[i.unit].format(**words)
    return numerator, _DENOMINATOR[i.unit].format(doc=i.document or "documents")


def measure(i: Indicator, ns: Namespace) -> dict[str, Any]:
    numerator, denominator = _criteria(i)
    source = f"seed 004 L{i.seed_line} (instruction SUN-ES)"
    return {
        "resourceType": "Measure",
        "id": measure_id(i.code),
        "url": ns.url(f"fhir/Measure/{measure_id(i.code)}"),
        "identifier": [{"system": ns.code_system("sunes-indicateur"), "value": i.code}],
        "name": i.code.replace(".", "_"),
        "title": f"{i.code} — {i.label}",
        "status": "active",
        "description": f"{i.label} : {i.unit.value} ({source})",
        "scoring": {"coding": [{"system": SCORING, "code": "proportion"}]},
        "improvementNotation": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/measure-improvement-notation", "code": "increase"}
            ]
        },
        "group": [
            {
                "population": [
                    _population("numerator", numerator, source),
                    _population("denominator", denominator, source),
                ]
            }
        ],
    }


def _population(code: str, text: str, source: str) -> dict[str, Any]:
    return {
        "code": {"coding": [{"system": POPULATION, "code": code}]},
        "description": f"{text} — {source}",
        "criteria": {"language": "text/plain", "expression": text},
    }


def measures(ns: Namespace) -> dict[str, Any]:
    entries = [{"resource": measure(i, ns)} for i in INDICATORS.values()]
    return bundle("searchset", entries, total=len(entries))


def measure_of(id_: str, ns: Namespace) -> dict[str, Any]:
    found = next((i for i in INDICATORS.values() if measure_id(i.code) == id_), None)
    if found is None:
        raise NotFound(f"Measure {id_} inconnue", code="measure-inconnue")
    return measure(found, ns)


def _subject(content: dict[str, Any], ns: Namespace) -> dict[str, Any]:
    scope = content["perimetre"]
    if scope["type"] == "ght":  # no national register numbers GHTs: the house's own naming system
        system = ns.code_system("ght")
        return {"identifier": {"system": system, "value": scope["code"]}, "display": f"GHT {scope['code']}"}
    return {"identifier": {"system": IDNATSTRUCT, "value": scope["code"]}, "display": f"structure {scope['code']}"}


def measure_reports(content: dict[str, Any], start: str, end: str, ns: Namespace) -> dict[str, Any]:
    """The SUN-ES report's content (`SunesReport.as_dict()`) as a Bundle of MeasureReports, unsigned.
    `start` / `end`: the period's days, `end` excluded."""
    last = (datetime.fromisoformat(end) - timedelta(days=1)).date().isoformat()
    now = datetime.now(UTC).isoformat(timespec="seconds")
    reports = []
    for line in content["indicateurs"]:
        population = [
            {"code": {"coding": [{"system": POPULATION, "code": "numerator"}]}, "count": line["numerateur"]},
            {"code": {"coding": [{"system": POPULATION, "code": "denominator"}]}, "count": line["denominateur"]},
        ]
        group: dict[str, Any] = {"population": population}
        if line["denominateur"]:
            group["measureScore"] = {"value": round(line["numerateur"] / line["denominateur"], 4)}
        reports.append(
            {
                "resource": {
                    "resourceType": "MeasureReport",
                    "id": f"{measure_id(line['indicateur'])}-{content['perimetre']['code']}-{content['periode']}"[:64],
                    "status": "complete",
                    "type": "summary",
                    "measure": ns.url(f"fhir/Measure/{measure_id(line['indicateur'])}"),
                    "subject": _subject(content, ns),
                    "date": now,
                    "period": {"start": start, "end": last},
                    "group": [group],
                }
            }
        )
    return bundle("collection", reports, timestamp=now)


def positioned(resource: dict[str, Any], seq: int, chain_hash: str, ns: Namespace) -> dict[str, Any]:
    """Each MeasureReport states the audit chain position it was computed at (R4: a Bundle has no
    extension; a MeasureReport does)."""
    position = [
        {"url": ns.structure("observatoire-trace-seq"), "valueInteger": seq},
        {"url": ns.structure("observatoire-trace-hash"), "valueString": chain_hash},
    ]
    entries = [{"resource": {**e["resource"], "extension": position}} for e in resource.get("entry", [])]
    return {**resource, "entry": entries} if entries else resource


def signed(resource: dict[str, Any], seal: Seal, ns: Namespace) -> dict[str, Any]:
    """The Bundle with its seal (R4 Bundle.signature, over the Bundle without it): the JWS, base64;
    unsigned, each report says why in an extension."""
    if seal.signature is None:
        why = {"url": ns.structure("observatoire-non-signe"), "valueString": seal.reason}
        entries = [{"resource": {**e["resource"], "extension": [*e["resource"].get("extension", []), why]}}
                   for e in resource.get("entry", [])]  # fmt: skip
        return {**resource, "entry": entries} if entries else resource
    return {
        **resource,
        "signature": {
            "type": [
                {
                    "system": "urn:iso-astm:E1762-95:2013",
                    "code": "1.2.840.10065.1.12.1.5",
                    "display": "Verification Signature",
                }
            ],  # fmt: skip
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "who": {"display": f"la maison (clé {seal.key_id})"},
            "sigFormat": "application/jose",
            "data": base64.b64encode(seal.signature.encode()).decode(),
        },
    }
