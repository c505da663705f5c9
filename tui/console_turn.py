"""The console's turn: the engine thread steps aside while someone waits for the screen.

The console and the engine share one interpreter, and so one GIL. While the
engine is busy (a thousand task changes a second) the console gets about half
of it, so every frame takes twice as long, and a key press waits for the
engine's turns as well as its own work.

So the console says when a person waits for the screen: `begin()` when a key
arrives or an engine update is about to be shown, `end()` once the frame that
shows it is drawn. The engine thread calls `checkpoint()` between units of
work (the engine's `pause_point`: between the phases of a round and between
apps), and `run()` looks every few milliseconds while the engine is between
rounds; either one parks the engine thread, releasing the GIL, until `end()`
or for `HOLD_LIMIT` at most. After a hold the engine runs at least as long as
it was held before it can be held again, so the console can never take more
than half of the engine's time, however busy it is.
"""

from __future__ import annotations

import asyncio
import threading
import time

HOLD_LIMIT = 0.1
"""The longest the engine waits for the screen at a time."""
POLL = 0.005
"""How often `run()` looks while the engine is idle between rounds."""


class ConsoleTurn:
    def __init__(self) -> None:
        self._pending = threading.Event()
        self._done = threading.Event()
        self._done.set()
        self._free_at = 0.0
        """No hold before this time: the engine first gets back as long as it was last held."""
        self.holds = 0
        self.held_seconds = 0.0

    def begin(self) -> None:
        """Console thread: a person waits for the next frame."""
        self._done.clear()
        self._pending.set()

    def end(self) -> None:
        """Console thread: that frame is drawn."""
        self._done.set()

    def checkpoint(self) -> None:
        """Engine thread, between units of work: hold while the console has its turn."""
        if not self._pending.is_set() or time.monotonic() < self._free_at:
            return
        self._pending.clear()
        started = time.monotonic()
        self._done.wait(HOLD_LIMIT)  # blocks the engine thread on purpose: that is the point
        held = time.monotonic() - started
        self._free_at = time.monotonic() + held
        self.holds += 1
        self.held_seconds += held

    async def run(self) -> None:
        """On the engine loop, until cancelled: the checkpoint for when the engine is between rounds."""
        while True:
            await asyncio.sleep(max(POLL, self._free_at - time.monotonic()))
            self.checkpoint()
