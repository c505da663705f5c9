"""`pacer deploy|apps|tasks|scale|restart|rm|logs|deployments`: a client of the API, for scripts.

Target: ``--url``, else ``PACER_URL``, else ``[scheduler] api`` of ``--config``,
else http://127.0.0.1:8080. Token: ``--token``, else ``PACER_TOKEN``, else
``[scheduler] api_token``; sent as ``Authorization: Bearer``. A TLS API is
verified against ``PACER_CACERT`` or the config's ``api_tls_cert``.

Commands that change an app wait for their deployment and show progress on
stderr (``--no-wait`` returns once the change is accepted).

Exit codes (stable, for scripts):
  0  done
  1  failed: the deployment failed or was rolled back or replaced, or the server erred
  2  bad usage or input: arguments, an unreadable or invalid app file (HTTP 400/422)
  3  not found: no such app, task or deployment (HTTP 404)
  4  conflict: a running deployment locks the app, or it exists (HTTP 409)
  5  timed out waiting for the deployment
  6  cannot reach the API, or the token was refused (HTTP 401/403)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import ssl
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, AsyncIterator, Sequence
from urllib.parse import quote

if TYPE_CHECKING:
    # httpx is imported where a request is made: importing it imports Rich (its own command line) when that
    # is installed, and `pacer --help` and `pacer --serve` import this module without needing either.
    import httpx

from cli.errors import ClientError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NOT_FOUND, EXIT_CONFLICT, EXIT_TIMEOUT, EXIT_UNREACHABLE = range(7)

EXIT_CODES_HELP = """exit codes:
  0  done
  1  the deployment failed, was rolled back or replaced; or a server error
  2  bad usage or input (arguments, app file, HTTP 400/422)
  3  not found (HTTP 404)
  4  conflict: a deployment locks the app, or it already exists (HTTP 409)
  5  timed out waiting for the deployment
  6  cannot reach the API, or the token was refused (HTTP 401/403)"""

COMMANDS = ("deploy", "apps", "tasks", "scale", "restart", "rm", "logs", "deployments")
DEFAULT_URL = "http://127.0.0.1:8080"


# -- arguments ----------------------------------------------------------------------------


def add_client_commands(sub: Any) -> None:
    """Register the client subcommands on an argparse subparsers object."""

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(name, help=help_text, description=help_text,
                                                    epilog=EXIT_CODES_HELP,
                                                    formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("--config", "-c", metavar="FILE", default=argparse.SUPPRESS,
                       help="read the API address and token from this pacer config")
        p.add_argument("--url", help="API URL (default: $PACER_URL, the config's [scheduler] api, "
                                     f"or {DEFAULT_URL})")
        p.add_argument("--token", help="API token (default: $PACER_TOKEN or the config's api_token)")
        p.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                       help="give up waiting after this long (exit 5)")
        return p

    def waits(p: argparse.ArgumentParser) -> None:
        p.add_argument("--no-wait", action="store_true", help="return once the change is accepted")
        p.add_argument("--force", action="store_true", help="override the lock of a running deployment")

    p = command("deploy", "create or replace the apps of a JSON or TOML file (- reads stdin): one app, a list, "
                          "or a Marathon group (whose apps the file leaves out are removed); wait for it")
    p.add_argument("file", metavar="FILE|-")
    waits(p)
    p = command("apps", "list apps")
    p.add_argument("--json", action="store_true", help="print the API's JSON")
    p = command("tasks", "list tasks, of one app or all")
    p.add_argument("app", nargs="?", metavar="APP")
    p.add_argument("--json", action="store_true", help="print the API's JSON")
    p = command("scale", "set the number of instances of an app")
    p.add_argument("app", metavar="APP")
    p.add_argument("instances", type=int, metavar="N")
    waits(p)
    p = command("restart", "replace every task of an app (rolling)")
    p.add_argument("app", metavar="APP")
    waits(p)
    p = command("rm", "delete an app and kill its tasks")
    p.add_argument("app", metavar="APP")
    p.add_argument("--no-wait", action="store_true", help="return once the change is accepted")
    p = command("logs", "print the output of an app's tasks (or of one task)")
    p.add_argument("app", metavar="APP|TASK")
    p.add_argument("--follow", "-f", action="store_true", help="keep printing new lines")
    p.add_argument("--tail", type=int, default=200, metavar="N", help="lines of history per task (default 200)")
    p = command("deployments", "list running deployments")
    p.add_argument("--json", action="store_true", help="print the API's JSON")


# -- connection ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    url: str
    token: str | None
    verify: str | bool


def resolve_target(args: argparse.Namespace, config: Any | None) -> Target:
    sched = config.scheduler if config is not None else None
    url = args.url or os.environ.get("PACER_URL")
    tls_cert = sched.api_tls_cert if sched is not None else None
    if not url and sched is not None and sched.api:
        host, _, port = sched.api.rpartition(":")
        if host in ("0.0.0.0", "::", "[::]", ""):
            host = "127.0.0.1"
        url = f"{'https' if tls_cert else 'http'}://{host}:{port}"
    url = (url or DEFAULT_URL).rstrip("/")
    if "://" not in url:
        url = "http://" + url
    token = args.token or os.environ.get("PACER_TOKEN") or (sched.api_token if sched is not None else None)
    verify: str | bool = os.environ.get("PACER_CACERT") or tls_cert or True
    return Target(url, token, verify)


class Api:
    def __init__(self, target: Target) -> None:
        import httpx

        headers = {"Accept": "application/json"}
        if target.token:
            headers["Authorization"] = f"Bearer {target.token}"
        self.target = target
        verify: ssl.SSLContext | bool = target.verify if isinstance(target.verify, bool) else True
        if isinstance(target.verify, str):
            try:
                verify = ssl.create_default_context(cafile=target.verify)
            except (OSError, ssl.SSLError) as exc:
                raise ClientError(EXIT_USAGE, f"cannot use {target.verify} as the API's CA certificate: {exc}") from None
        self.http = httpx.AsyncClient(base_url=target.url, headers=headers, verify=verify,
                                      timeout=httpx.Timeout(30.0, connect=5.0))

    async def close(self) -> None:
        await self.http.aclose()

    def _raise_for(self, response: httpx.Response) -> None:
        if response.status_code < 400:
            return
        message = response.reason_phrase
        details: Any = None
        if "json" in response.headers.get("content-type", ""):
            try:
                body = response.json()
            except ValueError:
                body = None
            if isinstance(body, dict):
                message = str(body.get("message") or message)
                details = body.get("details")
                if body.get("deployments"):
                    ids = ", ".join(d.get("id", "?") for d in body["deployments"] if isinstance(d, dict))
                    message += f" (deployments: {ids})"
        if isinstance(details, list):
            lines = [f"  {d.get('path')}: {'; '.join(d.get('errors', []))}" for d in details if isinstance(d, dict)]
            message += "\n" + "\n".join(lines)
        elif isinstance(details, str) and details:
            message += f": {details}"
        status = response.status_code
        if status == 401:
            message += ("; the token sent was refused" if self.target.token else
                        "; no token was sent: give --config FILE (the server's config, with its api_token), "
                        "--token, or PACER_TOKEN")
        code = (EXIT_NOT_FOUND if status == 404 else EXIT_CONFLICT if status == 409
                else EXIT_UNREACHABLE if status in (401, 403) else EXIT_USAGE if status in (400, 405, 413, 422)
                else EXIT_FAILED)
        raise ClientError(code, f"HTTP {status}: {message}")

    async def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        import httpx

        try:
            response = await self.http.request(method, path, **kw)
        except httpx.TransportError as exc:
            raise ClientError(EXIT_UNREACHABLE, f"cannot reach the API at {self.target.url}: {exc}") from None
        self._raise_for(response)
        return response

    async def json(self, method: str, path: str, **kw: Any) -> Any:
        response = await self.request(method, path, **kw)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ClientError(EXIT_FAILED, f"{method} {path}: the answer is not JSON") from None

    @contextlib.asynccontextmanager
    async def stream(self, path: str, **kw: Any) -> AsyncIterator[httpx.Response]:
        import httpx

        try:
            async with self.http.stream("GET", path, timeout=httpx.Timeout(None, connect=5.0), **kw) as response:
                if response.status_code >= 400:
                    await response.aread()
                    self._raise_for(response)
                yield response
        except httpx.TransportError as exc:
            raise ClientError(EXIT_UNREACHABLE, f"cannot reach the API at {self.target.url}: {exc}") from None


def app_path(app_id: str) -> str:
    return "/" + "/".join(quote(s, safe="") for s in app_id.split("/") if s)


# -- waiting for deployments ----------------------------------------------------------------


class Progress:
    """One status line on stderr: rewritten in place on a terminal, printed on change otherwise."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last = ""

    def show(self, text: str) -> None:
        if text == self.last:
            return
        self.last = text
        if self.tty:
            width = 200
            sys.stderr.write("\r\033[K" + text[:width])
        else:
            sys.stderr.write(text + "\n")
        sys.stderr.flush()

    def done(self) -> None:
        if self.tty and self.last:
            sys.stderr.write("\n")
            sys.stderr.flush()


class DeploymentWatch:
    """Follows /v2/events for the outcome of deployments; opened before the change is sent."""

    TYPES = ("deployment_success", "deployment_failed", "deployment_info", "deployment_step_success")

    def __init__(self, api: Api) -> None:
        self.api = api
        self.outcomes: dict[str, tuple[bool, str | None]] = {}
        self.changed = asyncio.Event()
        self.ready = asyncio.Event()
        self.available = True
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> "DeploymentWatch":
        self._task = asyncio.ensure_future(self._run())
        try:
            await asyncio.wait_for(self.ready.wait(), 5.0)
        except asyncio.TimeoutError:
            self.available = False
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, ClientError):
                pass

    async def _run(self) -> None:
        import httpx

        params = [("event_type", t) for t in self.TYPES]
        try:
            async with self.api.stream("/v2/events", params=params,
                                       headers={"Accept": "text/event-stream"}) as response:
                self.ready.set()
                async for line in response.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    try:
                        event = json.loads(line[5:])
                    except ValueError:
                        continue
                    kind = event.get("eventType")
                    if kind in ("deployment_success", "deployment_failed"):
                        self.outcomes[str(event.get("id"))] = (kind == "deployment_success", event.get("reason"))
                    self.changed.set()
        except ClientError:
            self.available = False
            self.ready.set()
        except httpx.HTTPError:
            self.available = False
            self.ready.set()


async def wait_for(api: Api, watch: DeploymentWatch, deployment_id: str, app_id: str, *, deleting: bool,
                   timeout: float | None) -> int:
    progress = Progress()
    deadline = None if timeout is None else time.monotonic() + timeout
    started = time.monotonic()
    pacer_ext = True
    try:
        while True:
            outcome = watch.outcomes.get(deployment_id)
            if outcome is not None:
                ok, reason = outcome
                progress.done()
                if ok:
                    return EXIT_OK
                print(f"pacer: deployment {deployment_id} of {app_id} failed: {reason or 'no reason given'}",
                      file=sys.stderr)
                return EXIT_FAILED
            deployments: list[dict[str, Any]] = []
            if pacer_ext:
                try:
                    deployments = await api.json("GET", "/pacer/v1/deployments")
                except ClientError as exc:
                    if exc.code != EXIT_NOT_FOUND:
                        raise
                    pacer_ext = False
            if not pacer_ext:
                deployments = await api.json("GET", "/v2/deployments")
            mine = next((d for d in deployments if d.get("id") == deployment_id), None)
            if mine is None and deployment_id not in watch.outcomes:
                # Finished between two looks; the event may still be on its way.
                await asyncio.sleep(0.3)
                if deployment_id in watch.outcomes:
                    continue
                progress.done()
                replaced = next((d for d in deployments if d.get("rollbackOf") == deployment_id), None)
                if replaced is not None:
                    print(f"pacer: deployment {deployment_id} of {app_id} was cancelled and rolled back "
                          f"(deployment {replaced.get('id')})", file=sys.stderr)
                    return EXIT_FAILED
                return EXIT_OK
            if mine is not None:
                progress.show(await _progress_text(api, mine, app_id, deleting, time.monotonic() - started,
                                                   pulls=pacer_ext))
            if deadline is not None and time.monotonic() > deadline:
                progress.done()
                print(f"pacer: timed out after {timeout:g}s waiting for deployment {deployment_id} of {app_id}",
                      file=sys.stderr)
                return EXIT_TIMEOUT
            watch.changed.clear()
            try:
                await asyncio.wait_for(watch.changed.wait(), 0.5)
            except asyncio.TimeoutError:
                pass
    finally:
        progress.done()


async def _pulls_text(api: Api, app_id: str) -> str:
    """ " - pulling IMAGE: 41% of 212 MB on local" while the app's tasks wait for an image pull (pacer servers)."""
    try:
        pulls = (await api.json("GET", "/pacer/v1/pulls", params={"app": app_id})).get("pulls") or []
    except (ClientError, AttributeError):
        return ""
    if not pulls:
        return ""
    first = pulls[0]
    more = f" (+{len(pulls) - 1} more)" if len(pulls) > 1 else ""
    return f" - {first.get('message', 'pulling')} on {first.get('agent', '?')}{more}"


async def _progress_text(api: Api, d: dict[str, Any], app_id: str, deleting: bool, elapsed: float, *,
                         pulls: bool = False) -> str:
    actions = ", ".join(a.get("action", "?") for a in d.get("currentActions", []))
    affected = d.get("affectedApps") or []
    if len(affected) == 1 and isinstance(affected[0], str):
        app_id = affected[0]  # one app's part of a change of several apps: show that app's progress
    text = f"{app_id}: step {d.get('currentStep')}/{d.get('totalSteps')} {actions}"
    if not deleting and app_id.startswith("/") and len(affected) <= 1:
        try:
            app = (await api.json("GET", f"/v2/apps{app_path(app_id)}"))["app"]
            text += f", {app.get('tasksRunning', 0)}/{app.get('instances', 0)} running"
            if app.get("healthChecks"):
                text += f", {app.get('tasksHealthy', 0)} healthy"
        except (ClientError, KeyError, TypeError):
            pass
        if pulls:
            text += await _pulls_text(api, app_id)
    if d.get("reason"):
        text += f" - {d['reason']}"
    return f"{text} ({elapsed:.0f}s)"


# -- app files ------------------------------------------------------------------------------


def read_app_file(name: str) -> list[dict[str, Any]] | dict[str, Any]:
    """The apps of a JSON or TOML file (one app, a list, or {"apps": [...]}); a group file as it is."""
    from engine.model.groups import is_group

    if name == "-":
        text = sys.stdin.read()
        source = "<stdin>"
    else:
        try:
            text = Path(name).read_text(encoding="utf-8")
        except OSError as exc:
            raise ClientError(EXIT_USAGE, f"cannot read {name}: {exc.strerror or exc}") from None
        source = name
    data: Any
    if source.endswith(".toml"):
        data = _toml(text, source)
    else:
        try:
            data = json.loads(text)
        except ValueError as json_error:
            if source.endswith(".json"):
                raise ClientError(EXIT_USAGE, f"{source}: not valid JSON: {json_error}") from None
            data = _toml(text, source, also=f"not JSON either ({json_error})")
    if is_group(data):
        return dict(data)
    apps = data if isinstance(data, list) else [data]
    if isinstance(data, dict) and isinstance(data.get("apps"), list) and "id" not in data:
        apps = data["apps"]
    for i, app in enumerate(apps):
        if not isinstance(app, dict) or not isinstance(app.get("id"), str) or not app["id"].strip("/"):
            raise ClientError(EXIT_USAGE, f"{source}: app {i + 1} needs an \"id\"")
    if not apps:
        raise ClientError(EXIT_USAGE, f"{source}: no app in the file")
    return apps


def _toml(text: str, source: str, also: str = "") -> Any:
    import tomllib

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        extra = f"; {also}" if also else ""
        raise ClientError(EXIT_USAGE, f"{source}: not valid TOML: {exc}{extra}") from None


# -- commands -------------------------------------------------------------------------------


async def _change(api: Api, args: argparse.Namespace, method: str, path: str, app_id: str, *,
                  body: Any = None, params: dict[str, str] | None = None, deleting: bool = False) -> int:
    wait = not getattr(args, "no_wait", False)
    watch = DeploymentWatch(api)
    if wait:
        await watch.__aenter__()
    try:
        result = await api.json(method, path, json=body, params=params or {})
        deployment_id = (result or {}).get("deploymentId")
        version = (result or {}).get("version")
        if not wait or not deployment_id:
            print(f"{app_id}: accepted, deployment {deployment_id} (version {version})")
            return EXIT_OK
        code = await wait_for(api, watch, deployment_id, app_id, deleting=deleting, timeout=args.timeout)
        if code == EXIT_OK:
            print(f"{app_id}: {'deleted' if deleting else 'deployed'} (version {version}, deployment {deployment_id})")
        return code
    finally:
        if wait:
            await watch.__aexit__(None, None, None)


def _force(args: argparse.Namespace) -> dict[str, str]:
    return {"force": "true"} if getattr(args, "force", False) else {}


async def cmd_deploy(api: Api, args: argparse.Namespace) -> int:
    """The file is the whole truth: each app replaced as written; a group's apps the file leaves out removed.
    Several apps, or a group, go as one deployment."""
    content = read_app_file(args.file)
    if isinstance(content, dict):
        group_id = "/" + "/".join(s for s in content["id"].split("/") if s)
        return await _change(api, args, "PUT", f"/v2/groups{app_path(group_id)}", f"group {group_id}",
                             body=content, params=_force(args))
    if len(content) > 1:
        label = ", ".join("/" + "/".join(s for s in app["id"].split("/") if s) for app in content)
        return await _change(api, args, "PUT", "/v2/apps", label, body=content,
                             params={"partialUpdate": "false", **_force(args)})
    app_id = "/" + "/".join(s for s in content[0]["id"].split("/") if s)
    return await _change(api, args, "PUT", f"/v2/apps{app_path(app_id)}", app_id, body=content[0],
                         params={"partialUpdate": "false", **_force(args)})


async def cmd_scale(api: Api, args: argparse.Namespace) -> int:
    if args.instances < 0:
        raise ClientError(EXIT_USAGE, f"N must be >= 0, got {args.instances}")
    app_id = "/" + args.app.strip("/")
    await api.json("GET", f"/v2/apps{app_path(app_id)}")  # 404 (exit 3) rather than creating an app
    return await _change(api, args, "PUT", f"/v2/apps{app_path(app_id)}", app_id,
                         body={"instances": args.instances}, params=_force(args))


async def cmd_restart(api: Api, args: argparse.Namespace) -> int:
    app_id = "/" + args.app.strip("/")
    return await _change(api, args, "POST", f"/v2/apps{app_path(app_id)}/restart", app_id, params=_force(args))


async def cmd_rm(api: Api, args: argparse.Namespace) -> int:
    app_id = "/" + args.app.strip("/")
    return await _change(api, args, "DELETE", f"/v2/apps{app_path(app_id)}", app_id, deleting=True)


def _table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in [header, *rows]]
    return "\n".join(lines)


def _age(ts: str | None) -> str:
    if not ts:
        return "-"
    try:
        from engine.model import parse_ts

        seconds = max(0.0, time.time() - parse_ts(ts))
    except ValueError:
        return ts
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


async def cmd_apps(api: Api, args: argparse.Namespace) -> int:
    data = await api.json("GET", "/v2/apps")
    if args.json:
        print(json.dumps(data, indent=2))
        return EXIT_OK
    rows = []
    for a in data.get("apps", []):
        image = ((a.get("container") or {}).get("docker") or {}).get("image") or "-"
        healthy = str(a.get("tasksHealthy", 0)) if a.get("healthChecks") else "-"
        rows.append([a["id"], f"{a.get('tasksRunning', 0)}/{a.get('instances', 0)}", healthy,
                     f"{a.get('cpus', 0):g}", f"{a.get('mem', 0):g}", image,
                     "yes" if a.get("deployments") else "-"])
    print(_table(rows, ["ID", "RUNNING", "HEALTHY", "CPUS", "MEM", "IMAGE", "DEPLOYING"]))
    return EXIT_OK


async def cmd_tasks(api: Api, args: argparse.Namespace) -> int:
    path = f"/v2/apps{app_path(args.app)}/tasks" if args.app else "/v2/tasks"
    data = await api.json("GET", path)
    if args.json:
        print(json.dumps(data, indent=2))
        return EXIT_OK
    rows = []
    for t in data.get("tasks", []):
        health = "-"
        if t.get("healthCheckResults"):
            health = "healthy" if all(h.get("alive") for h in t["healthCheckResults"]) else "unhealthy"
        rows.append([t["id"], t.get("appId", ""), t.get("host", ""), t.get("state", ""),
                     ",".join(str(p) for p in t.get("ports", [])) or "-", health, _age(t.get("startedAt"))])
    print(_table(rows, ["ID", "APP", "HOST", "STATE", "PORTS", "HEALTH", "UP"]))
    return EXIT_OK


async def cmd_deployments(api: Api, args: argparse.Namespace) -> int:
    try:
        data = await api.json("GET", "/pacer/v1/deployments")
    except ClientError as exc:
        if exc.code != EXIT_NOT_FOUND:
            raise
        data = await api.json("GET", "/v2/deployments")
    if args.json:
        print(json.dumps(data, indent=2))
        return EXIT_OK
    rows = [[d["id"], ",".join(d.get("affectedApps", [])), f"{d.get('currentStep')}/{d.get('totalSteps')}",
             ",".join(a.get("action", "") for a in d.get("currentActions", [])), _age(d.get("version")),
             d.get("reason") or "-"] for d in data]
    print(_table(rows, ["ID", "APPS", "STEP", "ACTIONS", "AGE", "REASON"]))
    return EXIT_OK


def _looks_like_task(text: str) -> bool:
    from engine.model import app_id_from_task_id

    return "_" in text or (".instance-" in text and app_id_from_task_id(text) is not None)


async def cmd_logs(api: Api, args: argparse.Namespace) -> int:
    if _looks_like_task(args.app):
        path = f"/pacer/v1/tasks/{quote(args.app, safe='')}/logs"
    else:
        path = f"/pacer/v1/apps{app_path(args.app)}/logs"
    params = {"tail": str(max(0, args.tail)), "follow": "true" if args.follow else "false"}
    async with api.stream(path, params=params) as response:
        async for chunk in response.aiter_text():
            sys.stdout.write(chunk)
            sys.stdout.flush()
    return EXIT_OK


HANDLERS = {
    "deploy": cmd_deploy, "apps": cmd_apps, "tasks": cmd_tasks, "scale": cmd_scale, "restart": cmd_restart,
    "rm": cmd_rm, "logs": cmd_logs, "deployments": cmd_deployments,
}


async def _run(args: argparse.Namespace, target: Target) -> int:
    api = Api(target)
    try:
        return await HANDLERS[args.command](api, args)
    finally:
        await api.close()


def run_client(args: argparse.Namespace, config: Any | None) -> int:
    """Run one client command; returns its exit code (errors are one line on stderr, no traceback)."""
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        logging.getLogger("httpx").setLevel(logging.WARNING)  # no request lines on a script's stderr
    try:
        target = resolve_target(args, config)
        return asyncio.run(_run(args, target))
    except ClientError as exc:
        print(f"pacer {args.command}: {exc.message}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK
