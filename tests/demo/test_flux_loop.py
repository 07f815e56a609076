"""The demo's MLLP listeners end cleanly (`maison.demo.flux.Loop.close`): a connection left open and
idle — as the PFI's to the DPI's ZAM listener stays — is ended by the listener's stop before the loop
stops, so no task is left pending for Python to destroy at exit ("Task was destroyed but it is
pending", then "Event loop is closed" from the connection's `finally`), which `maison demo` printed."""

from __future__ import annotations

import asyncio
import gc
import socket
import time

from maison.demo.flux import Loop
from maison.formats.hl7v2.listener import Listener


def test_an_idle_connection_is_ended_before_the_loop_closes(recwarn) -> None:
    loop, listener = Loop(), Listener({})
    port = loop.listen(listener)
    idle = socket.create_connection(("127.0.0.1", port), timeout=5)  # connected, never sends a frame
    deadline = time.monotonic() + 5
    while not listener._connections and time.monotonic() < deadline:  # its handler task is running
        time.sleep(0.02)
    assert listener._connections
    loop.close()
    listener.close()
    assert loop.loop.is_closed() and not loop.thread.is_alive()
    assert not listener._served  # every connection's task finished on the loop, none destroyed pending
    assert all(t.done() for t in asyncio.all_tasks(loop.loop))
    assert idle.recv(1) == b""  # the listener closed it
    idle.close()
    gc.collect()
    assert not [w for w in recwarn if "Task was destroyed" in str(w.message)]
