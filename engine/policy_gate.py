"""Placement's policy filter: an agent whose policy forbids an app is rejected, with the policy's reasons."""

from __future__ import annotations

from typing import Mapping

from engine.model import AppDefinition
from engine.policy import AgentPolicy, app_requirements, refusals
from engine.scheduler.placement import Rejection
from engine.scheduler.state import AgentState, DesiredApp

_MAX_VERDICTS = 10_000


class PolicyGate:
    def __init__(self, policies: Mapping[str, AgentPolicy], apps: Mapping[str, AppDefinition],
                 default_image: str | None) -> None:
        """`policies`: per agent, the policy the engine knows it enforces (none for a pacer agent with only its own)."""
        self.policies = dict(policies)
        self._apps = apps
        self._default_image = default_image
        self._verdicts: dict[tuple[str, str, str], Rejection | None] = {}

    def __bool__(self) -> bool:
        return bool(self.policies)

    def policy_of(self, agent: str) -> AgentPolicy | None:
        return self.policies.get(agent)

    def check(self, app: DesiredApp, agent: AgentState) -> Rejection | None:
        policy = self.policies.get(agent.name)
        if policy is None:
            return None
        key = (app.app_id, app.config_version, agent.name)
        if key in self._verdicts:
            return self._verdicts[key]
        definition = self._apps.get(app.app_id)
        verdict = None
        if definition is not None:
            try:
                problems = refusals(app_requirements(definition, self._default_image), policy)
            except ValueError as exc:
                problems = [str(exc)]
            if problems:
                verdict = Rejection("policy", "policy: " + "; ".join(problems))
        if len(self._verdicts) > _MAX_VERDICTS:
            self._verdicts.clear()
        self._verdicts[key] = verdict
        return verdict
