"""Marathon fields pacer would store without honouring them: refused at submission by name, each with what
pacer offers instead (DESIGN.md, "The honesty rule"; README, "Moving from Marathon").

Empty lists and maps, and Marathon's defaults, ask for nothing and pass, so the JSON that GET returns (and a
Marathon export) can be sent back. Apps an earlier pacer stored are not checked: they still load.
"""

from __future__ import annotations

import math
from typing import Any

from engine.errors import FieldError
from engine.model.field_errors import _escape

__all__ = ["NO_SECRET_STORE", "unhonoured_errors"]

NO_SECRET_STORE = ("secrets are not supported (pacer has no secret store yet): give the value in env, or mount a "
                   "file with an absolute hostPath volume")


def _obj(v: Any) -> dict[str, Any] | None:
    return v if type(v) is dict else None


def _lst(v: Any) -> list[Any]:
    return v if type(v) is list else []


def _get(obj: dict[str, Any] | None, key: str) -> Any:
    return None if obj is None else obj.get(key)


def _nonempty_list(v: Any) -> bool:
    return type(v) is list and len(v) > 0


def _is_num(v: Any) -> bool:
    return (type(v) is int or type(v) is float) and not math.isnan(v)


def unhonoured_errors(d: dict[str, Any]) -> list[FieldError]:
    """The fields of a submitted (decoded, null-stripped) app body that pacer does not honour."""
    errors: list[FieldError] = []

    def add(path: str, message: str) -> None:
        errors.append(FieldError(path, message))

    if _obj(d.get("secrets")):
        add("/secrets", NO_SECRET_STORE)
    for key, value in (_obj(d.get("env")) or {}).items():
        if _get(_obj(value), "secret") is not None:  # {"secret": name}; other shapes are validation's to report
            add(f"/env/{_escape(key)}", NO_SECRET_STORE)
    c = _obj(d.get("container"))
    for i, vol in enumerate(_lst(_get(c, "volumes"))):
        vol = _obj(vol)
        if vol is None:
            continue
        base = f"/container/volumes/{i}"
        if vol.get("persistent") is not None:
            add(f"{base}/persistent", "persistent volumes (resident apps) are not supported: "
                                      "use an absolute hostPath volume, on agents that allow host paths")
        if vol.get("external") is not None:
            add(f"{base}/external", "external volumes are not supported (pacer has no volume provider): "
                                    "use an absolute hostPath volume, on agents that allow host paths")
        if vol.get("secret") is not None:
            add(f"{base}/secret", NO_SECRET_STORE)
    if d.get("residency") is not None:
        add("/residency", "resident apps (persistent volumes) are not supported")
    if c is not None and c.get("linuxInfo") is not None and c.get("type") == "MESOS":
        add("/container/linuxInfo", "is Mesos-only (seccomp, IPC, shm of the Mesos containerizer): pacer "
                                    "runs MESOS containers on Docker; use docker.parameters or pacer.* labels")
    for i, n in enumerate(_lst(d.get("networks"))):
        n = _obj(n)
        if n is None:
            continue
        if n.get("name") is not None:
            add(f"/networks/{i}/name",
                "named container networks are not supported yet: mode container runs on the agent's default "
                "docker bridge network; leave out name, or use mode container/bridge with portMappings")
        if _obj(n.get("labels")):
            add(f"/networks/{i}/labels", "network labels (CNI arguments) are not supported: leave them out")
    for base, mappings in (("/container/portMappings", _get(c, "portMappings")),
                           ("/container/docker/portMappings", _get(_obj(_get(c, "docker")), "portMappings"))):
        for i, pm in enumerate(_lst(mappings)):
            if _nonempty_list(_get(_obj(pm), "networkNames")):
                add(f"{base}/{i}/networkNames", "named container networks are not supported yet: "
                                                "leave out networkNames")
    ip = _obj(d.get("ipAddress"))
    if ip is not None:
        if ip.get("networkName") not in (None, "mesos-bridge"):  # mesos-bridge: container/bridge
            add("/ipAddress/networkName", "named container networks are not supported yet: leave out "
                                          "networkName (the task runs on the agent's default bridge network)")
        for key, what in (("groups", "security groups"), ("labels", "network labels")):
            if ip.get(key):
                add(f"/ipAddress/{key}", f"{what} are not supported: leave them out")
        if _nonempty_list(_get(_obj(ip.get("discovery")), "ports")):
            add("/ipAddress/discovery/ports", "Mesos discovery info is not published: name the ports in "
                                              "container.portMappings instead")
    for key in ("fetch", "uris"):
        if _nonempty_list(d.get(key)):
            add(f"/{key}", "agents do not download artifacts yet: put them in the image, or download them "
                           "in cmd (e.g. with wget or curl, if the image has it)")
    if _nonempty_list(d.get("storeUrls")):
        add("/storeUrls", "is Mesos-only (artifact store): put the artifacts in the image")
    executor = d.get("executor")
    if isinstance(executor, str) and executor not in ("", "//cmd"):
        add("/executor", "custom executors are Mesos-only: pacer runs every task as a docker container; "
                         "leave out executor")
    for key, what in (
        ("executorResources", "is Mesos-only (the resources of a task's executor): give cpus and mem"),
        ("resourceLimits", "is not supported: cpus and mem are the container's limits (docker --cpus, "
                           "--memory)"),
        ("taskRateLimit", "is not supported (deprecated in Marathon): launches are paced by backoffSeconds, "
                          "backoffFactor and maxLaunchDelaySeconds"),
        ("check", "Mesos task checks are not supported: use healthChecks (COMMAND, HTTP, HTTPS or TCP)"),
    ):
        if d.get(key) is not None:
            add(f"/{key}", what)
    if d.get("tty") is True:
        add("/tty", "a TTY is not supported: the container runs without one; leave out tty")
    for i, hc in enumerate(_lst(d.get("healthChecks"))):
        hc = _obj(hc)
        if hc is None:
            continue
        if hc.get("ipProtocol") == "IPv6":
            add(f"/healthChecks/{i}/ipProtocol", "probes go over IPv4 only: leave out ipProtocol")
        delay = hc.get("delaySeconds")
        if _is_num(delay) and delay != 15:
            add(f"/healthChecks/{i}/delaySeconds", "is the start delay of Mesos-run checks, which pacer "
                                                   "does not have: use gracePeriodSeconds")
    return errors
