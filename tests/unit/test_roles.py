"""acceptedResourceRoles / role against the roles agents offer ([[agents]] roles): placement, validation, config,
and the whole engine on simulated agents."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine import AppValidationError, ConfigError, Engine
from engine.agents.sim import SimAgent
from engine.config import AgentConfig, PacerConfig, SchedulerConfig, load_config
from engine.model import parse_app
from engine.scheduler.placement import ClusterUsage, place
from engine.specs import desired_app
from tests.conftest import wait_until
from tests.unit.factories import agent, app


def test_an_app_accepting_only_a_reserved_role_goes_only_to_agents_offering_it() -> None:
    a = app(instances=3, accepted_roles=("slave_public",))
    agents = [agent("private"), agent("public", roles=("slave_public",)), agent("both", roles=("*", "slave_public"))]
    result = place(a, 3, agents, ClusterUsage())
    assert result.unplaced == 0
    assert {p.agent for p in result.placements} == {"public", "both"}


def test_default_app_uses_unreserved_resources_only() -> None:
    result = place(app(instances=1), 1, [agent("public", roles=("slave_public",))], ClusterUsage())
    assert result.unplaced == 1
    assert result.rejections["public"].step == "role"
    assert result.rejections["public"].reason == "role: accepts [*], agent offers [slave_public]"
    assert result.summary() == {"role": 1}


def test_role_rejection_names_both_sides() -> None:
    result = place(app(instances=1, accepted_roles=("slave_public",)), 1, [agent("a1")], ClusterUsage())
    assert result.rejections["a1"].reason == "role: accepts [slave_public], agent offers [*]"


def _parsed(**extra: Any) -> Any:
    return parse_app({"id": "/r", "cmd": "sleep 1", "container": {"docker": {"image": "busybox"}}, **extra})


def test_accepted_roles_from_the_app_definition() -> None:
    assert desired_app(_parsed()).accepted_roles == ("*",)
    assert desired_app(_parsed(role="web")).accepted_roles == ("*", "web")
    assert desired_app(_parsed(role="web", acceptedResourceRoles=["web"])).accepted_roles == ("web",)
    assert desired_app(_parsed(acceptedResourceRoles=["slave_public", "*"])).accepted_roles == ("slave_public", "*")


@pytest.mark.parametrize(("extra", "where"), [
    ({"acceptedResourceRoles": [""]}, "/acceptedResourceRoles/0"),
    ({"acceptedResourceRoles": ["*", "two words"]}, "/acceptedResourceRoles/1"),
    ({"role": ""}, "/role"),
    ({"role": "web", "acceptedResourceRoles": ["slave_public"]}, "/acceptedResourceRoles/0"),
])
def test_bad_roles_are_refused_at_their_field(extra: dict[str, Any], where: str) -> None:
    with pytest.raises(AppValidationError) as info:
        _parsed(**extra)
    assert where in [e.path for e in info.value.errors]


def test_agent_roles_in_the_config(tmp_path: Path) -> None:
    path = tmp_path / "pacer.toml"
    path.write_text('[[agents]]\nname = "a"\nurl = "sim://"\nroles = ["slave_public", "*"]\n'
                    '[[agents]]\nname = "b"\nurl = "sim://"\n')
    agents = load_config(path).agents
    assert agents[0].roles == ["slave_public", "*"] and agents[1].roles == ["*"]
    path.write_text('[[agents]]\nname = "a"\nurl = "sim://"\nroles = [""]\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "roles" in str(info.value)
    path.write_text('[[agents]]\nname = "a"\nurl = "sim://"\nroles = []\n')
    with pytest.raises(ConfigError):
        load_config(path)


async def test_engine_places_by_role_and_explains_why_not(tmp_path: Path) -> None:
    config = PacerConfig(
        scheduler=SchedulerConfig(state=str(tmp_path / "state.db"), cluster_id="roles", reconcile_interval=0.2),
        agents=[AgentConfig(name="private", url="sim://"),
                AgentConfig(name="public", url="sim://", roles=["slave_public"])])
    drivers = {"private": SimAgent("private", cpus=4, mem_mib=4096), "public": SimAgent("public", cpus=4, mem_mib=4096)}
    body = {"cmd": "serve", "cpus": 0.1, "mem": 32, "container": {"type": "DOCKER", "docker": {"image": "img:1"}}}
    async with Engine(config, drivers=drivers) as engine:
        await engine.create_app({"id": "/edge", "instances": 3, "acceptedResourceRoles": ["slave_public"], **body})
        await engine.create_app({"id": "/inner", "instances": 3, **body})
        await wait_until(lambda: engine.converged("/edge") and engine.converged("/inner"), 10, message="placed")
        assert {t.agent for t in engine.tasks_of("/edge")} == {"public"}
        assert {t.agent for t in engine.tasks_of("/inner")} == {"private"}
        # A role no agent offers: the app waits, each agent's reason named.
        await engine.create_app({"id": "/gpu", "instances": 1, "role": "gpu", "acceptedResourceRoles": ["gpu"],
                                 **body})
        await wait_until(lambda: "/gpu" in engine.waiting, 10, message="waiting")
        rejections = engine.waiting["/gpu"].rejections
        assert rejections["private"].reason == "role: accepts [gpu], agent offers [*]"
        assert rejections["public"].reason == "role: accepts [gpu], agent offers [slave_public]"
        assert "role: 2 agent(s)" in engine.waiting["/gpu"].reason
        # The API says the same: explain per agent, the queue as Marathon's UnfulfilledRole.
        import httpx

        from engine.api import ApiSettings, build_app

        api = build_app(engine, ApiSettings(leader="127.0.0.1:8080"))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(api), base_url="http://127.0.0.1") as client:
            explain = (await client.get("/pacer/v1/apps/gpu/explain")).json()
            assert {a["agent"]: (a["step"], a["reason"]) for a in explain["agents"]} == {
                "private": ("role", "role: accepts [gpu], agent offers [*]"),
                "public": ("role", "role: accepts [gpu], agent offers [slave_public]")}
            [item] = (await client.get("/v2/queue")).json()["queue"]
            summary = item["processedOffersSummary"]["rejectSummaryLastOffers"]
            assert next(r for r in summary if r["reason"] == "UnfulfilledRole")["declined"] == 2
