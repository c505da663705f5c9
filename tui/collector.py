"""Full garbage collections when the operator is not typing.

The console and the engine share one heap. A full (generation 2) collection
of it stops both threads for tens of milliseconds, more as the heap grows,
and the automatic schedule runs one whenever enough objects have survived
(under churn, about twice a second): a key pressed at that moment waits.

So the console takes full collections over: after start, the heap as it is
is frozen (never scanned again; it is the loaded engine and Textual), the
automatic full collections are turned off, and `tick()` (called twice a
second) runs one when `every` seconds have passed since the last and no key
came for `quiet` seconds, or in any case after `at_most` seconds, so memory
held by garbage cycles stays bounded even under nonstop typing. Young
collections (generations 0 and 1) keep their automatic schedule.
"""

from __future__ import annotations

import gc
import time
from typing import Callable

NEVER = 1_000_000_000
"""A generation-2 threshold no run reaches: no automatic full collection."""


class IdleCollector:
    def __init__(self, *, every: float = 5.0, quiet: float = 1.0, at_most: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.every = every
        self.quiet = quiet
        self.at_most = at_most
        self.clock = clock
        self.collections = 0
        self.forced = 0
        """Full collections run although keys kept coming (after `at_most` seconds)."""
        self.longest_ms = 0.0
        self._saved: tuple[int, int, int] | None = None
        self._last_full = clock()
        self._last_key = float("-inf")

    @property
    def running(self) -> bool:
        return self._saved is not None

    def start(self) -> None:
        if self._saved is not None:
            return
        gc.collect()
        gc.freeze()
        self._saved = gc.get_threshold()
        young, middle, _ = self._saved
        gc.set_threshold(young, middle, NEVER)
        self._last_full = self.clock()

    def stop(self) -> None:
        """Give the automatic schedule back (the frozen part stays frozen)."""
        if self._saved is not None:
            gc.set_threshold(*self._saved)
            self._saved = None

    def key(self) -> None:
        self._last_key = self.clock()

    def tick(self) -> bool:
        """Run a full collection if one is due; returns whether it ran."""
        if self._saved is None:
            return False
        now = self.clock()
        since_full = now - self._last_full
        if since_full < self.every:
            return False
        typing = now - self._last_key < self.quiet
        if typing and since_full < self.at_most:
            return False
        started = time.perf_counter()
        gc.collect(2)
        self.longest_ms = max(self.longest_ms, (time.perf_counter() - started) * 1000)
        self.collections += 1
        self.forced += typing
        self._last_full = self.clock()
        return True
