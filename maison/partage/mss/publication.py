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
import time
from collections.abc import Callable
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


class Retries:
    """When a failed publication is tried again: after `first` seconds, twice as long after each new
    failure, never more than `ceiling` apart, and at once after a success (exponential backoff, as a
    mail queue retries a delivery: RFC 5321 §4.5.4.1). Kept per mailbox, and for the Annuaire itself
    (`ANNUAIRE`) when it cannot be reached. In memory: one process publishes an operator's mailboxes,
    and a restart tries everything at once."""

    def __init__(self, first: float = 0.0, ceiling: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.first, self.ceiling, self.clock = first, ceiling, clock
        self._failed: dict[str, tuple[int, float]] = {}  # key → (failures in a row, next attempt at)

    def due(self, key: str) -> bool:
        failed = self._failed.get(key)
        return failed is None or self.clock() >= failed[1]

    def failure(self, key: str) -> tuple[int, float]:
        """Record a failure: (failures in a row, seconds until the next attempt)."""
        count = self._failed.get(key, (0, 0.0))[0] + 1
        delay = min(self.first * 2 ** (count - 1), self.ceiling)
        self._failed[key] = (count, self.clock() + delay)
        return count, delay

    def success(self, key: str) -> None:
        self._failed.pop(key, None)


ANNUAIRE = ""  # the Retries key of the Annuaire itself


def _when(delay: float) -> str:
    return f"dans {delay:.0f} s" if delay >= 1 else "au prochain passage"


def publish_pending(
    mailboxes: Mailboxes, operator: str, publication: Publication, retries: Retries | None = None
) -> tuple[int, int]:
    """Publish the operator's new mailboxes (issue 5 §1.3: each operator publishes its mailboxes, so
    that recipients are found in the Annuaire). Each failure is logged with its reason and the mailbox
    stays pending with it, tried again as `retries` says (issue 21 §1.4); an unreachable Annuaire ends
    the pass (the next mailboxes would only wait for it too). Returns (published, failed)."""
    retries = retries or Retries()
    published = failed = 0
    if not retries.due(ANNUAIRE):
        return 0, 0
    for box in mailboxes.to_publish(operator):
        if not retries.due(box.address):
            continue
        try:
            publication.publish(box)
        except httpx.TransportError as exc:  # nothing answered: the Annuaire, not this mailbox
            reason = f"{type(exc).__name__} {exc}".strip()
            count, delay = retries.failure(ANNUAIRE)
            log.warning(
                "Annuaire %s injoignable (%s) : BAL de l'opérateur %s non publiées, échec n° %d, nouvel essai %s",
                publication.http.base_url,
                reason,
                operator,
                count,
                _when(delay),
            )
            mailboxes.publication_done(box.address, error=f"Annuaire injoignable : {reason}")
            return published, failed + 1
        except (PublicationRefused, httpx.HTTPError) as exc:
            retries.success(ANNUAIRE)  # it answered
            reason = str(exc) or type(exc).__name__
            count, delay = retries.failure(box.address)
            log.warning(
                "BAL %s non publiée dans l'Annuaire (%s) : échec n° %d, nouvel essai %s",
                box.address,
                reason,
                count,
                _when(delay),
            )
            mailboxes.publication_done(box.address, error=reason)
            failed += 1
            continue
        retries.success(ANNUAIRE)
        retries.success(box.address)
        mailboxes.publication_done(box.address)
        published += 1
    return published, failed
