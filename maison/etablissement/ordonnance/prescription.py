"""The prescription as the prescriber's software holds it: what the base ordonnance numérique answered.

The hospital wing reaches the base only over its protocol (FHIR R4, maison.partage.ordonnance.api),
so the paper copy, the DMP copy and eP-MED-DM work from the Bundle the base returned to the
prescriber — `prescription_from_fhir` reads it into the small types below. Printing and copying
exactly what the base holds (its number, its lines in their order, the patient's OUI/NON) is the
point: a copy written from the software's own draft could differ from the prescription on record.

The base already refused what it does not accept (uncoded medicines, a device code that is not LPP,
biology not in LOINC…); this reader checks only that the answer has the shape the base writes, and
refuses anything else as an unreadable answer rather than printing half of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from maison.core.errors import InvalidInput, MaisonError
from maison.formats.jsonread import Node
from maison.formats.namespace import names
from maison.formats.ordonnance import (
    CONSENT_PATH,
    EXT_DEVICE_QUANTITY,
    EXT_RENDERED_DOSAGE,
    FIRST_EXECUTION_MONTHS,
    MAX_TREATMENT_MONTHS,
    SYS_LOINC,
    add_months,
    parse_number,
)


class LineKind(StrEnum):
    """What a line prescribes, from the request that carries it (fr-medicationrequest, DeviceRequest,
    ServiceRequest coded in LOINC for biology, in free text for every other act)."""

    MEDICAMENT = "medicament"
    DISPOSITIF = "dispositif"
    BIOLOGIE = "biologie"
    ACTE = "acte"


@dataclass(frozen=True, slots=True)
class Line:
    number: int  # 1-based: the order of RequestGroup.action, the order on the paper copy
    kind: LineKind
    label: str  # as printed: the concept's text, else its display
    code: str = ""
    system: str = ""
    instructions: str = ""  # posology, or the act's description
    quantity: float | None = None
    unit: str = ""
    renewals: int = 0  # the line may be executed 1 + renewals times
    substitutable: bool = True
    duration_days: int | None = None


@dataclass(frozen=True, slots=True)
class Prescription:
    number: str  # RequestGroup.id: the prescription number the base gave
    prescriber: str  # IdNatPS of RequestGroup.author
    created_at: datetime  # when the base answered (the paper's and the copy's creation time)
    prescribed_on: date
    consent: bool  # the patient's OUI/NON to the prescriber seeing the execution (001 L408)
    lines: tuple[Line, ...]
    status: str = "active"  # RequestGroup.status: active, or revoked once the base annulled it

    @property
    def first_execution_until(self) -> date:
        return add_months(self.prescribed_on, FIRST_EXECUTION_MONTHS)

    @property
    def treatment_until(self) -> date:
        return add_months(self.prescribed_on, MAX_TREATMENT_MONTHS)


class UnreadableAnswer(MaisonError):
    """The base's answer is not the prescription Bundle it writes: nothing is printed or copied from it."""

    http_status = 502
    fhir_issue = "exception"
    code = "ordonnance-reponse-illisible"


def prescription_from_fhir(bundle: dict, *, created_at: datetime) -> Prescription:
    """The prescription in the collection Bundle the base answers (creation, consultation): its
    RequestGroup and, in the order of `action`, the request each action references by fullUrl.
    `created_at` is when the base answered (its HTTP Date), which the copies carry."""
    try:
        return _read(Node(bundle, "Bundle"), created_at)
    except InvalidInput as exc:
        raise UnreadableAnswer(f"réponse de la base ordonnance illisible : {exc.message}") from exc


def _read(root: Node, created_at: datetime) -> Prescription:
    if root.text("resourceType") != "Bundle":
        raise InvalidInput("Bundle attendu", expression="Bundle")
    by_url: dict[str, Node] = {}
    groups: list[Node] = []
    for entry in root.objects("entry"):
        resource = entry.obj("resource")
        by_url[entry.text("fullUrl")] = resource
        if resource.text("resourceType") == "RequestGroup":
            groups.append(resource)
    if len(groups) != 1:
        raise InvalidInput(f"{len(groups)} RequestGroup (un attendu)", expression="Bundle.entry")
    group = groups[0]
    consent = _maison_extension(group, CONSENT_PATH).flag("valueBoolean")
    if consent is None:
        raise InvalidInput("accord du patient (OUI/NON) absent", expression=f"{group.path}.extension")
    lines = []
    for number, action in enumerate(group.objects("action"), 1):
        reference = action.obj("resource").text("reference")
        request = by_url.get(reference)
        if request is None:
            raise InvalidInput(f"ligne {number} : {reference!r} absente du Bundle", expression=action.path)
        lines.append(_line(number, request))
    try:
        prescribed_on = date.fromisoformat(group.text("authoredOn")[:10])
    except ValueError:
        raise InvalidInput("date de prescription illisible", expression=f"{group.path}.authoredOn") from None
    return Prescription(
        parse_number(group.text("id")),
        group.obj("author").obj("identifier").text("value"),
        created_at,
        prescribed_on,
        consent,
        tuple(lines),
        group.text("status") or "active",
    )


def _line(number: int, request: Node) -> Line:
    kind = request.text("resourceType")
    notes = "\n".join(text for note in request.objects("note") if (text := note.text("text")))
    if kind == "MedicationRequest":
        code, system, label = _coded(request.obj("medicationCodeableConcept"))
        dosage = "\n".join(text for d in request.objects("dosageInstruction") if (text := d.text("text")))
        rendered = _extension(request, EXT_RENDERED_DOSAGE).text("valueMarkdown")
        dispense = request.obj("dispenseRequest")
        quantity, unit = _quantity(dispense.obj("quantity"))
        substitution = request.obj("substitution")
        allowed = substitution.flag("allowedBoolean")
        if substitution.has("allowedCodeableConcept"):  # v3 ActSubstanceAdminSubstitutionCode N: none
            allowed = all(c.text("code") != "N" for c in substitution.obj("allowedCodeableConcept").objects("coding"))
        return Line(
            number,
            LineKind.MEDICAMENT,
            label,
            code,
            system,
            dosage or rendered,
            quantity,
            unit,
            dispense.integer("numberOfRepeatsAllowed", 0) or 0,
            allowed is not False,
            _days(dispense.obj("expectedSupplyDuration")),
        )
    if kind == "DeviceRequest":
        code, system, label = _coded(request.obj("codeCodeableConcept"))
        count = _extension(request, EXT_DEVICE_QUANTITY).integer("valueInteger", 0)
        return Line(number, LineKind.DISPOSITIF, label, code, system, notes, None if count is None else float(count))
    if kind == "ServiceRequest":
        concept = request.obj("code")
        quantity, unit = _quantity(request.obj("quantityQuantity"))
        if any(c.text("system") == SYS_LOINC for c in concept.objects("coding")):
            code, system, label = _coded(concept)
            return Line(number, LineKind.BIOLOGIE, label, code, system, notes, quantity, unit)
        return Line(number, LineKind.ACTE, concept.text("text"), instructions=notes, quantity=quantity, unit=unit)
    raise InvalidInput(f"ligne {number} : ressource {kind!r} inattendue", expression=request.path)


def _extension(resource: Node, url: str) -> Node:
    """The extension of `resource` with this url (an empty object when it has none)."""
    return next((ext for ext in resource.objects("extension") if ext.text("url") == url), Node({}, resource.path))


def _maison_extension(resource: Node, path: str) -> Node:
    """The extension of `resource` named `path` in the base's namespace (an empty object when it has
    none): the wing does not know the base's namespace, only the path Maison gives its extension
    (maison.formats.namespace.names, issue 21 §3.3)."""
    return next((ext for ext in resource.objects("extension") if names(ext.text("url"), path)), Node({}, resource.path))


def _coded(concept: Node) -> tuple[str, str, str]:
    """(code, system, label) of the concept's first coding; the label is its text as printed, else the display."""
    codings = concept.objects("coding")
    first = codings[0] if codings else Node({}, concept.path)
    return first.text("code"), first.text("system"), concept.text("text") or first.text("display")


def _quantity(quantity: Node) -> tuple[float | None, str]:
    value = quantity.number("value")
    return (None if value is None else float(value)), quantity.text("code") or quantity.text("unit")


def _days(duration: Node) -> int | None:
    value = duration.number("value")
    factor = {"d": 1, "wk": 7}.get(duration.text("code"))
    if value is None:
        return None
    if factor is None or value <= 0 or value * factor != int(value * factor):
        raise InvalidInput("durée de traitement : un nombre entier de jours", expression=duration.path)
    return int(value * factor)
