"""The patient's messagerie in Mon espace santé: read, answer, forward (000 L2087, L3255; SPEC §4).

- The patient reads the messages professionals sent to `<INS>@patient.mssante.fr` (each reading
  audited, as any access to health data);
- he answers a professional who wrote to him — never first, and not when the professional closed
  the exchange (`X-MSS-MES: FIN`, xds-cda-metadata mapping-mss.md:31-34);
- he forwards a message (an ordonnance) to a pharmacy of his choice: an organisational mailbox of
  the trust space that the Annuaire Santé lists (issue 5 §1.4).
Answers and forwards leave through the Mon espace santé operator like any mail: delivered locally or
queued for the recipient's operator (whose relay, in the operators' process, polls its outbox).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import sqlalchemy as sa

from maison.core import audit
from maison.core.actor import Actor
from maison.core.errors import Forbidden, InvalidInput, MaisonError, NotFound
from maison.formats import mime
from maison.formats.mime import CITIZEN_DOMAIN
from maison.identite.annuaire import service as annuaire
from maison.partage.mss import store
from maison.partage.mss.mailboxes import normalise
from maison.partage.mss.service import Mss
from maison.partage.mss.trust import domain_of

Method = TypeVar("Method", bound=Callable[..., Any])


def _refusal_recorded(action: str) -> Callable[[Method], Method]:
    """A refused use of the messagerie (a message not in the patient's mailbox, an exchange closed, a
    recipient outside the Annuaire) leaves its record like the allowed one (DESIGN.md §Rules): through
    the journal, since the refused action's own transaction, if any, has rolled back."""

    def decorate(method: Method) -> Method:
        @functools.wraps(method)
        def recorded(self: Messagerie, ins: str, uid: int, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, ins, uid, *args, **kwargs)
            except MaisonError as error:
                self.trail.refused(self._actor(ins), action, code=error.code, patient=ins, detail={"uid": uid})
                raise

        return recorded  # type: ignore[return-value]  # wraps keep the decorated method's signature

    return decorate


@dataclass(frozen=True)
class Summary:
    uid: int
    sender: str
    subject: str
    received_at: str
    seen: bool
    closed: bool  # X-MSS-MES: FIN — no answer possible
    attachments: tuple[str, ...]


class Messagerie:
    def __init__(self, mss: Mss, trail: audit.Trail | None = None) -> None:
        self.mss = mss
        self.trail = trail or audit.Trail(mss.db)

    def _operator(self) -> str:
        operator = self.mss.trust.for_domain(CITIZEN_DOMAIN)
        if operator is None or not operator.local:
            raise NotFound("cette maison n'héberge pas l'opérateur de Mon espace santé", code="operateur-mes-absent")
        return operator.id

    @staticmethod
    def address(ins: str) -> str:
        return f"{ins.lower()}@{CITIZEN_DOMAIN}"

    def _actor(self, ins: str) -> Actor:
        return Actor(person=ins, structure="", software="mon-espace-sante", role="patient")

    def _row(self, ins: str, uid: int) -> sa.Row:
        with self.mss.db.read() as conn:
            row = store.message(conn, self.address(ins), uid)
        if row is None:
            raise NotFound(f"message {uid} absent de la messagerie", code="message-inconnu")
        return row

    def _parsed(self, row: sa.Row) -> mime.Received:
        return mime.parse(self.mss.delivery.content(row.sha256), max_bytes=self.mss.max_message_bytes * 2)

    def inbox(self, ins: str) -> list[Summary]:
        with self.mss.db.read() as conn:
            rows = store.messages(conn, self.address(ins))
        out = []
        for row in rows:
            parsed = self._parsed(row)
            out.append(
                Summary(
                    row.uid,
                    parsed.sender,
                    parsed.subject,
                    row.received_at,
                    "\\Seen" in row.flags.split(),
                    parsed.end_of_exchange,
                    tuple(a.filename for a in parsed.attachments),
                )
            )
        self.trail.read(self._actor(ins), "espace.messagerie.lister", patient=ins, detail={"messages": len(out)})
        return out

    @_refusal_recorded("espace.messagerie.lire")
    def read(self, ins: str, uid: int) -> tuple[mime.Received, sa.Row]:
        row = self._row(ins, uid)
        parsed = self._parsed(row)
        with self.mss.db.write() as conn:
            store.set_flags(
                conn, row.address, uid, " ".join(sorted(set(row.flags.split()) - {"\\Recent"} | {"\\Seen"}))
            )
            self.trail.write(
                conn,
                self._actor(ins),
                "espace.messagerie.lire",
                patient=ins,
                detail={"uid": uid, "message_id": parsed.message_id, "expediteur": parsed.sender},
            )
        return parsed, row

    @_refusal_recorded("espace.messagerie.repondre")
    def answer(self, ins: str, uid: int, text: str) -> str:
        """The patient answers the professional who wrote (000 L3255: never first)."""
        if not text.strip():
            raise InvalidInput("réponse vide", code="reponse-vide")
        parsed = self._parsed(self._row(ins, uid))
        if parsed.end_of_exchange:
            raise Forbidden(
                "le professionnel a clos l'échange (X-MSS-MES: FIN) : pas de réponse possible", code="echange-clos"
            )
        if domain_of(parsed.sender) == CITIZEN_DOMAIN or parsed.sender.startswith(
            ("postmaster@", "reponse.automatique")
        ):
            raise Forbidden("seul un message d'un professionnel appelle une réponse", code="reponse-interdite")
        subject = parsed.subject if parsed.subject.lower().startswith("re:") else f"Re: {parsed.subject}"
        out = mime.Outgoing(self.address(ins), [parsed.sender], subject[:250], text, in_reply_to=parsed.message_id)
        return self._send(ins, out, "espace.messagerie.repondre")

    @_refusal_recorded("espace.messagerie.transferer")
    def forward(self, ins: str, uid: int, to: str, text: str = "") -> str:
        """The patient forwards a message (an ordonnance) to the pharmacy he chooses: an
        organisational mailbox listed in the Annuaire Santé."""
        recipient = normalise(to)
        with self.mss.db.read() as conn:
            listed = annuaire.is_organisational_mailbox(conn, recipient)
        if not listed:
            raise Forbidden(
                f"{recipient} n'est pas une BAL organisationnelle de l'Annuaire Santé", code="destinataire-non-annuaire"
            )
        parsed = self._parsed(self._row(ins, uid))
        out = mime.Outgoing(
            self.address(ins),
            [recipient],
            f"Tr: {parsed.subject}"[:250],
            text or "Message transféré depuis Mon espace santé.",
            parsed.attachments,
            extra_headers={"X-Forwarded-Message-ID": parsed.message_id},
        )
        return self._send(ins, out, "espace.messagerie.transferer")

    def _send(self, ins: str, out: mime.Outgoing, action: str) -> str:
        msg = mime.compose(out, domain=CITIZEN_DOMAIN)
        raw = mime.as_bytes(msg)
        message_id = str(msg["Message-ID"])
        actor = self._actor(ins)
        mine = self._operator()
        for recipient in out.to:
            if domain_of(recipient) == CITIZEN_DOMAIN:
                raise Forbidden("un patient n'écrit pas à un autre patient", code="destinataire-patient")
            operator = self.mss.trust.for_domain(domain_of(recipient))
            if operator is None:
                raise Forbidden(f"{recipient} hors de l'espace de confiance MSSanté", code="hors-espace-de-confiance")
            if operator.id == mine:
                self.mss.delivery.deliver(actor, recipient, raw, out.sender, message_id)
            else:
                self.mss.delivery.enqueue(actor, mine, operator.id, out.sender, [recipient], raw, message_id)
        with self.mss.db.write() as conn:
            self.trail.write(conn, actor, action, patient=ins, detail={"message_id": message_id, "a": out.to})
        return message_id
