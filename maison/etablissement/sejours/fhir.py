"""A stay as a FHIR R4 `Encounter` (FR Core Encounter, issue 22 §1.3).

The stay number (PV1-19) is the identifier (type VN, system: the structure's stay numbers under the
house's namespace); `class` is PV1-2 in v3 ActCode (`model.CLASSES`); `period` the admission and
discharge; `subject` the local patient index's Patient; `serviceProvider` the structure by its
FINESS; each movement not cancelled is a `location` (the unit, ZBE-7), the last one active while
the stay is in progress.
"""

from __future__ import annotations

from typing import Any

from maison.etablissement.sejours.model import CLASSES, Stay, StayStatus
from maison.formats.namespace import Namespace

FR_CORE_ENCOUNTER = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-encounter"
V3_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
OID_FINESS = "urn:oid:1.2.250.1.71.4.2.2"


def stay_system(ns: Namespace, structure: str) -> str:
    """The identifier system of a structure's stay numbers (each structure numbers its own stays)."""
    return ns.url(f"sejour/{structure}")


def unit_system(ns: Namespace, structure: str) -> str:
    """The identifier system of a structure's units (UF codes, ZBE-7 XON-10)."""
    return ns.url(f"uf/{structure}")


def _locations(stay: Stay, ns: Namespace) -> list[dict[str, Any]]:
    active = [m for m in stay.movements if not m.cancelled and m.unit]
    out = []
    for i, m in enumerate(active):
        last = i == len(active) - 1
        end = active[i + 1].at if not last else stay.discharged_at
        period = {k: v for k, v in (("start", m.at), ("end", end)) if v}
        location = {
            "identifier": {"system": unit_system(ns, stay.structure), "value": m.unit},
            "display": m.unit_name or m.unit,
        }
        status = "active" if last and stay.status in (StayStatus.IN_PROGRESS, StayStatus.ONLEAVE) else "completed"
        out.append({"location": location, "status": status} | ({"period": period} if period else {}))
    return out


def encounter_resource(stay: Stay, ns: Namespace) -> dict[str, Any]:
    code, display = CLASSES.get(stay.patient_class, ("IMP", "inpatient encounter"))
    resource: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": str(stay.id),
        "meta": {"profile": [FR_CORE_ENCOUNTER]},
        "identifier": [
            {
                "type": {"coding": [{"system": V2_0203, "code": "VN"}]},
                "system": stay_system(ns, stay.structure),
                "value": stay.number,
            }
        ],
        "status": stay.status.value,
        "class": {"system": V3_ACT_CODE, "code": code, "display": display},
        "subject": {"reference": f"Patient/{stay.patient_id}"},
        "serviceProvider": {"identifier": {"system": OID_FINESS, "value": stay.structure}},
    }
    period = {k: v for k, v in (("start", stay.admitted_at), ("end", stay.discharged_at)) if v}
    if period:
        resource["period"] = period
    locations = _locations(stay, ns)
    if locations:
        resource["location"] = locations
    return resource
