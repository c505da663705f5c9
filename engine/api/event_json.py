"""Marathon's event JSON, made from the engine's typed events at the API edge (/v2/events)."""

from __future__ import annotations

from functools import singledispatch
from typing import Any

from engine.events import (
    AgentDrainStarted,
    AgentLost,
    AgentResumed,
    AgentReturned,
    AppSubmitted,
    AppTerminated,
    AutoscaleDecided,
    DeploymentFailed,
    DeploymentStepStarted,
    DeploymentStepSucceeded,
    DeploymentSucceeded,
    EngineEvent,
    GroupChanged,
    HealthCheckFailed,
    HealthStatusChanged,
    ImagePullProgressed,
    ImageSignatureRemoved,
    ImageSigned,
    InstanceHealthChanged,
    SubscriberDropped,
    TaskStatusChanged,
    UnhealthyTaskKilled,
)
from engine.model.timefmt import format_ts


def event_json(event: EngineEvent) -> dict[str, Any]:
    """The event as Marathon's clients read it: its fields, `eventType` and `timestamp`."""
    body = _fields(event)
    body["eventType"] = event.event_type
    body["timestamp"] = format_ts(event.timestamp)
    return body


@singledispatch
def _fields(event: EngineEvent) -> dict[str, Any]:
    raise TypeError(f"no Marathon JSON for {type(event).__name__}")


@_fields.register
def _(e: TaskStatusChanged) -> dict[str, Any]:
    return {"slaveId": e.agent, "taskId": e.task_id, "taskStatus": e.state.value, "message": e.message,
            "appId": e.app_id, "host": e.host,
            "ipAddresses": [{"ipAddress": e.ip_address, "protocol": "IPv4"}] if e.ip_address else [],
            "ports": list(e.ports), "version": e.version}


@_fields.register
def _(e: AppSubmitted) -> dict[str, Any]:
    return {"clientIp": e.client_ip, "uri": e.uri, "appDefinition": dict(e.app_definition)}


@_fields.register
def _(e: GroupChanged) -> dict[str, Any]:
    return {"groupId": e.group_id, "version": e.version}


@_fields.register
def _(e: AppTerminated) -> dict[str, Any]:
    return {"appId": e.app_id}


def _step(app_id: str, actions: tuple[str, ...]) -> dict[str, Any]:
    return {"actions": [{"action": a, "app": app_id} for a in actions]}


@_fields.register
def _(e: DeploymentStepStarted) -> dict[str, Any]:
    return {"plan": dict(e.plan), "currentStep": _step(e.app_id, e.actions)}


@_fields.register
def _(e: DeploymentStepSucceeded) -> dict[str, Any]:
    return {"plan": dict(e.plan), "currentStep": _step(e.app_id, e.actions)}


@_fields.register
def _(e: DeploymentSucceeded) -> dict[str, Any]:
    return {"id": e.deployment_id, "plan": dict(e.plan)}


@_fields.register
def _(e: DeploymentFailed) -> dict[str, Any]:
    return {"id": e.deployment_id, "plan": dict(e.plan), "reason": e.reason}


@_fields.register
def _(e: HealthCheckFailed) -> dict[str, Any]:
    return {"appId": e.app_id, "taskId": e.instance_id, "instanceId": e.instance_id,
            "healthCheck": dict(e.health_check)}


@_fields.register
def _(e: HealthStatusChanged) -> dict[str, Any]:
    return {"appId": e.app_id, "taskId": e.task_id, "instanceId": e.instance_id, "version": e.version,
            "alive": e.alive}


@_fields.register
def _(e: InstanceHealthChanged) -> dict[str, Any]:
    return {"instanceId": e.instance_id, "runSpecId": e.app_id, "healthy": e.healthy, "runSpecVersion": e.version}


@_fields.register
def _(e: UnhealthyTaskKilled) -> dict[str, Any]:
    return {"appId": e.app_id, "taskId": e.task_id, "instanceId": e.instance_id, "version": e.version,
            "reason": e.reason, "host": e.host, "slaveId": e.agent}


@_fields.register
def _(e: AgentLost) -> dict[str, Any]:
    return {"agent": e.agent, "reason": e.reason}


@_fields.register(AgentReturned)
@_fields.register(AgentDrainStarted)
@_fields.register(AgentResumed)
def _(e: AgentReturned | AgentDrainStarted | AgentResumed) -> dict[str, Any]:
    return {"agent": e.agent}


@_fields.register(ImageSigned)
@_fields.register(ImageSignatureRemoved)
def _(e: ImageSigned | ImageSignatureRemoved) -> dict[str, Any]:
    return {"image": e.image, "imageId": e.image_id, "keyId": e.key_id}


@_fields.register
def _(e: AutoscaleDecided) -> dict[str, Any]:
    return {"appId": e.app_id, **{k: v for k, v in e.record.items() if k != "at"}}


@_fields.register
def _(e: SubscriberDropped) -> dict[str, Any]:
    return {"reason": e.reason}


@_fields.register
def _(e: ImagePullProgressed) -> dict[str, Any]:
    percent = min(100, int(e.downloaded * 100 / e.total)) if e.total > 0 else None
    return {"agentId": e.agent, "image": e.image, "status": e.status, "downloadedBytes": e.downloaded,
            "totalBytes": e.total, "percent": percent, "taskIds": list(e.task_ids), "message": e.text}
