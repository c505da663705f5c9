"""From an app definition to what scheduling and agents need.

`desired_app` extracts the scheduling view (resources, ports, policies) of an
AppDefinition; `task_spec` builds the container an agent starts for one task.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import replace
from typing import Any, Callable, Mapping

from engine.agents.base import SANDBOX_CONTAINER_PATH, PortBinding, TaskSpec, VolumeMount
from engine.model import AppDefinition, attempt_of, container_name_for
from engine.model.isolation_labels import Isolation, isolation_of
from engine.scheduler.state import BackoffPolicy, DesiredApp, PortRequest, Resources, TaskRecord, UpgradePolicy
from engine.trust import ImageSignature

DEFAULT_KILL_GRACE_SECONDS = 3.0


def config_version_of(app: AppDefinition) -> str:
    info = app.version_info or {}
    return str(info.get("lastConfigChangeAt") or app.version or "")


def port_requests(app: AppDefinition) -> tuple[PortRequest, ...]:
    if app.network_mode == "bridge":
        return tuple(
            PortRequest(pm.container_port or pm.host_port or 0, pm.host_port or 0, pm.protocol.split(",")[0], pm.name)
            for pm in app.port_mappings
            if pm.host_port is not None
        )
    if app.network_mode == "host":
        return tuple(
            PortRequest(pd.port, pd.port if app.require_ports else 0, pd.protocol.split(",")[0], pd.name)
            for pd in app.port_definitions
        )
    return ()


def _priority(app: AppDefinition) -> int:
    try:
        return int(app.labels.get("pacer.priority", "0"))
    except ValueError:
        return 0


def desired_app(app: AppDefinition) -> DesiredApp:
    unreachable = app.unreachable_strategy
    grace = app.task_kill_grace_period_seconds
    return DesiredApp(
        app_id=app.id,
        version=app.version or "",
        config_version=config_version_of(app),
        instances=app.instances,
        resources=Resources(app.cpus, app.mem, app.disk),
        ports=port_requests(app),
        constraints=tuple(tuple(c) for c in app.constraints),
        kill_selection=app.kill_selection,
        upgrade=UpgradePolicy(
            app.upgrade_strategy.minimum_health_capacity, app.upgrade_strategy.maximum_over_capacity
        ),
        backoff=BackoffPolicy(app.backoff_seconds, app.backoff_factor, app.max_launch_delay_seconds),
        has_health_checks=bool(app.health_checks),
        inactive_after_seconds=None if unreachable is None else float(unreachable.inactive_after_seconds),
        expunge_after_seconds=None if unreachable is None else float(unreachable.expunge_after_seconds),
        kill_grace_seconds=float(grace) if grace is not None else DEFAULT_KILL_GRACE_SECONDS,
        priority=_priority(app),
        accepted_roles=accepted_roles(app),
        has_readiness_checks=bool(app.readiness_checks),
    )


def accepted_roles(app: AppDefinition) -> tuple[str, ...]:
    """Marathon: `acceptedResourceRoles` when given, else unreserved resources ("*") and the app's `role`."""
    if app.accepted_resource_roles:
        return tuple(dict.fromkeys(app.accepted_resource_roles))
    role = app.role or "*"
    return ("*",) if role == "*" else ("*", role)


MAX_ENV_LENGTH = 512
LABEL_ENV_PREFIX = "MARATHON_APP_LABEL_"
_NOT_ENV_NAME = re.compile(r"[^a-zA-Z0-9_]+")


def _marathon_double(value: float) -> str:
    """A number as Marathon's Scala Double.toString writes it: 1.0, 0.25, 128.0."""
    return repr(float(value))


def labels_env(labels: Mapping[str, str]) -> dict[str, str]:
    """MARATHON_APP_LABELS (the escaped names, space-separated) and one MARATHON_APP_LABEL_<NAME> per label.

    As Marathon: a name's runs of characters outside [a-zA-Z0-9_] become "_" and it is upper-cased;
    labels whose name is 494 characters or more, or whose value is 512 or more, are left out."""
    escaped: dict[str, str] = {}
    for key, value in labels.items():
        if len(key) < MAX_ENV_LENGTH - len(LABEL_ENV_PREFIX) and len(value) < MAX_ENV_LENGTH:
            escaped[_NOT_ENV_NAME.sub("_", key).upper()] = value
    env = {"MARATHON_APP_LABELS": " ".join(escaped)}
    env.update({f"{LABEL_ENV_PREFIX}{name}": value for name, value in escaped.items()})
    return env


def marathon_app_env(app: AppDefinition, image: str | None, task_id: str) -> dict[str, str]:
    """The app context Marathon gives each task (EnvironmentHelper.appContextEnv)."""
    env = {
        "MESOS_TASK_ID": task_id,
        "MARATHON_APP_ID": app.id,
        "MARATHON_APP_VERSION": app.version or "",
    }
    if image:
        env["MARATHON_APP_DOCKER_IMAGE"] = image
    env.update(
        {
            "MARATHON_APP_RESOURCE_CPUS": _marathon_double(app.cpus),
            "MARATHON_APP_RESOURCE_MEM": _marathon_double(app.mem),
            "MARATHON_APP_RESOURCE_DISK": _marathon_double(app.disk),
            "MARATHON_APP_RESOURCE_GPUS": str(int(app.gpus)),
        }
    )
    env.update(labels_env(app.labels))
    return env


def ports_env(app: AppDefinition, requests: tuple[PortRequest, ...], host_ports: tuple[int, ...]) -> dict[str, str]:
    """PORT, PORTS, PORT0..n, PORT_<NAME> for named ports and PORT_<containerPort> in bridge mode."""
    env: dict[str, str] = {}
    for i, port in enumerate(host_ports):
        env[f"PORT{i}"] = str(port)
        req = requests[i] if i < len(requests) else None
        if req is not None:
            if req.name:
                env[f"PORT_{_NOT_ENV_NAME.sub('_', req.name).upper()}"] = str(port)
            if app.network_mode == "bridge" and req.container_port:
                env[f"PORT_{req.container_port}"] = str(port)
    if host_ports:
        env["PORT"] = str(host_ports[0])
        env["PORTS"] = ",".join(str(p) for p in host_ports)
    return env


def _env_value(value: Any) -> str | None:
    return value if isinstance(value, str) else None  # secret references need a secret store


def task_spec(
    app: AppDefinition, task: TaskRecord, *, cluster_id: str, default_image: str | None, hostname: str
) -> TaskSpec:
    image = app.image or default_image
    if not image:
        raise ValueError(f"app {app.id} has no image and the cluster has no default_image")
    if app.cmd:
        entrypoint: tuple[str, ...] | None = ("/bin/sh", "-c")
        command: tuple[str, ...] | None = (app.cmd,)
    elif app.args:
        entrypoint, command = None, tuple(app.args)
    else:
        entrypoint = command = None
    requests = port_requests(app)
    # Marathon's task context first, then the ports and HOST; the app's own `env` overrides any of them
    # (Marathon's TaskBuilder order). MESOS_SANDBOX is the agent's, as under Mesos: it always names the mount.
    env = marathon_app_env(app, image, task.task_id)
    env.update(ports_env(app, requests, task.host_ports))
    env["HOST"] = hostname
    env.update({k: v for k, raw in app.env.items() if (v := _env_value(raw)) is not None})
    iso = isolation(app)
    env.update(dict(iso.env))  # docker.parameters env: `docker run -e`, after the task's own variables
    env["MESOS_SANDBOX"] = SANDBOX_CONTAINER_PATH
    bindings: tuple[PortBinding, ...] = ()
    if app.network_mode == "bridge":
        bindings = tuple(
            PortBinding(req.container_port or host, host, req.protocol)
            for req, host in zip(requests, task.host_ports)
        )
    uuid_part = task.task_id.split(".instance-", 1)[-1].split("._app", 1)[0]
    return TaskSpec(
        task_id=task.task_id,
        app_id=app.id,
        version=task.version,
        config_version=task.config_version,
        cluster_id=cluster_id,
        name=container_name_for(app.id, uuid_part, attempt_of(task.task_id)),
        image=image,
        entrypoint=entrypoint,
        command=command,
        env=env,
        labels={**app.labels, **dict(iso.labels)},
        cpus=app.cpus,
        mem_mib=app.mem,
        network_mode="bridge" if app.network_mode == "container" else app.network_mode,
        ports=bindings,
        user=iso.user or app.user,
        kill_grace_seconds=float(app.task_kill_grace_period_seconds or DEFAULT_KILL_GRACE_SECONDS),
        privileged=_privileged(app),
        volumes=_host_volumes(app),
        read_only=iso.read_only,
        cap_add=iso.cap_add,
        cap_drop=iso.cap_drop,
        pids_limit=iso.pids_limit,
        tmpfs=iso.tmpfs,
        image_id=iso.image_id,
        add_hosts=iso.add_hosts,
        hostname=iso.hostname,
        workdir=iso.workdir,
        ulimits=iso.ulimits,
        log_driver=iso.log_driver,
        log_opts=dict(iso.log_opts),
        shm_size=iso.shm_size,
        memory_swap=iso.memory_swap,
        sysctls=dict(iso.sysctls),
        security_opts=iso.security_opts,
        devices=iso.devices,
        force_pull=bool(app.container is not None and app.container.docker is not None
                        and app.container.docker.force_pull_image),
    )


def isolation(app: AppDefinition) -> Isolation:
    """The isolation an app asks for (pacer.* labels, docker parameters); ValueError names a bad one."""
    docker = app.container.docker if app.container is not None else None
    parameters = [(p.key, p.value) for p in docker.parameters] if docker is not None else []
    try:
        return isolation_of(app.labels, parameters)
    except ValueError as exc:
        raise ValueError(f"app {app.id}: {exc}") from None


def _privileged(app: AppDefinition) -> bool:
    docker = app.container.docker if app.container is not None else None
    return bool(docker is not None and docker.privileged)


def _host_volumes(app: AppDefinition) -> tuple[VolumeMount, ...]:
    """`hostPath` volumes. As in Marathon, a relative hostPath is a path inside the task's sandbox (the agent
    resolves it; not a host path volume) and a relative containerPath is inside the sandbox's mount point.
    An agent's policy decides whether it allows absolute host paths."""
    if app.container is None:
        return ()
    return tuple(
        VolumeMount(posixpath.normpath(v.host_path) if not v.host_path.startswith("/") else v.host_path,
                    sandbox_container_path(v.container_path), v.mode)
        for v in app.container.volumes if v.host_path is not None
    )


def sandbox_container_path(path: str) -> str:
    """A volume's containerPath in the container: relative ones are inside /mnt/mesos/sandbox."""
    return path if path.startswith("/") else posixpath.join(SANDBOX_CONTAINER_PATH, posixpath.normpath(path))


class TaskSpecs:
    """Builds the spec of each task to launch from its app's current definition (with the image's signatures)."""

    def __init__(self, apps: Mapping[str, AppDefinition], default_image: str | None,
                 hostname_of: Callable[[str], str], signatures_for: Callable[[str, str | None], list[ImageSignature]],
                 cluster_id: Callable[[], str]) -> None:
        self._apps = apps
        self._default_image = default_image
        self._hostname_of = hostname_of
        self._signatures_for = signatures_for
        self._cluster_id = cluster_id

    def task_spec_for(self, task: TaskRecord) -> TaskSpec:
        app = self._apps.get(task.app_id)
        if app is None:
            raise ValueError(f"app {task.app_id} was deleted before its task started")
        spec = task_spec(app, task, cluster_id=self._cluster_id(), default_image=self._default_image,
                         hostname=self._hostname_of(task.agent))
        signatures = self._signatures_for(spec.image, spec.image_id)
        return replace(spec, signatures=tuple(s.to_wire() for s in signatures)) if signatures else spec
