"""Marathon app JSON in and out: parse, validate, normalise, emit.

`parse_app` turns a request body (a JSON object, already decoded) into a
frozen, normalised `AppDefinition`, or raises `AppValidationError` naming
every problem with its JSON pointer. It runs in three passes:

1. pydantic checks types, required fields and unknown fields (refused, with a
   did-you-mean), using Marathon's camelCase names (engine.model.schema,
   engine.model.field_errors);
2. `Checks` checks values and combinations on the raw body, and the
   pacer.* labels are checked (engine.model.validation,
   engine.model.autoscale_labels, engine.model.isolation_labels); it is
   tolerant of wrong types, so a type error and a range error elsewhere are
   reported together;
3. when both passed, `normalize` builds Marathon 1.10's canonical form
   (deprecated `docker.network`, `docker.portMappings`, `ports`, `uris`,
   `ipAddress` translated; defaults filled in), and the checks that need the
   normalised ports run (health check `portIndex`, readiness `portName`).

`app_to_json` emits the canonical form with only the keys marathon-python
0.13 accepts, and `parse_app(app_to_json(a)) == a` holds for any `a` that
`parse_app` produced.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from engine.errors import AppValidationError, FieldError
from engine.model.autoscale_labels import policy_errors
from engine.model.field_errors import _describe, translate_errors
from engine.model.isolation_labels import isolation_errors
from engine.model.normalize import normalize
from engine.model.schema import (
    _JSON_INPUT,
    READ_ONLY_APP_FIELDS,
    VERSION_ONLY_MESSAGE,
    AppDefinition,
    Artifact,
    Container,
    HealthCheck,
    Network,
    PortDefinition,
    PortMapping,
    ReadinessCheck,
    Volume,
)
from engine.model.unhonoured import unhonoured_errors
from engine.model.validation import Checks, _get, _nonempty_list, _obj, cross_checks

__all__ = [
    "app_from_json",
    "app_to_json",
    "config_equal",
    "health_check_json",
    "merge_app_json",
    "parse_app",
    "parse_app_version_only",
    "with_version",
]


def _path_key(e: FieldError) -> tuple[tuple[int, int | str], ...]:
    return tuple((0, int(p)) if p.isascii() and p.isdigit() else (1, p) for p in e.path.split("/") if p)


def _raise(errors: list[FieldError]) -> None:
    unique = list(dict.fromkeys(errors))
    unique.sort(key=_path_key)
    raise AppValidationError(unique)


def _parse(data: object, *, default_image: str | None, stored: bool, update: bool = False) -> AppDefinition:
    if type(data) is not dict:
        raise AppValidationError([FieldError("/", f"must be a JSON object, got {_describe(data)}")])
    errors: list[FieldError] = []
    d: dict[str, Any] = {}
    for key, value in data.items():
        if value is None:
            continue  # null = absent (marathon-python sends "version": null)
        if key in READ_ONLY_APP_FIELDS and not (stored and key == "versionInfo"):
            continue  # clients echo what GET returned; the server sets these
        d[key] = value
    if "version" in d and not stored:
        # In a create the server sets the version, as Marathon does (an export can be POSTed back).
        if set(d) - {"id", "version"}:
            if update:
                errors.append(FieldError("/version", VERSION_ONLY_MESSAGE))
        else:
            errors.append(
                FieldError("/version", "a body with only 'version' (and 'id') is a rollback request, not an app")
            )
        del d["version"]
    disabled = d.get("unreachableStrategy") == "disabled"
    if disabled:
        del d["unreachableStrategy"]

    raw: AppDefinition | None
    try:
        raw = AppDefinition.model_validate(d, by_alias=True, by_name=False, context=_JSON_INPUT)
    except ValidationError as exc:
        raw = None
        errors.extend(translate_errors(exc))
    Checks(errors, submitted=not stored).run(d, default_image=default_image, check_image=not stored)
    if not stored:
        errors.extend(unhonoured_errors(d))  # fields pacer does not honour: unhonoured.py
        errors.extend(policy_errors(d.get("labels")))  # pacer.autoscale.* labels: autoscale_labels.py
        errors.extend(isolation_errors(d.get("labels"), d.get("container")))  # pacer.read-only &c.: isolation_labels.py
    if errors or raw is None:
        _raise(errors)
    assert raw is not None
    app = normalize(raw, d, disabled=disabled)
    cross_checks(app, errors, submitted=not stored)
    if errors:
        _raise(errors)
    return app


def parse_app(data: object, *, default_image: str | None = None, update: bool = False) -> AppDefinition:
    """Validate and normalise an app body (decoded JSON); AppValidationError lists every problem.

    `default_image` is the cluster's ``[scheduler] default_image``: an app with
    no docker image (only cmd/args) runs in it, and is refused when it is None.
    Read-only fields that clients echo (tasks, deployments, counts,
    versionInfo...) are dropped. `version` is ignored in a create (the server sets it, as Marathon does, so
    the JSON that GET returns can be POSTed back); in an `update` it may only come with `id` (a rollback:
    `parse_app_version_only`), as in Marathon.
    """
    return _parse(data, default_image=default_image, stored=False, update=update)


def app_from_json(data: object) -> AppDefinition:
    """Load an app pacer itself emitted with `app_to_json` (the store): keeps
    `version` and `versionInfo`, and does not ask for a default image."""
    return _parse(data, default_image=None, stored=True)


def parse_app_version_only(data: object) -> str | None:
    """The version of a rollback body (``{"version": v}`` or ``{"id": x, "version": v}``), else None."""
    if type(data) is not dict:
        return None
    version = data.get("version")
    if version is None or set(data) - {"id", "version"}:
        return None
    if not isinstance(version, str):
        raise AppValidationError(
            [FieldError("/version", f"must be a string (an app version), got {_describe(version)}")]
        )
    return version


def merge_app_json(existing: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Partial update (PUT/PATCH with partialUpdate): top-level keys of `patch` replace `existing`.

    Read-only keys of the patch are ignored and `version`/`versionInfo` are
    dropped, so the result can go to `parse_app`. A patch that uses a
    deprecated form (`docker.network`, `ipAddress`, `ports`, `uris`) replaces
    the canonical field it stands for.
    """
    merged = {k: v for k, v in existing.items() if k not in READ_ONLY_APP_FIELDS and k != "version"}
    changes = {k: v for k, v in patch.items() if k not in READ_ONLY_APP_FIELDS and k != "version"}
    container = _obj(changes.get("container"))
    legacy_network = _get(_obj(_get(container, "docker")), "network")
    if "networks" not in changes and ("ipAddress" in changes or legacy_network is not None):
        merged.pop("networks", None)
    if "ports" in changes and "portDefinitions" not in changes:
        merged.pop("portDefinitions", None)
    if "uris" in changes and "fetch" not in changes:
        merged.pop("fetch", None)
    if "portDefinitions" not in changes and "ports" not in changes and _raw_non_host({**merged, **changes}):
        # portDefinitions only mean something with host networking; a patch
        # moving the app off the host network leaves none behind.
        merged.pop("portDefinitions", None)
    merged.update(changes)
    if "id" in patch and patch["id"] is None:
        merged["id"] = existing.get("id")
    return merged


def _raw_non_host(d: dict[str, Any]) -> bool:
    dk = _obj(_get(_obj(d.get("container")), "docker"))
    legacy = _get(dk, "network")
    if d.get("ipAddress") is not None:
        return legacy != "HOST"
    if legacy is not None:
        return legacy != "HOST"
    networks = d.get("networks")
    if not _nonempty_list(networks):
        return False
    return any(type(n) is dict and (n.get("mode") or "container") != "host" for n in networks)


def with_version(app: AppDefinition, version: str, version_info: dict[str, str]) -> AppDefinition:
    """A copy with `version` and `versionInfo` ({"lastScalingAt", "lastConfigChangeAt"}) set."""
    return app.model_copy(update={"version": version, "version_info": dict(version_info)})


_NON_CONFIG = {"instances": 0, "version": None, "version_info": None}


def config_equal(a: AppDefinition, b: AppDefinition) -> bool:
    """True when `a` and `b` differ at most in instances, version and versionInfo (a scale, not a config change)."""
    return a.model_copy(update=_NON_CONFIG) == b.model_copy(update=_NON_CONFIG)


# --------------------------------------------------------------------------- #
# Emitting canonical JSON
# --------------------------------------------------------------------------- #


def _port_mapping_json(pm: PortMapping) -> dict[str, Any]:
    out: dict[str, Any] = {"containerPort": pm.container_port}
    if pm.host_port is not None:
        out["hostPort"] = pm.host_port
    out["servicePort"] = pm.service_port
    out["protocol"] = pm.protocol
    if pm.name is not None:
        out["name"] = pm.name
    if pm.labels:
        out["labels"] = dict(pm.labels)
    if pm.network_names:
        out["networkNames"] = list(pm.network_names)
    return out


def _port_definition_json(pd: PortDefinition) -> dict[str, Any]:
    out: dict[str, Any] = {"port": pd.port, "protocol": pd.protocol}
    if pd.name is not None:
        out["name"] = pd.name
    if pd.labels:
        out["labels"] = dict(pd.labels)
    return out


def _volume_json(v: Volume) -> dict[str, Any]:
    out: dict[str, Any] = {"containerPath": v.container_path}
    if v.host_path is not None:
        out["hostPath"] = v.host_path
    out["mode"] = v.mode
    if v.persistent is not None:
        p = v.persistent
        pj: dict[str, Any] = {"size": p.size, "type": p.type}
        if p.max_size is not None:
            pj["maxSize"] = p.max_size
        if p.constraints:
            pj["constraints"] = [list(c) for c in p.constraints]
        out["persistent"] = pj
    if v.external is not None:
        e = v.external
        ej: dict[str, Any] = {}
        for key, value in (("name", e.name), ("provider", e.provider), ("size", e.size)):
            if value is not None:
                ej[key] = value
        if e.options:
            ej["options"] = dict(e.options)
        out["external"] = ej
    if v.secret is not None:
        out["secret"] = v.secret
    return out


def _container_json(c: Container) -> dict[str, Any]:
    out: dict[str, Any] = {"type": c.type}
    if c.docker is not None:
        d = c.docker
        dj: dict[str, Any] = {"image": d.image}
        if d.network is not None:
            dj["network"] = d.network
        if d.port_mappings is not None:
            dj["portMappings"] = [_port_mapping_json(pm) for pm in d.port_mappings]
        dj["privileged"] = d.privileged
        dj["parameters"] = [{"key": p.key, "value": p.value} for p in d.parameters]
        dj["forcePullImage"] = d.force_pull_image
        if d.pull_config is not None:
            dj["pullConfig"] = {"secret": d.pull_config.secret}
        if d.credential is not None:
            cred: dict[str, Any] = {"principal": d.credential.principal}
            if d.credential.secret is not None:
                cred["secret"] = d.credential.secret
            dj["credential"] = cred
        out["docker"] = dj
    if c.port_mappings is not None:
        out["portMappings"] = [_port_mapping_json(pm) for pm in c.port_mappings]
    out["volumes"] = [_volume_json(v) for v in c.volumes]
    if c.linux_info is not None:
        out["linuxInfo"] = dict(c.linux_info)
    return out


def _network_json(n: Network) -> dict[str, Any]:
    out: dict[str, Any] = {"mode": n.mode}
    if n.name is not None:
        out["name"] = n.name
    if n.labels:
        out["labels"] = dict(n.labels)
    return out


def health_check_json(hc: HealthCheck) -> dict[str, Any]:
    """Marathon's JSON of one health check: `port` as given, or `portIndex` (an explicit port's resolved
    index stays internal)."""
    out: dict[str, Any] = {"protocol": hc.protocol, "path": hc.path}
    if hc.port_index is not None and hc.port is None:
        out["portIndex"] = hc.port_index
    if hc.port is not None:
        out["port"] = hc.port
    if hc.command is not None:
        out["command"] = {"value": hc.command.value}
    out.update(
        {
            "gracePeriodSeconds": hc.grace_period_seconds,
            "intervalSeconds": hc.interval_seconds,
            "timeoutSeconds": hc.timeout_seconds,
            "maxConsecutiveFailures": hc.max_consecutive_failures,
            "ignoreHttp1xx": hc.ignore_http1xx,
            "delaySeconds": hc.delay_seconds,
            "ipProtocol": hc.ip_protocol,
        }
    )
    return out


def _readiness_json(rc: ReadinessCheck) -> dict[str, Any]:
    return {
        "name": rc.name,
        "protocol": rc.protocol,
        "path": rc.path,
        "portName": rc.port_name,
        "intervalSeconds": rc.interval_seconds,
        "timeoutSeconds": rc.timeout_seconds,
        "httpStatusCodesForReady": list(rc.http_status_codes_for_ready),
        "preserveLastResponse": rc.preserve_last_response,
    }


def _artifact_json(a: Artifact) -> dict[str, Any]:
    out: dict[str, Any] = {"uri": a.uri, "extract": a.extract, "executable": a.executable, "cache": a.cache}
    if a.dest_path is not None:
        out["destPath"] = a.dest_path
    return out


def app_to_json(app: AppDefinition) -> dict[str, Any]:
    """Marathon 1.10 canonical JSON of the definition (no AppInfo extras such as tasks or counts).

    Only keys marathon-python 0.13 accepts are emitted, plus `check`, `tty`,
    `executorResources`, `resourceLimits`, `role`, `linuxInfo` and
    `networkNames` when (and only when) the app sets them.
    """
    out: dict[str, Any] = {"id": app.id}
    if app.cmd is not None:
        out["cmd"] = app.cmd
    if app.args:
        out["args"] = list(app.args)
    out["cpus"] = app.cpus
    out["mem"] = app.mem
    out["disk"] = app.disk
    out["gpus"] = app.gpus
    out["instances"] = app.instances
    out["executor"] = app.executor
    if app.container is not None:
        out["container"] = _container_json(app.container)
    if app.networks:
        out["networks"] = [_network_json(n) for n in app.networks]
    if app.network_mode == "host":
        out["portDefinitions"] = [_port_definition_json(pd) for pd in app.port_definitions]
    if app.ports is not None:  # only on apps not built by parse_app
        out["ports"] = list(app.ports)
    if app.uris is not None:
        out["uris"] = list(app.uris)
    out["requirePorts"] = app.require_ports
    if app.env:
        out["env"] = {k: (dict(v) if isinstance(v, dict) else v) for k, v in app.env.items()}
    out["labels"] = dict(app.labels)
    if app.constraints:
        out["constraints"] = [list(c) for c in app.constraints]
    if app.accepted_resource_roles is not None:
        out["acceptedResourceRoles"] = list(app.accepted_resource_roles)
    if app.role is not None:
        out["role"] = app.role
    if app.fetch:
        out["fetch"] = [_artifact_json(a) for a in app.fetch]
    if app.dependencies:
        out["dependencies"] = list(app.dependencies)
    if app.health_checks:
        out["healthChecks"] = [health_check_json(hc) for hc in app.health_checks]
    if app.readiness_checks:
        out["readinessChecks"] = [_readiness_json(rc) for rc in app.readiness_checks]
    out["upgradeStrategy"] = {
        "minimumHealthCapacity": app.upgrade_strategy.minimum_health_capacity,
        "maximumOverCapacity": app.upgrade_strategy.maximum_over_capacity,
    }
    out["backoffSeconds"] = app.backoff_seconds
    out["backoffFactor"] = app.backoff_factor
    out["maxLaunchDelaySeconds"] = app.max_launch_delay_seconds
    out["killSelection"] = app.kill_selection
    u = app.unreachable_strategy
    out["unreachableStrategy"] = (
        "disabled"
        if u is None
        else {"inactiveAfterSeconds": u.inactive_after_seconds, "expungeAfterSeconds": u.expunge_after_seconds}
    )
    if app.task_kill_grace_period_seconds is not None:
        out["taskKillGracePeriodSeconds"] = app.task_kill_grace_period_seconds
    if app.user is not None:
        out["user"] = app.user
    if app.secrets:
        out["secrets"] = {k: {"source": s.source} for k, s in app.secrets.items()}
    if app.residency is not None:
        out["residency"] = {
            "relaunchEscalationTimeoutSeconds": app.residency.relaunch_escalation_timeout_seconds,
            "taskLostBehavior": app.residency.task_lost_behavior,
        }
    if app.check is not None:
        out["check"] = dict(app.check)
    if app.tty is not None:
        out["tty"] = app.tty
    if app.executor_resources is not None:
        er = app.executor_resources
        out["executorResources"] = {"cpus": er.cpus, "mem": er.mem, "disk": er.disk}
    if app.resource_limits is not None:
        rl = app.resource_limits
        out["resourceLimits"] = {k: v for k, v in (("cpus", rl.cpus), ("mem", rl.mem)) if v is not None}
    if app.store_urls:
        out["storeUrls"] = list(app.store_urls)
    if app.task_rate_limit is not None:
        out["taskRateLimit"] = app.task_rate_limit
    if app.version is not None:
        out["version"] = app.version
    if app.version_info is not None:
        out["versionInfo"] = dict(app.version_info)
    return out
