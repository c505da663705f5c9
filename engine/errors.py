"""Errors pacer reports to people.

    PacerError(message, title)
     +-- ConfigError            a config file is wrong: file, line, field
     +-- AppValidationError     an app definition is wrong: every field with its JSON path
     +-- AppNotFound            no app with that id
     +-- AppExists              an app with that id already exists
     +-- DeploymentConflict     a running deployment locks the app
     +-- DeploymentNotFound     no deployment with that id
     +-- TaskNotFound           no task with that id
     +-- AgentError             an agent call failed
     |    +-- AgentUnreachable  the agent does not answer
     +-- StorageUnavailable     the state storage cannot commit (full, read-only, I/O error): nothing was changed
     |  extended by cli/errors.py (the `pacer` command; each carries its exit code as `code`):
     +-- ClientError            a client command (pacer deploy, apps, ...) failed
     +-- ImageCommandError      a `pacer image` command failed
"""

from __future__ import annotations

from dataclasses import dataclass


class PacerError(Exception):
    title = "pacer error"

    def __init__(self, message: str, title: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if title is not None:
            self.title = title


class ConfigError(PacerError):
    title = "bad config"

    def __init__(self, file: str, line: int | None, field: str, problem: str) -> None:
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {field}: {problem}")
        self.file = file
        self.line = line
        self.field = field
        self.problem = problem


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one field; `path` is a JSON pointer such as /container/docker/image."""

    path: str
    message: str


class AppValidationError(PacerError):
    title = "invalid app"

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = list(errors)
        lines = "; ".join(f"{e.path}: {e.message}" for e in self.errors)
        super().__init__(f"Object is not valid: {lines}")


class AppNotFound(PacerError):
    title = "no such app"

    def __init__(self, app_id: str) -> None:
        super().__init__(f"App '{app_id}' does not exist")
        self.app_id = app_id


class AppExists(PacerError):
    title = "app exists"

    def __init__(self, app_id: str) -> None:
        super().__init__(f"An app with id [{app_id}] already exists.")
        self.app_id = app_id


class DeploymentConflict(PacerError):
    title = "deployment in progress"

    def __init__(self, app_id: str, deployment_ids: list[str]) -> None:
        super().__init__(
            "App is locked by one or more deployments. Override with the option '?force=true'. "
            f"View details at '/v2/deployments/{deployment_ids[0] if deployment_ids else ''}'."
        )
        self.app_id = app_id
        self.deployment_ids = deployment_ids


class DeploymentNotFound(PacerError):
    title = "no such deployment"

    def __init__(self, deployment_id: str) -> None:
        super().__init__(f"DeploymentPlan {deployment_id} does not exist")
        self.deployment_id = deployment_id


class TaskNotFound(PacerError):
    title = "no such task"

    def __init__(self, task_id: str) -> None:
        super().__init__(f"Task '{task_id}' does not exist")
        self.task_id = task_id


def report(exc: PacerError) -> int:
    """Tell a person on stderr what went wrong, without a traceback; the exit code for it
    (2 for a bad config, 1 for anything else)."""
    import sys

    if isinstance(exc, ConfigError):
        print(f"pacer: bad config: {exc.message}", file=sys.stderr)
        return 2
    print(f"pacer: {exc.title}: {exc.message}", file=sys.stderr)
    return 1


class AgentError(PacerError):
    title = "agent error"


class AgentUnreachable(AgentError):
    title = "agent unreachable"


class StorageUnavailable(PacerError):
    """The state storage cannot commit a change, so the change was not made (neither on disk nor in memory).

    `kind` says why in one word ("full", "read-only", "io", "locked", "damaged", "unopenable", "failed");
    `message` says it for a person, with the path and the database's own words, such as
    "state storage is full: 12 kB free on /var/lib/pacer (database or disk is full)". It passes when the
    cause does: nothing needs restarting."""

    title = "state storage unavailable"

    def __init__(self, message: str, *, kind: str = "failed", path: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.path = path
