"""The full export of Mon espace santé: everything the patient may see, in one archive he can reuse.

Seed 003 L1418 and 000 L1067: people get their health data back "dans un format couramment utilisé",
"lisible, exploitable, et documenté". The archive is a ZIP holding:

- `mon-espace-sante.json` — a FHIR R4 Bundle (collection): the Patient, every profile entry, every
  measure (Observation), every agenda event (Appointment), and the DocumentReference of every DMP
  document the patient may read, whose attachment.url names the file in the archive;
- `documents/<id>.<ext>` — each document's original bytes (CDA XML, PDF, image), as stored;
- `volontes.json` — the wishes; `historique-acces.json` — the access history as AuditEvents;
- `SHA256SUMS` — one line per file, so the patient (or the next system) can check nothing changed;
- `LISEZMOI.txt` — this layout, in French.

What the patient may not read (a document awaiting its consultation d'annonce, R.1111-53, or
hidden from legal representatives when one of them exports) is not in the archive either: the
export goes through the same access rules as a search. When the dossier is closed those rules open
no document; the archive then says so in `documents-non-exportes.txt`.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from datetime import UTC, datetime

import orjson

from maison.formats.fhir import bundle as fhir_bundle
from maison.formats.fhir import local_url
from maison.partage.dmp.mhd import render_document
from maison.partage.dmp.model import Who
from maison.partage.dmp.service import AccessDenied, access_event, actor_of
from maison.partage.espace.service import Espace

EXTENSIONS = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}
README = """Export de Mon espace santé
==========================

mon-espace-sante.json   Bundle FHIR R4 (collection) : identité (Patient), profil médical
                        (RelatedPerson, Condition, MedicationStatement, AllergyIntolerance,
                        Immunization), mesures (Observation), agenda (Appointment) et fiches des
                        documents du DMP (DocumentReference, attachment.url = fichier ci-dessous).
documents/              Les documents, octet pour octet tels que déposés (CDA XML, PDF, images).
volontes.json           Directives anticipées, don d'organes, personne de confiance.
historique-acces.json   Qui a accédé à votre dossier, quand et pourquoi (AuditEvent FHIR).
SHA256SUMS              Empreinte SHA-256 de chaque fichier.
"""


def export_archive(espace: Espace, who: Who) -> bytes:
    ins = espace.owner(who)
    dmp = espace.dmp
    bundle = espace.profile(who)
    measures = espace.measures(who)
    events = espace.events(who)
    volontes = espace.volontes(who)
    history = [access_event(row, espace.ns) for row in dmp.history(who)]
    files: dict[str, bytes] = {}
    try:
        entries = dmp.find_documents(who, ins, ["current", "superseded"], query="export Mon espace santé")
    except AccessDenied as refusal:  # a closed dossier: the espace's own data still leave, the DMP's do not
        entries = []
        files["documents-non-exportes.txt"] = f"{refusal.message}\n".encode()
    references = []
    for entry in entries:
        extension = EXTENSIONS.get(entry.content_type, "xml")
        name = f"documents/{entry.id}.{extension}"
        files[name] = dmp.blobs.get(entry.blob)
        resource = render_document(entry, "")
        resource["content"][0]["attachment"]["url"] = name
        references.append(resource)
    bundle["entry"] += [{"fullUrl": local_url(r), "resource": r} for r in (*measures, *events, *references)]
    files["mon-espace-sante.json"] = orjson.dumps(bundle, option=orjson.OPT_INDENT_2)
    files["volontes.json"] = orjson.dumps(volontes, option=orjson.OPT_INDENT_2)
    files["historique-acces.json"] = orjson.dumps(
        fhir_bundle("collection", [{"fullUrl": local_url(e), "resource": e} for e in history]),
        option=orjson.OPT_INDENT_2,
    )
    files["LISEZMOI.txt"] = README.encode()
    files["SHA256SUMS"] = "".join(
        f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in sorted(files.items())
    ).encode()
    out = io.BytesIO()
    stamp = datetime.now(UTC).timetuple()[:6]
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(
                zipfile.ZipInfo(f"mon-espace-sante/{name}", date_time=stamp), data, compress_type=zipfile.ZIP_DEFLATED
            )
    # an export writes nothing: its record is group-committed through the journal, durable before it leaves
    espace.dmp.trail.read(
        actor_of(who),
        "espace.exporter",
        patient=who.patient,
        detail={"documents": [e.unique_id for e in entries], "octets": out.tell()},
    )
    return out.getvalue()
