"""What each audit record adds to the national statistics (the fold's rules, without SQL).

The records read (and only successful ones: 001 L430 counts "appels avec succès", a refused feed fed
nothing):
- `dmp.alimenter` — one feeding transaction (a PDSm lot) of the structure `actor_structure` through the
  software `actor_software`, its documents' typeCodes in `types` (dmp/service.py `_commit`);
- `mss.bal.creer` — a mailbox, its operator and type (mss/mailboxes.py `create`);
- `mss.remettre` — a message delivered into a mailbox (`bal`) by the mailbox's operator, from `expediteur`;
- `mss.relayer` — a message handed by the sender's operator (`operateur`) to another one, for
  `destinataires` (mss/delivery.py `enqueue`);
- the five calls of the ordonnance base that 001 L424-462 counts (ordonnance/service.py);
- `pfi.hl7.document` — a document a hospital's PFI received from its DPI, with the identity's status
  PID-32 (`statut_ins`: QUAL is a qualified INS, PAM FR 2.11) that the DMP feed does not carry;
- `pfi.hl7.mss` — the PFI's MSSanté leg of such a document, sent (`etat` envoye) under the Message-ID
  in `reference`: the message the operators carried holds the document, and so its identity's INS.

Months are those of `recorded_at` (UTC, as the trail writes it).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from maison.core import audit
from maison.observatoire.national.model import CITIZEN_KIND, HR_TYPE_CODE

CITIZEN_DOMAIN = "patient.mssante.fr"  # 000 L2087: <matricule INS>@patient.mssante.fr
DMP_FEED = "dmp.alimenter"
MAILBOX_CREATED, DELIVERED, RELAYED = "mss.bal.creer", "mss.remettre", "mss.relayer"
# 001 L424-462: the doctors' view (created, consulted, searched) and the pharmacists' (consulted, executed)
ORDONNANCE_COUNTERS = {
    "ordonnance.creer": "creees",
    "ordonnance.consulter.prescripteur": "consultees_prescripteur",
    "ordonnance.rechercher": "recherchees",
    "ordonnance.consulter.executant": "consultees_executant",
    "ordonnance.executer": "executees",
}
PRESCRIBER_SIDE = ("ordonnance.creer", "ordonnance.consulter.prescripteur", "ordonnance.rechercher")
PFI_DOCUMENT, PFI_MSS = "pfi.hl7.document", "pfi.hl7.mss"
QUALIFIED = "QUAL"  # PID-32 (PAM FR 2.11): the identity is qualified, its INS may be shared
ACTIONS = (DMP_FEED, MAILBOX_CREATED, DELIVERED, RELAYED, PFI_DOCUMENT, PFI_MSS, *ORDONNANCE_COUNTERS)

Mailboxes = Callable[[Iterable[str]], dict[str, tuple[str, str]]]  # address -> (operator, kind), folded before
Statuses = Callable[[Iterable[str]], dict[str, str]]  # document -> PID-32 status, folded before


@dataclass
class Facts:
    """What one batch of records adds, ready for the store."""

    # feeds, documents, HR feeds, HR documents, documents without a qualified INS, newest seq
    dmp: dict[tuple[str, str, str], list[int]] = field(default_factory=dict)
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)  # PID-32 status by document
    qualified_messages: dict[str, dict[str, Any]] = field(default_factory=dict)  # Message-IDs with a qualified INS
    mailboxes: dict[str, dict[str, Any]] = field(default_factory=dict)
    messages: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    active: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    counters: Counter[tuple[str, str]] = field(default_factory=Counter)
    actors: set[tuple[str, str, str]] = field(default_factory=set)  # (name, month, key)

    def dmp_rows(self) -> list[dict[str, Any]]:
        keys = ("feeds", "documents", "hr_feeds", "hr_documents", "unqualified", "last_seq")
        return [
            {"month": m, "structure": st, "software": sw, **dict(zip(keys, v, strict=True))}
            for (m, st, sw), v in self.dmp.items()
        ]

    def actor_rows(self) -> list[dict[str, Any]]:
        return [{"name": n, "month": m, "key": k} for n, m, k in sorted(self.actors)]


def read(records: list[dict[str, Any]], known: Mailboxes, statuses: Statuses = lambda _: {}) -> Facts:
    """The facts of `records` (in seq order). `known` and `statuses` answer the mailboxes and the
    documents' identity statuses folded by earlier batches."""
    facts = Facts()
    done = [(r, audit.detail_of(r)) for r in records if r["outcome"] == "success"]  # each detail read once
    for r, detail in done:
        if r["action"] == MAILBOX_CREATED:
            _mailbox(facts, r, detail)
    addresses = {a for r, d in done if r["action"] in (DELIVERED, RELAYED) for a in _addresses(d)}
    boxes = {**known(addresses - facts.mailboxes.keys()), **_boxes(facts)}
    fed = {_document(x) for r, d in done if r["action"] == DMP_FEED for x in d.get("documents") or []}
    sent = {_document(d.get("document", "")) for r, d in done if r["action"] == PFI_MSS}
    status = statuses(fed | sent)
    for r, detail in done:
        action = r["action"]
        if action == PFI_DOCUMENT:
            _status(facts, status, r, detail)
        elif action == PFI_MSS:
            _pfi_message(facts, status, r, detail)
        elif action == DMP_FEED:
            _feed(facts, r, detail, status)
        elif action == DELIVERED:
            _delivered(facts, r, detail, boxes)
        elif action == RELAYED:
            _relayed(facts, r, detail)
        elif action in ORDONNANCE_COUNTERS:
            _ordonnance(facts, r)
    return facts


def _month(record: dict[str, Any]) -> str:
    return str(record["recorded_at"])[:7]


def _document(unique_id: object) -> str:
    """A document's id as the PFI writes it (root.extension, hl7_request.py) — the DMP writes root^extension."""
    return str(unique_id).replace("^", ".")


def _status(facts: Facts, status: dict[str, str], r: dict[str, Any], detail: dict[str, Any]) -> None:
    document = _document(detail.get("document", ""))
    if document:
        value = str(detail.get("statut_ins", ""))
        status[document] = value
        facts.documents[document] = {"document": document, "status": value, "seq": int(r["seq"])}


def _pfi_message(facts: Facts, status: dict[str, str], r: dict[str, Any], detail: dict[str, Any]) -> None:
    """000 L2017 on MSSanté: a message the PFI sent with a document of a qualified identity carries its
    INS (the CDA's recordTarget, CI-SIS). The operators carry attachments unopened (mss/smtp.py
    `_parsed`): the PFI's record of what it put in the message is the one that says so."""
    message_id = str(detail.get("reference", ""))
    document = _document(detail.get("document", ""))
    if detail.get("etat") == "envoye" and message_id and status.get(document) == QUALIFIED:
        facts.qualified_messages.setdefault(message_id, {"message_id": message_id, "seq": int(r["seq"])})


def _feed(facts: Facts, r: dict[str, Any], detail: dict[str, Any], status: dict[str, str]) -> None:
    """003 L1749-1750: feeding transactions and documents "hors HR". A lot holding only the
    reimbursement history is an HR feed; a lot with any other document is a feed, its HR documents
    left out of its count. A feed later deleted or replaced stays a feed of its month (a flow, as
    the seed's monthly series is): the deletion is another record, not an un-feeding.
    000 L2017: a document fed is indexed under an INS the DMP checked against the referential; it
    is counted without a qualified INS when the PFI that received it from the DPI recorded the
    identity as not qualified (PID-32 other than QUAL): the INS was sent, but not from a qualified
    identity (the DMP feed itself does not say)."""
    types = list(detail.get("types") or [])
    documents = [_document(d) for d in detail.get("documents") or []]
    hr = sum(t == HR_TYPE_CODE for t in types)
    other = len(types) - hr
    unqualified = sum(
        status.get(d, QUALIFIED) != QUALIFIED for d, t in zip(documents, types, strict=False) if t != HR_TYPE_CODE
    )
    row = facts.dmp.setdefault((_month(r), r["actor_structure"], r["actor_software"]), [0, 0, 0, 0, 0, 0])
    row[0] += 1 if other else 0
    row[1] += other
    row[2] += 0 if other else 1
    row[3] += hr
    row[4] += unqualified
    row[5] = max(row[5], int(r["seq"]))


def _mailbox(facts: Facts, r: dict[str, Any], detail: dict[str, Any]) -> None:
    address = str(detail.get("bal", "")).lower()
    if address:
        facts.mailboxes[address] = {
            "address": address,
            "operator": str(detail.get("operateur", "")),
            "kind": str(detail.get("type", "")),
            "month": _month(r),
            "seq": int(r["seq"]),
        }


def _boxes(facts: Facts) -> dict[str, tuple[str, str]]:
    return {a: (m["operator"], m["kind"]) for a, m in facts.mailboxes.items()}


def _addresses(detail: dict[str, Any]) -> set[str]:
    found = {str(detail.get(k, "")).lower() for k in ("bal", "expediteur")}
    return {a for a in found if a}


def _citizen(address: str, boxes: dict[str, tuple[str, str]]) -> bool:
    return address.endswith("@" + CITIZEN_DOMAIN) or boxes.get(address, ("", ""))[1] == CITIZEN_KIND


def _message(facts: Facts, operator: str, flow: str, r: dict[str, Any], message_id: str) -> None:
    if operator and message_id:
        facts.messages.setdefault(
            (operator, flow, message_id),
            {"operator": operator, "flow": flow, "message_id": message_id, "month": _month(r), "seq": int(r["seq"])},
        )


def _active(facts: Facts, r: dict[str, Any], address: str) -> None:
    if address:
        facts.active.setdefault((_month(r), address), {"month": _month(r), "address": address, "seq": int(r["seq"])})


def _delivered(facts: Facts, r: dict[str, Any], detail: dict[str, Any], boxes: dict[str, tuple[str, str]]) -> None:
    """A delivery is a message received by the mailbox's operator; and a message sent by it when the
    sender's mailbox is its own (submitted there, not relayed in: a relayed message was counted sent
    from the `mss.relayer` record of its sender's operator)."""
    bal, sender = str(detail.get("bal", "")).lower(), str(detail.get("expediteur", "")).lower()
    message_id = str(detail.get("message_id", ""))
    receiver = boxes.get(bal, (r["actor_structure"], ""))[0]
    _message(facts, receiver, "recu", r, message_id)
    _active(facts, r, bal)
    _active(facts, r, sender)
    origin = boxes.get(sender)
    if origin is not None and origin[0] == receiver:
        _message(facts, receiver, "envoye", r, message_id)
        if _citizen(bal, boxes):
            _message(facts, receiver, "patient", r, message_id)


def _relayed(facts: Facts, r: dict[str, Any], detail: dict[str, Any]) -> None:
    operator, message_id = str(detail.get("operateur", "")), str(detail.get("message_id", ""))
    _message(facts, operator, "envoye", r, message_id)
    if any(str(a).lower().endswith("@" + CITIZEN_DOMAIN) for a in detail.get("destinataires") or []):
        _message(facts, operator, "patient", r, message_id)
    _active(facts, r, str(detail.get("expediteur", "")).lower())  # recorded since issue 23 (SUN-ES PS3.2)


def _ordonnance(facts: Facts, r: dict[str, Any]) -> None:
    """001 L424-462's counters, and who: the doctors who created, the structures that executed (the
    pharmacies of L448), the software of each side (L426, L445) — as `Base.counters` reads them."""
    action, month = r["action"], _month(r)
    facts.counters[(month, ORDONNANCE_COUNTERS[action])] += 1
    if action == "ordonnance.creer":
        facts.actors.add(("prescripteurs", month, r["actor_person"]))
    if action == "ordonnance.executer":
        facts.actors.add(("executants", month, r["actor_structure"]))
    side = "logiciels_prescripteurs" if action in PRESCRIBER_SIDE else "logiciels_executants"
    facts.actors.add((side, month, r["actor_software"]))
