"""The ADT receiver the MLLP listener hands PAM France messages to (issue 22 §1.1): read the message
(`formats.hl7v2.pam`), apply it (`service.Sejours.receive`), return no extra ACK segment. Any refusal
is an `Hl7Refusal`, which the listener writes as the ACK's MSA-1 and ERR. A new DMP information state
(ZFA) is handed, once committed, to its propagation to the DMP when the house has one
(`dmp_information`)."""

from __future__ import annotations

import hl7

from maison.etablissement.sejours.dmp_information import DmpInformation
from maison.etablissement.sejours.service import Sejours
from maison.formats.hl7v2 import pam
from maison.formats.hl7v2.fields import Fields
from maison.formats.hl7v2.refusal import ErrorCode, Hl7Refusal


class AdtReceiver:
    """`structures`: the FINESS this listener serves (its GAM's); empty, any."""

    def __init__(
        self, sejours: Sejours, dmp: DmpInformation | None = None, structures: frozenset[str] = frozenset()
    ) -> None:
        self.sejours = sejours
        self.dmp = dmp
        self.structures = structures

    reads_fields = True  # the listener hands it `Fields`, not python-hl7's tree (formats.hl7v2.fields)

    def __call__(self, message: Fields | hl7.Message) -> list[str] | None:
        msg = pam.read(message)
        if self.structures and msg.patient.structure not in self.structures:
            raise Hl7Refusal(
                f"structure {msg.patient.structure} non desservie par ce récepteur", ErrorCode.UNKNOWN_KEY, "PID", 1, 3
            )
        patient_id = self.sejours.receive(msg)
        if patient_id is not None and self.dmp is not None:
            self.dmp.submit(msg.patient.structure, patient_id)
        return None
