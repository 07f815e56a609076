"""The ordonnance numérique for the prescriber, as web pages: `/pro/ordonnances` (issue 24 §2).

Seed 001 L344-359 draws the circuit: the prescriber records the prescription in the base and prints
it with its 2D code; the dispenser scans it and records what he executed; the prescriber later sees
what was executed if the patient said OUI (001 L359, L408 — the OUI or NON is printed on the paper).

- the form is turned into the envelope a prescriber's software posts (a FHIR Bundle of a RequestGroup
  and its MedicationRequest / DeviceRequest / ServiceRequest lines) and goes through the API's own
  path: `fhir.draft_from_fhir` (every rule of the envelope, each refusal naming the line) then
  `Base.create` with an idempotency key (a form posted twice makes one prescription);
- the list is `Base.search`, a prescription's page `Base.read_as_prescriber` (the API's `$enveloppe`:
  what was executed only with the OUI; with the NON the page says so), cancelling `Base.cancel`;
- printing: the base's answer (`fhir.prescription_bundle`, as the API serves it) read back as the
  prescriber's software reads it (`prescription_from_fhir`) and laid out by `ordonnance_pdf` — the QR
  code carries the prescription's number. The patient zone comes from the print form and is kept
  nowhere: the base holds no patient identity (000 L3697), and the portal neither. The prescriber
  zone is read from the Annuaire Santé (his entry and his structure's), as the demo's LAP does.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from maison.core.actor import Actor
from maison.core.authz import public
from maison.core.errors import InvalidInput
from maison.etablissement.ordonnance.papier import PaperPatient, PaperPrescriber, ordonnance_pdf
from maison.etablissement.ordonnance.prescription import prescription_from_fhir
from maison.formats.namespace import Namespace
from maison.formats.ordonnance import SYS_CIP, SYS_CIS, SYS_LOINC, SYS_LPP, SYS_UCD, ext_consent
from maison.formats.path_ids import Identifier
from maison.identite.annuaire.vocabulary import SYS_RPPS
from maison.partage.ordonnance import fhir
from maison.partage.ordonnance.model import Execution, LineKind, Prescription
from maison.partage.ordonnance.service import Base
from maison.portail.pro_annuaire import PROFESSIONS, Annuaire, _city, _name
from maison.portail.pro_pages import BASE, SESSION_PAGE, ProPages
from maison.portail.web import page

HERE = f"{BASE}/ordonnances"
FORM_LINES = 4  # lines offered by the form; a longer ordonnance is made by a prescribing software
KINDS = {
    "medicament": "Médicament",
    "dispositif": "Dispositif médical",
    "biologie": "Examen de biologie",
    "acte": "Autre acte (soins infirmiers, kinésithérapie…)",
}
OUTCOMES = {
    "delivre": "délivré",
    "partiel": "délivré en partie",
    "substitue": "substitué",
    "adapte": "adapté",
    "non-delivre": "non délivré",
}
MEDICINE_SYSTEM_BY_LENGTH = {13: SYS_CIP, 7: SYS_UCD, 8: SYS_CIS}


def _number(text: str, what: str, line: int, *, integer: bool = False) -> float | int | None:
    text = text.strip().replace(",", ".")
    if not text:
        return None
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        raise InvalidInput(f"ligne {line} : {what} « {text} » n'est pas un nombre", code="formulaire-nombre") from None
    return value


def _request(n: int, form: dict[str, str]) -> dict | None:
    """Line `n` of the form as the request a prescriber's software would put in the envelope."""
    kind = form.get(f"type_{n}", "")
    label, code = form.get(f"libelle_{n}", "").strip(), form.get(f"code_{n}", "").strip()
    text = form.get(f"posologie_{n}", "").strip()
    if not kind:
        if label or code or text:
            raise InvalidInput(f"ligne {n} : choisir le type de la ligne", code="ligne-type")
        return None
    if kind not in KINDS:
        raise InvalidInput(f"ligne {n} : type « {kind} » inconnu", code="ligne-type")
    quantity = _number(form.get(f"quantite_{n}", ""), "la quantité", n)
    renewals = _number(form.get(f"renouvellements_{n}", ""), "le nombre de renouvellements", n, integer=True)
    notes = [{"text": text}] if text else None
    if kind == "medicament":
        coding = [{"system": MEDICINE_SYSTEM_BY_LENGTH.get(len(code), SYS_CIP), "code": code}] if code else []
        request: dict = {
            "resourceType": "MedicationRequest",
            "medicationCodeableConcept": {"coding": coding, "text": label},
            "dosageInstruction": [{"text": text}] if text else [],
            "dispenseRequest": {
                **({"quantity": {"value": quantity, "unit": "boîte"}} if quantity is not None else {}),
                **({"numberOfRepeatsAllowed": renewals} if renewals else {}),
            },
            "substitution": {"allowedBoolean": form.get(f"non_substituable_{n}") != "oui"},
        }
    elif kind == "dispositif":
        request = {
            "resourceType": "DeviceRequest",
            "codeCodeableConcept": {"coding": [{"system": SYS_LPP, "code": code}] if code else [], "text": label},
            "note": notes,
        }
    else:
        coding = [{"system": SYS_LOINC, "code": code}] if kind == "biologie" else []
        request = {
            "resourceType": "ServiceRequest",
            "code": {"coding": coding, "text": label},
            "note": notes,
            **({"quantityQuantity": {"value": quantity}} if quantity is not None and kind == "acte" else {}),
        }
    return _pruned({"intent": "order", **request})


def _pruned(value):
    """R4 JSON: no empty strings, arrays nor objects (the envelope's reader refuses an empty coding)."""
    if isinstance(value, dict):
        kept = {k: _pruned(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v not in (None, "", [], {})}
    if isinstance(value, list):
        return [v for v in (_pruned(x) for x in value) if v not in (None, "", [], {})]
    return value


def envelope(form: dict[str, str], ns: Namespace) -> dict:
    """The form as the Bundle `POST /ordonnance/RequestGroup` takes (the demo's LAP sends the same)."""
    consent = form.get("accord", "")
    if consent not in ("oui", "non"):  # 001 L408: OUI or NON printed on every ordonnance numérique
        raise InvalidInput(
            "accord du patient : OUI ou NON à la consultation de l'exécution par le prescripteur (001 L408)",
            code="consentement-absent",
        )
    requests = [r for n in range(1, FORM_LINES + 1) if (r := _request(n, form)) is not None]
    group = {
        "resourceType": "RequestGroup",
        "intent": "order",
        "status": "active",
        "authoredOn": form.get("date", "").strip() or date.today().isoformat(),
        "extension": [{"url": ext_consent(ns), "valueBoolean": consent == "oui"}],
        "action": [{"resource": {"reference": f"urn:uuid:ligne-{i}"}} for i in range(len(requests))],
    }
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"fullUrl": "urn:uuid:ordonnance", "resource": group}]
        + [{"fullUrl": f"urn:uuid:ligne-{i}", "resource": r} for i, r in enumerate(requests)],
    }


@dataclass(frozen=True)
class ExecutionView:
    when: str
    dispenser: str
    structure: str
    profession: str
    at_delivery: bool
    lines: list[dict]


def _execution(e: Execution) -> ExecutionView:
    return ExecutionView(
        e.executed_at.strftime("%d/%m/%Y %H:%M"),
        e.dispenser,
        e.structure,
        PROFESSIONS.get(e.profession, e.profession),
        e.at_delivery,
        [
            {
                "line": done.line,
                "outcome": OUTCOMES.get(done.outcome.value, done.outcome.value),
                "quantity": "" if done.quantity is None else f"{done.quantity:g}",
                "product": done.label or done.code,
                "reason": done.reason,
            }
            for done in e.lines
        ],
    )


def _birth_date(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput("date de naissance du patient : AAAA-MM-JJ", code="patient-naissance") from None


class Ordonnances:
    """The base's calls the pages make, and the paper copy."""

    def __init__(self, base: Base, annuaire: Annuaire, units: Callable[[], frozenset[str]], ns: Namespace) -> None:
        self.base, self.annuaire, self.units, self.ns = base, annuaire, units, ns

    def create(self, actor: Actor, form: dict[str, str]) -> Prescription:
        draft = fhir.draft_from_fhir(envelope(form, self.ns), units=self.units(), ns=self.ns)
        key = form.get("cle", "")
        return self.base.create(actor, draft, idempotency_key=key or None)

    def prescriber_zone(self, actor: Actor, am_number: str, annuaire_base: str) -> PaperPrescriber:
        """The prescriber zone (001 L379-384) from his own entries in the Annuaire Santé."""
        person = self.annuaire.read(actor, "Practitioner", actor.person, annuaire_base)
        place = self.annuaire.read(actor, "Organization", actor.structure, annuaire_base) if actor.structure else {}
        rpps = next((i["value"] for i in person.get("identifier", []) if i.get("system") == SYS_RPPS), "")
        name = (person.get("name") or [{}])[0]
        doctor = actor.profession in ("10", "40")
        printed = f"{'Dr ' if doctor else ''}{name.get('family', '')} {' '.join(name.get('given') or [])}".strip()
        address = (place.get("address") or [{}])[0]
        lines = (place.get("name", ""), *address.get("line", []), _city(place))
        return PaperPrescriber(
            printed or _name(person),
            tuple(x for x in lines if x),
            PROFESSIONS.get(actor.profession, ""),
            rpps,
            am_number,
        )

    def pdf(self, actor: Actor, number: str, form: dict[str, str], base_url: str) -> tuple[str, bytes]:
        prescription, _executions = self.base.read_as_prescriber(actor, number)
        am_number = form.get("am", "").strip()
        if am_number and not (am_number.isascii() and am_number.isdigit() and len(am_number) == 9):
            raise InvalidInput("N° AM : 9 chiffres", code="numero-am")
        family, given = form.get("nom", "").strip(), form.get("prenom", "").strip()
        if not family or not given:
            raise InvalidInput("nom et prénom du patient : obligatoires pour l'impression", code="patient-nom")
        weight = form.get("poids", "").strip().replace(",", ".")
        try:
            weight_kg = float(weight) if weight else None
        except ValueError:
            raise InvalidInput("poids du patient : un nombre de kilogrammes", code="patient-poids") from None
        patient = PaperPatient(family, given, _birth_date(form.get("naissance", "")), weight_kg)
        served = fhir.prescription_bundle(prescription, None, base_url=f"{base_url}/ordonnance", ns=self.ns)
        printed = prescription_from_fhir(served, created_at=prescription.created_at)
        zone = self.prescriber_zone(actor, am_number, f"{base_url}/annuaire")
        return prescription.number, ordonnance_pdf(printed, zone, patient)


def router(pages: ProPages, ordonnances: Ordonnances) -> APIRouter:
    r = APIRouter(route_class=pages.route_class)
    base = ordonnances.base

    def origin(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    @r.get("")
    @public(SESSION_PAGE)
    async def listing(request: Request) -> Response:
        session, actor = pages.caller(request)
        found, total = await run_in_threadpool(lambda: base.search(actor, count=50))
        return page("pro_ordonnances.html", **pages.context(session, HERE, found=found, total=total))

    @r.get("/nouvelle")
    @public(SESSION_PAGE)
    async def new(request: Request) -> Response:
        session, _actor = pages.caller(request)
        context = pages.context(
            session,
            HERE,
            lines=range(1, FORM_LINES + 1),
            kinds=KINDS,
            today=date.today().isoformat(),
            key=secrets.token_urlsafe(16),
        )
        return page("pro_ordonnance_nouvelle.html", **context)

    @r.post("")
    @public(SESSION_PAGE)
    async def create(request: Request) -> Response:
        _session, actor, form = await pages.posted(request)
        prescription = await run_in_threadpool(ordonnances.create, actor, form)
        return RedirectResponse(f"{HERE}/{prescription.number}", 303)

    @r.get("/{numero}")
    @public(SESSION_PAGE)
    async def consult(numero: Identifier, request: Request) -> Response:
        session, actor = pages.caller(request)
        prescription, executions = await run_in_threadpool(base.read_as_prescriber, actor, numero)
        context = pages.context(
            session,
            "",
            p=prescription,
            kinds={k.value: KINDS[k.value] for k in LineKind},
            executions=None if executions is None else [_execution(e) for e in executions],
        )
        return page("pro_ordonnance.html", **context)

    @r.post("/{numero}/impression")
    @public(SESSION_PAGE)
    async def printed(numero: Identifier, request: Request) -> Response:
        _session, actor, form = await pages.posted(request)
        number, pdf = await run_in_threadpool(ordonnances.pdf, actor, numero, form, origin(request))
        disposition = f'attachment; filename="ordonnance-{number}.pdf"'
        return Response(pdf, media_type="application/pdf", headers={"Content-Disposition": disposition})

    @r.post("/{numero}/annulation")
    @public(SESSION_PAGE)
    async def cancel(numero: Identifier, request: Request) -> Response:
        _session, actor, _form = await pages.posted(request)
        await run_in_threadpool(base.cancel, actor, numero)
        return RedirectResponse(f"{HERE}/{numero}", 303)

    return r
