"""Placement: feasibility steps, constraints, ranking; every rejection explained."""

from __future__ import annotations

import pytest

from engine.scheduler.placement import ClusterUsage, Rejection, assign_ports, place
from engine.scheduler.state import PortRequest
from tests.unit.factories import agent, app


def agents_with(attr: str, values: list[str]):  # type: ignore[no-untyped-def]
    return [agent(f"a{i}", attributes={attr: v}) for i, v in enumerate(values)]


def test_spread_prefers_agents_without_this_app() -> None:
    result = place(app(), 3, [agent("a1"), agent("a2"), agent("a3")], ClusterUsage())
    assert sorted(p.agent for p in result.placements) == ["a1", "a2", "a3"]


def test_binpack_fills_one_agent_first() -> None:
    result = place(app(cpus=1), 3, [agent("a1"), agent("a2")], ClusterUsage(), strategy="binpack")
    assert [p.agent for p in result.placements] == ["a1", "a1", "a1"]


def test_resources_reject_with_numbers() -> None:
    result = place(app(cpus=2, mem=100), 1, [agent("a1", cpus=1), agent("a2", mem=50)], ClusterUsage())
    assert result.unplaced == 1
    assert result.rejections["a1"].reason == "cpus: needs 2, free 1 of 1"
    assert result.rejections["a2"].step == "mem"
    assert result.summary() == {"cpus": 1, "mem": 1}


def test_fixed_host_port_conflict() -> None:
    a = app(instances=2, ports=(PortRequest(80, 8080),))
    result = place(a, 2, [agent("a1")], ClusterUsage())
    assert len(result.placements) == 1
    assert result.rejections["a1"].reason == "port 8080 already in use on this agent"


def test_assign_ports_lowest_free() -> None:
    ports, why = assign_ports([PortRequest(80, 0), PortRequest(81, 0)], (100, 105), {100, 102})
    assert ports == (101, 103) and why is None
    assert assign_ports([PortRequest(80, 0)], (100, 100), {100}) == (None, "ports: no free host port in 100-100")


def test_unique_hostname() -> None:
    a = app(instances=3, constraints=(("hostname", "UNIQUE"),))
    result = place(a, 3, [agent("a1"), agent("a2")], ClusterUsage())
    assert len(result.placements) == 2 and result.unplaced == 1
    assert "UNIQUE hostname: already runs a task" in result.rejections["a1"].reason


def test_cluster_with_and_without_value() -> None:
    agents = agents_with("rack", ["r1", "r2", "r2"])
    fixed = place(app(constraints=(("rack", "CLUSTER", "r2"),)), 2, agents, ClusterUsage())
    assert {p.agent for p in fixed.placements} == {"a1", "a2"}
    rack_of = {"a0": "r1", "a1": "r2", "a2": "r2"}
    pinned = place(app(constraints=(("rack", "CLUSTER"),)), 3, agents, ClusterUsage())
    assert len(pinned.placements) == 3
    assert len({rack_of[p.agent] for p in pinned.placements}) == 1, "the first placement pins the rack"


def test_group_by_spreads_evenly() -> None:
    agents = agents_with("zone", ["z1", "z1", "z2"])
    result = place(app(instances=4, constraints=(("zone", "GROUP_BY"),)), 4, agents, ClusterUsage())
    zones = [{"a0": "z1", "a1": "z1", "a2": "z2"}[p.agent] for p in result.placements]
    assert zones.count("z1") == 2 and zones.count("z2") == 2


def test_like_and_unlike_full_match() -> None:
    agents = agents_with("rack", ["rack-1", "rack-10", "xrack-1"]) + [agent("bare")]
    like = place(app(cpus=4, constraints=(("rack", "LIKE", "rack-[0-9]"),)), 2, agents, ClusterUsage())
    assert {p.agent for p in like.placements} == {"a0"}
    assert "does not match" in like.rejections["a1"].reason
    assert "no attribute rack" in like.rejections["bare"].reason
    unlike = place(app(constraints=(("rack", "UNLIKE", "rack-.*"),)), 2, agents, ClusterUsage())
    assert {p.agent for p in unlike.placements} == {"a2", "bare"}, "UNLIKE accepts agents without the attribute"


def test_max_per() -> None:
    agents = agents_with("rack", ["r1", "r1", "r2"])
    result = place(app(constraints=(("rack", "MAX_PER", "1"),)), 3, agents, ClusterUsage())
    assert len(result.placements) == 2 and result.unplaced == 1
    assert "MAX_PER rack 1" in result.rejections["a0"].reason


def test_is() -> None:
    agents = agents_with("os", ["linux", "windows"])
    result = place(app(constraints=(("os", "IS", "linux"),)), 1, agents, ClusterUsage())
    assert [p.agent for p in result.placements] == ["a0"]


@pytest.mark.parametrize("draining", [True, False])
def test_draining_agent_takes_nothing(draining: bool) -> None:
    result = place(app(), 1, [agent("a1", draining=draining)], ClusterUsage())
    assert (result.unplaced == 1) is draining


def test_ports_held_by_other_containers_are_skipped() -> None:
    a = app(instances=2, ports=(PortRequest(8080, 0),))
    result = place(a, 2, [agent("a1", reserved_ports=frozenset({31000, 31002}))], ClusterUsage())
    assert sorted(p.host_ports[0] for p in result.placements) == [31001, 31003]


@pytest.mark.parametrize(
    ("constraint", "attrs", "seeded", "reason"),
    [
        (("hostname", "UNIQUE"), {}, True, "UNIQUE hostname: already runs a task on hostname=a1"),
        (("rack", "CLUSTER", "r9"), {"rack": "r1"}, False, "CLUSTER rack r9: rack=r1, tasks must run on r9"),
        (("rack", "GROUP_BY"), {"rack": "r1"}, True, "GROUP_BY rack: rack=r1 has 1 tasks, others have 0"),
        (("rack", "LIKE", "r[2-9]"), {"rack": "r1"}, False, "LIKE rack r[2-9]: rack=r1 does not match"),
        (("rack", "UNLIKE", "r1"), {"rack": "r1"}, False, "UNLIKE rack r1: rack=r1 matches"),
        (("rack", "MAX_PER", "1"), {"rack": "r1"}, True, "MAX_PER rack 1: rack=r1 already has 1"),
        (("rack", "IS", "r2"), {"rack": "r1"}, False, "IS rack r2: rack=r1"),
        (("zone", "LIKE", "z1"), {"rack": "r1"}, False, "LIKE zone z1: agent has no attribute zone"),
    ],
)
def test_explanation_names_each_constraint_operator(constraint: tuple[str, ...], attrs: dict[str, str],
                                                    seeded: bool, reason: str) -> None:
    """"Why is my app waiting?": every agent's rejection names the operator, field and value."""
    a = app(instances=1, constraints=(constraint,))
    agents = [agent("a1", attributes=attrs)]
    if constraint[1] == "GROUP_BY":
        agents.append(agent("a2", attributes={"rack": "r2"}, cpus=0))
    usage = ClusterUsage()
    if seeded:
        usage.add("a1", a.app_id, a.resources, ())
    # GROUP_BY: the other rack exists but its agent cannot take the task, so r1 may not get a second one.
    result = place(a, 1, agents, usage)
    assert result.unplaced == 1
    assert result.rejections["a1"] == Rejection("constraint", reason)
