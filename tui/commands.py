"""The `:` palette: every console action by name, offered only where it applies now."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Callable

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from tui.app import PacerApp


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    help: str
    run: Callable[[], Any]


class PacerCommands(Provider):
    def commands(self) -> list[Command]:
        from tui.screens.main import TABS, MainScreen
        from tui.widgets.apps_table import SORTS, AppsTable
        from tui.widgets.log_viewer import LogViewer

        app: PacerApp = self.app  # type: ignore[assignment]
        main: MainScreen = app.main
        found: list[Command] = []

        def on_main(name: str, action: str, help: str) -> None:
            check = action.split("(")[0]
            if main.check_action(check, ()):
                found.append(Command(name, help, partial(app.run_action, action, main)))

        selected = main.selected_app or "the selected app"
        on_main(f"Scale up {selected} by one", "scale(1)", "+: one more instance")
        on_main(f"Scale down {selected} by one", "scale(-1)", "-: one instance less")
        on_main(f"Set instances of {selected}…", "set_instances", "=: type the number of instances")
        on_main(f"Force-scale {selected}…", "force_scale", "Scale even while a deployment runs (it is replaced)")
        on_main("Deploy a new app…", "deploy", "n: from a file or a sample in sample_apps/")
        on_main(f"Edit {selected}…", "edit", "e: the app's JSON, validated on save")
        on_main(f"Restart {selected}", "restart", "r: replace every task, rolling")
        on_main(f"Delete {selected}…", "delete", "d: kill its tasks and forget it (type its id to confirm)")
        on_main("Cancel the deployment and roll back", "cancel_deployment(True)", "x: restore the version before it")
        on_main("Cancel the deployment, keep the app as it is now", "cancel_deployment(False)",
                "Stop the deployment without a rollback")
        on_main(f"Roll {selected} back to a version…", "versions", "v: choose one of its stored versions")
        on_main(f"Reset the launch delay of {selected}", "reset_delay", "Launch again now instead of after backoff")
        on_main("Follow logs", "logs", "l: the selected task's, or every task of the selected app")
        on_main("Kill the selected task", "kill_task", "k: it is replaced by a new one")
        on_main("Drain the selected agent…", "drain_agent", "D: move its tasks off, place nothing new there")
        on_main("Resume the selected agent", "resume_agent", "U: it takes tasks again")
        on_main("Filter this pane…", "filter", "/: type to filter; Enter keeps it, Escape clears it")
        for tab, label in TABS:
            found.append(Command(f"Show {label}", f"the {label} pane", partial(app.run_action, f"show_pane('{tab}')",
                                                                                 main)))
        apps_table = main.query_one(AppsTable)
        for key, label in SORTS:
            def sort(key: str = key) -> None:
                apps_table.sort_by = key
                apps_table._label_sort()
                apps_table.apply_sort()

            found.append(Command(f"Sort apps by {label}", "s cycles through these", sort))
        viewer = main.query_one(LogViewer)
        for action, label in (("toggle_pause", "Pause or resume the logs"), ("toggle_wrap", "Wrap log lines on/off"),
                              ("toggle_timestamps", "Log timestamps on/off"), ("clear", "Clear the logs")):
            found.append(Command(label, "in the Logs pane", partial(app.run_action, action, viewer)))
        for name in sorted(app.available_themes):
            if name.startswith("pacer-"):
                found.append(Command(f"Theme: {name}", "colours (remembered)", partial(setattr, app, "theme", name)))
        found.append(Command("Toggle dark/light theme", "ctrl+t", app.action_toggle_theme))
        found.append(Command("Help: every key", "?", app.action_help))
        found.append(Command("Quit pacer", "q (asks while a deployment runs)", app.action_quit))
        return found

    async def discover(self) -> Hits:
        for command in self.commands():
            yield DiscoveryHit(command.name, command.run, help=command.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in self.commands():
            score = matcher.match(command.name)
            if score > 0:
                yield Hit(score, matcher.highlight(command.name), command.run, help=command.help)
