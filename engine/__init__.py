"""pacer's scheduler engine: usable alone, without the console.

    from engine import Engine, load_config
    async with Engine(load_config("pacer.toml")) as engine:
        await engine.create_app({...})

The console and the API use only the names listed in `__all__`.
"""

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
