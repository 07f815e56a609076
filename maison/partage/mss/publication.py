"""An operator publishes its mailboxes in the Annuaire Santé, so that senders find their recipients.

As the Annuaire's "BAL MSS" specification has operators do it (IG fhir-annuaire, balmss-spec;
maison/identite/annuaire/mailbox_patch.py): a conditional FHIRPath Patch on the carrier found by
its identifier — the Practitioner by IdNatPS for a PER mailbox, the Organization by IdNatStruct for
ORG, APP and CAB mailboxes —, over HTTP with the operator's API key (role `operateur-mss`). The
liste rouge (the holder's refusal to appear) is the mailbox metadata's `listeRouge`: the Annuaire
then neither finds nor shows the mailbox. The citizen mailboxes of Mon espace santé are never
published.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson

from maison.core.errors import InvalidInput, MaisonError
from maison.identite.annuaire.resources import mailbox as contact_point
from maison.identite.annuaire.vocabulary import EXT_MAILBOX, SYS_IDNATPS, SYS_IDNATSTRUCT
from maison.partage.mss.mailboxes import CITIZEN, Mailbox, Mailboxes

log = logging.getLogger(__name__)


class PublicationRefused(MaisonError):
    http_status = 502
    code = "annuaire-refus"


def _carrier(box: Mailbox) -> tuple[str, str]:
    if box.kind == CITIZEN:
        raise InvalidInput("une BAL citoyenne n'est pas publiée dans l'Annuaire", code="bal-citoyenne")
    if box.kind == "PER":
        return "Practitioner", f"{SYS_IDNATPS}|{box.owner}"
    return "Organization", f"{SYS_IDNATSTRUCT}|{box.owner}"


def _operation(kind: str, path: str, **value) -> dict:
    parts = [{"name": "type", "valueCode": kind}, {"name": "path", "valueString": path}]
    if value:
        parts.append({"name": "value", **value})
    return {"name": "operation", "part": parts}


class Publication:
    def __init__(self, annuaire_url: str, api_key: str, *, timeout: float = 30) -> None:
        self.http = httpx.Client(
            base_url=annuaire_url.rstrip("/"),
            timeout=timeout,
            headers={"ESANTE-API-KEY": api_key, "Content-Type": "application/fhir+json"},
        )

    def _patch(self, box: Mailbox, operation: dict) -> dict:
        rtype, identifier = _carrier(box)
        answer = self.http.patch(
            f"/{rtype}",
            params={"identifier": identifier},
            content=orjson.dumps({"resourceType": "Parameters", "parameter": [operation]}),
        )
        if answer.status_code != 200:
            issue = (
                (answer.json().get("issue") or [{}])[0]
                if answer.headers.get("content-type", "").startswith(("application/fhir+json", "application/json"))
                else {}
            )
            raise PublicationRefused(f"Annuaire : {answer.status_code} {issue.get('diagnostics', answer.text[:200])}")
        return answer.json()

    def publish(self, box: Mailbox, *, description: str = "", service: str = "") -> dict:
        rtype, _ = _carrier(box)
        return self._patch(
            box,
            _operation(
                "insert",
                f"{rtype}.telecom",
                valueContactPoint=contact_point(
                    box.address, box.kind, liste_rouge=box.liste_rouge, description=description, service=service
                ),
            ),
        )

    def liste_rouge(self, box: Mailbox, on: bool) -> dict:
        rtype, _ = _carrier(box)
        return self._patch(
            box,
            _operation(
                "replace",
                f"{rtype}.telecom.where(value = '{box.address}').extension('{EXT_MAILBOX}')"
                f".extension('listeRouge').value",
                valueBoolean=on,
            ),
        )

    def withdraw(self, box: Mailbox) -> dict:
        rtype, _ = _carrier(box)
        return self._patch(box, _operation("delete", f"{rtype}.telecom.where(value = '{box.address}')"))

    def close(self) -> None:
        self.http.close()


@dataclass(frozen=True)
class AnnuaireAccess:
    """Where an operator publishes and its API key (role `operateur-mss`): kept beside its
    certificate, readable by the house only (never in the repository, never in the database).
    `url` OWN: the Annuaire of the house that runs the operator, wherever it is served then (issue 21
    §1.4: an operator registered before `maison serve --port …` published to the port it was
    registered with, and said nothing)."""

    url: str
    api_key: str

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as out:
            json.dump({"url": self.url, "api_key": self.api_key}, out)

    @classmethod
    def load(cls, path: Path, *, own: str) -> AnnuaireAccess | None:
        """The access saved at `path`, this house's Annuaire read as `own` (its URL now)."""
        if not path.is_file():
            return None
        data = json.loads(path.read_text())
        return cls(own if data["url"] == OWN else data["url"], data["api_key"])


OWN = "maison:annuaire"  # saved for "this house's Annuaire", resolved when the operator starts


def publish_pending(mailboxes: Mailboxes, operator: str, publication: Publication) -> tuple[int, int]:
    """Publish the operator's new mailboxes (issue 5 §1.3: each operator publishes its mailboxes, so
    that recipients are found in the Annuaire); a refusal or an unreachable Annuaire leaves the
    mailbox pending with the reason, for the next pass. Returns (published, still pending)."""
    published = failed = 0
    for box in mailboxes.to_publish(operator):
        try:
            publication.publish(box)
        except (PublicationRefused, httpx.HTTPError) as exc:
            reason = str(exc) or type(exc).__name__
            log.warning(
                "BAL %s non publiée dans l'Annuaire (%s) : nouvel essai au prochain passage", box.address, reason
            )
            mailboxes.publication_done(box.address, error=reason)
            failed += 1
            continue
        mailboxes.publication_done(box.address)
        published += 1
    return published, failed
