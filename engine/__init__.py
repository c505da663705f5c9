"""pacer's scheduler engine: usable alone, without the console.

    from engine import Engine, load_config
    async with Engine(load_config("pacer.toml")) as engine:
        await engine.create_app({...})

The console and the API use only the names listed in `__all__`.

The names are imported when first used (PEP 562), so importing a part of the
engine (engine.model, engine.errors) does not load the whole of it.
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
        TaskNotFound,
    )
    from engine.events import Event, Subscription
    from engine.model import AppDefinition, app_to_json, parse_app
    from engine.scheduler.deployments import Deployment
    from engine.scheduler.state import TaskRecord, TaskState
    from engine.views import AgentView, AppView, ClusterSnapshot

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
    "Engine",
    "Event",
    "FieldError",
    "PacerConfig",
    "PacerError",
    "SchedulerConfig",
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
    "Event": "engine.events",
    "FieldError": "engine.errors",
    "PacerConfig": "engine.config",
    "PacerError": "engine.errors",
    "SchedulerConfig": "engine.config",
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
