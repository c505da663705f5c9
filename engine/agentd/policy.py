"""An agent's local policy: what it refuses to run, whatever an engine asks.

`refusals(spec, policy)` is pure: it returns one message per broken rule (empty
when the spec may run). The server turns them into a 403 whose message reaches
the engine's lastTaskFailure and the operator.
"""

from __future__ import annotations

import fnmatch

from engine.agentd.config import AgentPolicy
from engine.agents.base import TaskSpec


def image_allowed(image: str, allowlist: tuple[str, ...]) -> bool:
    if not allowlist:
        return True
    candidates = {image}
    if ":" not in image.rsplit("/", 1)[-1] and "@" not in image:
        candidates.add(f"{image}:latest")  # "busybox" is "busybox:latest" to docker
    return any(fnmatch.fnmatchcase(c, pattern) for c in candidates for pattern in allowlist)


def refusals(spec: TaskSpec, policy: AgentPolicy) -> list[str]:
    problems = []
    if spec.privileged and not policy.allow_privileged:
        problems.append("privileged mode is not allowed on this agent")
    if spec.volumes and not policy.allow_host_volumes:
        paths = ", ".join(sorted({v.host_path for v in spec.volumes}))
        problems.append(f"host path volumes are not allowed on this agent ({paths})")
    if spec.network_mode == "host" and not policy.allow_host_network:
        problems.append("host networking is not allowed on this agent")
    if not image_allowed(spec.image, policy.image_allowlist):
        problems.append(
            f"image {spec.image!r} is not in this agent's image allowlist ({', '.join(policy.image_allowlist)})"
        )
    return problems
