"""App-wide messages. A widget's own messages are nested in its class."""

from __future__ import annotations

from textual.message import Message

from tui.engine_host import Update


class EngineUpdated(Message):
    """A new view of the cluster and the events since the last one, from the feed worker."""

    def __init__(self, update: Update) -> None:
        super().__init__()
        self.update = update


class EngineStarted(Message):
    """The engine answered: its first view follows."""

    def __init__(self, cluster_id: str) -> None:
        super().__init__()
        self.cluster_id = cluster_id


class ScaleRequested(Message):
    """The operator asked for a new instance count (optimistic in the apps table until confirmed)."""

    def __init__(self, app_id: str, instances: int) -> None:
        super().__init__()
        self.app_id = app_id
        self.instances = instances


class LogRecorded(Message):
    """A log record (from any thread) while the screen is up: shown in the Events pane."""

    def __init__(self, line: str) -> None:
        super().__init__()
        self.line = line
