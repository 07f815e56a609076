"""Mon espace santé's use cases for the patient: profil médical, measures, agenda, own documents, export.

Mon espace santé exists for everyone unless opposed (000 L3228): its state is the DMP dossier's
(opposing or closing it makes the espace read-only, as the dossier is). Only the patient — or the
legal representative acting for a minor — reaches it, with a Mon espace santé token; every change is
one transaction with its audit record, every read leaves its record through the audit journal, so the
access history shows them too.

An entry is always looked for under the caller's own INS, so another patient's id answers exactly
like a missing one (no oracle on which ids exist); such an attempt, and every refusal of a change by
id, still leaves its record — with the entry's real owner as the patient when it has one (issue 18 §2.5).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from maison.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from maison.formats.fhir import local_url
from maison.formats.namespace import Namespace
from maison.formats.pdf import document_pdf
from maison.partage.dmp.model import DocumentQuery, PatientDocument, Who
from maison.partage.dmp.service import AccessDenied, Dmp, actor_of, document_owner, ensure_writable
from maison.partage.espace import documents, mesures, profil, store, vaccinations
from maison.partage.espace.mesures import KINDS, LOINC, UCUM

APPOINTMENT_STATUSES = ("proposed", "pending", "booked", "fulfilled", "cancelled", "noshow")
# Who an entry named by its id belongs to, for the record of a refused change (`Espace._by_id`)
_ITEM_OWNER = partial(store.entry_owner, store.mes_profile_item)
_MEASURE_OWNER = partial(store.entry_owner, store.mes_measure)
_EVENT_OWNER = partial(store.entry_owner, store.mes_agenda_event)


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")


def _moment(value: object, where: str) -> datetime:
    """An instant from a FHIR dateTime (a bare date is midnight UTC)."""
    if not isinstance(value, str) or len(value) < 10:
        raise InvalidInput(f"{where} : un dateTime FHIR est attendu", code="date-invalide", expression=where)
    try:
        moment = (
            datetime.fromisoformat(value.replace("Z", "+00:00"))
            if len(value) > 10
            else datetime.combine(date.fromisoformat(value), datetime.min.time())
        )
    except ValueError:
        raise InvalidInput(
            f"{where} : {value!r} n'est pas un dateTime", code="date-invalide", expression=where
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Espace:
    def __init__(self, dmp: Dmp, reference_path: Path, ns: Namespace, *, max_document_bytes: int = 5_000_000) -> None:
        self.dmp = dmp
        self.db = dmp.db
        self.reference_path = reference_path
        self.ns = ns  # Maison's own URLs: the rubrique tag, the volontés extension (issue 21 §3.3)
        self.max_document_bytes = max_document_bytes

    # --- the frame of every use case -----------------------------------------------------------

    @staticmethod
    def owner(who: Who) -> str:
        if who.kind != "patient" or not who.patient:
            raise Forbidden("Mon espace santé : réservé au patient ou à son représentant légal", code="reserve-patient")
        return who.patient

    def _patient(self, who: Who, action: str) -> str:
        """`owner`, with the refusal of anyone but the patient recorded (the service, not its HTTP guard,
        is where the trail is kept)."""
        try:
            return self.owner(who)
        except Forbidden as error:
            self.dmp.trail.refused(actor_of(who), f"espace.{action}", code=error.code, patient=who.patient or None)
            raise

    @staticmethod
    def _writable(conn: Connection, ins: str) -> None:
        """Mon espace santé's state is the DMP dossier's: opposed or closed, it is read-only."""
        ensure_writable(conn, ins)

    def record(self, conn: Connection, who: Who, action: str, detail: dict) -> None:
        """A change's record, in the change's own transaction."""
        self.dmp.trail.write(conn, actor_of(who), f"espace.{action}", patient=who.patient, detail=detail)

    def _read(self, who: Who, action: str, detail: dict) -> None:
        """A read's record, group-committed through the journal (a read opens no write transaction)."""
        self.dmp.trail.read(actor_of(who), f"espace.{action}", patient=who.patient, detail=detail)

    @contextmanager
    def _by_id(
        self, who: Who, action: str, owner_of: Callable[[Connection, str], str | None], id_: str | None
    ) -> Iterator[None]:
        """Around a change of one entry by its id: a refusal (not found, not the caller's, not allowed)
        is recorded after the change's transaction is gone, naming the entry's owner (`owner_of`) when
        there is one."""
        try:
            yield
        except (NotFound, Forbidden, Conflict) as error:
            owner = None
            if id_ is not None and len(id_) <= 64:
                with self.db.read() as conn:
                    owner = owner_of(conn, id_)
            detail = {"entree": id_, **({"autre-patient": True} if owner is not None and owner != who.patient else {})}
            self.dmp.trail.refused(
                actor_of(who), f"espace.{action}", code=error.code, patient=owner or who.patient or None, detail=detail
            )
            raise

    # --- profil médical (000 L3281-3296) ----------------------------------------------------------

    def _identity(self, ins: str) -> dict:
        """The FHIR Patient of the espace: the INS identity from the referential, the patient's contacts."""
        individu = self.dmp.referential.by_matricule(ins)
        t = individu.traits
        patient = {
            "resourceType": "Patient",
            "id": ins,
            "identifier": [
                {"use": "official", "system": f"urn:oid:{individu.active.oid}", "value": individu.active.value}
            ],
            "name": [{"use": "official", "family": t.nom_naissance, "given": list(t.prenoms)}],
            "gender": {"M": "male", "F": "female"}.get(t.sexe, "unknown"),
            "birthDate": t.date_naissance,
        }
        with self.db.read() as conn:
            row = store.profile(conn, ins)
        if row is not None and row.coordonnees:
            patient.update(orjson.loads(row.coordonnees))
        return patient

    def profile(self, who: Who) -> dict:
        """The whole profil médical as a FHIR Bundle (collection), the form it is downloaded in (000 L3298)."""
        ins = self._patient(who, "profil.lire")
        patient = self._identity(ins)
        with self.db.read() as conn:
            row = store.profile(conn, ins)
            items = self._items(conn, ins)
        self._read(who, "profil.lire", {"entrees": len(items)})
        items += self._recorded_vaccinations(who, ins)
        if row is not None and row.volontes:  # on the Patient: an R4 Bundle has no extension (bundle.html)
            wishes = {"url": self.ns.structure("espace-volontes"), "valueString": row.volontes}
            patient["extension"] = [*patient.get("extension", []), wishes]
        entries = [{"fullUrl": local_url(r), "resource": r} for r in (patient, *items)]
        return {"resourceType": "Bundle", "type": "collection", "timestamp": _iso(_now()), "entry": entries}

    def _items(self, conn: Connection, ins: str, rubrique: str | None = None) -> list[dict]:
        return [self._item_resource(r) for r in store.items(conn, ins, rubrique)]

    def _item_resource(self, row: sa.Row) -> dict:
        resource = orjson.loads(row.resource)
        resource.update(
            id=row.id,
            meta={
                "lastUpdated": row.updated_at,
                "tag": [{"system": self.ns.code_system(vaccinations.RUBRIQUE), "code": row.rubrique}],
            },
        )
        key = (
            "patient"
            if resource["resourceType"] in ("AllergyIntolerance", "Immunization", "RelatedPerson")
            else "subject"
        )
        resource[key] = {"reference": f"Patient/{row.ins}"}
        return resource

    def volontes(self, who: Who) -> dict:
        ins = self._patient(who, "volontes.lire")
        with self.db.read() as conn:
            row = store.profile(conn, ins)
        self._read(who, "volontes.lire", {})
        return orjson.loads(row.volontes) if row and row.volontes else {"donOrganes": "non-renseigne"}

    def set_profile_part(self, who: Who, part: str, body: object) -> dict:
        """Contact details (`coordonnees`) or wishes (`volontes`), replaced whole."""
        ins = self._patient(who, f"{part}.modifier")
        value = profil.check_coordonnees(body) if part == "coordonnees" else profil.check_volontes(body)
        now = _iso(_now())
        with self.db.write() as conn:
            self._writable(conn, ins)
            store.set_profile_part(conn, ins, part, orjson.dumps(value).decode(), now)
            self.record(conn, who, f"{part}.modifier", {"elements": sorted(value)})
        return value

    def items(self, who: Who, rubrique: str) -> list[dict]:
        ins = self._patient(who, "profil.lire")
        if rubrique not in profil.RUBRIQUES:
            raise NotFound(f"rubrique {rubrique!r} inconnue : {', '.join(profil.RUBRIQUES)}", code="rubrique-inconnue")
        with self.db.read() as conn:
            items = self._items(conn, ins, rubrique)
        self._read(who, "profil.lire", {"rubrique": rubrique, "entrees": len(items)})
        return items + (self._recorded_vaccinations(who, ins) if rubrique == "vaccinations" else [])

    def _recorded_vaccinations(self, who: Who, ins: str) -> list[dict]:
        """The vaccinations professionals recorded in notes de vaccination the patient may read (000 L3293)."""
        try:
            notes = self.dmp.find_documents(
                who,
                ins,
                ["current"],
                DocumentQuery(type_code=((vaccinations.TYPE_NOTE_VACCINATION,),)),
                query="vaccinations du profil médical",
            )
        except AccessDenied:  # a closed dossier: only what the patient typed
            return []
        blobs = self.dmp.blobs
        return [i for note in notes for i in vaccinations.immunizations(blobs.get(note.blob), note.id, ins, self.ns)]

    def put_item(self, who: Who, rubrique: str, resource: object, id_: str | None = None) -> dict:
        """Add an entry (id_ None) or replace one of the patient's own entries."""
        ins = self._patient(who, "profil.modifier")
        kept = profil.check_item(rubrique, resource)
        now = _iso(_now())
        with self._by_id(who, "profil.modifier", _ITEM_OWNER, id_), self.db.write() as conn:
            self._writable(conn, ins)
            if id_ is None:
                id_ = str(uuid.uuid4())
                store.add_item(
                    conn,
                    id=id_,
                    ins=ins,
                    rubrique=rubrique,
                    resource=orjson.dumps(kept).decode(),
                    created_at=now,
                    updated_at=now,
                )
            elif not store.replace_item(conn, id_, ins, rubrique, orjson.dumps(kept).decode(), now):
                raise NotFound(f"{rubrique}/{id_} inconnu", code="entree-inconnue")
            self.record(conn, who, "profil.modifier", {"rubrique": rubrique, "entree": id_})
            row = store.item(conn, id_)
        return self._item_resource(row)

    def delete_item(self, who: Who, rubrique: str, id_: str) -> None:
        ins = self._patient(who, "profil.supprimer")
        with self._by_id(who, "profil.supprimer", _ITEM_OWNER, id_), self.db.write() as conn:
            self._writable(conn, ins)
            if not store.delete_item(conn, id_, ins, rubrique):
                raise NotFound(f"{rubrique}/{id_} inconnu", code="entree-inconnue")
            self.record(conn, who, "profil.supprimer", {"rubrique": rubrique, "entree": id_})

    # --- measures (000 L3306-3317) ----------------------------------------------------------------

    def add_measure(self, who: Who, observation: object) -> dict:
        """A FHIR Observation with a LOINC code and a UCUM valueQuantity; the BMI follows by itself."""
        ins = self._patient(who, "mesure.ajouter")
        if not isinstance(observation, dict) or observation.get("resourceType") != "Observation":
            raise InvalidInput(
                "une ressource Observation est attendue", code="type-ressource", expression="resourceType"
            )
        code = profil.shaped(observation.get("code"), dict, "code", {})
        codings = profil.shaped(code.get("coding"), list, "code.coding", [])
        loinc = next((c.get("code") for c in codings if isinstance(c, dict) and c.get("system") == LOINC), None)
        kind_name = mesures.kind_of_loinc(loinc or "") or str(loinc)
        quantity = observation.get("valueQuantity")
        if not isinstance(quantity, dict):
            raise InvalidInput("valueQuantity est obligatoire", code="valeur-invalide", expression="valueQuantity")
        if quantity.get("system", UCUM) != UCUM:
            raise InvalidInput(
                "valueQuantity.system : UCUM (http://unitsofmeasure.org)",
                code="unite-invalide",
                expression="valueQuantity.system",
            )
        kind, value = mesures.normalise(kind_name, quantity.get("value"), str(quantity.get("code") or ""))
        effective = _moment(observation.get("effectiveDateTime"), "effectiveDateTime")
        if effective > _now():
            raise InvalidInput(
                "effectiveDateTime est dans le futur", code="date-future", expression="effectiveDateTime"
            )
        note = next(
            (n.get("text") for n in profil.shaped(observation.get("note"), list, "note", []) if isinstance(n, dict)),
            None,
        )
        id_ = str(uuid.uuid4())
        with self.db.write() as conn:
            self._writable(conn, ins)
            store.add_measure(
                conn,
                id=id_,
                ins=ins,
                kind=kind.name,
                value=value,
                unit=kind.unit,
                effective=_iso(effective),
                note=note,
                created_at=_iso(_now()),
            )
            if kind.name in ("poids", "taille"):
                self._recompute_bmi(conn, ins)
            self.record(conn, who, "mesure.ajouter", {"mesure": kind.name})
            row = store.measure(conn, id_)
        return _observation(row)

    @staticmethod
    def _recompute_bmi(conn: Connection, ins: str) -> None:
        """Each weight gets its BMI with the height measured last before it (else the first one after):
        000 L3309 "L'IMC (calculé automatiquement)"."""
        rows = store.weights_and_heights(conn, ins)
        heights = [r for r in rows if r.kind == "taille"]
        weights = [r for r in rows if r.kind == "poids"] if heights else []  # no height, no BMI
        bmis = []
        now = _iso(_now())
        for weight in weights:
            before = [h for h in heights if h.effective <= weight.effective]
            height = before[-1] if before else heights[0]
            bmis.append(
                dict(
                    id=str(uuid.uuid4()),
                    ins=ins,
                    kind="imc",
                    value=mesures.bmi(weight.value, height.value),
                    unit=KINDS["imc"].unit,
                    effective=weight.effective,
                    derived_from=f"{weight.id},{height.id}",
                    created_at=now,
                )
            )
        store.replace_bmis(conn, ins, bmis)

    def measures(self, who: Who, kind: str | None = None) -> list[dict]:
        ins = self._patient(who, "mesure.lire")
        if kind is not None and kind not in KINDS:
            raise InvalidInput(f"mesure {kind!r} inconnue : {', '.join(KINDS)}", code="mesure-inconnue")
        with self.db.read() as conn:
            rows = store.measures(conn, ins, kind)
        self._read(who, "mesure.lire", {"mesure": kind, "resultats": len(rows)})
        return [_observation(r) for r in rows]

    def delete_measure(self, who: Who, id_: str) -> None:
        ins = self._patient(who, "mesure.supprimer")
        with self._by_id(who, "mesure.supprimer", _MEASURE_OWNER, id_), self.db.write() as conn:
            self._writable(conn, ins)
            kind = store.measure_kind(conn, id_, ins)
            if kind is None or kind == "imc":
                raise NotFound(
                    f"mesure {id_} inconnue" + (" (l'IMC suit le poids et la taille)" if kind else ""),
                    code="mesure-inconnue",
                )
            store.delete_measure(conn, id_)
            self._recompute_bmi(conn, ins)
            self.record(conn, who, "mesure.supprimer", {"mesure": kind})

    # --- agenda (000 L3355-3361) ------------------------------------------------------------------

    def put_event(self, who: Who, appointment: object, id_: str | None = None) -> dict:
        ins = self._patient(who, "agenda.modifier")
        if not isinstance(appointment, dict) or appointment.get("resourceType") != "Appointment":
            raise InvalidInput(
                "une ressource Appointment est attendue", code="type-ressource", expression="resourceType"
            )
        status = appointment.get("status", "booked")
        if status not in APPOINTMENT_STATUSES:
            raise InvalidInput(
                f"status : {', '.join(APPOINTMENT_STATUSES)}", code="statut-invalide", expression="status"
            )
        start = _moment(appointment.get("start"), "start")
        end = _moment(appointment["end"], "end") if appointment.get("end") is not None else None  # "" or false: refused
        if end is not None and end < start:
            raise InvalidInput("end précède start", code="periode-invalide", expression="end")
        profil.narrative(appointment.get("description"), "description")
        kept = {k: v for k, v in appointment.items() if k not in ("id", "meta")}
        participants = profil.shaped(appointment.get("participant"), list, "participant", [])
        others = [
            p
            for p in participants
            if isinstance(p, dict)
            and isinstance(p.get("actor", {}), dict)
            and p.get("actor", {}).get("reference") != f"Patient/{ins}"
        ]
        kept.update(
            status=status, participant=[*others, {"actor": {"reference": f"Patient/{ins}"}, "status": "accepted"}]
        )
        now = _iso(_now())
        values = dict(
            start=_iso(start), end=_iso(end) if end else None, resource=orjson.dumps(kept).decode(), updated_at=now
        )
        with self._by_id(who, "agenda.modifier", _EVENT_OWNER, id_), self.db.write() as conn:
            self._writable(conn, ins)
            if id_ is None:
                id_ = str(uuid.uuid4())
                store.add_event(conn, id=id_, ins=ins, created_at=now, **values)
            elif not store.replace_event(conn, id_, ins, **values):
                raise NotFound(f"événement {id_} inconnu", code="evenement-inconnu")
            self.record(conn, who, "agenda.modifier", {"evenement": id_})
            row = store.event(conn, id_)
        return _appointment(row)

    def events(self, who: Who, since: str | None = None, until: str | None = None) -> list[dict]:
        ins = self._patient(who, "agenda.lire")
        start = _iso(_moment(since, "date")) if since else None
        end = _iso(_moment(until, "date")) if until else None
        with self.db.read() as conn:
            rows = store.events(conn, ins, start, end)
        self._read(who, "agenda.lire", {"resultats": len(rows)})
        return [_appointment(r) for r in rows]

    def delete_event(self, who: Who, id_: str) -> None:
        ins = self._patient(who, "agenda.supprimer")
        with self._by_id(who, "agenda.supprimer", _EVENT_OWNER, id_), self.db.write() as conn:
            self._writable(conn, ins)
            if not store.delete_event(conn, id_, ins):
                raise NotFound(f"événement {id_} inconnu", code="evenement-inconnu")
            self.record(conn, who, "agenda.supprimer", {"evenement": id_})

    # --- the patient's own documents (000 L3267-3269) ---------------------------------------------

    def categories(self) -> dict[str, str]:
        return documents.patient_categories(self.reference_path)

    def deposit(
        self, who: Who, category: str, title: str, content_type: str, data: bytes, *, by_service: bool = False
    ) -> str:
        """File a document in the patient's category of his DMP; returns its entry id. A new profil
        médical synthesis replaces the previous one (RPLC chain, as a producer's replacement)."""
        ins = self._patient(who, "document.deposer")
        if not isinstance(title, str) or not title.strip() or len(title) > 200:
            raise InvalidInput(
                "titre du document : 1 à 200 caractères", code="titre-invalide", expression="description"
            )
        categories = self.categories()
        documents.check_upload(categories, category, content_type, data, self.max_document_bytes, by_service=by_service)
        individu = self.dmp.referential.by_matricule(ins)
        now = _now()
        unique_id = documents.new_unique_id()
        resource = documents.document_reference(
            ins=ins,
            ins_oid=individu.active.oid,
            unique_id=unique_id,
            category=category,
            display=categories[category],
            title=title.strip(),
            content_type=content_type,
            data=data,
            created=now,
        )
        attachment = resource["content"][0]["attachment"]
        return self.dmp.deposit(
            who,
            PatientDocument(
                ins=ins,
                unique_id=unique_id,
                lot_unique_id=documents.new_unique_id(),
                title=title.strip(),
                type_code=category,
                class_code=resource["category"][0]["coding"][0]["code"],
                format_code=documents.FORMAT_MIME_SUFFICIENT,
                content_type=content_type,
                data=data,
                sha1=attachment["hash"],
                creation=attachment["creation"],
                resource=resource,
                replaces_current=category == documents.PROFILE_SYNTHESIS,
            ),
            action="espace.document.deposer",
        )

    def remove_document(self, who: Who, id_: str) -> None:
        """The patient withdraws a document he deposited; professionals' documents he may only mask."""
        self._patient(who, "document.retirer")
        with self._by_id(who, "document.retirer", document_owner, id_):
            self.dmp.withdraw_deposited(who, id_, action="espace.document.retirer")

    def share_profile(self, who: Who) -> str:
        """Save the profil médical synthesis in the DMP (DOCPAT08), so professionals see it (000 L3300)."""
        bundle = self.profile(who)
        return self.deposit(
            who,
            documents.PROFILE_SYNTHESIS,
            "Profil médical Mon espace santé",
            "application/pdf",
            synthesis_pdf(bundle, self.measures(who)),
            by_service=True,
        )


def _observation(row: sa.Row) -> dict:
    kind = KINDS[row.kind]
    resource = {
        "resourceType": "Observation",
        "id": row.id,
        "status": "final",
        "category": [
            {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}
                ]
            }
        ],
        "code": {"coding": [{"system": LOINC, "code": kind.loinc, "display": kind.display}], "text": kind.name},
        "subject": {"reference": f"Patient/{row.ins}"},
        "effectiveDateTime": row.effective,
        "valueQuantity": {"value": row.value, "unit": kind.unit, "system": UCUM, "code": kind.unit},
    }
    if row.derived_from:
        resource["derivedFrom"] = [{"reference": f"Observation/{ref}"} for ref in row.derived_from.split(",")]
    if row.note:
        resource["note"] = [{"text": row.note}]
    return resource


def _appointment(row: sa.Row) -> dict:
    resource = orjson.loads(row.resource)
    resource.update(id=row.id, start=row.start, meta={"lastUpdated": row.updated_at})
    if row.end:
        resource["end"] = row.end
    return resource


def synthesis_pdf(bundle: dict, observations: list[dict]) -> bytes:
    """The profil médical as a readable PDF: what a professional opens from the DMP."""
    resources = [e["resource"] for e in bundle["entry"]]
    patient = resources[0]
    name = patient["name"][0]

    def lines(kind: str, text_of) -> list[str]:
        return [text_of(r) for r in resources if r["resourceType"] == kind] or ["(rien de renseigné)"]

    def concept(c: dict) -> str:
        return c.get("text") or (c.get("coding") or [{}])[0].get("display", "")

    latest: dict[str, dict] = {}
    for o in observations:
        latest[o["code"]["text"]] = o
    sections = [
        (
            "Identité",
            [
                f"{name['family']} {' '.join(name['given'])}, né(e) le {patient['birthDate']}",
                f"INS {patient['identifier'][0]['value']}",
            ],
        ),
        (
            "Contacts d'urgence",
            lines(
                "RelatedPerson",
                lambda r: (
                    f"{(r['name'][0].get('text') or r['name'][0].get('family'))}"
                    f" — {', '.join(t['value'] for t in r['telecom'])}"
                ),
            ),
        ),
        ("Maladies et sujets de santé", lines("Condition", lambda r: concept(r["code"]))),
        (
            "Traitements",
            lines(
                "MedicationStatement",
                lambda r: (
                    concept(r["medicationCodeableConcept"])
                    + (
                        f" (depuis {r['effectivePeriod']['start']})"
                        if r.get("effectivePeriod", {}).get("start")
                        else ""
                    )
                ),
            ),
        ),
        ("Allergies", lines("AllergyIntolerance", lambda r: concept(r["code"]))),
        ("Vaccinations", lines("Immunization", lambda r: f"{concept(r['vaccineCode'])} le {r['occurrenceDateTime']}")),
        (
            "Mesures",
            [
                f"{k} : {o['valueQuantity']['value']:g} {o['valueQuantity']['unit']} ({o['effectiveDateTime'][:10]})"
                for k, o in sorted(latest.items())
            ]
            or ["(aucune mesure)"],
        ),
    ]
    return document_pdf(
        "Profil médical — Mon espace santé",
        sections,
        footer="Saisi par le patient dans Mon espace santé ; non validé par un professionnel.",
    )
