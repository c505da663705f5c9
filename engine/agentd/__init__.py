"""The agent server: `pacer --serve` offering this host's dockerd to remote engines.

    config.py   the `[agent]` TOML table (listen, token, TLS, policy) and its loader
    tls.py      self-signed certificate and token generation, fingerprints
    policy.py   what the agent refuses to run (privileged, host paths, images)
    wire.py     JSON shapes shared with the `pacer` driver (engine/agents/remote.py)
    server.py   the Starlette app, bearer-token auth, uvicorn serving
    __main__    ``python -m engine.agentd --agent-config FILE`` (also ``pacer --serve``)

Nothing here imports Textual.
"""

from engine.agentd.config import AgentPolicy, AgentServerConfig, load_agent_config

__all__ = ["AgentPolicy", "AgentServerConfig", "load_agent_config"]
