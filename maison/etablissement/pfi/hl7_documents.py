"""The PFI's receiver of documents from the DPI, the lab system or the RIS over HL7 v2 (issue 22 §2;
CI-SIS volet "Transmission de documents CDA en HL7v2" 2.1, interactions-acteurs.md): the MLLP
listener's handler for ORU and MDM.

What it does, in the volet's order:
1. read and check the message (hl7_request.py); any fault is an `Hl7Refusal` (ACK AE/AR + ERR) and
   nothing is written;
2. record, in one transaction, the document(s) (blobs), the request, each leg it owes — the DMP
   (DESTDMP), each MSSanté recipient (DESTMSSANTEPS, DESTMSSANTEPAT) — every one carrying its stay
   (the structure PV1-19's authority names, as the GAM's PAM messages do, + PV1-19), and the audit
   record; then the listener answers AA: an AA means "stored".
   A message sent again (same sender, MSH-10, document and event) is answered AA without being
   done twice;
3. after the ACK, deliver each leg: the DMP through PDSm (ITI-65, the producer's Bundle; a
   replacement names the DocumentReference it replaces; a deletion withdraws it), MSSanté through
   the operator (XDM over SMTP, envoi.py); MODIF_CONF_CODE on a document the DMP holds updates its
   masking / visibility (securityLabel) instead of depositing it again. Then answer the creator with
   the ZAM of each outcome as it arrives (zam.py) over MLLP: Z01 the DMP's answer, Z02 the MSSanté
   delivery (refused at RCPT, or a DSN), Z03 the reading (an MDN). ZAMs are sent when the creator
   asked for them (ACK_RECEPTION, ACK_LECTURE_MSS); a failure always, since the creator must learn
   that its document did not go.
CONNEXION_SECRETE = Y (profils-messages.md, "Connexion Secrète": "le document doit être utilisé pour
une transaction DMP « connexion secrète »") makes every DMP call for the document one of a connexion
secrète: the VIHF's confidentiality-code attribute, "obligatoire … si demande de connexion secrète au
DMP" (mapping.md, Mapping VIHF pour le DMP), which the DMP of the house reads as its
`X-Connexion-Secrete` header; the DMP then judges the document by its own rule (only documents
invisible to the legal representatives, EX_2.1-1050) and its refusal comes back as a ZAM^Z01. On the
MSSanté side the volet's matrix refuses a secret document to the patient alone (hl7_request.py).
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import hl7
import httpx
import orjson
import sqlalchemy as sa

from maison.core import audit
from maison.core.actor import Actor
from maison.core.blobs import Blobs
from maison.core.config import Settings
from maison.core.group_commit import GroupCommit
from maison.core.storage import Database
from maison.etablissement.dmp.producer import Produced, provide_bundle
from maison.etablissement.pfi import store, zam
from maison.etablissement.pfi.envoi import Submission, send_document
from maison.etablissement.pfi.hl7_request import DocumentRequest, read_request
from maison.formats import mdn as reports
from maison.formats import mime
from maison.formats.hl7v2.client import MllpClient
from maison.formats.hl7v2.refusal import ErrorCode, Hl7Refusal

log = logging.getLogger(__name__)


@dataclass
class Channels:
    """Where the PFI sends: the DMP (PDSm base and the structure's credential), its MSSanté
    operator (submission), the creators' MLLP address for the ZAM (a setting of the integration)."""

    structure: str
    source_oid: str = "1.2.250.1.213.4.1.9.1"
    application: str = "PFI"
    dmp_url: str = ""  # the DMP's ITI-65 endpoint; "" : no DMP configured (DESTDMP refused)
    dmp_headers: Callable[[], dict[str, str]] = field(default=lambda: {})
    submission: Submission | None = None  # None: no MSSanté (DESTMSSANTE* refused)
    zam_host: str = ""
    zam_port: int = 0


def _now() -> str:
    return datetime.now(UTC).isoformat()


class Hl7Documents:
    """`handle(message)` for the MLLP listener (ORU and MDM); `report(raw)` for the DSN and MDN the
    PFI's mailbox receives about what it sent."""

    def __init__(self, db: Database, blobs: Blobs, channels: Channels, *, threads: int = 8) -> None:
        self.db, self.blobs, self.channels = db, blobs, channels
        self.actor = Actor(person="system:pfi-hl7", structure=channels.structure, software="maison-pfi")
        # Deliveries wait on the DMP and the operator, not on the processor: `threads` of them at once,
        # over one HTTP client whose connections stay open (a client per call built its SSL context
        # each time: 15 % of the PFI's CPU, bench/flux.py), their outcomes and ZAM records committed
        # together (the group commit) and their ZAM sent on one MLLP connection per thread.
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="pfi-hl7")
        self.http = httpx.Client(timeout=60, limits=httpx.Limits(max_connections=threads))
        self.commits = GroupCommit(db, name="pfi-hl7-group-commit")
        self._zam_links = _ZamLinks(channels)

    def __call__(self, message: hl7.Message) -> list[str] | None:
        return self.handle(message)

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        self.http.close()
        self._zam_links.close()

    def resume(self) -> int:
        """Deliver what was acknowledged but not delivered (the process stopped in between): an AA
        is a promise kept across restarts. Returns how many documents were taken up again."""
        with self.db.read() as conn:
            unfinished = store.hl7_unfinished(conn, self.channels.structure)
            unsent = store.hl7_unsent_zams(conn, self.channels.structure)
        for document_id in unfinished:
            self.pool.submit(self.deliver, document_id)
        for row in unsent:  # the DPI was unreachable: its ZAM go again, in the order they were made
            self.pool.submit(self._resend_zam, row.id, row.message)
        return len(unfinished)

    def _resend_zam(self, zam_id: str, text: str) -> None:
        answer = self._zam_links.deliver(text)
        self._commit(lambda conn: store.hl7_set_zam_answer(conn, zam_id, answer, _now()))

    # --- 1-2: read, check, record --------------------------------------------------------------------

    def handle(self, message: hl7.Message) -> list[str] | None:
        request = read_request(message)
        self._check_channels(request)
        sender = f"{request.sending_application}^{request.sending_facility}"
        structure = self.channels.structure
        type_code = request.headers[0].type_code
        assert type_code is not None  # read_request refuses a CDA without one
        title = request.headers[0].title[:300]
        document_id = str(uuid.uuid4())
        legs = self._legs(request, document_id)
        # The documents are written (fsynced) before the write lock is taken: content-addressed, a
        # message refused or sent again leaves a blob no row names, which `Blobs.sweep` removes later.
        digests = [self.blobs.put(data) for data in request.documents]

        def record(conn: sa.Connection) -> tuple[bool, list, list]:
            """Under the write lock, in the group commit's transaction shared by the DPI's connections
            (four threads each taking SQLite's lock held the ACK to 27/s, bench/flux.py)."""
            if store.hl7_received(conn, structure, sender, request.control_id, request.unique_id, request.event):
                return False, [], []  # the same message again: acknowledged, nothing done twice
            replaced_ref = ""  # the DMP's DocumentReference of what is replaced or withdrawn, if the PFI put it there
            if request.action != "initial" and request.flags.get("DESTDMP"):
                target = request.replaced_id if request.action == "remplacement" else request.unique_id
                replaced_ref = store.hl7_dmp_reference(conn, structure, target)
            described = {
                "flags": request.flags,
                "recipients": [asdict(r) for r in request.recipients],
                "body_ps": request.body_ps,
                "body_patient": request.body_patient,
                "dmp_target": replaced_ref,
                "ins_oid": request.ins_oid,
            }
            row = dict(
                id=document_id,
                structure=structure,
                sender=sender,
                control_id=request.control_id,
                event=request.event,
                action=request.action,
                unique_id=request.unique_id,
                replaced_id=request.replaced_id,
                ins=request.ins,
                ins_status=request.ins_status,
                stay_structure=request.stay_structure or structure,
                stay_number=request.stay_number,
                patient_class=request.patient_class,
                type_code=type_code.code,
                title=title,
                documents=json.dumps(digests),
                request=json.dumps(described, ensure_ascii=False),
                received_at=_now(),
            )
            store.hl7_record(conn, row, legs)
            entry = audit.Trail.entry(
                self.actor,
                "pfi.hl7.document",
                patient=request.ins,
                detail={
                    "message": request.control_id,
                    "emetteur": sender,
                    "action": request.action,
                    "document": request.unique_id,
                    "sejour": request.stay_number,
                    # what SUN-ES counts per stay and per report (seed 004 L191-203): the stay's structure,
                    # the type (LOINC, JDV_J07), the CDA levels sent (N1, then its N3), PID-32 (QUAL:
                    # a qualified INS) and, for a replacement, the version replaced
                    "structure_sejour": row["stay_structure"],
                    "type": row["type_code"],
                    "niveaux": [h.level for h in request.headers],
                    "statut_ins": request.ins_status,
                    "remplace": request.replaced_id,
                },
            )
            return True, [], [entry]

        if self.commits.run(record):
            self.pool.submit(self.deliver, document_id)
        return None

    def _check_channels(self, request: DocumentRequest) -> None:
        """A destination the PFI is not configured for is refused, not silently dropped."""
        if request.flags.get("DESTDMP") and not self.channels.dmp_url:
            raise Hl7Refusal("DESTDMP : la PFI n'alimente pas de DMP", ErrorCode.INTERNAL_ERROR, "OBX", 1, 5)
        wants_mss = request.flags.get("DESTMSSANTEPS") or request.flags.get("DESTMSSANTEPAT")
        if wants_mss and self.channels.submission is None:
            raise Hl7Refusal("DESTMSSANTE : la PFI n'a pas de BAL MSSanté", ErrorCode.INTERNAL_ERROR, "OBX", 1, 5)

    def _legs(self, request: DocumentRequest, document_id: str) -> list[dict]:
        legs: list[tuple[str, str]] = []
        if request.flags.get("DESTDMP"):
            legs.append(("dmp", ""))
        if request.flags.get("DESTMSSANTEPS"):
            legs += [("mss", r.address) for r in request.recipients if not r.patient]
        if request.flags.get("DESTMSSANTEPAT"):
            patients = [r.address for r in request.recipients if r.patient]
            if not patients and request.qualified:  # only a qualified INS builds the address (envoi.py)
                patients = [f"{request.ins}@{mime.CITIZEN_DOMAIN}"]
            if not patients:
                raise Hl7Refusal(
                    "DESTMSSANTEPAT : ni adresse du patient (PRT) ni INS qualifiée (PID-32 QUAL)",
                    ErrorCode.REQUIRED_FIELD,
                    "PRT",
                    1,
                    15,
                )
            legs += [("mss", address) for address in patients]
        now = _now()
        return [
            dict(
                id=str(uuid.uuid4()),
                document_id=document_id,
                structure=self.channels.structure,
                stay_structure=request.stay_structure or self.channels.structure,
                stay_number=request.stay_number,
                channel=channel,
                recipient=recipient,
                state="a-faire",
                code="",
                detail="",
                reference="",
                updated_at=now,
            )
            for channel, recipient in dict.fromkeys(legs)
        ]

    # --- 3: deliver, then acknowledge ----------------------------------------------------------------

    def deliver(self, document_id: str) -> None:
        """Each leg of a recorded document, then its ZAM. Run after the ACK (in the pool)."""
        try:
            with self.db.read() as conn:
                doc = store.hl7_document(conn, document_id)
                legs = store.hl7_outcomes(conn, document_id)
            assert doc is not None
            asked = json.loads(doc.request)
            cdas = [self.blobs.get(digest) for digest in json.loads(doc.documents)]
            for leg in legs:
                if leg.channel == "dmp" and leg.state == "a-faire":
                    self._feed_dmp(doc, asked, cdas, leg)
            pending = [leg for leg in legs if leg.channel == "mss" and leg.state == "a-faire"]
            if pending:
                self._send_mss(doc, asked, cdas[0], pending)
        except Exception:
            log.exception("PFI : document %s non distribué", document_id)

    def _feed_dmp(self, doc, asked: dict, cdas: list[bytes], leg) -> None:
        flags = asked["flags"]
        visibility = tuple(
            code
            for flag, code in (
                ("MASQUE_PS", "MASQUE_PS"),
                ("INVISIBLE_PATIENT", "INVISIBLE_PATIENT"),
                ("INVISIBLE_REP_LEGAUX", "INVISIBLE_REPRESENTANTS_LEGAUX"),
            )
            if flags.get(flag)
        )
        headers = {"Content-Type": "application/fhir+json", **self.channels.dmp_headers()}
        if flags.get("CONNEXION_SECRETE"):  # the VIHF's confidentiality-code (mapping.md)
            headers["X-Connexion-Secrete"] = "oui"
        base = self.channels.dmp_url.rstrip("/")
        answer: httpx.Response | None = None
        try:
            if doc.action == "initial" and flags.get("MODIF_CONF_CODE"):
                # MODIF_CONF_CODE (profils-messages.md): the masking / visibility of a document the DMP
                # holds changes — its metadata is updated (PDSm st_maj: JSON Patch of securityLabel)
                held = self._dmp_lookup(base, headers, doc.unique_id, doc.ins, asked["ins_oid"])
                if held:
                    answer = self._relabel(base, headers, doc.unique_id, cdas[0], visibility)
                    ok, reference = answer.status_code == 200, held
                    code, label = ("", "") if ok else _dmp_error(answer)
                    self._dmp_outcome(doc, flags, leg, ok, reference, code, label)
                    return
            if doc.action != "initial" and not asked["dmp_target"]:  # put there by another system: ask the DMP
                wanted = doc.replaced_id if doc.action == "remplacement" else doc.unique_id
                asked["dmp_target"] = self._dmp_lookup(base, headers, wanted, doc.ins, asked["ins_oid"])
            if doc.action != "initial" and not asked["dmp_target"]:
                wanted = doc.replaced_id if doc.action == "remplacement" else doc.unique_id
                ok, reference, code, label = False, "", "XDSMissingDocument", f"document {wanted} absent du DMP"
            elif doc.action == "suppression":
                answer = self.http.delete(f"{base}/{asked['dmp_target']}", headers=headers)
                ok, reference = answer.status_code in (200, 204), asked["dmp_target"]
            else:
                produced = [
                    Produced(
                        cda,
                        visibility=visibility,
                        transforms=0 if index else None,
                        replaces=asked["dmp_target"] or None if index == 0 else None,
                    )
                    for index, cda in enumerate(cdas)
                ]
                bundle = provide_bundle(produced, source_id=self.channels.source_oid)
                answer = self.http.post(base, content=orjson.dumps(bundle), headers=headers)
                ok = answer.status_code == 200
                reference = _location(answer) if ok else ""
            if answer is not None:
                code, label = ("", "") if ok else _dmp_error(answer)
        except httpx.HTTPError as exc:
            ok, reference, code, label = False, "", "DMP_INJOIGNABLE", f"DMP injoignable : {exc}"[:300]
        self._dmp_outcome(doc, flags, leg, ok, reference, code, label)

    def _settle(self, doc, leg, state: str, code: str, detail: str, reference: str | None = None) -> None:
        """A leg's outcome, and its audit record (the patient's INS, the stay): what the PFI did with
        a document of the patient, in the same transaction (the group commit's)."""
        values = dict(state=state, code=code, detail=detail[:2000], updated_at=_now())
        if reference is not None:
            values["reference"] = reference
        entry = audit.Trail.entry(
            self.actor,
            f"pfi.hl7.{leg.channel}",
            patient=doc.ins,
            outcome="success" if state in ("accepte", "envoye", "distribue", "lu") else "failure",
            detail={
                "document": doc.unique_id,
                "action": doc.action,
                "sejour": f"{leg.stay_structure}/{leg.stay_number}",
                "destinataire": leg.recipient,
                "etat": state,
                "code": code,
                # the DMP entry or the MSSanté Message-ID: the observatory ties a message the
                # operators carried to the identity status of its document (issue 23 §2)
                **({"reference": reference} if reference else {}),
            },
        )
        self._commit(lambda conn: store.hl7_set_outcome(conn, leg.id, **values), entry)

    def _dmp_outcome(self, doc, flags: dict, leg, ok: bool, reference: str, code: str, label: str) -> None:
        """The DMP leg's outcome recorded, then its ZAM^Z01 (asked for, or a refusal)."""
        self._settle(doc, leg, "accepte" if ok else "refuse", code, label, reference)
        if ok and not flags.get("ACK_RECEPTION"):
            return
        control, text = zam.dmp_received(self._parties(doc), doc.control_id, ok, code, label)
        self._send_zam(doc.id, "Z01", control, text)

    def _relabel(
        self, base: str, headers: dict[str, str], unique_id: str, cda: bytes, visibility: tuple[str, ...]
    ) -> httpx.Response:
        """PATCH the held DocumentReference's securityLabel (conditional on its uniqueId, PDSm
        st_maj.md): the document's confidentiality and the visibility the message asks for now."""
        from maison.formats import xmlsafe
        from maison.formats.cda.header import read_header
        from maison.formats.pdsm import URL_CONFIDENTIALITY, URL_VISIBILITY

        header = read_header(xmlsafe.parse(cda, max_bytes=len(cda) + 1))
        labels = [{"coding": [{"system": URL_VISIBILITY, "code": code}]} for code in visibility]
        if header.confidentiality is not None:
            labels.insert(0, {"coding": [{"system": URL_CONFIDENTIALITY, "code": header.confidentiality.code}]})
        return self.http.patch(
            f"{base}/DocumentReference",
            params={"identifier": f"urn:oid:{unique_id}"},
            content=orjson.dumps([{"op": "replace", "path": "/securityLabel", "value": labels}]),
            headers={**headers, "Content-Type": "application/json-patch+json"},
        )

    def _dmp_lookup(self, base: str, headers: dict[str, str], unique_id: str, ins: str, ins_oid: str) -> str:
        """The DMP's current DocumentReference of `unique_id` (ITI-67 by identifier), or ""."""
        answer = self.http.get(
            f"{base}/DocumentReference",
            params={
                "patient.identifier": f"urn:oid:{ins_oid}|{ins}",
                "identifier": f"urn:ietf:rfc:3986|urn:oid:{unique_id}",
                "status": "current",
            },
            headers=headers,
        )
        if answer.status_code != 200:
            return ""
        entries = answer.json().get("entry") or []
        return f"DocumentReference/{entries[0]['resource']['id']}" if entries else ""

    def _send_mss(self, doc, asked: dict, cda: bytes, legs: list) -> None:
        submission = self.channels.submission
        assert submission is not None  # _check_channels refused the message otherwise
        flags = asked["flags"]
        body = asked["body_ps"] or asked["body_patient"]
        if not body and doc.action != "initial":
            body = (
                "Remplacement" if doc.action == "remplacement" else "Suppression"
            ) + f" du document {doc.unique_id}."
        visibility = ("INVISIBLE_PATIENT",) if flags.get("INVISIBLE_PATIENT") else ()
        recipients = [leg.recipient for leg in legs]
        try:
            message_id, _sent, refused = send_document(
                cda, recipients, submission, self.channels.source_oid, visibility, body
            )
        except Exception as exc:  # the operator unreachable: every leg failed, said with SMTP's 421
            log.warning("PFI : envoi MSSanté impossible : %s", exc)
            message_id, refused = "", {r: f"421 {exc}"[:300] for r in recipients}
        for leg in legs:
            reply = refused.get(leg.recipient)
            code = reply.split(" ", 1)[0] if reply else ""
            self._settle(doc, leg, "echec" if reply else "envoye", code, reply or "", message_id)
            if reply or flags.get("ACK_RECEPTION"):
                control, text = zam.mss_received(
                    self._parties(doc), doc.control_id, leg.recipient, not reply, code, reply or ""
                )
                self._send_zam(doc.id, "Z02", control, text)

    # --- what the operator and the recipients report later -------------------------------------------

    def report(self, raw: bytes) -> int:
        """A DSN (delivery failed or delivered: Z02) or an MDN (read or processed with an error: Z03)
        received about a message the PFI sent; the legs it names are updated and their ZAM sent.
        Returns how many legs it concerned (0: not about a document of the PFI)."""
        concerned = 0
        for line in reports.read_dsn(raw):
            delivered = line.action.lower() in ("delivered", "relayed", "expanded")
            concerned += self._reported(
                line.original_message_id,
                line.recipient,
                "Z02",
                "distribue" if delivered else "echec",
                delivered,
                "" if delivered else line.smtp_code,
                line.diagnostic,
            )
        disposition = reports.read_mdn(raw)
        if disposition is not None:
            reader = mime_sender(raw)
            ok = disposition.error_code is None
            concerned += self._reported(
                disposition.original_message_id,
                reader,
                "Z03",
                "lu" if ok else "erreur-lecture",
                ok,
                disposition.error_code or "",
                disposition.error_text,
            )
        return concerned

    def _reported(
        self, message_id: str, recipient: str, event: str, state: str, ok: bool, code: str, detail: str
    ) -> int:
        with self.db.read() as conn:
            leg = store.hl7_outcome_by_reference(conn, message_id, recipient)
            doc = store.hl7_document(conn, leg.document_id) if leg is not None else None
        if leg is None or doc is None:
            return 0
        if leg.state == state:  # the same report again (a mailbox read twice): told once
            return 1
        self._settle(doc, leg, state, code, detail)
        flags = json.loads(doc.request)["flags"]
        wanted = flags.get("ACK_LECTURE_MSS") if event == "Z03" else flags.get("ACK_RECEPTION")
        if ok and not wanted:
            return 1
        build = zam.mss_read if event == "Z03" else zam.mss_received
        control, text = build(self._parties(doc), doc.control_id, recipient, ok, code, detail[:200])
        self._send_zam(doc.id, event, control, text)
        return 1

    # --- the ZAM over MLLP ---------------------------------------------------------------------------

    def _parties(self, doc) -> zam.Parties:
        application, _, facility = doc.sender.partition("^")
        return zam.Parties(self.channels.application, self.channels.structure, application, facility)

    def _send_zam(self, document_id: str, event: str, control: str, text: str) -> None:
        """Send one ZAM to the creator and record it with the creator's MSA-1 (or why it was not
        reached: the record says so, nothing claims it arrived)."""
        answer = self._zam_links.deliver(text)
        row = dict(
            id=str(uuid.uuid4()),
            document_id=document_id,
            event=event,
            control_id=control,
            message=text,
            answer=answer,
            sent_at=_now(),
        )
        self._commit(lambda conn: store.hl7_record_zam(conn, row))

    def _commit(self, write: Callable[[sa.Connection], None], *entries: dict) -> None:
        """`write` and its audit records in the group commit's transaction, returning once committed."""

        def work(conn: sa.Connection) -> tuple[None, list, list]:
            write(conn)
            return None, [], list(entries)

        self.commits.run(work)


class _ZamLinks:
    """The MLLP connections to the creator the ZAM go on: one per delivery thread, kept open between
    ZAM (MLLP's sender waits for each ACK, HL7 v2.5 Appendix C) and opened again once when the
    creator closed it. A ZAM not answered is said so ("injoignable : …") and sent again at the next
    start."""

    def __init__(self, channels: Channels) -> None:
        self.channels = channels
        self._local = threading.local()
        self._open_clients: list[MllpClient] = []
        self._lock = threading.Lock()

    def deliver(self, text: str) -> str:
        """The creator's MSA-1 for one ZAM, or why it was not reached."""
        if not self.channels.zam_port:
            return "non envoyé : aucune adresse MLLP du créateur configurée"
        reused = getattr(self._local, "client", None) is not None
        try:
            return self._send(text)
        except Exception as exc:  # noqa: BLE001 — recorded, and sent again at the next start
            self._drop()
            if not reused:
                return f"injoignable : {exc}"[:300]
        try:  # the kept connection was closed by the creator meanwhile: once more, on a new one
            return self._send(text)
        except Exception as exc:  # noqa: BLE001
            self._drop()
            return f"injoignable : {exc}"[:300]

    def _send(self, text: str) -> str:
        client = getattr(self._local, "client", None)
        if client is None:
            client = MllpClient(self.channels.zam_host or "127.0.0.1", self.channels.zam_port, timeout=30)
            self._local.client = client
            with self._lock:
                self._open_clients.append(client)
        return str(client.send_message(text).segment("MSA")[1])

    def _drop(self) -> None:
        client = getattr(self._local, "client", None)
        self._local.client = None
        if client is not None:
            client.close()
            with self._lock:
                if client in self._open_clients:
                    self._open_clients.remove(client)

    def close(self) -> None:
        with self._lock:
            for client in self._open_clients:
                client.close()
            self._open_clients.clear()


def from_settings(db: Database, blobs: Blobs, settings: Settings, *, resume: bool = True) -> Hl7Documents | None:
    """The receiver `maison serve --mllp-port` runs for ORU and MDM, when the PFI is configured
    (`pfi_structure`; the pfi_* settings, maison.core.config); it takes up what a stop left
    undelivered (`resume`: the MLLP process only, so that nothing is delivered twice)."""
    s = settings
    if not s.pfi_structure:
        return None
    submission = (
        Submission(s.pfi_mss_host, s.pfi_mss_port, s.pfi_mss_ca, s.pfi_mss_mailbox, s.pfi_mss_password)
        if s.pfi_mss_host and s.pfi_mss_port
        else None
    )
    authorization = {"Authorization": s.pfi_dmp_authorization} if s.pfi_dmp_authorization else {}
    channels = Channels(
        structure=s.pfi_structure,
        dmp_url=s.pfi_dmp_url,
        dmp_headers=lambda: dict(authorization),
        submission=submission,
        zam_host=s.pfi_zam_host,
        zam_port=s.pfi_zam_port,
    )
    receiver = Hl7Documents(db, blobs, channels)
    if resume:
        receiver.resume()
    return receiver


def mime_sender(raw: bytes) -> str:
    """The mailbox a report came from (its From address)."""
    import email
    import email.policy
    import email.utils

    msg = email.message_from_bytes(raw, policy=email.policy.default)
    return email.utils.parseaddr(str(msg.get("From", "")))[1]


def _location(answer: httpx.Response) -> str:
    """The DocumentReference the DMP created (the ITI-65 response's second entry: List, then it)."""
    try:
        for entry in answer.json().get("entry", []):
            location = entry.get("response", {}).get("location", "")
            if location.startswith("DocumentReference/"):
                return "/".join(location.split("/")[:2])
    except ValueError:
        pass
    return ""


def _dmp_error(answer: httpx.Response) -> tuple[str, str]:
    """The DMP's refusal: the OperationOutcome's code and text (its status when it has none)."""
    try:
        issue = answer.json()["issue"][0]
        coding = (issue.get("details", {}).get("coding") or [{}])[0]
        code = coding.get("code") or issue.get("code") or str(answer.status_code)
        return str(code)[:64], str(issue.get("diagnostics") or issue.get("details", {}).get("text") or code)[:300]
    except (ValueError, KeyError, IndexError, TypeError):
        return str(answer.status_code), answer.text[:300]
