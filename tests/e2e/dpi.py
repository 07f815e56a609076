"""A DPI's MLLP listener for the tests: it takes the PFI's ZAM business acknowledgements (CI-SIS volet
"Transmission de documents CDA en HL7v2", ZAM_Z01) and answers each with an AA, as a DPI does."""

from __future__ import annotations

import asyncio
import threading
import time

import hl7

from maison.formats.hl7v2.listener import Listener


class Dpi:
    def __init__(self) -> None:
        self.received: list[hl7.Message] = []
        self.listener = Listener({"ZAM": self._take})
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        started = asyncio.run_coroutine_threadsafe(self.listener.start("127.0.0.1", 0), self.loop)
        self.server = started.result(10)
        self.port = self.server.sockets[0].getsockname()[1]

    def _take(self, message: hl7.Message) -> None:
        self.received.append(message)

    def zams(self, event: str, count: int = 1, timeout: float = 30) -> list[hl7.Message]:
        """The ZAM^`event` received, once at least `count` have arrived."""
        deadline = time.monotonic() + timeout
        while True:
            found = [m for m in self.received if str(m.extract_field("MSH", 1, 9, 1, 2)) == event]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def close(self) -> None:
        """Stop as the house's listener stops (`Listener.stop`): the PFI's ZAM connections stay open
        between ZAM, so they are ended before the loop, none left pending."""
        asyncio.run_coroutine_threadsafe(self.listener.stop(self.server), self.loop).result(15)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.listener.close()
