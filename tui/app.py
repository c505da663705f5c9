"""The console: composition, global keys, and the one factory (`make_app`) the CLI and the tests use.

The engine runs on its own thread (tui.engine_host); one worker here feeds its
views and events to the main screen as messages, and one handler reports every
failed worker as a notification.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Callable, ClassVar

from textual import events, on
from textual.app import App
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.notifications import SeverityLevel
from textual.theme import Theme
from textual.worker import Worker, WorkerState

from engine import DeploymentConflict, Engine, PacerConfig, PacerError
from themes import DEFAULT_THEME, STYLESHEET, VARIABLE_DEFAULTS, load_themes
from tui.collector import IdleCollector
from tui.commands import PacerCommands
from tui.engine_host import ConsoleHost, EngineHost
from tui.messages import EngineUpdated, LogRecorded
from tui.render import Palette
from tui.screens.dialogs import ConfirmScreen
from tui.screens.help import HelpScreen
from tui.screens.main import MainScreen
from tui.settings import load_settings, save_settings, settings_path
from tui.widgets.event_log import EventLog
from tui.widgets.keyed_table import KeyedTable

log = logging.getLogger("pacer.console")


class PacerApp(App[int]):
    TITLE = "pacer"
    CSS_PATH = [str(STYLESHEET)]
    COMMANDS: ClassVar = App.COMMANDS | {PacerCommands}
    BINDINGS: ClassVar = [
        Binding("q", "quit", "Quit", id="quit", tooltip="Quit pacer (asks while a deployment is in progress)"),
        Binding("question_mark", "help", "Help", key_display="?", id="help", tooltip="Show every key"),
        Binding("colon", "command_palette", "Commands", key_display=":", id="palette",
                tooltip="The command palette: every action by name"),
        Binding("ctrl+t", "toggle_theme", "Theme", id="theme", show=False,
                tooltip="Switch between the dark and the light theme (remembered)"),
    ]

    def __init__(self, host: ConsoleHost, *, settings_file: Path, samples_dir: Path | None,
                 clock: Callable[[], float], agents_configured: int, owns_host: bool, feed_interval: float,
                 config: PacerConfig | None, tune_gc: bool = False) -> None:
        super().__init__()
        self.host = host
        self.owns_host = owns_host
        self.settings_file = settings_file
        self.settings = load_settings(settings_file)
        self.feed_interval = feed_interval
        self.config = config
        self.palette = Palette()
        self.main = MainScreen(host, clock=clock, samples_dir=samples_dir, agents_configured=agents_configured,
                               log_wrap=self.settings.log_wrap, log_timestamps=self.settings.log_timestamps)
        for theme in load_themes():
            self.register_theme(theme)
        self.theme = self.settings.theme if self.settings.theme in self.available_themes else DEFAULT_THEME
        self._first_update = True
        self.collector = IdleCollector() if tune_gc else None

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = False) -> None:
        """Notifications carry engine messages (ids like [/web]): plain text unless asked otherwise."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(VARIABLE_DEFAULTS)

    def get_default_screen(self) -> MainScreen:
        return self.main

    def on_mount(self) -> None:
        self.palette = Palette.from_variables(self.theme_variables)
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        self.run_worker(self._feed(), name="engine feed", group="feed", exclusive=True, exit_on_error=False)

    async def on_unmount(self) -> None:
        if self.collector is not None:
            self.collector.stop()
        if self.owns_host:
            await self.host.stop()

    # -- the feed ----------------------------------------------------------------------------

    async def _feed(self) -> None:
        if not self.host.started:
            await self.host.start()
            await self._start_api()
        await self.host.feed(lambda update: self.post_message(EngineUpdated(update)), interval=self.feed_interval)

    async def _start_api(self) -> None:
        """With `--api HOST:PORT` or `[scheduler] api`: Marathon's REST API, served on the engine's loop."""
        engine, config = self.host.engine, self.config
        if config is None or not config.scheduler.api or engine is None or not isinstance(self.host, EngineHost):
            return
        from engine.api import start_api

        server = await self.host.call(start_api, engine, config)
        self.host.before_stop(server.stop)
        if config.scheduler.api_token:
            self.notify(f"Marathon API at {server.url} (token required)", title="api")
        else:
            self.notify(f"Marathon API at {server.url} has no token: every local process and every task on the "
                        "host network can change the cluster; set [scheduler] api_token to close it",
                        title="api", severity="warning")

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key):
            # The engine thread steps aside until this key's frame is drawn (tui/console_turn.py).
            self.host.console_busy()
            self.call_after_refresh(self.host.console_idle)
            if self.collector is not None:
                self.collector.key()
        await super().on_event(event)

    def on_engine_updated(self, message: EngineUpdated) -> None:
        if not self.is_running:  # shutting down: the screen's widgets are going away
            self.host.consumed()
            return
        if not self.main.ready:  # the first view can beat the main screen's mount: show it once mounted
            self.main.call_after_refresh(self.post_message, message)
            return
        self.host.console_busy()  # and while this update is applied and drawn
        self.call_after_refresh(self.host.console_idle)
        try:
            self.main.apply(message.update)
        except NoMatches:
            if self.is_running:
                raise  # a real bug; an update racing the shutdown is not
            return
        finally:
            self.host.consumed()
        if self._first_update:
            self._first_update = False
            self._advise(message.update.view.snapshot.agents)
            if self.collector is not None:
                self.call_after_refresh(self._start_collector)

    def _start_collector(self) -> None:
        """Once the first view is on screen, full garbage collections wait for a pause in the typing."""
        if self.collector is not None:
            self.collector.start()
            self.set_interval(0.5, self.collector.tick)

    def _advise(self, agents: Any) -> None:
        down = [a for a in agents if not a.reachable]
        if agents and len(down) == len(agents):
            hint = " Start dockerd (sudo systemctl start docker), or try `pacer --demo`." \
                if any(a.kind == "docker" for a in down) else ""
            self.notify(f"no agent answers: {down[0].name}: {down[0].error or 'unreachable'}.{hint}",
                        title="no agents", severity="warning", timeout=15)

    def on_log_recorded(self, message: LogRecorded) -> None:
        self.main.query_one(EventLog).add_line(message.line)

    @on(Worker.StateChanged)
    def _report_failure(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        if isinstance(error, DeploymentConflict):
            ids = ", ".join(d[:8] for d in error.deployment_ids)
            self.notify(f"{error.app_id} is locked by deployment {ids}: x cancels it (rollback); "
                        f"the palette (:) can force the change", title=error.title, severity="error", timeout=10)
        elif isinstance(error, PacerError):
            self.notify(error.message, title=error.title, severity="error", timeout=10)
        else:
            log.error("%s failed", event.worker.name, exc_info=error)
            self.notify(f"{event.worker.name}: {type(error).__name__}: {error}", title="internal error",
                        severity="error", timeout=10)

    # -- global keys ------------------------------------------------------------------------------

    async def action_quit(self) -> None:
        view = self.main.view
        running = [d for d in view.deployments if d.status == "running"] if view is not None else []
        if not running:
            self.exit(0)
            return
        apps = ", ".join(sorted({d.app_id for d in running}))

        def answer(yes: bool | None) -> None:
            if yes:
                self.exit(0)

        self.push_screen(ConfirmScreen(f"{len(running)} deployment(s) in progress ({apps}). Quit anyway? "
                                       "They carry on when pacer starts again."), answer)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_toggle_theme(self) -> None:
        self.theme = "pacer-light" if self.current_theme.dark else "pacer-dark"

    def _theme_changed(self, theme: Theme) -> None:
        self.palette = Palette.from_variables(self.theme_variables)
        for table in self.main.query(KeyedTable):
            table.reformat()
        for widget in self.main.query("ClusterSummary, AppDetail, QueueView"):
            widget.refresh()
        if self.main.view is not None:
            self.main.apply_view_again()
        if theme.name != self.settings.theme:
            self.remember(theme=theme.name)

    def remember(self, **changes: object) -> None:
        """Keep a console preference (theme, log wrap, log timestamps) for the next start."""
        self.settings = self.settings.with_(**changes)
        save_settings(self.settings, self.settings_file)


def default_samples_dir() -> Path | None:
    for candidate in (Path.cwd() / "sample_apps", Path(__file__).resolve().parents[1] / "sample_apps"):
        if candidate.is_dir():
            return candidate
    return None


def make_app(config: PacerConfig | None = None, *, engine: Engine | None = None, host: ConsoleHost | None = None,
             settings_file: Path | None = None, samples_dir: Path | None = None,
             clock: Callable[[], float] = time.time, feed_interval: float = 0.25, tune_gc: bool = False) -> PacerApp:
    """The console for a config (an engine is built), an engine (not started yet), or a host (tests, benchmarks).

    The app starts and stops the engine it was given or built; a host passed in is its caller's to stop.
    """
    owns_host = host is None
    if host is None:
        if engine is None:
            if config is None:
                raise ValueError("make_app needs a config, an engine or a host")
            engine = Engine(config)
        host = EngineHost(engine)
    if config is None and host.engine is not None:
        config = host.engine.config
    return PacerApp(
        host, settings_file=settings_file or settings_path(), samples_dir=samples_dir or default_samples_dir(),
        clock=clock, agents_configured=len(config.agents) if config else 0, owns_host=owns_host,
        feed_interval=feed_interval, config=config, tune_gc=tune_gc,
    )


class _LogToConsole(logging.Handler):
    """While the screen is up, log records go to the Events pane instead of the terminal."""

    def __init__(self, app: PacerApp) -> None:
        super().__init__(logging.INFO)
        self.app = app
        self.setFormatter(logging.Formatter("%(asctime)s.%(msecs)03d log %(levelname)-7s %(name)s: %(message)s",
                                            "%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.app.post_message(LogRecorded(self.format(record)))
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)


def run_console(config: PacerConfig) -> int:
    """`pacer`: the console with the engine embedded; returns the exit status."""
    app = make_app(config, tune_gc=True)
    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers = [_LogToConsole(app)]
    try:
        result = app.run()
    finally:
        root.handlers = saved
        if isinstance(app.host, EngineHost):
            app.host.stop_blocking()
    return result if isinstance(result, int) else (app.return_code or 0)
