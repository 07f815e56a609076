"""The ADT receiver the MLLP listener hands PAM France messages to (issue 22 §1.1): read the message
(`formats.hl7v2.pam`), apply it (`service.Sejours.receive`), return no extra ACK segment. Any refusal
is an `Hl7Refusal`, which the listener writes as the ACK's MSA-1 and ERR."""

from __future__ import annotations

import hl7

from maison.etablissement.sejours.service import Sejours
from maison.formats.hl7v2 import pam


class AdtReceiver:
    def __init__(self, sejours: Sejours) -> None:
        self.sejours = sejours

    def __call__(self, message: hl7.Message) -> list[str] | None:
        self.sejours.receive(pam.read(message))
        return None
