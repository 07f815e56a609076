"""The ordonnance numérique in FHIR R4: what a prescriber's software posts, what the base answers.

The French medication guide (reference/eprescription: `fr-requestgroup-for-prescription`,
`fr-medicationrequest`, `fr-medication-noncompound`) is followed where it applies:

- One envelope (seed 000 L3660-3670) is a Bundle holding one RequestGroup (intent `order`, the
  lines in `action[]` in the paper order) and its requests: MedicationRequest (a medicine, coded),
  DeviceRequest (a device, LPP), ServiceRequest coded in LOINC (biology, 000 L3680) or in free text
  (every other act, until acts are coded). Patient transport is not in the envelope (000 L3663).
- The base stores no patient identity (000 L3697): a Patient, or a subject that names one, is
  refused rather than silently dropped, so that the software which sent it learns it.
- The measures a prescription was made on (weight, height…: `fr-observation-for-prescription`, the
  codes of PN13-FHIR-observation-conceptmap) come as Observations its requests reference by
  `supportingInformation`; they are kept with it and given back in the envelope, referenced the
  same way (contained in a line read alone). Their subject, like every other, names no patient.
- The guide is silent on the rest, which is Maison's: the consent and QR-code extensions on the
  RequestGroup, the `$executer` Parameters, the outcome extension on what dispensers did. R4
  DeviceRequest has no quantity: the R5 cross-version extension carries it, as the guide does for
  renderedDosageInstruction.
- Executions come back as MedicationDispense (medicines), SupplyDelivery (devices) and Task
  (biology, acts), each pointing at its request.
"""

from __future__ import annotations

import re
from collections.abc import Container, Iterator, Sequence
from datetime import date
from typing import Any

from unidecode import unidecode

from maison.core.errors import InvalidInput, MalformedRequest
from maison.core.identifiers.professionals import OID_IDNATPS, OID_IDNATSTRUCT
from maison.formats.fhir import bundle, full_url, local_url
from maison.formats.namespace import Namespace
from maison.formats.ordonnance import (
    CONSENT_PATH,
    EXT_DEVICE_QUANTITY,
    EXT_RENDERED_DOSAGE,
    SYS_LOINC,
    SYS_LPP,
    SYS_UCUM,
)
from maison.formats.ucum import check_unit
from maison.partage.ordonnance.model import (
    MAX_LINES,
    MAX_OBSERVATIONS,
    MEDICINE_SYSTEMS,
    OBSERVATION_CODES,
    ContextObservation,
    Draft,
    Execution,
    Line,
    LineExecution,
    LineKind,
    Outcome,
    PatientIns,
    Prescription,
    check_execution,
    check_line,
    check_observation,
)

# Maison's own extensions and identifier systems: no guide defines them, so they are named under the
# deployment's namespace (maison.formats.namespace, issue 21 §3.3) — `ns.structure(EXT_QR)`,
# `ns.url(SYS_NUMBER)` — rendered when an answer is written, so a change of namespace needs no migration.
EXT_QR = "ordonnance-qr-code"
EXT_OUTCOME = "ordonnance-resultat-execution"
EXT_REASON = "ordonnance-motif"  # SupplyDelivery has no note in R4
EXT_AT_DELIVERY = "ordonnance-a-la-delivrance"  # 001 L473
EXT_REQUEST = "ordonnance-ligne-prescrite"  # SupplyDelivery.basedOn only takes a SupplyRequest
FR_MEDICATION = "https://hl7.fr/fhir/fr/medication/StructureDefinition/"
SYS_NUMBER = "ordonnance/numero"
SYS_LINE = "ordonnance/ligne"
SYS_EXECUTION = "ordonnance/execution"
SYS_IDNATPS, SYS_IDNATSTRUCT = f"urn:oid:{OID_IDNATPS}", f"urn:oid:{OID_IDNATSTRUCT}"
SYS_SUBSTITUTION = "http://terminology.hl7.org/CodeSystem/v3-substanceAdminSubstitution"
SYS_SUPPLY_TYPE = "http://terminology.hl7.org/CodeSystem/supply-item-type"
NO_IDENTITY = "patient (identité non conservée par la base, 000 L3697)"
LPP_PROVIDER = "prestataire-lpp"  # model.EXECUTANTS: acts through its structure, has no IdNatPS
RESOURCE_OF = {
    LineKind.MEDICAMENT: "MedicationRequest",
    LineKind.DISPOSITIF: "DeviceRequest",
    LineKind.BIOLOGIE: "ServiceRequest",
    LineKind.ACTE: "ServiceRequest",
}
# the guide's envelope (FrPrescriptionBundleForExample) may also carry the prescriber's Practitioner: the
# base takes the prescriber from his Pro Santé Connect token, the resource is accepted and not kept
_ENTRY_TYPES = {"RequestGroup", "Medication", "Practitioner", "Observation", *RESOURCE_OF.values()}
SERVED = {"RequestGroup", *RESOURCE_OF.values()}  # the types the base serves at {base}/{type}/{id}
TRANSPORT_CODES = {"73957001", "transport"}  # SNOMED CT "Patient transport"; a category coded `transport`
_TRANSPORT_TEXT = re.compile(r"transports? sanitaires?|ambulance|\bvsl\b|taxis? conventionnes?")
_KINDS = {
    dict: "un objet",
    list: "une liste",
    str: "une chaîne",
    int: "un entier",
    float: "un nombre",
    bool: "un booléen",
}


# --- reading JSON without trusting it --------------------------------------------------------------


def _get(obj: dict, key: str, kind: type, where: str):
    """obj[key] checked to be a `kind` (absent: empty container, "" or None); else MalformedRequest."""
    value = obj.get(key)
    if value is None:
        return kind() if kind in (dict, list, str) else None
    if kind in (int, float):  # JSON true is not a number, 2.5 not an integer
        ok = isinstance(value, int if kind is int else (int, float)) and not isinstance(value, bool)
    else:
        ok = isinstance(value, kind)
    if not ok:
        raise MalformedRequest(f"{where}.{key} : {_KINDS[kind]} attendu", code="structure", expression=f"{where}.{key}")
    return float(value) if kind is float else value


def _items(obj: dict, key: str, where: str) -> Iterator[tuple[str, dict]]:
    """The objects of the list obj[key], each with its FHIRPath."""
    for i, item in enumerate(_get(obj, key, list, where)):
        path = f"{where}.{key}[{i}]"
        if not isinstance(item, dict):
            raise MalformedRequest(f"{path} : un objet attendu", code="structure", expression=path)
        yield path, item


def _extension(obj: dict, url: str, key: str, kind: type, where: str):
    for path, ext in _items(obj, "extension", where):
        if ext.get("url") == url:
            return _get(ext, key, kind, path)
    return None


def _notes(resource: dict, where: str) -> str:
    return "\n".join(text for path, note in _items(resource, "note", where) if (text := _get(note, "text", str, path)))


# --- creation: the prescriber's Bundle -------------------------------------------------------------


def draft_from_fhir(resource: dict, *, units: frozenset[str], ns: Namespace) -> Draft:
    """The envelope a prescriber's software posts, as a Draft; every refusal names its FHIRPath.

    Two forms: a Bundle holding the RequestGroup and its requests (the guide's envelope; `searchset`,
    the type the guide's example profile defaults to, as well as collection and transaction), or the
    RequestGroup alone, its requests `contained` (a plain FHIR create of the resource)."""
    if isinstance(resource, dict) and resource.get("resourceType") == "RequestGroup":
        resource = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": resource}]}
    if not isinstance(resource, dict) or resource.get("resourceType") != "Bundle":
        raise MalformedRequest(
            "une ordonnance se crée par un Bundle ou un RequestGroup", code="resource-type", expression="Bundle"
        )
    if resource.get("type") not in ("collection", "transaction", "searchset"):
        raise MalformedRequest(
            "Bundle.type : collection, transaction ou searchset attendu", code="bundle-type", expression="Bundle.type"
        )
    index: dict[str, tuple[str, dict]] = {}
    groups, requests, observed = [], [], []
    for path, entry in _items(resource, "entry", "Bundle"):
        where, res = f"{path}.resource", _get(entry, "resource", dict, path)
        kind = res.get("resourceType")
        if not isinstance(kind, str):
            raise MalformedRequest(f"{where} : ressource absente", code="structure", expression=where)
        if kind == "Patient":
            _no_identity(where)
        if kind not in _ENTRY_TYPES:
            raise InvalidInput(
                f"{where} : ressource {kind!r} non prise en charge par la base ordonnance numérique",
                code="ressource-non-prise-en-charge",
                expression=where,
            )
        _no_patient(res, where)
        rid = res.get("id") if isinstance(res.get("id"), str) else ""
        # the guide's examples name an entry `#{id}` (supportingInformation, medicationReference)
        for key in (_get(entry, "fullUrl", str, path), f"{kind}/{rid}" if rid else "", f"#{rid}" if rid else ""):
            if key:
                index[key] = (where, res)
        if kind == "RequestGroup":
            groups.append((where, res))
        elif kind == "Observation":
            observed.append((where, res))
        elif kind not in ("Medication", "Practitioner"):
            requests.append((where, res))
    if not groups and not requests:
        raise InvalidInput("ordonnance vide", code="ordonnance-vide", expression="Bundle.entry")
    if len(groups) != 1:
        raise InvalidInput(
            f"une ordonnance est un RequestGroup et ses lignes ({len(groups)} RequestGroup reçus)",
            code="requestgroup-unique",
            expression="Bundle.entry",
        )
    where, group = groups[0]
    if group.get("intent") != "order":
        raise InvalidInput(
            "RequestGroup.intent : order attendu", code="requestgroup-intent", expression=f"{where}.intent"
        )
    contained = {f"#{c['id']}": (p, c) for p, c in _items(group, "contained", where) if isinstance(c.get("id"), str)}
    actions = list(_items(group, "action", where))
    if not actions:
        raise InvalidInput(
            "ordonnance vide : aucune ligne (RequestGroup.action)", code="ordonnance-vide", expression=f"{where}.action"
        )
    if len(actions) > MAX_LINES:
        raise InvalidInput(
            f"{len(actions)} lignes : une ordonnance en compte {MAX_LINES} au plus",
            code="ordonnance-trop-de-lignes",
            expression=f"{where}.action",
        )
    lines, used, context = [], set(), _Context({**index, **contained}, units)
    for number, (path, action) in enumerate(actions, 1):
        ref = _get(_get(action, "resource", dict, path), "reference", str, f"{path}.resource")
        target = contained.get(ref) or index.get(ref)
        if target is None:
            raise InvalidInput(
                f"ligne {number} : {ref!r} ne désigne aucune ressource du Bundle (fullUrl)",
                code="action-reference",
                expression=f"{path}.resource.reference",
            )
        if id(target[1]) in used:
            raise InvalidInput(
                f"ligne {number} : {ref!r} déjà prescrite",
                code="action-en-double",
                expression=f"{path}.resource.reference",
            )
        used.add(id(target[1]))
        lines.append(_line(number, target[0], target[1], index, units))
        context.read(number, target[0], target[1])
    for path, res in requests:
        if id(res) not in used:  # a request outside the envelope would be silently lost
            raise InvalidInput(
                f"{path} : demande absente de RequestGroup.action", code="requete-hors-ordonnance", expression=path
            )
    observed += [(p, c) for p, c in contained.values() if c.get("resourceType") == "Observation"]
    for path, res in observed:
        if id(res) not in context.found:  # a measure no line was prescribed on would be kept for nothing
            raise InvalidInput(
                f"{path} : Observation référencée par aucune ligne (supportingInformation)",
                code="observation-hors-ordonnance",
                expression=path,
            )
    return Draft(_prescribed_on(group, where), _consent(group, where, ns), tuple(lines), context.observations())


# R4: MedicationRequest.supportingInformation, DeviceRequest and ServiceRequest.supportingInfo
_SUPPORTING = {"MedicationRequest": "supportingInformation", "DeviceRequest": "supportingInfo"}


class _Context:
    """The Observations the lines reference (the guide's MedicationRequest.supportingInformation),
    each read once, with the lines that reference it."""

    def __init__(self, index: dict, units: frozenset[str]) -> None:
        self.index, self.units = index, units
        self.found: dict[int, tuple[ContextObservation, list[int]]] = {}

    def read(self, number: int, where: str, res: dict) -> None:
        key = _SUPPORTING.get(res.get("resourceType", ""), "supportingInfo")
        inner = {f"#{c.get('id')}": (p, c) for p, c in _items(res, "contained", where)}
        for path, ref in _items(res, key, where):
            target = _get(ref, "reference", str, path)
            if not target:  # an identifier-only reference (the guide's UF) says no measure
                continue
            obs_where, obs = inner.get(target) or self.index.get(target) or ("", {})
            if obs.get("resourceType") != "Observation":
                raise InvalidInput(
                    f"ligne {number} : {target!r} ne désigne aucune Observation de l'ordonnance",
                    code="observation-reference",
                    expression=f"{path}.reference",
                )
            if id(obs) not in self.found:
                if len(self.found) >= MAX_OBSERVATIONS:
                    raise InvalidInput(
                        f"plus de {MAX_OBSERVATIONS} Observations", code="observation-trop", expression=obs_where
                    )
                self.found[id(obs)] = (_observation(obs, obs_where, self.units), [])
            if number not in self.found[id(obs)][1]:
                self.found[id(obs)][1].append(number)

    def observations(self) -> tuple[ContextObservation, ...]:
        return tuple(
            ContextObservation(o.code, o.value, o.unit, o.status, o.effective, tuple(lines))
            for o, lines in self.found.values()
        )


# FHIR R4 dateTime (datatypes.html#dateTime): with a time, the seconds and the zone are required
_DATETIME = re.compile(
    r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])"
    r"(T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00)))?)?)?"
)


def _observation(res: dict, where: str, units: frozenset[str]) -> ContextObservation:
    """A FRObservationForPrescription as the base keeps it: LOINC code, UCUM quantity, status, date."""
    _no_patient(res, where)
    codings = [(p, c) for p, c in _items(_get(res, "code", dict, where), "coding", f"{where}.code")]
    loinc = [_get(c, "code", str, p) for p, c in codings if _get(c, "system", str, p) == SYS_LOINC]
    code = next((c for c in loinc if c in OBSERVATION_CODES), loinc[0] if loinc else "")
    if code not in OBSERVATION_CODES:
        raise InvalidInput(
            f"Observation : code LOINC {code or 'absent'} non documenté par le guide de prescription "
            f"({', '.join(OBSERVATION_CODES)})",
            code="observation-code",
            expression=f"{where}.code",
        )
    other = sorted(k for k in res if k.startswith("value") and k != "valueQuantity")
    value, path = _get(res, "valueQuantity", dict, where), f"{where}.valueQuantity"
    if other or value.get("value") is None:
        raise InvalidInput(
            f"Observation {code} : valeur absente (valueQuantity.value attendu)",
            code="observation-valeur",
            expression=path,
        )
    amount = _get(value, "value", float, path)
    system, unit = _get(value, "system", str, path), _get(value, "code", str, path)
    if system != SYS_UCUM or not unit:
        raise InvalidInput(
            f"Observation {code} : unité {unit or _get(value, 'unit', str, path) or 'absente'} : "
            f"code UCUM attendu (system {SYS_UCUM})",
            code="observation-unite",
            expression=f"{path}.system" if unit else f"{path}.code",
        )
    try:
        check_unit(unit, units)
    except ValueError as exc:
        raise InvalidInput(str(exc), code="observation-unite", expression=f"{path}.code") from None
    if any(k.startswith("effective") and k != "effectiveDateTime" for k in res):
        raise InvalidInput(
            f"Observation {code} : date de la mesure en effectiveDateTime",
            code="observation-date",
            expression=f"{where}.effective",
        )
    effective = _get(res, "effectiveDateTime", str, where)
    if effective and not _DATETIME.fullmatch(effective):
        raise InvalidInput(
            f"Observation {code} : date {effective!r} invalide (dateTime FHIR, fuseau obligatoire avec l'heure)",
            code="observation-date",
            expression=f"{where}.effectiveDateTime",
        )
    obs = ContextObservation(code, amount, unit, _get(res, "status", str, where), effective)
    check_observation(obs, where)
    return obs


def _no_identity(where: str) -> None:
    # seed 000 L3697: the base is fed without the patient's identity
    raise InvalidInput(
        "la base ordonnance numérique ne reçoit pas l'identité du patient : ni ressource Patient, "
        "ni subject autre qu'un libellé (display) — 000 L3697",
        code="identite-patient-interdite",
        expression=where,
    )


def _no_patient(resource: dict, where: str) -> None:
    subject = resource.get("subject")
    if subject is not None and (not isinstance(subject, dict) or set(subject) - {"display"}):
        _no_identity(f"{where}.subject")
    for path, inner in _items(resource, "contained", where):
        if inner.get("resourceType") == "Patient":
            _no_identity(path)


def _prescribed_on(group: dict, where: str) -> date:
    text = _get(group, "authoredOn", str, where)
    try:
        if len(text) == 10 or text[10:11] == "T":
            return date.fromisoformat(text[:10])
    except ValueError:
        pass
    raise InvalidInput(
        "date de la prescription (RequestGroup.authoredOn) absente ou invalide",
        code="date-prescription",
        expression=f"{where}.authoredOn",
    )


def _consent(group: dict, where: str, ns: Namespace) -> bool:
    """The patient's OUI/NON, under this deployment's namespace or the one Maison used before
    (maison.formats.namespace.LEGACY_BASE): an envelope written then is still understood."""
    consent = None
    for path, ext in _items(group, "extension", where):
        if ns.understands(ext.get("url"), CONSENT_PATH):
            consent = _get(ext, "valueBoolean", bool, path)
            break
    if consent is None:  # 001 L408: printed OUI or NON on every ordonnance numérique
        raise InvalidInput(
            "accord du patient (OUI/NON) à la consultation de l'exécution par le prescripteur obligatoire — 001 L408",
            code="consentement-absent",
            expression=f"{where}.extension.where(url='{ns.url(CONSENT_PATH)}')",
        )
    return consent


def _line(number: int, where: str, res: dict, index: dict, units: frozenset[str]) -> Line:
    kind = res.get("resourceType")
    _no_patient(res, where)
    if kind == "MedicationRequest":
        line = _medicine(number, res, where, index, units)
    elif kind == "DeviceRequest":
        code, system, label = _coded(
            _get(res, "codeCodeableConcept", dict, where), f"{where}.codeCodeableConcept", {SYS_LPP}
        )
        quantity = _extension(res, EXT_DEVICE_QUANTITY, "valueInteger", int, where)
        line = Line(
            number,
            LineKind.DISPOSITIF,
            label,
            code,
            system,
            _notes(res, where),
            None if quantity is None else float(quantity),
        )
    elif kind == "ServiceRequest":
        line = _service(number, res, where, units)
    else:
        raise InvalidInput(
            f"ligne {number} : MedicationRequest, DeviceRequest ou ServiceRequest attendu, pas {kind}",
            code="ressource-non-prise-en-charge",
            expression=where,
        )
    check_line(line, where)
    return line


def _coded(concept: dict, where: str, systems: Container[str]) -> tuple[str, str, str]:
    """(code, system, label) of the first coding in `systems` (else the first coding): the label is
    the text as printed, else the coding's display."""
    codings = [c for _, c in _items(concept, "coding", where)]
    chosen = next(
        (c for c in codings if _get(c, "system", str, f"{where}.coding") in systems), codings[0] if codings else {}
    )
    code, system, display = (_get(chosen, key, str, f"{where}.coding") for key in ("code", "system", "display"))
    return code, system, _get(concept, "text", str, where) or display


def _quantity(
    obj: dict, key: str, where: str, units: frozenset[str], *, ucum: bool = False
) -> tuple[float | None, str]:
    """(value, unit); a UCUM unit is checked against the CI-SIS table, and `ucum` requires one."""
    quantity, path = _get(obj, key, dict, where), f"{where}.{key}"
    if not quantity:
        return None, ""
    value = _get(quantity, "value", float, path)
    system, code, unit = (_get(quantity, k, str, path) for k in ("system", "code", "unit"))
    if ucum and (code or unit) and system != SYS_UCUM:  # 000 L3680: biology quantities in UCUM
        raise InvalidInput(
            f"unité {code or unit!r} : UCUM attendu (system {SYS_UCUM})", code="unite-ucum", expression=f"{path}.system"
        )
    if system == SYS_UCUM:
        try:
            check_unit(code, units)
        except ValueError as exc:
            raise InvalidInput(str(exc), code="unite-ucum", expression=f"{path}.code") from None
        return value, code
    return value, unit or code


def _medicine(number: int, res: dict, where: str, index: dict, units: frozenset[str]) -> Line:
    if "medicationReference" in res:  # a Medication contained or in the Bundle (fr-medication-noncompound)
        ref = _get(_get(res, "medicationReference", dict, where), "reference", str, f"{where}.medicationReference")
        inner = {f"#{c.get('id')}": (p, c) for p, c in _items(res, "contained", where)}
        med_where, med = inner.get(ref) or index.get(ref) or ("", {})
        if med.get("resourceType") != "Medication":
            raise InvalidInput(
                f"ligne {number} : {ref!r} ne désigne aucune Medication",
                code="medicament-reference",
                expression=f"{where}.medicationReference.reference",
            )
        concept, concept_where = _get(med, "code", dict, med_where), f"{med_where}.code"
    else:
        concept_where = f"{where}.medicationCodeableConcept"
        concept = _get(res, "medicationCodeableConcept", dict, where)
    code, system, label = _coded(concept, concept_where, MEDICINE_SYSTEMS)
    texts = [
        text
        for path, d in _items(res, "dosageInstruction", where)
        if (text := _get(d, "text", str, path) or dosage_text(d))
    ]
    instructions = "\n".join(texts) or _extension(res, EXT_RENDERED_DOSAGE, "valueMarkdown", str, where) or ""
    dispense, dispense_where = _get(res, "dispenseRequest", dict, where), f"{where}.dispenseRequest"
    quantity, unit = _quantity(dispense, "quantity", dispense_where, units)
    renewals = _get(dispense, "numberOfRepeatsAllowed", int, dispense_where) or 0
    return Line(
        number,
        LineKind.MEDICAMENT,
        label,
        code,
        system,
        instructions,
        quantity,
        unit,
        renewals,
        _substitutable(res, where),
        _days(dispense, dispense_where),
    )


_PERIOD_UNITS = {"s": "seconde", "min": "minute", "h": "heure", "d": "jour", "wk": "semaine", "mo": "mois", "a": "an"}
_WHEN = {"MORN": "le matin", "NOON": "à midi", "AFT": "l'après-midi", "EVE": "le soir", "NIGHT": "la nuit"}
_MEALS = {"M": "le petit-déjeuner", "D": "le déjeuner", "V": "le dîner", "": "les repas"}
_WHEN |= {f"AC{k}": f"avant {meal}" for k, meal in _MEALS.items()}
_WHEN |= {f"PC{k}": f"après {meal}" for k, meal in _MEALS.items()}
_WHEN |= {"HS": "au coucher", "WAKE": "au réveil", "C": "pendant le repas"}


def dosage_text(dosage: dict) -> str:
    """A structured R4 Dosage (the guide's fr-inpatient-medicationrequest posology: doseAndRate,
    timing.repeat, route) said in French, for a line sent without `dosageInstruction.text`: the base
    keeps a posology as text, and a structured one must not be lost on the way. Only elements of the
    right JSON type are read; the envelope's other checks stay where they are."""
    parts = [_dose(d) for d in _dicts(dosage.get("doseAndRate"))]
    repeat = dosage.get("timing", {}).get("repeat", {}) if isinstance(dosage.get("timing"), dict) else {}
    if isinstance(repeat, dict):
        parts += _repeat(repeat)
    route = dosage.get("route")
    if isinstance(route, dict) and (said := route.get("text") or _display(route)):
        parts.append(f"voie : {said}")
    if dosage.get("asNeededBoolean") is True:
        parts.append("si besoin")
    if isinstance(dosage.get("patientInstruction"), str):
        parts.append(dosage["patientInstruction"])
    return ", ".join(p for p in parts if p)


def _dicts(value: object) -> list[dict]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _strings(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _display(concept: dict) -> str:
    return next((str(c["display"]) for c in _dicts(concept.get("coding")) if c.get("display")), "")


def _amount(quantity: object) -> str:
    if not isinstance(quantity, dict) or not isinstance(quantity.get("value"), int | float):
        return ""
    return f"{quantity['value']:g} {quantity.get('unit') or quantity.get('code') or ''}".strip()


def _dose(dose_and_rate: dict) -> str:
    if "doseQuantity" in dose_and_rate:
        return _amount(dose_and_rate["doseQuantity"])
    dose_range = dose_and_rate.get("doseRange")
    if isinstance(dose_range, dict):
        return f"de {_amount(dose_range.get('low'))} à {_amount(dose_range.get('high'))}"
    return ""


def _repeat(repeat: dict) -> list[str]:
    parts = []
    frequency, period, unit = repeat.get("frequency"), repeat.get("period"), repeat.get("periodUnit")
    if isinstance(frequency, int) and isinstance(period, int | float) and unit in _PERIOD_UNITS:
        every = _PERIOD_UNITS[unit] if period == 1 else f"{period:g} {_PERIOD_UNITS[unit]}s".replace("moiss", "mois")
        parts.append(f"{frequency} fois par {every}")
    times = [t[:5] for t in _strings(repeat.get("timeOfDay"))]
    if times:
        parts.append("à " + " et ".join(times))
    parts += [_WHEN.get(w, w) for w in _strings(repeat.get("when"))]
    duration = repeat.get("boundsDuration")
    if isinstance(duration, dict) and (said := _amount(duration)):
        parts.append(f"pendant {said}")
    bounds = repeat.get("boundsPeriod")
    if isinstance(bounds, dict) and isinstance(bounds.get("start"), str) and isinstance(bounds.get("end"), str):
        parts.append(f"du {bounds['start'][:10]} au {bounds['end'][:10]}")
    return parts


def _days(dispense: dict, where: str) -> int | None:
    duration, path = _get(dispense, "expectedSupplyDuration", dict, where), f"{where}.expectedSupplyDuration"
    if not duration:
        return None
    value = _get(duration, "value", float, path)
    factor = {"d": 1, "wk": 7}.get(_get(duration, "code", str, path))
    if value is None or factor is None or value <= 0 or value * factor != int(value * factor):
        raise InvalidInput(
            "durée de traitement : un nombre entier de jours (code UCUM d ou wk)",
            code="duree-traitement",
            expression=path,
        )
    return int(value * factor)


def _substitutable(res: dict, where: str) -> bool:
    substitution, path = _get(res, "substitution", dict, where), f"{where}.substitution"
    if "allowedCodeableConcept" in substitution:  # v3 ActSubstanceAdminSubstitutionCode N: none
        concept = _get(substitution, "allowedCodeableConcept", dict, path)
        return all(c.get("code") != "N" for _, c in _items(concept, "coding", f"{path}.allowedCodeableConcept"))
    return _get(substitution, "allowedBoolean", bool, path) is not False


def _service(number: int, res: dict, where: str, units: frozenset[str]) -> Line:
    concept, concept_where = _get(res, "code", dict, where), f"{where}.code"
    for path, candidate in [(concept_where, concept), *_items(res, "category", where)]:
        texts = [_get(candidate, "text", str, path)]
        for coding_path, coding in _items(candidate, "coding", path):
            texts.append(_get(coding, "display", str, coding_path))
            if _get(coding, "code", str, coding_path) in TRANSPORT_CODES:
                _no_transport(number, coding_path)
        if any(_TRANSPORT_TEXT.search(unidecode(text).lower()) for text in texts):
            _no_transport(number, path)
    codings = [c for _, c in _items(concept, "coding", concept_where)]
    if not codings:  # 000 L3665: every other act in free text, until acts are coded
        quantity, unit = _quantity(res, "quantityQuantity", where, units)
        return Line(
            number,
            LineKind.ACTE,
            _get(concept, "text", str, concept_where),
            instructions=_notes(res, where),
            quantity=quantity,
            unit=unit,
        )
    if all(c.get("system") != SYS_LOINC for c in codings):
        raise InvalidInput(
            f"ligne {number} : un examen de biologie se code en LOINC (000 L3680), tout autre acte "
            "se prescrit en texte libre (code.text, 000 L3665)",
            code="acte-code",
            expression=f"{concept_where}.coding",
        )
    code, system, label = _coded(concept, concept_where, {SYS_LOINC})
    quantity, unit = _quantity(res, "quantityQuantity", where, units, ucum=True)
    return Line(number, LineKind.BIOLOGIE, label, code, system, _notes(res, where), quantity, unit)


def _no_transport(number: int, where: str) -> None:
    # seed 000 L3663: "tout prescrire ... (excepté les transports sanitaires)"
    raise InvalidInput(
        f"ligne {number} : les transports sanitaires ne se prescrivent pas dans l'ordonnance numérique — 000 L3663",
        code="transport-exclu",
        expression=where,
    )


# --- the base's answers ------------------------------------------------------------------------


def prescription_bundle(
    p: Prescription, executions: Sequence[Execution] | None, *, base_url: str, ns: Namespace
) -> dict:
    """The prescription as a collection Bundle; with what was executed only when `executions` is given
    (the service decides: the prescriber sees it only with the patient's OUI, 001 L408)."""
    measures = [observation(p, k) for k in range(1, len(p.observations) + 1)]
    refs = [local_url(m) for m in measures]
    resources = [request_group(p, base_url, ns), *(_request(p, line, base_url, refs, ns) for line in p.lines)]
    resources += measures
    for execution in executions or ():
        resources += _executed(p, execution, base_url, ns)
    return {"resourceType": "Bundle", "type": "collection", "entry": [_entry(base_url, r) for r in resources]}


def search_bundle(items: Sequence[Prescription], *, base_url: str, total: int, ns: Namespace) -> dict:
    entries = [{**_entry(base_url, request_group(p, base_url, ns)), "search": {"mode": "match"}} for p in items]
    return bundle("searchset", entries, total=total)


def request_group(p: Prescription, base_url: str, ns: Namespace) -> dict:
    number = {"system": ns.url(SYS_NUMBER), "value": p.number}
    return {
        "resourceType": "RequestGroup",
        "id": p.number,
        "meta": {"profile": [FR_MEDICATION + "fr-requestgroup-for-prescription"]},
        "extension": [
            {"url": ns.url(CONSENT_PATH), "valueBoolean": p.consent},
            {"url": ns.structure(EXT_QR), "valueString": p.number},
        ],
        "identifier": [number],
        "groupIdentifier": number,
        "status": _status(p, "RequestGroup"),
        "intent": "order",
        "authoredOn": p.prescribed_on.isoformat(),
        "author": _practitioner(p.prescriber.idnatps),
        "action": [{"resource": {"reference": _url(base_url, p, line)}} for line in p.lines],
    }


def _entry(base_url: str, resource: dict) -> dict:
    """fullUrl: where the base serves the resource; what was executed is served only inside the
    envelope (`$enveloppe`, `$executions`, `$dispensation`), so it is named by a urn:uuid (R4 §2.36.4)."""
    served = resource["resourceType"] in SERVED
    return {"fullUrl": full_url(base_url, resource) if served else local_url(resource), "resource": resource}


def line_request(p: Prescription, number: int, base_url: str, ns: Namespace) -> dict | None:
    """The request of line `number` as the base serves it at `{base}/{type}/{prescription}-{line}`."""
    line = next((ln for ln in p.lines if ln.number == number), None)
    return None if line is None else _request(p, line, base_url, None, ns)


SYS_OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"


def observation(p: Prescription, k: int) -> dict:
    """The k-th (1-based) measure the prescription was made on, as the guide's ConceptMap writes it
    (PN13-FHIR-observation-conceptmap: LOINC code, vital-signs category, UCUM valueQuantity). No
    `meta.profile`: fr-core-observation-body-weight requires a Patient subject, which the base does
    not hold (000 L3697)."""
    obs = p.observations[k - 1]
    label, _units, vital = OBSERVATION_CODES[obs.code]
    category = {"coding": [{"system": SYS_OBSERVATION_CATEGORY, "code": "vital-signs"}]}
    return _pruned(
        {
            "resourceType": "Observation",
            "id": f"{p.number}-o{k}",
            "status": obs.status,
            "category": [category] if vital else None,
            "code": _concept(SYS_LOINC, obs.code, label),
            "subject": {"display": NO_IDENTITY},
            "effectiveDateTime": obs.effective or None,
            "valueQuantity": _qty(obs.value, obs.unit, ucum=True),
        }
    )


def _url(base_url: str, p: Prescription, line: Line) -> str:
    return f"{base_url.rstrip('/')}/{RESOURCE_OF[line.kind]}/{p.number}-{line.number}"


def _status(p: Prescription, kind: str) -> str:
    """An annulled prescription: request-status `revoked`, but medicationrequest-status `cancelled`."""
    return "active" if p.status != "annulee" else "cancelled" if kind == "MedicationRequest" else "revoked"


def _practitioner(idnatps: str) -> dict:
    return {"type": "Practitioner", "identifier": {"system": SYS_IDNATPS, "value": idnatps}}


def _concept(system: str, code: str, label: str) -> dict:
    """A CodeableConcept; a line prescribed in free text has no coding (R4 json.html: no empty string)."""
    coding = {k: v for k, v in (("system", system), ("code", code), ("display", label)) if v}
    return {k: v for k, v in (("coding", [coding] if code else None), ("text", label)) if v}


def _qty(value: float | None, unit: str, *, ucum: bool = False) -> dict | None:
    if value is None:
        return None
    quantity: dict = {"value": int(value) if value == int(value) else value}
    if unit:
        quantity.update({"unit": unit, "system": SYS_UCUM, "code": unit} if ucum else {"unit": unit})
    return quantity


def _pruned(resource: dict) -> dict:
    """The resource without its None elements (nor objects left empty: FHIR forbids `{}`), so that
    optional elements are written inline, once."""
    kept = {k: _pruned(v) if isinstance(v, dict) else v for k, v in resource.items()}
    return {k: v for k, v in kept.items() if v is not None and v != {}}


# The prescription's number on each request: R4 MedicationRequest and DeviceRequest carry it in
# groupIdentifier; ServiceRequest has none, its R4 equivalent is `requisition` ("composite request ID").
_GROUPED_BY = {
    "MedicationRequest": "groupIdentifier",
    "DeviceRequest": "groupIdentifier",
    "ServiceRequest": "requisition",
}


def _supporting(p: Prescription, line: Line, refs: list[str] | None) -> tuple[list[dict] | None, list[dict] | None]:
    """(contained, references) of the measures this line was prescribed on: in the envelope, the
    Observations' fullUrls; a line read alone carries them contained (R4 references.html#contained)."""
    measures = [k for k, obs in enumerate(p.observations, 1) if line.number in obs.lines]
    if not measures:
        return None, None
    if refs is not None:
        return None, [{"reference": refs[k - 1]} for k in measures]
    contained = [{**observation(p, k), "id": f"o{k}"} for k in measures]
    return contained, [{"reference": f"#o{k}"} for k in measures]


def _request(p: Prescription, line: Line, base_url: str, refs: list[str] | None, ns: Namespace) -> dict:
    kind, key = RESOURCE_OF[line.kind], f"{p.number}-{line.number}"
    contained, supporting = _supporting(p, line, refs)
    r: dict = {
        "resourceType": kind,
        "id": key,
        "identifier": [{"system": ns.url(SYS_LINE), "value": key}],
        _GROUPED_BY[kind]: {"system": ns.url(SYS_NUMBER), "value": p.number},
        "status": _status(p, kind),
        "intent": "order",
        "subject": {"display": NO_IDENTITY},
        "authoredOn": p.prescribed_on.isoformat(),
        "requester": _practitioner(p.prescriber.idnatps),
        _SUPPORTING.get(kind, "supportingInfo"): supporting,
    }
    if contained:
        r = {"resourceType": kind, "id": key, "contained": contained, **r}
    concept = _concept(line.system, line.code, line.label)
    if line.kind is LineKind.MEDICAMENT:
        days = {"value": line.duration_days, "unit": "jours", "system": SYS_UCUM, "code": "d"}
        r.update(
            {
                "meta": {"profile": [FR_MEDICATION + "fr-medicationrequest"]},
                "medicationCodeableConcept": concept,
                "dosageInstruction": [{"text": line.instructions}] if line.instructions else None,
                "dispenseRequest": {
                    "quantity": _qty(line.quantity, line.unit),
                    "numberOfRepeatsAllowed": line.renewals or None,
                    "expectedSupplyDuration": days if line.duration_days else None,
                },
                "substitution": {"allowedBoolean": line.substitutable},
            }
        )
        return _pruned(r)
    if line.kind is LineKind.DISPOSITIF:
        r["codeCodeableConcept"] = concept
        if line.quantity is not None:
            r["extension"] = [{"url": EXT_DEVICE_QUANTITY, "valueInteger": int(line.quantity)}]
    else:
        r["code"] = concept if line.kind is LineKind.BIOLOGIE else {"text": line.label} if line.label else None
        r["quantityQuantity"] = _qty(line.quantity, line.unit, ucum=line.kind is LineKind.BIOLOGIE)
    r["note"] = [{"text": line.instructions}] if line.instructions else None
    return _pruned(r)


def _executed(p: Prescription, e: Execution, base_url: str, ns: Namespace) -> list[dict]:
    """One resource per line executed: MedicationDispense, SupplyDelivery or Task."""
    lines = {line.number: line for line in p.lines}
    performer = (
        {"type": "Organization", "identifier": {"system": SYS_IDNATSTRUCT, "value": e.structure}}
        if e.profession == LPP_PROVIDER
        else _practitioner(e.dispenser)
    )
    patient = {"identifier": {"system": f"urn:oid:{e.ins_oid}", "value": e.ins}} if e.ins else None
    return [
        _pruned(_done(lines[done.line], done, e, _url(base_url, p, lines[done.line]), (performer, patient), ns))
        for done in e.lines
    ]


def _done(
    line: Line, done: LineExecution, e: Execution, request: str, who: tuple[dict, dict | None], ns: Namespace
) -> dict:
    performer, patient = who
    key, when, declined = f"{e.id}-{done.line}", e.executed_at.isoformat(), done.outcome is Outcome.NON_DELIVRE
    given = (
        _concept(done.system, done.code, done.label or line.label)
        if done.code
        else _concept(line.system, line.code, line.label)
    )
    note = [{"text": done.reason}] if done.reason else None
    reason = {"text": done.reason} if declined and done.reason else None
    quantity = _qty(done.quantity, line.unit)
    r: dict = {
        "id": key,
        "identifier": [{"system": ns.url(SYS_EXECUTION), "value": key}],
        "extension": [
            {"url": ns.structure(EXT_OUTCOME), "valueCode": done.outcome.value},
            {"url": ns.structure(EXT_AT_DELIVERY), "valueBoolean": e.at_delivery},
        ],
    }
    if line.kind is LineKind.MEDICAMENT:
        substituted = done.outcome is Outcome.SUBSTITUE
        r.update(
            {
                "resourceType": "MedicationDispense",
                "status": "declined" if declined else "completed",
                "statusReasonCodeableConcept": reason,
                "medicationCodeableConcept": given,
                "subject": patient,
                "performer": [{"actor": performer}],
                "authorizingPrescription": [{"reference": request}],
                "quantity": quantity,
                "whenHandedOver": None if declined else when,
                "substitution": {
                    "wasSubstituted": substituted,
                    "type": {"coding": [{"system": SYS_SUBSTITUTION, "code": "E", "display": "equivalent"}]}
                    if substituted
                    else None,
                },
                "note": note,
            }
        )
    elif line.kind is LineKind.DISPOSITIF:
        r["extension"].append({"url": ns.structure(EXT_REQUEST), "valueReference": {"reference": request}})
        if done.reason:
            r["extension"].append({"url": ns.structure(EXT_REASON), "valueString": done.reason})
        r.update(
            {
                "resourceType": "SupplyDelivery",
                "status": "abandoned" if declined else "completed",
                "patient": patient,
                "type": {"coding": [{"system": SYS_SUPPLY_TYPE, "code": "device"}]},
                "suppliedItem": {"quantity": quantity, "itemCodeableConcept": given},
                "occurrenceDateTime": when,
                "supplier": performer,
            }
        )
    else:
        output: list[dict[str, Any]] = [{"type": {"text": "resultat"}, "valueCode": done.outcome.value}]
        if done.quantity is not None:
            output.append({"type": {"text": "quantite"}, "valueDecimal": done.quantity})
        r.update(
            {
                "resourceType": "Task",
                "basedOn": [{"reference": request}],
                "status": "rejected" if declined else "completed",
                "statusReason": reason,
                "intent": "order",
                "focus": {"reference": request},
                "for": patient,
                "authoredOn": when,
                "lastModified": when,
                "owner": performer,
                "note": note,
                "output": output,
            }
        )
    return r


# --- execution: the dispenser's $executer ----------------------------------------------------------

# part name: (value[x] keys accepted, type, required)
_LIGNE = {
    "numero": (("valueInteger",), int, True),
    "resultat": (("valueCode",), str, True),
    "quantite": (("valueDecimal", "valueInteger"), float, False),
    "produit": (("valueCoding",), dict, False),
    "motif": (("valueString",), str, False),
}
_PATIENT = {"ins": (("valueIdentifier",), dict, True), "statutIdentite": (("valueCode",), str, True)}
_PARAMETERS = ("ligne", "patient", "aLaDelivrance")


def execution_from_fhir(
    resource: dict, prescription: Prescription
) -> tuple[tuple[LineExecution, ...], PatientIns | None, bool]:
    """(lines done, INS as the dispenser recorded it, recorded at delivery) from `$executer`'s
    Parameters. Whether the INS may be kept (QUAL only, 000 L3692-3694) is the service's decision."""
    if not isinstance(resource, dict) or resource.get("resourceType") != "Parameters":
        raise MalformedRequest(
            "$executer : une ressource Parameters est attendue", code="resource-type", expression="Parameters"
        )
    by_number = {line.number: line for line in prescription.lines}
    done: dict[int, LineExecution] = {}
    ins, at_delivery, seen = None, False, set()
    for path, param in _items(resource, "parameter", "Parameters"):
        name = param.get("name")
        if name not in _PARAMETERS or (name in seen and name != "ligne"):
            raise MalformedRequest(
                f"{path} : paramètre {name!r} inconnu ou en double ({', '.join(_PARAMETERS)})",
                code="parametre-inconnu",
                expression=f"{path}.name",
            )
        seen.add(name)
        if name == "aLaDelivrance":
            at_delivery = _value(param, ("valueBoolean",), bool, path)[0]
        elif name == "patient":
            ins = _ins(_parts(param, path, _PATIENT))
        else:
            line = _line_done(_parts(param, path, _LIGNE), by_number, done, prescription.number)
            check_execution(by_number[line.line], line, path)
            done[line.line] = line
    if not done:
        raise InvalidInput("aucune ligne exécutée", code="execution-vide", expression="Parameters.parameter")
    return tuple(done.values()), ins, at_delivery


def _line_done(parts: dict, by_number: dict[int, Line], done: dict, number_of: str) -> LineExecution:
    (number, number_where), (result, result_where) = parts["numero"], parts["resultat"]
    if number not in by_number:
        raise InvalidInput(
            f"ligne {number} inconnue : la prescription {number_of} compte {len(by_number)} lignes",
            code="ligne-inconnue",
            expression=number_where,
        )
    if number in done:
        raise InvalidInput(
            f"ligne {number} exécutée deux fois dans le même appel", code="ligne-en-double", expression=number_where
        )
    try:
        outcome = Outcome(result)
    except ValueError:
        raise InvalidInput(
            f"résultat {result!r} inconnu ({', '.join(Outcome)})", code="resultat-inconnu", expression=result_where
        ) from None
    product, product_where = parts.get("produit", ({}, ""))
    code, system, label = (_get(product, key, str, product_where) for key in ("code", "system", "display"))
    return LineExecution(
        number, outcome, parts.get("quantite", (None,))[0], code, system, label, parts.get("motif", ("",))[0]
    )


def _ins(parts: dict) -> PatientIns:
    identifier, where = parts["ins"]
    system, value = _get(identifier, "system", str, where), _get(identifier, "value", str, where)
    if not system.startswith("urn:oid:") or not value:
        raise InvalidInput(
            "INS : identifiant {system: urn:oid:<OID>, value: matricule} attendu",
            code="ins-identifiant",
            expression=where,
        )
    return PatientIns(value, system.removeprefix("urn:oid:"), parts["statutIdentite"][0])


def _value(obj: dict, keys: tuple[str, ...], kind: type, where: str) -> tuple:
    """(value, FHIRPath) of the first of `keys` that obj holds (a parameter's value[x])."""
    for key in keys:
        if obj.get(key) is not None:
            return _get(obj, key, kind, where), f"{where}.{key}"
    raise MalformedRequest(f"{where} : {' ou '.join(keys)} attendu", code="structure", expression=where)


def _parts(param: dict, where: str, expected: dict) -> dict[str, tuple]:
    """The parameter's parts by name, each (value, FHIRPath)."""
    parts: dict[str, tuple] = {}
    for path, part in _items(param, "part", where):
        name = _get(part, "name", str, path)
        if name not in expected or name in parts:
            raise MalformedRequest(
                f"{path} : part {name!r} inconnue ou en double ({', '.join(expected)})",
                code="parametre-part",
                expression=f"{path}.name",
            )
        keys, kind, _required = expected[name]
        parts[name] = _value(part, keys, kind, path)
    missing = [name for name, (_, _, required) in expected.items() if required and name not in parts]
    if missing:
        raise MalformedRequest(
            f"{where} : part {', '.join(missing)} obligatoire", code="parametre-part", expression=f"{where}.part"
        )
    return parts
