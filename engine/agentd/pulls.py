"""`GET /v1/pulls` of a pacer agent: the image pulls its daemon is doing for engines, and the ones that ended.

The agent pulls (engine/agents/images.py, inside its docker driver) as part of a launch; an engine whose
launch waits polls this to show the pull's progress, and learns how recent pulls ended. Never a credential.
"""

from __future__ import annotations

import threading
import time
from collections import deque

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from engine.agentd.wire import pull_to_json
from engine.agents.base import AgentDriver, ImagePull

FINISHED_KEPT_SECONDS = 60.0


class PullLog:
    """The backend's pulls under way, plus those that ended in the last `FINISHED_KEPT_SECONDS`."""

    def __init__(self, backend: AgentDriver) -> None:
        self._backend = backend
        self._finished: deque[tuple[float, ImagePull]] = deque(maxlen=256)
        self._lock = threading.Lock()
        backend.on_image_pull = self.record

    def record(self, pull: ImagePull) -> None:
        """The backend's report of a pull (from any thread)."""
        if pull.status in ("done", "failed"):
            with self._lock:
                self._finished.append((time.monotonic(), pull))

    def to_json(self) -> dict[str, object]:
        cutoff = time.monotonic() - FINISHED_KEPT_SECONDS
        with self._lock:
            while self._finished and self._finished[0][0] < cutoff:
                self._finished.popleft()
            finished = [pull for _, pull in self._finished]
        return {"pulls": [pull_to_json(p) for p in self._backend.image_pulls()],
                "finished": [pull_to_json(p) for p in finished]}


async def list_pulls(request: Request) -> Response:
    log: PullLog = request.app.state.pull_log
    return JSONResponse(log.to_json())
