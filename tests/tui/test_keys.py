"""Every key of the console, driven by Pilot on a sim cluster, asserting what the engine did."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from textual.widgets import Input, Log

from engine import AppNotFound
from tests.tui.conftest import deployed, started, until, web_app
from tui.app import make_app
from tui.screens.deploy import DeployScreen
from tui.screens.dialogs import ConfirmScreen, PromptScreen, TypeToConfirmScreen
from tui.screens.editor import EditorScreen
from tui.screens.help import HelpScreen
from tui.screens.versions import VersionsScreen
from tui.widgets.app_editor import AppEditor
from tui.widgets.filter_bar import FilterBar
from tui.widgets.log_viewer import LogViewer

SIZE = (120, 40)


async def _hold(gate: threading.Event) -> None:
    gate.wait(10)  # blocks the engine's loop on purpose


def wanted_cell(app, app_id: str) -> str:
    return app.main.apps.get_cell(app_id, "tasks").plain


async def deploy_file(pilot, console, path: Path) -> None:
    """`n`, then the path typed into the picker, then Enter."""
    await pilot.press("n", "tab")
    console.screen.query_one("#path", Input).value = str(path)
    await pilot.press("enter")


async def test_plus_and_minus_scale_the_selected_app_at_once_then_for_real(console):
    async with console.run_test(size=SIZE) as pilot:
        await started(pilot)
        await deployed(pilot, web_app(instances=2))
        engine = console.host.engine
        gate = threading.Event()
        console.host.submit(_hold(gate))  # the engine thread is busy: the console must not wait for it
        await pilot.press("plus")
        assert wanted_cell(console, "/web") == "2/-/3*", "the table shows the new count before the engine acts"
        await pilot.press("plus", "plus")
        assert wanted_cell(console, "/web") == "2/-/5*"
        assert engine.get_app("/web").instances == 2
        gate.set()
        await until(pilot, lambda: engine.get_app("/web").instances == 5, message="scaled to 5")
        await until(pilot, lambda: engine.running_count("/web") == 5, message="5 running")
        await until(pilot, lambda: wanted_cell(console, "/web") == "5/-/5", message="the table shows reality")
        await pilot.press("minus", "minus")
        await until(pilot, lambda: engine.get_app("/web").instances == 3, message="scaled down to 3")
        await until(pilot, lambda: len(engine.tasks_of("/web")) == 3, message="2 tasks killed")
        await until(pilot, lambda: console.main.tasks.row_count == 3, message="tasks pane shows 3 tasks")


async def test_minus_never_goes_below_zero(console):
    async with console.run_test(size=SIZE) as pilot:
        await started(pilot)
        await deployed(pilot, web_app(instances=1))
        engine = console.host.engine
        await pilot.press("minus")
        await until(pilot, lambda: engine.get_app("/web").instances == 0, message="scaled to 0")
        await until(pilot, lambda: wanted_cell(console, "/web") == "0/-/0", message="shown at 0")
        await pilot.press("minus")
        assert console.main.apps.wanted("/web") == 0
        assert engine.get_app("/web").instances == 0


async def test_equals_sets_the_instance_count(console):
    async with console.run_test(size=SIZE) as pilot:
        await started(pilot)
        await deployed(pilot, web_app(instances=1))
        await pilot.press("equals_sign")
        assert isinstance(console.screen, PromptScreen)
        number = console.screen.query_one(Input)
        assert number.value == "1"
        number.value = "-3"
        await pilot.press("enter")
        assert isinstance(console.screen, PromptScreen), "a negative count is refused in the dialog"
        number.value = ""
        await pilot.press("4", "enter")
        await until(pilot, lambda: console.host.engine.get_app("/web").instances == 4, message="set to 4")


async def test_n_deploys_the_seed_sample_from_the_picker(console):
    async with console.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("n")
        assert isinstance(console.screen, DeployScreen)
        await pilot.press("enter")
        engine = console.host.engine
        await until(pilot, lambda: "/example-app" in engine.apps, message="the seed app created")
        assert engine.get_app("/example-app").container.docker.image == "python:3"
        await until(pilot, lambda: console.main.selected_app == "/example-app", message="the new app selected")
        await until(pilot, lambda: engine.running_count("/example-app") == 2, message="2 running")


async def test_n_deploys_from_a_typed_path(console, tmp_path: Path):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(web_app("/mine", instances=1)))
    async with console.run_test(size=SIZE) as pilot:
        await started(pilot)
        await deploy_file(pilot, console, path)
        await until(pilot, lambda: "/mine" in console.host.engine.apps, message="app from the file")


async def test_n_deploys_a_marathon_group_file_as_one_change(console, tmp_path: Path):
    path = tmp_path / "stack.json"
    group = {"id": "/stack", "apps": [web_app("web", instances=2, dependencies=["db"]), web_app("db", instances=1)]}
    path.write_text(json.dumps(group, indent=2))
    async with console.run_test(size=SIZE, notifications=True) as pilot:
        await started(pilot)
        await deploy_file(pilot, console, path)
        engine = console.host.engine
        await until(pilot, lambda: {"/stack/web", "/stack/db"} <= set(engine.apps), message="the group's apps")
        assert engine.get_app("/stack/web").dependencies == ["/stack/db"]
        await until(pilot, lambda: engine.running_count("/stack/web") == 2 and engine.running_count("/stack/db") == 1,
                    message="all running")
        assert any("other apps of its group" in n.message for n in console._notifications)
        # The file edited to a bad group: the editor opens at the bad field of the document.
        group["apps"][1]["mem"] = -5
        path.write_text(json.dumps(group, indent=2))
        await deploy_file(pilot, console, path)
        await until(pilot, lambda: isinstance(console.screen, EditorScreen), message="the editor")
        editor = console.screen.query_one(AppEditor)
        text = editor.text.splitlines()
        assert {text[line].strip().split(":")[0] for line in editor.error_lines} == {'"mem"'}
        assert engine.get_app("/stack/db").mem != -5


async def test_an_invalid_app_opens_the_editor_at_its_fields_and_can_be_fixed(console, tmp_path: Path):
    bad = web_app("/bad", instances=1, cpus=-1)
    bad["container"]["docker"]["image"] = ""
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad, indent=2))
    async with console.run_test(size=SIZE, notifications=True) as pilot:
        await started(pilot)
        await deploy_file(pilot, console, path)
        await until(pilot, lambda: isinstance(console.screen, EditorScreen), message="the editor")
        editor = console.screen.query_one(AppEditor)
        text = editor.text.splitlines()
        marked = {text[line].strip().split(":")[0] for line in editor.error_lines}
        assert '"cpus"' in marked and '"image"' in marked, marked
        assert any("invalid app" in (n.title or "") for n in console._notifications), "a notification says why"
        assert "/bad" not in console.host.engine.apps
        fixed = dict(bad, cpus=0.25)
        fixed["container"] = {"type": "DOCKER", "docker": {"image": "img:2"}}
        editor.load_text(json.dumps(fixed, indent=2))
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "/bad" in console.host.engine.apps, message="the fixed app created")
        assert console.host.engine.get_app("/bad").cpus == 0.25
        await until(pilot, lambda: not isinstance(console.screen, EditorScreen), message="the editor closed")


async def test_e_edits_the_app_and_validates_before_applying(console):
    async with console.run_test(size=SIZE, notifications=True) as pilot:
        await started(pilot)
        await deployed(pilot, web_app(instances=1))
        engine = console.host.engine
        await pilot.press("e")
        await until(pilot, lambda: isinstance(console.screen, EditorScreen), message="the editor")
        editor = console.screen.query_one(AppEditor)
        data = json.loads(editor.text)
        assert data["id"] == "/web" and "version" not in data
        editor.load_text(json.dumps(dict(data, mem="lots"), indent=2))
        await pilot.press("ctrl+s")
        await until(pilot, lambda: bool(editor.error_lines), message="the error marked")
        (line,) = editor.error_lines
        assert '"mem"' in editor.text.splitlines()[line]
        assert engine.get_app("/web").mem == 64
        editor.load_text(json.dumps(dict(data, mem=96), indent=2))
        await pilot.press("ctrl+s")
        await until(pilot, lambda: engine.get_app("/web").mem == 96, message="the edit applied")
        await until(pilot, lambda: engine.converged("/web"), message="the new version running")


async def test_r_restarts_every_task(console):
    async with console.run_test(size=SIZE) as pilot:
        await started(pilot)
        await deployed(pilot, web_app(instances=2))
        engine = console.host.engine
        before = {t.task_id for t in engine.tasks_of("/web")}
        await pilot.press("r")
        await until(pilot, lambda: engine.converged("/web") and not engine.deployments
                    and not before & {t.task_id for t in engine.tasks_of("/web")}, message="every task replaced")


async def test_d_deletes_only_after_the_app_id_is_typed(console):
    async with console.run_test(size=SIZE) as pilot:
        await started(pilot)
        await deployed(pilot, web_app(instances=1))
        engine = console.host.engine
        await pilot.press("d")
        assert isinstance(console.screen, TypeToConfirmScreen)
        await pilot.press(*"wbe", "enter")
        assert isinstance(console.screen, TypeToConfirmScreen), "a wrong id does not confirm"
        await pilot.press("escape")
        assert "/web" in engine.apps
        await pilot.press("d", *"web", "enter")
        await until(pilot, lambda: "/web" not in engine.apps, message="deleted")
        with pytest.raises(AppNotFound):
            engine.get_app("/web")
        await until(pilot, lambda: not engine.tasks_of("/web"), message="its tasks gone")
        await until(pilot, lambda: console.main.apps.row_count == 0, message="its row gone")


async def _stuck_upgrade(pilot):
    """v1 runs; v2 asks for more CPU than any agent has, so its deployment cannot finish."""
    app = pilot.app
    engine = app.host.engine
    await deployed(pilot, web_app(instances=2))
    v1 = engine.get_app("/web").version_info["lastConfigChangeAt"]
    bad = await app.host.call(engine.put_app, {"cpus": 50}, app_id="/web")
    await until(pilot, lambda: app.main.view is not None and any(d.id == bad.id for d in app.main.view.deployments),
                message="the stuck deployment shown")
    return v1, bad


async def test_x_cancels_the_deployment_and_rolls_back(console):
    async with console.run_test(size=SIZE) as pilot:
        await started(pilot)
        engine = console.host.engine
        v1, bad = await _stuck_upgrade(pilot)
        await pilot.press("x")
        assert isinstance(console.screen, ConfirmScreen)
        await pilot.press("y")
        await until(pilot, lambda: bad.id not in engine.deployments and engine.get_app("/web").cpus == 0.5,
                    message="rolled back")
        assert engine.get_app("/web").version_info["lastConfigChangeAt"] == v1
        await until(pilot, lambda: engine.converged("/web") and not engine.deployments, message="v1 running again")


async def test_x_in_the_deployments_pane_cancels_the_selected_one(console):
    async with console.run_test(size=SIZE) as pilot:
        await started(pilot)
        engine = console.host.engine
        _, bad = await _stuck_upgrade(pilot)
        await pilot.press("3")
        await until(pilot, lambda: console.main.query_one("#deployments-table").row_count == 1, message="listed")
        assert console.main.focused_pane == "deployments-table"
        await pilot.press("x", "y")
        await until(pilot, lambda: bad.id not in engine.deployments and engine.get_app("/web").cpus == 0.5,
                    message="rolled back")


async def test_the_deployments_pane_names_the_change_an_app_is_part_of(console):
    async with console.run_test(size=SIZE) as pilot:
        await started(pilot)
        engine = console.host.engine
        # /stack/big never fits, so the change of both apps stays listed.
        group = {"id": "/stack", "apps": [web_app("small", instances=1), web_app("big", instances=1, cpus=999)]}
        (part, *_) = await console.host.call(engine.put_group, group)
        await pilot.press("3")
        table = console.main.query_one("#deployments-table")
        await until(pilot, lambda: table.row_count == 1, message="the part still under way listed")
        detail = console.main.query_one("#deployment-detail")
        await until(pilot, lambda: f"one app of change {part.public_id[:8]}" in str(detail.render()),
                    message="the change named")
        await pilot.press("slash", *part.public_id[:8], "enter")
        assert table.row_count == 1, "the API's id filters the pane"


async def test_v_rolls_back_to_a_chosen_version(console):
    async with console.run_test(size=SIZE) as pilot:
        await started(pilot)
        engine = console.host.engine
        await deployed(pilot, web_app(instances=1))
        first = engine.get_app("/web").version
        await console.host.call(engine.put_app, {"mem": 80}, app_id="/web")
        await until(pilot, lambda: engine.converged("/web") and not engine.deployments, message="v2 running")
        await pilot.press("v")
        await until(pilot, lambda: isinstance(console.screen, VersionsScreen), message="the versions")
        assert console.screen.versions[-1] == first
        await pilot.press("end", "enter")
        await until(pilot, lambda: engine.get_app("/web").mem == 64, message="back to the first version's memory")


async def test_conflicting_change_is_a_notification_not_a_crash(console):
    async with console.run_test(size=SIZE, notifications=True) as pilot:
        await started(pilot)
        engine = console.host.engine
        _, bad = await _stuck_upgrade(pilot)
        await pilot.press("r")
        await until(pilot, lambda: any(n.title == "deployment in progress" for n in console._notifications),
                    message="a conflict notification")
        note = next(n for n in console._notifications if n.title == "deployment in progress")
        assert bad.id[:8] in note.message and "x" in note.message
        assert list(engine.deployments) == [bad.id], "nothing changed"
        await pilot.press("plus")
        await until(pilot, lambda: console.main.apps.wanted("/web") == 2, message="the optimistic count undone")
        assert engine.get_app("/web").instances == 2


async def test_k_kills_the_selected_task_and_it_is_replaced(console):
    async with console.run_test(size=SIZE) as pilot:
        await started(pilot)
        engine = console.host.engine
        await deployed(pilot, web_app(instances=1))
        (victim,) = [t.task_id for t in engine.tasks_of("/web")]
        await pilot.press("tab")
        assert console.main.focused_pane == "tasks-table"
        await until(pilot, lambda: console.main.tasks.selected_task == victim, message="the task selected")
        await pilot.press("k")
        await until(pilot, lambda: victim not in engine.tasks and engine.running_count("/web") == 1,
                    message="replaced")


async def test_a_crashed_task_restarts_in_its_row_and_the_restarts_column_counts(console, sim_agents):
    async with console.run_test(size=SIZE) as pilot:
        await started(pilot)
        engine = console.host.engine
        await deployed(pilot, web_app(instances=2, backoffSeconds=0))
        tasks = console.main.tasks
        await until(pilot, lambda: tasks.row_count == 2, message="2 task rows")
        order = list(tasks.keys)
        crashed = engine.tasks_of("/web")[0]
        sim_agents[crashed.agent].crash(crashed.container_id)
        await until(pilot, lambda: crashed.task_id not in engine.tasks and engine.running_count("/web") == 2,
                    message="replaced")
        instance = crashed.task_id.rsplit("._app.", 1)[0]
        await until(pilot, lambda: tasks.task_ids.get(instance, "").endswith("._app.2"), message="next attempt shown")
        assert list(tasks.keys) == order, "the instance kept its row"
        assert tasks.get_cell(instance, "restarts").plain == "1"
        assert tasks.get_cell(next(k for k in order if k != instance), "restarts").plain == "0"


async def test_tables_take_their_narrow_columns_when_the_terminal_shrinks_and_back(console):
    async with console.run_test(size=(120, 40)) as pilot:
        await started(pilot)
        restarts = console.main.tasks.columns["restarts"]
        assert (str(restarts.label), restarts.width) == ("RESTARTS", 8)
        await pilot.resize_terminal(80, 24)
        await until(pilot, lambda: restarts.width == 3, message="narrow columns at 80 wide")
        assert str(restarts.label) == "RST"
        await pilot.resize_terminal(120, 40)
        await until(pilot, lambda: restarts.width == 8, message="wide columns again")
        assert str(restarts.label) == "RESTARTS"


async def test_l_follows_the_logs_of_an_app_with_pause_wrap_timestamps_and_search(console):
    async with console.run_test(size=SIZE) as pilot:
        await started(pilot)
        await deployed(pilot, web_app(instances=2))
        await pilot.press("l")
        viewer = console.main.query_one(LogViewer)
        log = viewer.query_one(Log)
        assert console.main.focused_pane == "log-lines"
        await until(pilot, lambda: len({line.split("]")[0] for line in log.lines if "tick" in line}) == 2,
                    message="ticks from both tasks")
        await pilot.press("p")
        shown = log.line_count
        await until(pilot, lambda: viewer.backlog > 3, message="lines kept while paused")
        assert log.line_count == shown
        await pilot.press("p")
        assert log.line_count > shown
        await pilot.press("t")
        assert log.lines[-1][:2].isdigit() and log.lines[-1][2] == ":", "timestamps shown"
        await pilot.press("w")
        assert viewer.wrap
        assert console.settings.log_wrap and console.settings.log_timestamps, "remembered for the next start"
        await pilot.press("slash", *"started", "enter")
        assert viewer.search == "started"
        assert log.lines and all("started" in line for line in log.lines)


async def test_logs_that_arrive_while_another_pane_is_shown_are_written_when_it_is_shown_again(console):
    async with console.run_test(size=SIZE) as pilot:
        await started(pilot)
        await deployed(pilot, web_app(instances=1))
        await pilot.press("l")
        viewer = console.main.query_one(LogViewer)
        log = viewer.query_one(Log)
        await until(pilot, lambda: any("tick" in line for line in log.lines), message="ticks")
        await pilot.press("1")
        shown, received = log.line_count, viewer.received
        await until(pilot, lambda: viewer.received >= received + 3, message="lines received while hidden")
        assert log.line_count == shown, "nothing written into the hidden pane"
        assert viewer.unshown >= viewer.received - received
        await pilot.press("7")
        assert viewer.unshown == 0
        assert log.line_count == len(viewer._kept) == viewer.received, "every line kept is shown, none twice"
        assert log.lines[-1] == viewer._format(*viewer._kept[-1])


async def test_l_on_a_task_follows_only_that_task(console):
    async with console.run_test(size=SIZE) as pilot:
        await started(pilot)
        engine = console.host.engine
        await deployed(pilot, web_app(instances=2))
        await pilot.press("tab")
        task_id = console.main.tasks.selected_task
        await pilot.press("l")
        log = console.main.query_one(LogViewer).query_one(Log)
        await until(pilot, lambda: any("tick" in line for line in log.lines), message="ticks")
        assert all(task_id in line for line in log.lines if "tick" in line)
        assert len(engine.tasks_of("/web")) == 2


async def test_slash_filters_the_apps_and_escape_clears(console):
    async with console.run_test(size=SIZE) as pilot:
        await started(pilot)
        await deployed(pilot, web_app("/web", instances=1))
        await deployed(pilot, web_app("/db", instances=1))
        assert console.main.apps.row_count == 2
        await pilot.press("slash", "d", "b")
        assert console.main.apps.keys == ["/db"]
        await pilot.press("enter")
        assert console.main.focused_pane == "apps-table"
        await pilot.press("plus")
        await until(pilot, lambda: console.host.engine.get_app("/db").instances == 2, message="filtered row scaled")
        await pilot.press("slash", "escape")
        assert sorted(console.main.apps.keys) == ["/db", "/web"]


async def test_plus_minus_and_tab_typed_in_the_filter_box_are_text_not_commands(console):
    """+, - and tab are priority bindings (run before the key reaches the focused widget): in the filter
    box they must still be plain text, and scale nothing."""
    async with console.run_test(size=SIZE) as pilot:
        await started(pilot)
        await deployed(pilot, web_app("/web", instances=1))
        engine = console.host.engine
        await pilot.press("slash", "w", "plus", "minus")
        assert console.main.query_one(FilterBar).value == "w+-"
        await pilot.pause(0.3)
        assert engine.get_app("/web").instances == 1
        assert not [d for d in engine.deployments.values() if d.status == "running"]


async def test_s_sorts_the_apps_and_keeps_the_selection(console):
    async with console.run_test(size=SIZE) as pilot:
        await started(pilot)
        await deployed(pilot, web_app("/a", instances=1))
        await deployed(pilot, web_app("/b", instances=3))
        apps = console.main.apps
        assert [r.key.value for r in apps.ordered_rows] == ["/a", "/b"]
        apps.select_key("/a")
        await pilot.press("s")  # by wanted instances
        assert apps.sort_by == "wanted"
        await pilot.press("S")
        assert [r.key.value for r in apps.ordered_rows] == ["/b", "/a"]
        assert apps.selected_key == "/a"


async def test_tab_and_numbers_move_between_panes(console):
    async with console.run_test(size=SIZE) as pilot:
        await started(pilot)
        panes = []
        for _ in range(8):
            panes.append(console.main.focused_pane)
            await pilot.press("tab")
        assert panes == ["apps-table", "tasks-table", "agents-table", "deployments-table", "health-table",
                         "queue-view", "event-log", "log-lines"]
        assert console.main.focused_pane == "apps-table"
        await pilot.press("shift+tab")
        assert console.main.focused_pane == "log-lines"
        await pilot.press("2")
        assert console.main.focused_pane == "agents-table"
        await until(pilot, lambda: console.main.query_one("#agents-table").row_count == 3, message="3 agents")


async def test_agents_drain_and_resume(console):
    async with console.run_test(size=SIZE) as pilot:
        await started(pilot)
        engine = console.host.engine
        await pilot.press("2")
        await until(pilot, lambda: console.main.query_one("#agents-table").row_count == 3, message="agents")

        async def draining() -> bool:
            snap = await console.host.read(engine.snapshot)
            return next(a.draining for a in snap.agents if a.name == "sim-1")

        await pilot.press("D", "y")
        await until(pilot, draining, message="sim-1 draining")
        await until(pilot, lambda: console.main.check_action("resume_agent", ()) is True, message="U applies")
        await pilot.press("U")

        async def resumed() -> bool:
            return not await draining()

        await until(pilot, resumed, message="sim-1 resumed")


async def test_question_mark_explains_every_key(console):
    async with console.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("question_mark")
        assert isinstance(console.screen, HelpScreen)
        text = "\n".join(str(s) for s in _help_lines(console))
        from tui.app import PacerApp
        from tui.screens.main import MainScreen
        for binding in [*MainScreen.BINDINGS, *PacerApp.BINDINGS]:
            assert console.get_key_display(binding) in text, binding.key
            assert (binding.tooltip or binding.description) in text, binding.id
        await pilot.press("escape")
        assert not isinstance(console.screen, HelpScreen)


def _help_lines(app):
    group = app.screen.render_keys()
    return [cell for table in group.renderables if hasattr(table, "columns")
            for column in table.columns for cell in column._cells]


async def test_colon_palette_runs_an_action(console):
    async with console.run_test(size=SIZE) as pilot:
        await started(pilot)
        await deployed(pilot, web_app(instances=1))
        await pilot.press("colon")
        await pilot.press(*"scale up")

        def offered() -> bool:
            found = console.screen.query("CommandList")
            return bool(found) and found.first().option_count > 0 and "Scale up" in str(
                found.first().get_option_at_index(0).prompt)

        await until(pilot, offered, message="the palette offering 'Scale up'")
        await pilot.press("down", "enter")
        await until(pilot, lambda: console.host.engine.get_app("/web").instances == 2, message="scaled by the palette")


async def test_q_asks_while_a_deployment_runs(console):
    async with console.run_test(size=SIZE) as pilot:
        await started(pilot)
        await _stuck_upgrade(pilot)
        await pilot.press("q")
        assert isinstance(console.screen, ConfirmScreen)
        await pilot.press("n")
        assert console.is_running
        await pilot.press("q", "y")
        await until(pilot, lambda: not console.is_running, message="quit")
    assert console.return_value == 0


async def test_q_quits_at_once_when_nothing_deploys(console):
    async with console.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("q")
        await until(pilot, lambda: not console.is_running, message="quit")


async def test_unreachable_agent_is_a_notification(console, sim_agents):
    async with console.run_test(size=SIZE, notifications=True) as pilot:
        await started(pilot)
        sim_agents["sim-2"].reachable = False
        await until(pilot, lambda: any(n.title == "agent unreachable" and "sim-2" in n.message
                                       for n in console._notifications), message="the notification")
        await pilot.press("2")
        await until(pilot, lambda: "unreachable" in console.main.query_one("#agents-table")
                    .get_cell("sim-2", "state").plain, message="shown as unreachable")


async def test_waiting_app_is_explained(console):
    async with console.run_test(size=SIZE) as pilot:
        await started(pilot)
        engine = console.host.engine
        await console.host.call(engine.create_app, web_app("/big", instances=1, cpus=20))
        await until(pilot, lambda: console.main.view is not None and console.main.view.apps.get("/big") is not None
                    and console.main.view.apps["/big"].waiting is not None, message="waiting")
        await pilot.press("5")
        queue = console.main.query_one("#queue-view")
        await until(pilot, lambda: queue.waiting_apps == ["/big"], message="queue pane")
        text = queue.describe(console.main.view).plain
        assert "sim-1" in text and "cpus" in text


async def test_ctrl_t_switches_theme_and_it_is_remembered(engine, console_settings, tmp_path):
    first = make_app(engine=engine, settings_file=console_settings)
    async with first.run_test(size=SIZE) as pilot:
        assert first.theme == "pacer-dark"
        await pilot.press("ctrl+t")
        await until(pilot, lambda: json.loads(console_settings.read_text())["theme"] == "pacer-light"
                    if console_settings.exists() else False, message="saved")
        assert first.palette.ok == "#237a32"
    second = make_app(host=first.host, settings_file=console_settings)
    assert second.theme == "pacer-light"


async def test_an_existing_app_is_a_notification_with_its_id_in_brackets(console):
    async with console.run_test(size=SIZE, notifications=True) as pilot:
        await started(pilot)
        for _ in range(2):
            await pilot.press("n")
            await until(pilot, lambda: isinstance(console.screen, DeployScreen), message="the picker")
            await pilot.press("enter")
            await until(pilot, lambda: "/example-app" in console.host.engine.apps, message="created")
        await until(pilot, lambda: any(n.title == "app exists" for n in console._notifications),
                    message="the notification")
        note = next(n for n in console._notifications if n.title == "app exists")
        assert "[/example-app]" in note.message and not note.markup
        await pilot.pause()
        assert console.is_running
