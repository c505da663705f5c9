"""Placement: which agent runs a new task, and on which host ports.

A pipeline as in Nomad's scheduler: cheap feasibility filters first (agent up,
resources, ports, constraints), then a ranking step (spread by default, or
binpack), then the best score wins. Every rejection keeps its reason, so "why is
my app waiting?" has an answer per agent. Pure: no I/O, no clock.

Cost grows with the work, not the cluster: on a large cluster only a few
feasible candidates are ranked per task (Nomad's LimitIterator), starting where
the previous placement stopped, and constraint counts are kept incrementally.
Every agent is examined only when a task cannot be placed, to explain why.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Iterable, Sequence

from engine.scheduler.state import AgentState, DesiredApp, PortRequest, Resources

Strategy = str  # "spread" | "binpack"

SCAN_ALL_BELOW = 64
"""Clusters up to this size rank every feasible agent; larger ones rank a sample."""
CANDIDATE_LIMIT = 8
"""How many feasible agents are ranked per placement on a large cluster."""


@dataclass(slots=True)
class AgentUsage:
    """What is already committed on one agent, including this plan's placements."""

    cpus: float = 0.0
    mem: float = 0.0
    disk: float = 0.0
    ports: set[int] = field(default_factory=set)
    app_tasks: Counter[str] = field(default_factory=Counter)

    @property
    def resources(self) -> Resources:
        return Resources(self.cpus, self.mem, self.disk)

    def copy(self) -> "AgentUsage":
        return AgentUsage(self.cpus, self.mem, self.disk, set(self.ports), Counter(self.app_tasks))


@dataclass(slots=True)
class ClusterUsage:
    """Resources, ports and tasks per agent.

    The engine keeps one up to date as tasks come and go; a reconcile round works on
    an `overlay()` of it, which copies an agent's entry only when the round places
    something there, so a round costs what it changes, not the size of the cluster.
    """

    agents: dict[str, AgentUsage] = field(default_factory=dict)
    cursor: int = 0
    """Where the next spread placement starts looking, so successive tasks land on successive agents."""
    base: "ClusterUsage | None" = None
    _app_agents: dict[str, Counter[str]] = field(default_factory=dict)
    _value_counts: dict[tuple[str, str], Counter[str]] = field(default_factory=dict)
    _all_values: dict[str, set[str]] = field(default_factory=dict)
    _attrs: dict[str, AgentState] = field(default_factory=dict)

    def overlay(self) -> "ClusterUsage":
        return ClusterUsage(cursor=self.cursor, base=self)

    def peek(self, agent: str) -> AgentUsage | None:
        usage = self.agents.get(agent)
        if usage is None and self.base is not None:
            return self.base.peek(agent)
        return usage

    def of(self, agent: str) -> AgentUsage:
        usage = self.agents.get(agent)
        if usage is None:
            below = self.base.peek(agent) if self.base is not None else None
            usage = self.agents[agent] = below.copy() if below is not None else AgentUsage()
        return usage

    def agents_of(self, app_id: str) -> Counter[str]:
        """How many tasks of the app run on each agent."""
        counter = self._app_agents.get(app_id)
        if counter is None and self.base is not None:
            return self.base.agents_of(app_id)
        return counter if counter is not None else Counter()

    def _own_agents_of(self, app_id: str) -> Counter[str]:
        counter = self._app_agents.get(app_id)
        if counter is None:
            inherited = self.base.agents_of(app_id) if self.base is not None else Counter()
            counter = self._app_agents[app_id] = Counter(inherited)
        return counter

    def add(self, agent: str, app_id: str, resources: Resources, ports: Iterable[int]) -> None:
        usage = self.of(agent)
        usage.cpus += resources.cpus
        usage.mem += resources.mem
        usage.disk += resources.disk
        usage.ports.update(ports)
        usage.app_tasks[app_id] += 1
        self._own_agents_of(app_id)[agent] += 1
        for (counted_app, fname), counter in self._value_counts.items():
            if counted_app == app_id and agent in self._attrs:
                value = attribute_of(self._attrs[agent], fname)
                if value is not None:
                    counter[value] += 1

    def remove(self, agent: str, app_id: str, resources: Resources, ports: Iterable[int]) -> None:
        usage = self.of(agent)
        usage.cpus -= resources.cpus
        usage.mem -= resources.mem
        usage.disk -= resources.disk
        usage.ports.difference_update(ports)
        usage.app_tasks[app_id] -= 1
        if usage.app_tasks[app_id] <= 0:
            del usage.app_tasks[app_id]
        on_agents = self._own_agents_of(app_id)
        on_agents[agent] -= 1
        if on_agents[agent] <= 0:
            del on_agents[agent]
        if not on_agents:
            del self._app_agents[app_id]
        self._value_counts = {k: v for k, v in self._value_counts.items() if k[0] != app_id}

    def value_counts(self, app_id: str, fname: str, agents: Sequence[AgentState]) -> Counter[str]:
        """How many of the app's tasks run per value of `fname`; built once, then kept up to date."""
        key = (app_id, fname)
        counter = self._value_counts.get(key)
        if counter is None:
            if not self._attrs:
                self._attrs = {a.name: a for a in agents}
            counter = Counter()
            for agent_name, n in self.agents_of(app_id).items():
                agent = self._attrs.get(agent_name)
                if n > 0 and agent is not None:
                    value = attribute_of(agent, fname)
                    if value is not None:
                        counter[value] += n
            self._value_counts[key] = counter
        return counter

    def all_values(self, fname: str, agents: Sequence[AgentState]) -> set[str]:
        values = self._all_values.get(fname)
        if values is None:
            values = {v for a in agents if a.reachable and (v := attribute_of(a, fname)) is not None}
            self._all_values[fname] = values
        return values


@dataclass(frozen=True, slots=True)
class Rejection:
    step: str  # "agent", "role", "cpus", "mem", "disk", "ports", "constraint" (or a policy's)
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
    """For the first task that could not be placed: why each agent said no."""

    def summary(self) -> dict[str, int]:
        return dict(Counter(r.step for r in self.rejections.values()))


# -- feasibility steps, cheapest first ---------------------------------------

def _check_agent(agent: AgentState) -> Rejection | None:
    if not agent.reachable:
        return Rejection("agent", "agent unreachable")
    if agent.draining:
        return Rejection("agent", "agent draining")
    return None


def _check_role(app: DesiredApp, agent: AgentState) -> Rejection | None:
    """Marathon's acceptedResourceRoles: the agent must offer resources of one of the roles the app accepts."""
    if any(role in agent.roles for role in app.accepted_roles):
        return None
    return Rejection("role", f"role: accepts [{', '.join(app.accepted_roles)}], agent offers [{', '.join(agent.roles)}]")


def _check_resources(app: DesiredApp, agent: AgentState, usage: AgentUsage) -> Rejection | None:
    need, cap = app.resources, agent.capacity
    # A tiny epsilon so 0.1 * 10 fits in 1.0.
    if need.cpus > cap.cpus - usage.cpus + 1e-9:
        free = max(cap.cpus - usage.cpus, 0)
        return Rejection("cpus", f"cpus: needs {need.cpus:g}, free {free:g} of {cap.cpus:g}")
    if need.mem > cap.mem - usage.mem + 1e-9:
        return Rejection("mem", f"mem: needs {need.mem:g} MiB, free {max(cap.mem - usage.mem, 0):g} MiB")
    if need.disk > 0 and cap.disk > 0 and need.disk > cap.disk - usage.disk + 1e-9:
        return Rejection("disk", f"disk: needs {need.disk:g} MiB, free {max(cap.disk - usage.disk, 0):g} MiB")
    return None


def _check_ports(requests: Sequence[PortRequest], port_range: tuple[int, int], used: set[int]) -> str | None:
    """Whether `assign_ports` would succeed, without building the assignment."""
    fixed = [r.host_port for r in requests if r.host_port]
    for i, port in enumerate(fixed):
        if port in used or port in fixed[:i]:
            return f"port {port} already in use on this agent"
    dynamic = len(requests) - len(fixed)
    if dynamic:
        lo, hi = port_range
        if len(used) + len(fixed) + dynamic <= hi - lo + 1:
            return None  # even if every used port were in the range, enough would be left
        taken = sum(1 for p in used if lo <= p <= hi) + sum(1 for p in fixed if lo <= p <= hi)
        if (hi - lo + 1) - taken < dynamic:
            return f"ports: no free host port in {lo}-{hi}"
    return None


def assign_ports(
    requests: Sequence[PortRequest], port_range: tuple[int, int], used: set[int]
) -> tuple[tuple[int, ...] | None, str | None]:
    """Host ports for each request, or None and why. Fixed ports must be free; 0 picks the lowest free."""
    why = _check_ports(requests, port_range, used)
    if why:
        return None, why
    taken = set(used) | {r.host_port for r in requests if r.host_port}
    lo, hi = port_range
    candidate = lo
    result: list[int] = []
    for req in requests:
        if req.host_port:
            result.append(req.host_port)
            continue
        while candidate <= hi and candidate in taken:
            candidate += 1
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


_NO_COUNTS: Counter[str] = Counter()


@dataclass(slots=True)
class _ConstraintContext:
    """Per app and placement: how many of its tasks run per value of each constrained field."""

    counts: dict[str, Counter[str]]
    lowest: dict[str, int]
    """For GROUP_BY fields: the fewest tasks any value has (values without tasks count as 0)."""


def _constraint_context(app: DesiredApp, agents: Sequence[AgentState], usage: ClusterUsage) -> _ConstraintContext:
    fields = {c[0] for c in app.constraints}
    counts = {f: usage.value_counts(app.app_id, f, agents) for f in fields}
    lowest = {}
    for f in fields:
        if _has_group_by(app, f):
            values = usage.all_values(f, agents) | set(counts[f])
            lowest[f] = min((counts[f].get(v, 0) for v in values), default=0)
    return _ConstraintContext(counts, lowest)


def _has_group_by(app: DesiredApp, fname: str) -> bool:
    return any(c[0] == fname and c[1].upper() == "GROUP_BY" for c in app.constraints)


def check_constraint(constraint: Sequence[str], agent: AgentState, ctx: _ConstraintContext) -> str | None:
    fname, op = constraint[0], constraint[1].upper()
    value = constraint[2] if len(constraint) > 2 else None
    have = attribute_of(agent, fname)
    counts = ctx.counts.get(fname, _NO_COUNTS)
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
        lowest = ctx.lowest.get(fname, 0)
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


def _ports_taken(agent: AgentState, usage: AgentUsage) -> set[int]:
    return usage.ports | agent.reserved_ports if agent.reserved_ports else usage.ports


def feasible(
    app: DesiredApp,
    agent: AgentState,
    usage: AgentUsage,
    ctx: _ConstraintContext | None,
    extra_filter: Callable[[AgentState], Rejection | None] | None,
) -> Rejection | None:
    rejection = _check_agent(agent) or _check_role(app, agent) or (extra_filter(agent) if extra_filter else None)
    rejection = rejection or _check_resources(app, agent, usage)
    if rejection is None and app.ports:
        why = _check_ports(app.ports, agent.port_range, _ports_taken(agent, usage))
        if why:
            rejection = Rejection("ports", why)
    if rejection is None and ctx is not None:
        for constraint in app.constraints:
            why = check_constraint(constraint, agent, ctx)
            if why:
                return Rejection("constraint", why)
    return rejection


# -- ranking ---------------------------------------------------------------

def _score(app: DesiredApp, agent: AgentState, usage: AgentUsage, strategy: Strategy) -> float:
    cap = agent.capacity
    cpu_free = (cap.cpus - usage.cpus) / cap.cpus if cap.cpus > 0 else 0.0
    mem_free = (cap.mem - usage.mem) / cap.mem if cap.mem > 0 else 0.0
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
    limit: int | None = None,
) -> PlacementResult:
    """Place up to `count` tasks of `app`, recording them in `usage` as it goes."""
    result = PlacementResult()
    n = len(agents)
    if n == 0:
        result.unplaced = count
        return result
    if limit is None:
        limit = n if n < SCAN_ALL_BELOW else CANDIDATE_LIMIT
    for _ in range(count):
        ctx = _constraint_context(app, agents, usage) if app.constraints else None
        start = usage.cursor % n if strategy == "spread" else 0
        best: tuple[float, int, AgentState] | None = None
        found = 0
        for step in range(n):
            index = (start + step) % n
            agent = agents[index]
            agent_usage = usage.of(agent.name)
            if feasible(app, agent, agent_usage, ctx, extra_filter) is not None:
                continue
            score = _score(app, agent, agent_usage, strategy)
            if best is None or score > best[0]:
                best = (score, index, agent)
            found += 1
            if found >= limit:
                break
        if best is None:
            result.unplaced = count - len(result.placements)
            # Nothing fits: ask every agent once more, this time keeping its reason.
            result.rejections = {
                a.name: rejection
                for a in agents
                if (rejection := feasible(app, a, usage.of(a.name), ctx, extra_filter)) is not None
            }
            break
        _, index, agent = best
        ports: tuple[int, ...] = ()
        if app.ports:
            assigned, _why = assign_ports(app.ports, agent.port_range, _ports_taken(agent, usage.of(agent.name)))
            ports = assigned or ()
        usage.add(agent.name, app.app_id, app.resources, ports)
        if strategy == "spread" and n >= SCAN_ALL_BELOW:
            usage.cursor = index + 1
        result.placements.append(Placement(agent.name, ports))
    return result
