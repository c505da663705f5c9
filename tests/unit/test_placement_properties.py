"""Property tests: on generated clusters, placement never breaks resources, ports or constraints."""

from __future__ import annotations

import re
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.scheduler.placement import ClusterUsage, attribute_of, place
from engine.scheduler.state import AgentState, DesiredApp, PortRequest, Resources

RACKS = ["r1", "r2", "r3"]
ZONES = ["z1", "z2"]


@st.composite
def clusters(draw: st.DrawFn) -> list[AgentState]:
    n = draw(st.integers(1, 12))
    agents = []
    for i in range(n):
        attributes = {"rack": draw(st.sampled_from(RACKS)), "zone": draw(st.sampled_from(ZONES))}
        if draw(st.booleans()):
            attributes["ssd"] = draw(st.sampled_from(["yes", "no"]))
        agents.append(AgentState(
            name=f"a{i}", hostname=f"host{draw(st.integers(0, n))}",  # hostnames may repeat
            capacity=Resources(draw(st.sampled_from([0.5, 1, 2, 4])), draw(st.sampled_from([256, 1024, 4096])), 0),
            attributes=attributes, port_range=(31000, 31000 + draw(st.integers(0, 5))),
            reachable=draw(st.booleans()) or i == 0,
        ))
    return agents


constraint = st.one_of(
    st.tuples(st.sampled_from(["hostname", "rack", "zone"]), st.just("UNIQUE")),
    st.tuples(st.sampled_from(["rack", "zone"]), st.just("CLUSTER"), st.sampled_from(RACKS + ZONES)),
    st.tuples(st.sampled_from(["rack", "zone"]), st.just("GROUP_BY")),
    st.tuples(st.sampled_from(["rack", "zone", "ssd"]), st.just("LIKE"), st.sampled_from(["r[12]", "z.*", "yes"])),
    st.tuples(st.sampled_from(["rack", "ssd"]), st.just("UNLIKE"), st.sampled_from(["r1", "no"])),
    st.tuples(st.sampled_from(["hostname", "rack", "zone"]), st.just("MAX_PER"), st.sampled_from(["1", "2"])),
    st.tuples(st.sampled_from(["zone", "ssd"]), st.just("IS"), st.sampled_from(["z1", "yes"])),
)


@st.composite
def apps(draw: st.DrawFn) -> DesiredApp:
    ports = tuple(PortRequest(8000 + i, draw(st.sampled_from([0, 0, 31001]))) for i in range(draw(st.integers(0, 2))))
    return DesiredApp(
        app_id="/p", version="v", config_version="v", instances=0,
        resources=Resources(draw(st.sampled_from([0.1, 0.5, 1.0])), draw(st.sampled_from([64, 512])), 0),
        ports=ports, constraints=tuple(draw(st.lists(constraint, max_size=2))),
    )


def check_constraints(app: DesiredApp, agents: list[AgentState], placed: list[str]) -> None:
    by_name = {a.name: a for a in agents}
    for c in app.constraints:
        field, op = c[0], c[1]
        values = [attribute_of(by_name[name], field) for name in placed]
        counts = Counter(values)
        if op == "UNIQUE":
            assert all(n == 1 for n in counts.values()), (c, values)
        elif op == "CLUSTER":
            assert set(values) <= {c[2]}, (c, values)
        elif op == "LIKE":
            assert all(v is not None and re.fullmatch(c[2], v) for v in values), (c, values)
        elif op == "UNLIKE":
            assert not any(v is not None and re.fullmatch(c[2], v) for v in values), (c, values)
        elif op == "MAX_PER":
            assert all(n <= int(c[2]) for n in counts.values()), (c, values)
        elif op == "IS":
            assert set(values) <= {c[2]}, (c, values)
        elif op == "GROUP_BY" and values:
            # Even spread over the values that received tasks (with the others possibly full).
            assert None not in counts


@settings(max_examples=2000, deadline=None)
@given(agents=clusters(), app=apps(), count=st.integers(1, 20), strategy=st.sampled_from(["spread", "binpack"]))
def test_placement_never_overcommits_or_breaks_constraints(agents: list[AgentState], app: DesiredApp, count: int,
                                                           strategy: str) -> None:
    usage = ClusterUsage()
    result = place(app, count, agents, usage, strategy=strategy)
    assert len(result.placements) + result.unplaced == count
    by_name = {a.name: a for a in agents}
    per_agent: Counter[str] = Counter(p.agent for p in result.placements)
    for name, n in per_agent.items():
        agent = by_name[name]
        assert agent.reachable
        assert n * app.resources.cpus <= agent.capacity.cpus + 1e-6
        assert n * app.resources.mem <= agent.capacity.mem + 1e-6
    for name in per_agent:
        ports = [port for p in result.placements if p.agent == name for port in p.host_ports]
        assert len(ports) == len(set(ports)), "a host port used twice on one agent"
        lo, hi = by_name[name].port_range
        fixed = {r.host_port for r in app.ports if r.host_port}
        assert all(lo <= port <= hi or port in fixed for port in ports)
    check_constraints(app, agents, [p.agent for p in result.placements])
    if result.unplaced:
        assert set(result.rejections) == {a.name for a in agents}, "every agent says why it said no"
