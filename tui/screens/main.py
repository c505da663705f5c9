"""The main view: the cluster at a glance, and every pane one key away.

Panes (one tab each, `tab` walks through them, 1-7 jump): apps with the
selected app's tasks and why it is as it is, agents, deployments, health, the
placement queue, events and logs. The screen routes each engine update to the
panes (only the visible one does heavy work), and turns keys into engine
commands that run as workers on the app (whose one handler reports failures).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any, Awaitable, Callable, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.reactive import Reactive
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import DataTable, Input, Static, TabbedContent, TabPane

from engine import AppValidationError, Deployment, Engine, PacerError, TaskState, app_to_json
from engine.events import AgentLost, AgentReturned, TaskStatusChanged
from engine.model.groups import is_group
from tui.engine_host import ConsoleHost, ConsoleView, Update, scale_app
from tui.render import short_task_id
from tui.screens.deploy import DeployScreen
from tui.screens.dialogs import ConfirmScreen, PromptScreen, TypeToConfirmScreen
from tui.screens.editor import EditorScreen
from tui.screens.versions import VersionsScreen
from tui.widgets.agents_table import AgentsTable
from tui.widgets.app_detail import AppDetail
from tui.widgets.apps_table import AppsTable
from tui.widgets.cluster_summary import ClusterSummary
from tui.widgets.deployments_table import DeploymentsTable
from tui.widgets.event_log import EventLog
from tui.widgets.filter_bar import FilterBar
from tui.widgets.health_table import HealthTable
from tui.widgets.key_bar import KeyBar
from tui.widgets.log_viewer import LogViewer
from tui.widgets.queue_view import QueueView
from tui.widgets.tasks_table import TasksTable

if TYPE_CHECKING:
    from tui.app import PacerApp

TABS: tuple[tuple[str, str], ...] = (
    ("apps", "Apps"), ("agents", "Agents"), ("deployments", "Deployments"), ("health", "Health"),
    ("queue", "Queue"), ("events", "Events"), ("logs", "Logs"),
)
FOCUS_ORDER: tuple[tuple[str, str], ...] = (
    ("apps", "apps-table"), ("apps", "tasks-table"), ("agents", "agents-table"),
    ("deployments", "deployments-table"), ("health", "health-table"), ("queue", "queue-view"),
    ("events", "event-log"), ("logs", "log-lines"),
)
PANE_OF_WIDGET = {widget: pane for pane, widget in FOCUS_ORDER}
FILTERABLE = {"apps-table": "apps-table", "agents-table": "agents-table", "deployments-table": "deployments-table",
              "health-table": "health-table", "queue-view": "queue-view", "event-log": "event-log",
              "log-lines": "log-viewer", "tasks-table": "apps-table"}
APP_ACTIONS = {"scale", "set_instances", "edit", "restart", "delete", "versions", "force_scale", "reset_delay"}


def _strip_read_only(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in ("version", "versionInfo")}


class MainScreen(Screen[None]):
    focused: Reactive[Widget | None] = Reactive(None, repaint=False)
    """Screen's own, without its repaint of the whole screen on every focus change: the widgets that gain
    and lose focus repaint themselves (their styles change), which is all a focus change shows here."""

    BINDINGS: ClassVar = [
        # +, -, tab and shift+tab are priority bindings: the app runs them as soon as the key arrives, instead
        # of after the key has bubbled from the focused table up through five containers (one event-loop turn
        # each, and each turn can wait for the engine thread's share of the GIL). Where they do not apply
        # (check_action: typing in the filter box) the key goes on to the focused widget as usual.
        Binding("plus", "scale(1)", "+1", key_display="+", id="scale_up", priority=True,
                tooltip="Scale the selected app up by one"),
        Binding("minus", "scale(-1)", "-1", key_display="-", id="scale_down", priority=True,
                tooltip="Scale the selected app down by one"),
        Binding("equals_sign", "set_instances", "Set", key_display="=", id="set_instances",
                tooltip="Set the selected app's number of instances"),
        Binding("n", "deploy", "New", id="deploy", tooltip="Deploy an app from a file or a sample"),
        Binding("e", "edit", "Edit", id="edit", tooltip="Edit the selected app's definition (validated on save)"),
        Binding("r", "restart", "Restart", id="restart", tooltip="Restart the selected app (rolling)"),
        Binding("d", "delete", "Delete", id="delete", tooltip="Delete the selected app (type its id to confirm)"),
        Binding("x", "cancel_deployment", "Cancel", id="cancel_deployment",
                tooltip="Cancel the deployment in progress and roll back"),
        Binding("v", "versions", "Versions", id="versions", show=False,
                tooltip="Roll the selected app back to an earlier version"),
        Binding("l", "logs", "Logs", id="logs", tooltip="Follow the logs of the selected app or task"),
        Binding("k", "kill_task", "Kill", id="kill_task", show=False,
                tooltip="Kill the selected task (it is replaced)"),
        Binding("D", "drain_agent", "Drain", id="drain_agent",
                tooltip="Drain the selected agent: move its tasks off, place nothing new there"),
        Binding("U", "resume_agent", "Resume", id="resume_agent",
                tooltip="Resume the selected agent: it takes tasks again"),
        Binding("slash", "filter", "Filter", key_display="/", id="filter",
                tooltip="Filter the pane (search in logs)"),
        Binding("tab", "next_pane", "Next pane", id="next_pane", show=False, priority=True,
                tooltip="Move to the next pane"),
        Binding("shift+tab", "previous_pane", "Previous pane", id="previous_pane", show=False, priority=True,
                tooltip="Move to the previous pane"),
        *(Binding(str(i), f"show_pane('{tab}')", label, id=f"pane_{tab}", show=False,
                  tooltip=f"Show the {label} pane") for i, (tab, label) in enumerate(TABS, start=1)),
    ]

    def __init__(self, host: ConsoleHost, *, clock: Callable[[], float], samples_dir: Path | None,
                 agents_configured: int, log_wrap: bool = False, log_timestamps: bool = False) -> None:
        super().__init__(id="main")
        self.host = host
        self.clock = clock
        self.samples_dir = samples_dir
        self.agents_configured = agents_configured
        self.log_options = (log_wrap, log_timestamps)
        self.view: ConsoleView | None = None
        self.failures_seen: Counter[str] = Counter()
        self.ready = False
        self._binding_state: tuple[bool | None, ...] = ()
        self._selection_timer: Timer | None = None
        self._select_when_shown: str | None = None

    @property
    def pacer(self) -> "PacerApp":
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield ClusterSummary(agents_configured=self.agents_configured, id="summary")
        with TabbedContent(id="panes", initial="apps"):
            for number, (tab, label) in enumerate(TABS, start=1):
                with TabPane(f"{number} {label}", id=tab):
                    yield from self._pane(tab)
        yield FilterBar(id="filter")
        yield KeyBar(id="keys")

    def _pane(self, tab: str) -> ComposeResult:
        if tab == "apps":
            yield AppsTable(id="apps-table")
            yield TasksTable(clock=self.clock, id="tasks-table")
            yield AppDetail(clock=self.clock, id="app-detail")
        elif tab == "agents":
            yield AgentsTable(id="agents-table")
        elif tab == "deployments":
            yield DeploymentsTable(clock=self.clock, id="deployments-table")
            yield Static(id="deployment-detail")
        elif tab == "health":
            yield HealthTable(id="health-table")
        elif tab == "queue":
            yield QueueView(clock=self.clock, id="queue-view")
        elif tab == "events":
            yield EventLog(id="event-log")
        else:
            wrap, timestamps = self.log_options
            yield LogViewer(self.host, wrap=wrap, timestamps=timestamps, clock=self.clock, id="log-viewer")

    def on_mount(self) -> None:
        self.query_one("#panes Tabs").can_focus = False
        self.query_one(FilterBar).display = False
        self.query_one(LogViewer).visible = False  # the first pane shown is the apps pane
        self.apps.border_title = "Apps"
        self.tasks.border_title = "Tasks"
        self.query_one("#agents-table").border_title = "Agents"
        self.query_one("#deployments-table").border_title = "Deployments in progress"
        self.query_one("#health-table").border_title = "Health"
        self.query_one("#queue-view").border_title = "Waiting apps: why each agent refused them"
        self.query_one("#event-log").border_title = "Events"
        self.query_one("#log-lines").border_title = "Logs"
        self.apps.focus()
        self.set_interval(1.0, self._tick)
        self.ready = True

    # -- widgets -----------------------------------------------------------------------------

    @property
    def apps(self) -> AppsTable:
        return self.query_one(AppsTable)

    @property
    def tasks(self) -> TasksTable:
        return self.query_one(TasksTable)

    @property
    def selected_app(self) -> str | None:
        return self.apps.selected_key

    @property
    def focused_pane(self) -> str | None:
        focused = self.focused
        while focused is not None:
            if focused.id in PANE_OF_WIDGET:
                return focused.id
            focused = focused.parent if isinstance(focused.parent, Widget) else None
        return None

    # -- engine updates ------------------------------------------------------------------------

    def apply(self, update: Update) -> None:
        view = update.view
        self.view = view
        for event in update.events:
            if isinstance(event, TaskStatusChanged) and event.state == TaskState.FAILED:
                self.failures_seen[event.app_id] += 1
            elif isinstance(event, AgentLost):
                self.notify(f"agent {event.agent}: {event.reason or 'no answer'}",
                            title="agent unreachable", severity="warning", timeout=8)
            elif isinstance(event, AgentReturned):
                self.notify(f"agent {event.agent} answers again", title="agent back")
        self.query_one(ClusterSummary).show(view)
        self.apps.show(view)
        if self._select_when_shown and self.apps.select_key(self._select_when_shown):
            self._select_when_shown = None
        self._show_selected()
        self.query_one(EventLog).add(update.events, update.dropped_events)
        self._show_active()
        self._bindings_maybe_changed()

    def apply_view_again(self) -> None:
        """Show the last view again (after a theme change), without its events."""
        if self.view is not None:
            self.apply(Update(self.view))

    def _show_selected(self) -> None:
        view, app_id = self.view, self.selected_app
        app_view = view.apps.get(app_id) if view is not None and app_id else None
        tasks = view.snapshot.tasks.get(app_id, ()) if view is not None and app_id else ()
        config = None
        if app_view is not None:
            config = str((app_view.app.version_info or {}).get("lastConfigChangeAt") or app_view.app.version or "")
        pulls = {task_id: p.short for p in view.snapshot.pulls for task_id in p.task_ids} if view else {}
        self.tasks.show(app_id, tasks, view.health if view else {}, bool(app_view and app_view.app.health_checks),
                        config, pulls)
        failures = self.failures_seen.get(app_id or "", 0)
        self.tasks.border_title = f"Tasks of {app_id}" + (f" · {failures} failed since start" if failures else "") \
            if app_id else "Tasks"
        self.query_one(AppDetail).show(view, app_id)

    def _show_active(self) -> None:
        if self.view is None:
            return
        active = self.query_one(TabbedContent).active
        pane = {"agents": AgentsTable, "deployments": DeploymentsTable, "health": HealthTable,
                "queue": QueueView}.get(active)
        if pane is not None:
            self.query_one(pane).show(self.view)  # type: ignore[attr-defined]
        if active == "deployments":
            self._show_deployment()

    def _show_deployment(self) -> None:
        table = self.query_one(DeploymentsTable)
        self.query_one("#deployment-detail", Static).update(table.describe(table.selected_key))

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self._logs_visible(self.query_one(TabbedContent).active)
        self._show_active()
        self._bindings_maybe_changed()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if isinstance(event.data_table, DeploymentsTable):
            self._show_deployment()
        if event.data_table is self.apps and self.tasks.app_id != self.selected_app:
            # The cursor moves at once; the selected app's tasks follow a moment later, once per burst of keys.
            if self._selection_timer is not None:
                self._selection_timer.stop()
            self._selection_timer = self.set_timer(0.05, self._show_selected)
        self._bindings_maybe_changed()

    def _tick(self) -> None:
        self.tasks.tick()
        if self.view is not None:
            self.query_one(AppDetail).show(self.view, self.selected_app)
            if self.query_one(TabbedContent).active == "deployments":
                self.query_one(DeploymentsTable).show(self.view)

    # -- which keys apply --------------------------------------------------------------------------

    def _bindings_maybe_changed(self) -> None:
        """Refresh the footer only when what applies changed: a refresh rebuilds its widgets."""
        state = tuple(self.check_action(b.action.split("(")[0], ()) for b in self._bindings_to_check())
        if state != self._binding_state:
            self._binding_state = state
            self.refresh_bindings()

    def _bindings_to_check(self) -> list[Binding]:
        return [b for b in self.BINDINGS if isinstance(b, Binding) and b.show]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        pane = self.focused_pane
        on_apps = pane in ("apps-table", "tasks-table") and self.selected_app is not None
        if action in APP_ACTIONS:
            return on_apps
        if action == "logs":
            return on_apps and (pane == "apps-table" or self.tasks.selected_task is not None)
        if action == "kill_task":
            return pane == "tasks-table" and self.tasks.selected_task is not None
        if action == "cancel_deployment":
            if pane == "deployments-table":
                return self.query_one(DeploymentsTable).selected_key is not None
            return on_apps
        if action in ("drain_agent", "resume_agent"):
            if pane != "agents-table" or self.view is None:
                return False
            agent = self.query_one(AgentsTable).selected_key
            draining = next((a.draining for a in self.view.snapshot.agents if a.name == agent), None)
            if draining is None:
                return False
            return draining == (action == "resume_agent")
        if action == "filter":
            return pane in FILTERABLE
        return True

    # -- panes --------------------------------------------------------------------------------------

    def action_show_pane(self, tab: str) -> None:
        widget = next(w for t, w in FOCUS_ORDER if t == tab)
        self._focus_pane(tab, widget)

    def _focus_pane(self, tab: str, widget_id: str) -> None:
        self._logs_visible(tab)
        self.query_one(TabbedContent).active = tab
        self.query_one(f"#{widget_id}").focus()

    def _logs_visible(self, tab: str) -> None:
        """The events and logs panes write lines only while shown (a hidden write still costs a layout)."""
        events = self.query_one(EventLog)
        events.visible = tab == "events"
        if events.visible:
            events.flush()
        viewer = self.query_one(LogViewer)
        viewer.visible = tab == "logs"
        if viewer.visible:
            viewer.show_unshown()

    def _step_pane(self, step: int) -> None:
        current = self.focused_pane
        ids = [w for _, w in FOCUS_ORDER]
        index = ids.index(current) if current in ids else -1
        tab, widget = FOCUS_ORDER[(index + step) % len(FOCUS_ORDER)]
        self._focus_pane(tab, widget)

    def action_next_pane(self) -> None:
        self._step_pane(1)

    def action_previous_pane(self) -> None:
        self._step_pane(-1)

    # -- filter ----------------------------------------------------------------------------------------

    def action_filter(self) -> None:
        pane = self.focused_pane
        if pane is None:
            return
        bar = self.query_one(FilterBar)
        bar.target = FILTERABLE[pane]
        target = self.query_one(f"#{bar.target}")
        bar.value = getattr(target, "filter", "") or getattr(target, "search", "")
        bar.placeholder = "search logs…" if bar.target == "log-viewer" else f"filter {PANE_OF_WIDGET[pane]}…"
        bar.display = True
        bar.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        bar = self.query_one(FilterBar)
        if event.input is bar and bar.target:
            self.query_one(f"#{bar.target}").set_filter(event.value)  # type: ignore[attr-defined]
            self._title_filters()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input is self.query_one(FilterBar):
            self._close_filter()

    def on_filter_bar_cancelled(self, event: FilterBar.Cancelled) -> None:
        bar = self.query_one(FilterBar)
        if bar.target:
            self.query_one(f"#{bar.target}").set_filter("")  # type: ignore[attr-defined]
        self._title_filters()
        self._close_filter()

    def _close_filter(self) -> None:
        bar = self.query_one(FilterBar)
        bar.display = False
        target = bar.target
        widget = {"log-viewer": "log-lines"}.get(target or "", target)
        if widget:
            self.query_one(f"#{widget}").focus()

    def _title_filters(self) -> None:
        """Panes with a fixed title say which filter they show (the agents and health panes say it themselves)."""
        for widget_id, title in (("apps-table", "Apps"), ("deployments-table", "Deployments in progress"),
                                 ("queue-view", "Waiting apps: why each agent refused them"), ("event-log", "Events")):
            widget = self.query_one(f"#{widget_id}")
            text = getattr(widget, "filter", "")
            widget.border_title = f"{title} (filter: {text})" if text else title

    # -- commands -------------------------------------------------------------------------------------

    def _engine(self) -> Engine:
        if self.host.engine is None:
            raise PacerError("this console shows a frozen view; it has no engine", "read-only")
        return self.host.engine

    def _run(self, work: Awaitable[Any], name: str) -> None:
        self.app.run_worker(work, name=name, group="commands", exit_on_error=False)

    def action_scale(self, delta: int) -> None:
        app_id = self.selected_app
        current = self.apps.wanted(app_id) if app_id else None
        if app_id is None or current is None or current + delta < 0:
            return
        self.request_scale(app_id, current + delta)

    def request_scale(self, app_id: str, instances: int, *, force: bool = False) -> None:
        token = self.apps.request(app_id, instances)

        async def scale() -> None:
            try:
                if force:
                    engine = self._engine()
                    _, seq = await self.host.call_seq(engine.scale, app_id, instances, force=True)
                else:
                    _, seq = await self.host.call_seq(scale_app, self._engine(), app_id, instances)
            except PacerError:
                self.apps.forget(app_id, token)
                raise
            self.apps.confirm(app_id, token, seq)

        self._run(scale(), f"scale {app_id} to {instances}")

    def action_set_instances(self) -> None:
        self._ask_instances(force=False)

    def action_force_scale(self) -> None:
        self._ask_instances(force=True)

    def _ask_instances(self, *, force: bool) -> None:
        app_id = self.selected_app
        if app_id is None:
            return
        current = self.apps.wanted(app_id) or 0
        title = f"{'Force-scale' if force else 'Scale'} {app_id} to how many instances?"

        def done(value: int | None) -> None:
            if value is not None:
                self.request_scale(app_id, value, force=force)

        self.app.push_screen(PromptScreen(title, str(current)), done)

    def action_deploy(self) -> None:
        def chosen(choice: tuple[str, str] | None) -> None:
            if choice is not None:
                self.deploy_text(*choice)

        self.app.push_screen(DeployScreen(self.samples_dir), chosen)

    def deploy_text(self, source: str, text: str) -> None:
        try:
            data = json.loads(text)
        except ValueError as exc:
            self.notify(f"{source}: not valid JSON: {exc}", title="invalid app", severity="error")
            self._open_editor(f"New app from {source}", text, self._create, syntax_error=exc)
            return

        async def create() -> None:
            try:
                deployment = await self._create(data)
            except AppValidationError as exc:
                self._open_editor(f"New app from {source}", text, self._create, errors=exc)
                raise
            self._deployed(deployment, "deploying")

        self._run(create(), f"deploy {source}")

    async def _create(self, data: Any, force: bool = False) -> Deployment:
        """An app, or a Marathon group (created or replaced whole, as `PUT /v2/groups/{id}`)."""
        if is_group(data):
            return (await self.host.call(self._engine().put_group, data, force=force))[0]
        return await self.host.call(self._engine().create_app, data, force=force)

    def _deployed(self, deployment: Deployment, verb: str) -> None:
        self._select_when_shown = deployment.app_id
        what = f"{deployment.app_id} and the other apps of its group" if deployment.group_id else deployment.app_id
        self.notify(f"{verb} {what} (deployment {deployment.public_id[:8]})", title="deployment started")

    def _open_editor(self, title: str, text: str, submit: Callable[..., Awaitable[Deployment]], *,
                     errors: AppValidationError | None = None, syntax_error: ValueError | None = None) -> None:
        def done(deployment: Deployment | None) -> None:
            if deployment is not None:
                self._deployed(deployment, "deploying")

        self.app.push_screen(EditorScreen(title, text, submit, errors=errors, syntax_error=syntax_error), done)

    def action_edit(self) -> None:
        app_id = self.selected_app
        if app_id is None:
            return

        async def edit() -> None:
            engine = self._engine()
            data = await self.host.read(lambda: app_to_json(engine.get_app(app_id)))
            text = json.dumps(_strip_read_only(data), indent=2)

            async def submit(new: Any, force: bool = False) -> Deployment:
                return await self.host.call(engine.put_app, new, app_id=app_id, partial=False, force=force)

            self._open_editor(f"Edit {app_id}", text, submit)

        self._run(edit(), f"edit {app_id}")

    def action_restart(self) -> None:
        app_id = self.selected_app
        if app_id is not None:
            self._command(f"restart {app_id}", lambda e: e.restart_app(app_id), "restarting")

    def _command(self, name: str, call: Callable[[Engine], Awaitable[Deployment | None]], verb: str) -> None:
        async def run() -> None:
            engine = self._engine()

            async def on_engine() -> Deployment | None:
                return await call(engine)

            deployment = await self.host.call(on_engine)
            if deployment is not None:
                self._deployed(deployment, verb)
            else:
                self.notify(f"{name}: done")

        self._run(run(), name)

    def action_delete(self) -> None:
        app_id = self.selected_app
        if app_id is None:
            return

        def confirmed(ok: bool | None) -> None:
            if ok:
                self._command(f"delete {app_id}", lambda e: e.delete_app(app_id), "deleting")

        self.app.push_screen(TypeToConfirmScreen(
            f"Delete {app_id}? Its tasks are killed. Type the app id to confirm:", app_id), confirmed)

    def _deployment_to_cancel(self) -> str | None:
        if self.focused_pane == "deployments-table":
            return self.query_one(DeploymentsTable).selected_key
        if self.view is None or self.selected_app is None:
            return None
        running = self.view.deployments_of(self.selected_app)
        return running[-1].id if running else None

    def action_cancel_deployment(self, rollback: bool = True) -> None:
        deployment_id = self._deployment_to_cancel()
        if deployment_id is None:
            self.notify(f"no deployment in progress for {self.selected_app}", title="nothing to cancel")
            return
        app_id = next((d.app_id for d in (self.view.deployments if self.view else ()) if d.id == deployment_id), "?")
        how = "and roll back to the version before it" if rollback else "and leave the app as it is now"

        def confirmed(ok: bool | None) -> None:
            if ok:
                self._command(f"cancel deployment {deployment_id[:8]}",
                              lambda e: e.cancel_deployment(deployment_id, rollback=rollback),
                              "rolling back")

        self.app.push_screen(ConfirmScreen(f"Cancel deployment {deployment_id[:8]} of {app_id} {how}?"), confirmed)

    def action_versions(self) -> None:
        app_id = self.selected_app
        if app_id is None:
            return

        async def pick() -> None:
            engine = self._engine()
            versions = await self.host.read(engine.app_versions, app_id)
            current = (await self.host.read(engine.get_app, app_id)).version

            def chosen(version: str | None) -> None:
                if version is not None:
                    self._command(f"roll back {app_id}", lambda e: e.rollback_app(app_id, version),
                                  f"rolling back to {version}:")

            self.app.push_screen(VersionsScreen(app_id, versions, current), chosen)

        self._run(pick(), f"versions of {app_id}")

    def action_reset_delay(self) -> None:
        app_id = self.selected_app
        if app_id is not None:
            async def reset() -> None:
                done = await self.host.call(self._engine().reset_delay, app_id)
                self.notify(f"{app_id}: launch delay reset" if done else f"{app_id} has no launch delay")

            self._run(reset(), f"reset delay of {app_id}")

    def action_kill_task(self) -> None:
        task_id = self.tasks.selected_task
        if task_id is not None:
            async def kill() -> None:
                await self.host.call(self._engine().kill_tasks, [task_id])
                self.notify(f"killing task {short_task_id(task_id)}; it will be replaced")

            self._run(kill(), f"kill {task_id}")

    def action_drain_agent(self) -> None:
        agent = self.query_one(AgentsTable).selected_key
        if agent is None:
            return

        def confirmed(ok: bool | None) -> None:
            if ok:
                self._agent_command(agent, draining=True)

        self.app.push_screen(ConfirmScreen(f"Drain agent {agent}? Its tasks move to other agents and nothing new "
                                           "is placed on it until you resume it (U)."), confirmed)

    def action_resume_agent(self) -> None:
        agent = self.query_one(AgentsTable).selected_key
        if agent is not None:
            self._agent_command(agent, draining=False)

    def _agent_command(self, agent: str, *, draining: bool) -> None:
        async def run() -> None:
            await self.host.call(self._engine().drain_agent, agent, draining=draining)
            self.notify(f"agent {agent} {'draining: its tasks move off' if draining else 'takes tasks again'}")

        self._run(run(), f"{'drain' if draining else 'resume'} {agent}")

    def action_logs(self) -> None:
        app_id = self.selected_app
        if app_id is None:
            return
        task_id = self.tasks.selected_task if self.focused_pane == "tasks-table" else None
        self.query_one(LogViewer).follow(app_id, task_id)
        self._focus_pane("logs", "log-lines")
