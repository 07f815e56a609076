"""The patient's information state, as the GAM announced it in ZFA, carried to his DMP (seed 002
L541-543: "l'information doit pouvoir être véhiculée entre les logiciels … en intra-hospitalier via le
flux IHE PAM"; issue 22 §1.1).

The hospital wing reaches the DMP over its protocol only (DESIGN.md §Rules): a FHIR `Consent` posted
to the DMP's base (`POST /dmp/Consent`) with the structure's software key — the establishment is a
party to the record ("Le ES/PS peut alimenter", 002 L555-559), and the Consent names it
(Consent.organization), the DMP recording it for that structure only — one provision per axis —
feeding from ZFA-9 (INO informed and not opposed: permit; IO informed and opposed: deny), consulting
from ZFA-11 (IC: permit; INC: deny); NA (not collected) is left out, which the DMP reads as not
informed. Only a qualified identity's INS names the patient to the DMP (seed 000 L2007-2009): the
state of an identity that is not qualified stays recorded in the structure and is not sent.

It runs after the message's commit, beside the ACK and never before it: a DMP that is slow or down
does not hold the GAM's flow. What became of each state is recorded (`store.sej_dmp_state.propagation`)
and audited; those that failed on the network are tried again when the listener starts (`sweep`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import httpx

from maison.core.actor import Actor
from maison.etablissement.sejours.service import Sejours

log = logging.getLogger(__name__)

FEEDING = {"INO": "permit", "IO": "deny"}  # ZFA-9
CONSULTING = {"IC": "permit", "INC": "deny"}  # ZFA-11


MOTIF = (
    "opposition recueillie par l'établissement à l'admission (IHE PAM France ZFA-9 = IO), "
    "motif conservé par l'établissement"
)


def consent(state: dict, ins: str, oid: str, motif_extension: str = "", structure: str = "") -> dict:
    """The DMP's Consent for one information state (the shape `POST /dmp/Consent` reads), for
    `structure` (Consent.organization) when given."""
    provisions = [
        {"type": kind, "action": [{"coding": [{"code": axis}]}]}
        for axis, kind in (
            ("alimentation", FEEDING.get(state["feeding"])),
            ("consultation", CONSULTING.get(state["consultation"])),
        )
        if kind
    ]
    body: dict = {
        "resourceType": "Consent",
        "status": "active",
        "patient": {"identifier": {"system": f"urn:oid:{oid}", "value": ins}},
        "provision": {"type": "permit"},
    }
    if structure:
        body["organization"] = [{"identifier": {"value": structure}}]
    if provisions:
        body["provision"]["provision"] = provisions
    if FEEDING.get(state["feeding"]) == "deny" and motif_extension:
        body["extension"] = [{"url": motif_extension, "valueString": MOTIF}]
    return body


class DmpInformation:
    """Send each new information state of `structure`'s patients to the DMP at `dmp_url`."""

    def __init__(
        self,
        sejours: Sejours,
        structure: str,
        dmp_url: str,
        headers: Callable[[], dict[str, str]],
        motif_extension: str = "",
    ) -> None:
        self.sejours = sejours
        self.motif_extension = motif_extension
        self.structure = structure
        self.dmp_url = dmp_url.rstrip("/")
        self.headers = headers
        self.actor = Actor(person="system:sejours-dmp", structure=structure, software="maison-pfi")
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="zfa-dmp")

    def submit(self, structure: str, patient_id: int) -> Future[str]:
        """Propagate in the background (the ACK does not wait)."""
        return self.executor.submit(self.propagate, structure, patient_id)

    def propagate(self, structure: str, patient_id: int) -> str:
        """Send the patient's state; what became of it (also recorded and audited)."""
        if structure != self.structure:  # another structure's: this house holds no DMP key for it
            return "sans-acces-dmp"
        found = self.sejours.to_propagate(self.actor, patient_id)
        if found is None:
            return "sans-etat"
        state, ins, oid = found
        if ins is None or oid is None:
            outcome = "ins-non-qualifiee"
        else:
            outcome = self._post(consent(state, ins, oid, self.motif_extension, self.structure))
        self.sejours.record_propagation(self.actor, patient_id, outcome)
        return outcome

    def _post(self, body: dict) -> str:
        headers = {"Content-Type": "application/fhir+json", **self.headers()}
        try:
            answer = httpx.post(f"{self.dmp_url}/Consent", json=body, headers=headers, timeout=30)
        except httpx.HTTPError as exc:
            log.warning("état d'information non transmis au DMP : %s", type(exc).__name__)
            return "echec-reseau"
        if answer.status_code != 201:
            log.warning("état d'information refusé par le DMP (%s) : %s", answer.status_code, answer.text[:300])
            return f"refuse-{answer.status_code}"
        return "transmis"

    def sweep(self) -> list[Future[str]]:
        """Try again the states not transmitted yet (at the listener's start)."""
        return [self.submit(self.structure, p) for p in self.sejours.waiting_propagations(self.structure)]

    def close(self) -> None:
        self.executor.shutdown(wait=True)
