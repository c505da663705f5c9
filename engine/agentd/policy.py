"""An agent's local policy: what it refuses to run, whatever an engine asks.

`refusals(spec, policy)` is pure: it returns one message per broken rule (empty
when the spec may run). The server turns them into a 403 whose message reaches
the engine's lastTaskFailure and the operator. The model and the checks live in
engine.policy, shared with the engine's own docker driver; the image checks that
need the daemon (pinning, signatures) run in the driver right before it creates
the container, and come back as a 403 too.
"""

from __future__ import annotations

from engine.policy import AgentPolicy, image_allowed, refusals

__all__ = ["AgentPolicy", "image_allowed", "refusals"]
