"""Building blocks for benchmarks on simulated agents: clusters, apps, engines."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from engine import Engine
from engine.agents.sim import SimAgent
from engine.config import PacerConfig, SchedulerConfig


def sim_agents(n: int) -> dict[str, SimAgent]:
    """n agents in racks of 20 and 10 zones; roomy enough that constraints, not capacity, decide."""
    return {
        f"agent-{i:05d}": SimAgent(
            f"agent-{i:05d}", cpus=32, mem_mib=131072,
            attributes={"rack": f"rack-{i // 20:04d}", "zone": f"zone-{i % 10}", "ssd": "true" if i % 3 else "false"},
        )
        for i in range(n)
    }


CONSTRAINT_MIX: list[list[list[str]]] = [
    [["hostname", "UNIQUE"]],
    [["zone", "GROUP_BY"]],
    [["rack", "MAX_PER", "5"]],
    [["ssd", "LIKE", "true"]],
]


def app_json(i: int, instances: int, *, constrained: bool = True) -> dict[str, Any]:
    return {
        "id": f"/bench/app-{i:05d}",
        "cmd": "serve",
        "cpus": 0.01,
        "mem": 8,
        "instances": instances,
        "constraints": CONSTRAINT_MIX[i % len(CONSTRAINT_MIX)] if constrained else [],
        "container": {"type": "DOCKER", "docker": {"image": "bench:1"}},
    }


def engine_for(agents: dict[str, SimAgent], state_dir: str | None = None, *, interval: float = 3600.0) -> Engine:
    folder = state_dir or tempfile.mkdtemp(prefix="pacer-bench-")
    config = PacerConfig(scheduler=SchedulerConfig(
        state=str(Path(folder) / "state.db"), default_image="bench:1", reconcile_interval=interval,
        cluster_id="bench"))
    return Engine(config, drivers=agents)
