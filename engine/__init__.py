"""pacer's scheduler engine: usable alone, without the console.

    from engine import Engine, load_config
    async with Engine(load_config("pacer.toml")) as engine:
        await engine.create_app({...})

The console and the API use only the names in `__all__`, and of `Engine` only the members in
`ENGINE_FACADE` (tests/unit/test_facade.py fails when they touch anything else):

- commands, each validated and committed before it returns: create_app, put_app, put_group,
  plan_changes + apply_changes (several apps as one change), plan_group, scale, restart_app,
  delete_app, rollback_app, cancel_deployment, kill_tasks, reset_delay, drain_agent,
  resume_agent, add_signature, remove_signatures;
- reads, each a read-only view of the engine now: snapshot() (a frozen ClusterSnapshot with
  agents, apps, tasks and deployments), apps, tasks, deployments, waiting, backoff, failures,
  health, health_results (typed HealthResult per check), readiness_results (during a deployment), tasks_of, get_app, app_versions,
  app_at_version, locks, converged, running_count, autoscale_status, autoscale_summary,
  policy_of, signatures, signatures_for, probe_host, hostname_of, stats, revision, cluster_id,
  config, clock, task_logs, follow_task_logs, health_status (ready, or degraded with each part's reason),
  image_pulls (what each agent is pulling, with progress);
- events: subscribe() -> an async iterator of typed events (engine.events: frozen dataclasses
  named in the past tense) over a bounded queue;
- lifecycle: start, stop (or `async with`), wait_for_round, and `pause_point`, a hook the
  console sets to share the interpreter with the engine's rounds.

The names are imported when first used (PEP 562), so importing a part of the engine
(engine.model, engine.errors) does not load the whole of it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.config import AgentConfig, PacerConfig, SchedulerConfig, default_config, load_config
    from engine.core import Engine
    from engine.errors import (
        AgentError,
        AgentUnreachable,
        AppExists,
        AppNotFound,
        AppValidationError,
        ConfigError,
        DeploymentConflict,
        DeploymentNotFound,
        FieldError,
        PacerError,
        StorageUnavailable,
        TaskNotFound,
    )
    from engine.events import EngineEvent, Subscription
    from engine.health import HealthResult
    from engine.model import AppDefinition, app_to_json, parse_app
    from engine.scheduler.deployments import Deployment
    from engine.scheduler.state import TaskRecord, TaskState
    from engine.supervisor import EngineHealth, PartHealth
    from engine.views import AgentView, AppView, ClusterSnapshot, EngineStats

ENGINE_FACADE: frozenset[str] = frozenset({
    # commands
    "create_app", "put_app", "put_group", "plan_changes", "apply_changes", "plan_group", "scale", "restart_app",
    "delete_app", "rollback_app", "cancel_deployment", "kill_tasks", "reset_delay", "drain_agent", "resume_agent",
    "add_signature", "remove_signatures",
    # reads
    "snapshot", "apps", "tasks", "deployments", "waiting", "backoff", "failures", "health", "health_results",
    "health_results_json", "tasks_of", "get_app", "app_versions", "app_at_version", "group_id_problems", "locks",
    "converged", "running_count", "autoscale_status", "autoscale_summary", "policy_of", "signatures",
    "signatures_for", "probe_host", "hostname_of", "stats", "revision", "cluster_id", "config", "clock",
    "task_logs", "follow_task_logs", "health_status", "readiness_results", "readiness_results_json",
    "image_pulls",
    # events and lifecycle
    "subscribe", "start", "stop", "wait_for_round", "pause_point",
})
"""The members of `Engine` that the API and the console may use."""

__all__ = [
    "AgentConfig",
    "AgentError",
    "AgentUnreachable",
    "AgentView",
    "AppDefinition",
    "AppExists",
    "AppNotFound",
    "AppValidationError",
    "AppView",
    "ClusterSnapshot",
    "ConfigError",
    "Deployment",
    "DeploymentConflict",
    "DeploymentNotFound",
    "ENGINE_FACADE",
    "Engine",
    "EngineEvent",
    "EngineHealth",
    "EngineStats",
    "FieldError",
    "HealthResult",
    "PacerConfig",
    "PacerError",
    "PartHealth",
    "SchedulerConfig",
    "StorageUnavailable",
    "Subscription",
    "TaskNotFound",
    "TaskRecord",
    "TaskState",
    "app_to_json",
    "default_config",
    "load_config",
    "parse_app",
]

_HOMES = {
    "AgentConfig": "engine.config",
    "AgentError": "engine.errors",
    "AgentUnreachable": "engine.errors",
    "AgentView": "engine.views",
    "AppDefinition": "engine.model",
    "AppExists": "engine.errors",
    "AppNotFound": "engine.errors",
    "AppValidationError": "engine.errors",
    "AppView": "engine.views",
    "ClusterSnapshot": "engine.views",
    "ConfigError": "engine.errors",
    "Deployment": "engine.scheduler.deployments",
    "DeploymentConflict": "engine.errors",
    "DeploymentNotFound": "engine.errors",
    "Engine": "engine.core",
    "EngineEvent": "engine.events",
    "EngineHealth": "engine.supervisor",
    "EngineStats": "engine.views",
    "HealthResult": "engine.health",
    "FieldError": "engine.errors",
    "PacerConfig": "engine.config",
    "PacerError": "engine.errors",
    "PartHealth": "engine.supervisor",
    "SchedulerConfig": "engine.config",
    "StorageUnavailable": "engine.errors",
    "Subscription": "engine.events",
    "TaskNotFound": "engine.errors",
    "TaskRecord": "engine.scheduler.state",
    "TaskState": "engine.scheduler.state",
    "app_to_json": "engine.model",
    "default_config": "engine.config",
    "load_config": "engine.config",
    "parse_app": "engine.model",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
