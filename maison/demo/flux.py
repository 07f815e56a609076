"""The demo's hospital flows (issue 22 §3.1): the GAM and the DPI talk HL7 v2 over MLLP, as a
hospital's software does, to the house's listener (`maison serve --mllp-port` runs the same one).

- The GAM announces the stay in IHE PAM France 2.11: A01 admission (ZBE movement, ZFA the patient's
  DMP information state), A02 transfer to another unit, A03 discharge.
- The DPI hands its documents to the PFI as the CI-SIS volet "Transmission de documents CDA en
  HL7v2" 2.1 defines them (profils-messages.md): the lettre de liaison in an MDM^T02, the biology
  report N1 + N3 in one ORU^R01, the CDA in OBX-5 (Base64), the destinations in the MetaDMP/MSS
  OBX, the stay in PV1-19. The PFI feeds the DMP (PDSm ITI-65) and sends by MSSanté (XDM over
  SMTP), each leg recorded with the stay.
- The DPI runs its own small MLLP listener: the PFI's ZAM business acknowledgements (Z01 DMP,
  Z02 MSSanté, Z03 read) come back to it, and the demo shows them.
"""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from datetime import UTC, datetime

import hl7
from rich.console import Console
from rich.table import Table

from maison.core.auth import issue_key
from maison.etablissement.pfi.envoi import Submission
from maison.etablissement.pfi.hl7_documents import Channels, Hl7Documents
from maison.etablissement.pfi.hl7_request import META_CODES
from maison.etablissement.sejours.receiver import AdtReceiver
from maison.formats.hl7v2.client import MllpClient
from maison.formats.hl7v2.listener import Listener
from maison.formats.insi import Individu
from maison.house import House

STAY = "26000042"  # PV1-19, the stay's number at the structure
FACILITY = "CHU-DEMO"
ZAM_LABELS = {"Z01": "reçu par le DMP", "Z02": "reçu par MSSanté", "Z03": "lu (MSSanté)"}


def _ts(at: datetime) -> str:
    return at.strftime("%Y%m%d%H%M%S")


class Loop:
    """An asyncio loop in a thread of its own, for the MLLP listeners the demo runs beside its scenes.

    Closed in order: each listener stops on the loop (`Listener.stop`: its open connections — the
    PFI's to the DPI's ZAM listener stays open, idle — ended, their tasks finished), then the loop
    stops and is closed. Stopping the loop first left those tasks pending: at exit Python destroyed
    them ("Task was destroyed but it is pending") and their `finally` met a closed loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.servers: list[tuple[Listener, asyncio.Server]] = []

    def listen(self, listener: Listener) -> int:
        server = asyncio.run_coroutine_threadsafe(listener.start("127.0.0.1", 0), self.loop).result(10)
        self.servers.append((listener, server))
        return server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        await asyncio.gather(*(listener.stop(server, grace=5) for listener, server in self.servers))
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:  # none left once the listeners stopped; a straggler is cancelled, not dropped
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        await self.loop.shutdown_asyncgens()

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(15)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        if not self.thread.is_alive():
            self.loop.close()


class Flows:
    """The house's MLLP listener (ADT to the stays, ORU/MDM to the PFI) and the DPI's (the ZAM).

    `structure`: the hospital (IdNatStruct) whose GAM, DPI and PFI these are; the PFI feeds the DMP
    at `base`/dmp with the structure's software key, as `pfi_dmp_authorization` configures it."""

    def __init__(self, house: House, base: str, structure: str, individu: Individu, console: Console) -> None:
        self.console = console
        self.structure, self.individu = structure, individu
        self.ipp = "G" + individu.active.value[-7:]  # the GAM's own IPP for her
        key = issue_key(house.db, structure, "MAISON-PFI-DEMO", "system:pfi")
        self.zams: list[hl7.Message] = []
        self.dpi = Listener({"ZAM": self._zam})
        self.loop = Loop()
        dpi_port = self.loop.listen(self.dpi)
        self.channels = Channels(
            structure=structure,
            application=f"PFI^{FACILITY}",
            dmp_url=f"{base}/dmp",
            dmp_headers=lambda: {"Authorization": f"Bearer {key}"},
            zam_host="127.0.0.1",
            zam_port=dpi_port,
        )
        self.documents = Hl7Documents(house.db, house.mss.blobs, self.channels)
        self.house = Listener({"ADT": AdtReceiver(house.sejours), "ORU": self.documents, "MDM": self.documents})
        self.port = self.loop.listen(self.house)
        self._ids = 0

    def close(self) -> None:
        self.loop.close()
        self.documents.close()
        self.house.close()
        self.dpi.close()

    def _zam(self, message: hl7.Message) -> None:
        self.zams.append(message)

    def _control(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}{datetime.now(UTC):%H%M%S}{self._ids:03d}"

    def send(self, text: str) -> tuple[str, str]:
        """One message to the house's listener: (MSA-1, MSA-2) of its ACK."""
        with MllpClient("127.0.0.1", self.port, timeout=60) as client:
            ack = client.send_message(text)
        return str(ack.segment("MSA")[1]), str(ack.segment("MSA")[2])

    # --- the GAM: IHE PAM France 2.11 ---------------------------------------------------------

    def _pid(self) -> str:
        ins, t = self.individu.active, self.individu.traits
        birth = t.date_naissance.replace("-", "").replace("0000", "")
        lieu = t.lieu_naissance or "99999"
        return (
            f"PID|1||{self.ipp}^^^{FACILITY}&{self.structure}&M^PI~{ins.value}^^^ASIP-SANTE-INS-{ins.type}&{ins.oid}"
            f"&ISO^INS||{t.nom_naissance}^{t.prenoms[0]}^{' '.join(t.prenoms)}^^^^L||{birth}|{t.sexe}|||"
            f"^^^^^^H~^^^^^^BDL^^{lieu}|||||||||||||||||||||QUAL"
        )

    def adt(self, event: str, movement: str, unit: str, unit_name: str, at: datetime, zfa: bool = False) -> str:
        lines = [
            f"MSH|^~\\&|GAM|{FACILITY}|MAISON|{FACILITY}|{_ts(at)}||ADT^{event}^ADT_{event}|{self._control('GAM')}"
            "|P|2.5^FRA^2.11|||||FRA|UNICODE UTF-8|FR||2.11^IHE_FRANCE-2.11-PAM",
            f"EVN||{_ts(at)}||||{_ts(at)}",
            self._pid(),
            f"PV1|1|I|||||||||||||||||{STAY}^^^{FACILITY}&{self.structure}&M^VN",
            f"ZBE|{movement}^{FACILITY}^{self.structure}|{_ts(at)}||INSERT|N||{unit_name}^^^^^{FACILITY}&"
            f"{self.structure}&N^UF^^^{unit}||HMS",
        ]
        if zfa:  # informed at admission: no opposition to feeding, consent to consulting (002 L535-565)
            lines.append(f"ZFA|ACTIF|{_ts(at)}|||||||INO|{_ts(at)}|IC|{_ts(at)}")
        return "\r".join(lines)

    def gam(self, event: str, movement: str, unit: str, unit_name: str, at: datetime, what: str) -> bool:
        code, control = self.send(self.adt(event, movement, unit, unit_name, at, zfa=event == "A01"))
        said = f"(séjour {STAY}, mouvement {movement}): ACK {code} {control}"
        self.console.print(f"GAM → MLLP: ADT^{event} {what} {said}")
        return code == "AA"

    # --- the DPI: ORU / MDM with the CDA -------------------------------------------------------

    def _document(
        self,
        cdas: list[bytes],
        code: str,
        label: str,
        *,
        oru: bool,
        flags: dict[str, str],
        recipients: tuple[str, ...] = (),
        patient_box: str = "",
    ) -> str:
        ins = self.individu.active
        t = self.individu.traits
        now = _ts(datetime.now(UTC))
        kind = "ORU^R01^ORU_R01" if oru else "MDM^T02^MDM_T02"
        segments = [
            f"MSH|^~\\&|DPI|{FACILITY}|PFI|{FACILITY}|{now}||{kind}|{self._control('DPI')}|P|{'2.5' if oru else '2.6'}"
            "|||||FRA|UNICODE UTF-8|||2.1^CISIS_CDA_HL7_V2",
        ]
        if not oru:
            segments.append(f"EVN||{now}")
        segments += [
            f"PID|||{ins.value}^^^ASIP-SANTE-INS-{ins.type}&{ins.oid}&ISO^INS||{t.nom_naissance}^{t.prenoms[0]}^^^^^L"
            f"||{t.date_naissance.replace('-', '')}|{t.sexe}" + "|" * 23 + "N|QUAL",
            f"PV1|1|I|UF-MED||||||||||||||||{STAY}^^^{FACILITY}&{self.structure}&M^VN",
            "ORC|NW|",
            f"OBR|1|||{code}^{label}^LN|",
        ]
        if not oru:
            segments.append(f"TXA|1|{code}|TEXT|{now}||||||||||||AU")
        for n, cda in enumerate(cdas, 1):
            segments.append(f"OBX|{n}|ED|{code}^{label}^LN||^TEXT^XML^Base64^{base64.b64encode(cda).decode()}||||||F|")
        for address in recipients:
            segments.append(f"PRT||UC||RCT^^participation|||||||||||^NET^X.400^{address}")
        if patient_box:
            segments.append(
                f"PRT||UC||RCT^^participation|{ins.value}^{t.nom_naissance}^{t.prenoms[0]}^^^^^^&{ins.oid}&ISO^^^^INS"
                f"||||||||||^NET^X.400^{patient_box}"
            )
        values = {meta: "N" for meta in META_CODES[:10]} | flags
        for n, meta in enumerate(META_CODES[:10], len(cdas) + 1):
            segments.append(f"OBX|{n}|CWE|{meta}^{meta}^MetaDMPMSS||{values[meta]}^^expandedYes-NoIndicator||||||F|")
        return "\r".join(segments)

    def dpi_sends(self, what: str, cdas: list[bytes], code: str, label: str, **kwargs) -> bool:
        text = self._document(cdas, code, label, **kwargs)
        kind = "ORU^R01" if kwargs.get("oru") else "MDM^T02"
        answer, control = self.send(text)
        self.console.print(f"DPI → PFI (MLLP): {kind} {what}: ACK {answer} {control}")
        return answer == "AA"

    def wait_zams(self, event: str, count: int, timeout: float = 30) -> list[hl7.Message]:
        deadline = time.monotonic() + timeout
        while True:
            found = [m for m in self.zams if str(m.extract_field("MSH", 1, 9, 1, 2)) == event]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def use_mssante(self, submission: Submission) -> None:
        """The PFI's applicative mailbox at the hospital's operator, once the operators run."""
        self.channels.submission = submission

    def show_zams(self) -> None:
        table = Table(title="ZAM reçus par le DPI (accusés métier de la PFI, MLLP)")
        for col in ("ZAM", "message acquitté", "statut", "résultat"):
            table.add_column(col)
        for m in self.zams:
            event = str(m.extract_field("MSH", 1, 9, 1, 2))
            obx = m.segment("OBX")
            status = str(obx[3]).split("^")[1] if "^" in str(obx[3]) else str(obx[3])
            table.add_row(f"{event} {ZAM_LABELS.get(event, '')}", str(obx[4]), status, str(obx[5])[:1])
        self.console.print(table)
