"""Placement: which agent runs a new task, and on which host ports.

A pipeline as in Nomad's scheduler: cheap feasibility filters first (agent up,
resources, ports, constraints), then a ranking step (spread by default, or
binpack), then the best score wins. Every rejection keeps its reason, so "why is
my app waiting?" has an answer per agent. Pure: no I/O, no clock.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Iterable, Sequence

from engine.state import AgentState, DesiredApp, PortRequest, Resources

Strategy = str  # "spread" | "binpack"


@dataclass(slots=True)
class AgentUsage:
    """What is already committed on one agent, including this plan's placements."""

    resources: Resources = Resources()
    ports: set[int] = field(default_factory=set)
    app_tasks: Counter[str] = field(default_factory=Counter)


@dataclass(slots=True)
class ClusterUsage:
    agents: dict[str, AgentUsage] = field(default_factory=dict)

    def of(self, agent: str) -> AgentUsage:
        usage = self.agents.get(agent)
        if usage is None:
            usage = self.agents[agent] = AgentUsage()
        return usage

    def add(self, agent: str, app_id: str, resources: Resources, ports: Iterable[int]) -> None:
        usage = self.of(agent)
        usage.resources = usage.resources + resources
        usage.ports.update(ports)
        usage.app_tasks[app_id] += 1


@dataclass(frozen=True, slots=True)
class Rejection:
    step: str  # "agent", "cpus", "mem", "disk", "ports", "constraint"
    reason: str


@dataclass(frozen=True, slots=True)
class Placement:
    agent: str
    host_ports: tuple[int, ...]


@dataclass(slots=True)
class PlacementResult:
    placements: list[Placement] = field(default_factory=list)
    unplaced: int = 0
    rejections: dict[str, Rejection] = field(default_factory=dict)
    """For the last task that could not be placed: why each agent said no."""

    def summary(self) -> dict[str, int]:
        return dict(Counter(r.step for r in self.rejections.values()))


# -- feasibility steps ----------------------------------------------------

def _check_agent(agent: AgentState) -> Rejection | None:
    if not agent.reachable:
        return Rejection("agent", "agent unreachable")
    if agent.draining:
        return Rejection("agent", "agent draining")
    return None


def _check_resources(app: DesiredApp, agent: AgentState, usage: AgentUsage) -> Rejection | None:
    need = app.resources
    free = agent.capacity - usage.resources
    # A tiny epsilon so 0.1 * 10 fits in 1.0.
    if need.cpus > free.cpus + 1e-9:
        return Rejection("cpus", f"cpus: needs {need.cpus:g}, free {max(free.cpus, 0):g} of {agent.capacity.cpus:g}")
    if need.mem > free.mem + 1e-9:
        return Rejection("mem", f"mem: needs {need.mem:g} MiB, free {max(free.mem, 0):g} MiB")
    if need.disk > 0 and agent.capacity.disk > 0 and need.disk > free.disk + 1e-9:
        return Rejection("disk", f"disk: needs {need.disk:g} MiB, free {max(free.disk, 0):g} MiB")
    return None


def assign_ports(
    requests: Sequence[PortRequest], port_range: tuple[int, int], used: set[int]
) -> tuple[tuple[int, ...] | None, str | None]:
    """Host ports for each request, or None and why. Fixed ports must be free; 0 picks the lowest free."""
    chosen: list[int] = []
    taken = set(used)
    for req in requests:
        if req.host_port:
            if req.host_port in taken:
                return None, f"port {req.host_port} already in use on this agent"
            chosen.append(req.host_port)
            taken.add(req.host_port)
    lo, hi = port_range
    candidate = lo
    result: list[int] = []
    fixed = iter(chosen)
    for req in requests:
        if req.host_port:
            result.append(next(fixed))
            continue
        while candidate <= hi and candidate in taken:
            candidate += 1
        if candidate > hi:
            return None, f"ports: no free host port in {lo}-{hi}"
        result.append(candidate)
        taken.add(candidate)
        candidate += 1
    return tuple(result), None


def attribute_of(agent: AgentState, name: str) -> str | None:
    if name in ("hostname", "@hostname"):
        return agent.hostname
    if name.startswith("@"):
        return agent.attributes.get(name[1:])
    return agent.attributes.get(name)


@lru_cache(maxsize=1024)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


@dataclass(slots=True)
class _ConstraintContext:
    """Per app: how many of its tasks run per value of each constrained field."""

    counts: dict[str, Counter[str]]
    all_values: dict[str, set[str]]


def _constraint_context(
    app: DesiredApp, agents: Sequence[AgentState], usage: ClusterUsage
) -> _ConstraintContext:
    counts: dict[str, Counter[str]] = {}
    all_values: dict[str, set[str]] = {}
    fields = {c[0] for c in app.constraints}
    by_name = {a.name: a for a in agents}
    for fname in fields:
        counter: Counter[str] = Counter()
        for agent_name, agent_usage in usage.agents.items():
            n = agent_usage.app_tasks.get(app.app_id, 0)
            agent = by_name.get(agent_name)
            if n and agent is not None:
                value = attribute_of(agent, fname)
                if value is not None:
                    counter[value] += n
        counts[fname] = counter
        all_values[fname] = {v for a in agents if a.reachable and (v := attribute_of(a, fname)) is not None}
    return _ConstraintContext(counts, all_values)


def check_constraint(constraint: Sequence[str], agent: AgentState, ctx: _ConstraintContext) -> str | None:
    fname, op = constraint[0], constraint[1].upper()
    value = constraint[2] if len(constraint) > 2 else None
    have = attribute_of(agent, fname)
    counts = ctx.counts.get(fname, Counter())
    label = f"{op} {fname}" + (f" {value}" if value is not None else "")
    if op == "UNLIKE":
        if have is not None and _regex(value or "").fullmatch(have):
            return f"{label}: {fname}={have} matches"
        return None
    if have is None:
        return f"{label}: agent has no attribute {fname}"
    if op == "UNIQUE":
        if counts.get(have, 0) > 0:
            return f"{label}: already runs a task on {fname}={have}"
    elif op == "CLUSTER":
        target = value or (next(iter(counts)) if counts else None)
        if target is not None and have != target:
            return f"{label}: {fname}={have}, tasks must run on {target}"
    elif op == "GROUP_BY":
        values = ctx.all_values.get(fname, set()) | set(counts)
        lowest = min((counts.get(v, 0) for v in values), default=0)
        if counts.get(have, 0) > lowest:
            return f"{label}: {fname}={have} has {counts.get(have, 0)} tasks, others have {lowest}"
    elif op == "LIKE":
        if not _regex(value or "").fullmatch(have):
            return f"{label}: {fname}={have} does not match"
    elif op == "MAX_PER":
        limit = int(value or 0)
        if counts.get(have, 0) >= limit:
            return f"{label}: {fname}={have} already has {counts.get(have, 0)}"
    elif op == "IS":
        if have != value:
            return f"{label}: {fname}={have}"
    return None


# -- ranking ---------------------------------------------------------------

def _score(app: DesiredApp, agent: AgentState, usage: AgentUsage, strategy: Strategy) -> float:
    cap = agent.capacity
    cpu_free = (cap.cpus - usage.resources.cpus) / cap.cpus if cap.cpus > 0 else 0.0
    mem_free = (cap.mem - usage.resources.mem) / cap.mem if cap.mem > 0 else 0.0
    fit = (cpu_free + mem_free) / 2
    same_app = usage.app_tasks.get(app.app_id, 0)
    if strategy == "binpack":
        return -fit - 0.001 * same_app
    # spread: fewest tasks of this app first, then most free resources.
    return -same_app + fit * 0.5


def place(
    app: DesiredApp,
    count: int,
    agents: Sequence[AgentState],
    usage: ClusterUsage,
    *,
    strategy: Strategy = "spread",
    extra_filter: Callable[[AgentState], Rejection | None] | None = None,
) -> PlacementResult:
    """Place up to `count` tasks of `app`, recording them in `usage` as it goes."""
    result = PlacementResult()
    for _ in range(count):
        ctx = _constraint_context(app, agents, usage) if app.constraints else None
        best: tuple[float, AgentState, tuple[int, ...]] | None = None
        rejections: dict[str, Rejection] = {}
        for agent in agents:
            agent_usage = usage.of(agent.name)
            rejection = _check_agent(agent) or (extra_filter(agent) if extra_filter else None)
            rejection = rejection or _check_resources(app, agent, agent_usage)
            ports: tuple[int, ...] | None = ()
            if rejection is None and app.ports:
                ports, why = assign_ports(app.ports, agent.port_range, agent_usage.ports)
                if ports is None:
                    rejection = Rejection("ports", why or "ports")
            if rejection is None and ctx is not None:
                for constraint in app.constraints:
                    why = check_constraint(constraint, agent, ctx)
                    if why:
                        rejection = Rejection("constraint", why)
                        break
            if rejection is not None:
                rejections[agent.name] = rejection
                continue
            score = _score(app, agent, agent_usage, strategy)
            if best is None or score > best[0]:
                best = (score, agent, ports or ())
        if best is None:
            result.unplaced = count - len(result.placements)
            result.rejections = rejections
            break
        _, agent, ports = best
        usage.add(agent.name, app.app_id, app.resources, ports)
        result.placements.append(Placement(agent.name, ports))
    return result
