"""`pacer --serve`: the engine without a screen.

Logs to stderr and stops cleanly on SIGTERM or SIGINT. With ``--api
HOST:PORT`` or ``[scheduler] api`` it also serves the Marathon REST API in
the engine's event loop (uvicorn leaves the signals to this function).

With ``--agent-config FILE`` (or a ``--config`` file holding an ``[agent]``
table) it serves this host's dockerd to remote engines (engine/agentd); the
engine runs too only when a ``[scheduler]`` (or ``[[agents]]``) is configured.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
from typing import TYPE_CHECKING, Any

from engine import Engine, PacerConfig

if TYPE_CHECKING:
    from engine.agentd.config import AgentServerConfig

log = logging.getLogger("pacer.serve")


def agent_config_for(args: argparse.Namespace) -> "tuple[AgentServerConfig | None, bool]":
    """(the [agent] config to serve or None, whether to run the engine too)."""
    from engine.agentd.config import has_scheduler, load_agent_config

    if args.agent_config:
        return load_agent_config(args.agent_config), bool(args.config)
    if args.config:
        agent = load_agent_config(args.config, required=False)
        if agent is not None:
            return agent, has_scheduler(args.config)
    return None, True


async def serve(config: PacerConfig | None, *, agent: "AgentServerConfig | None" = None) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    agent_server: Any = None
    if agent is not None:
        from engine.agentd.server import start_agent

        agent_server = await start_agent(agent)
    if config is None:
        try:
            await stop.wait()
        finally:
            log.info("stopping")
            if agent_server is not None:
                await agent_server.stop()
        return 0
    try:
        return await _serve_engine(config, stop)
    finally:
        if agent_server is not None:
            await agent_server.stop()


async def _serve_engine(config: PacerConfig, stop: asyncio.Event) -> int:
    engine = Engine(config)
    await engine.start()
    api: Any = None
    try:
        if config.scheduler.api:
            from engine.api import start_api

            api = await start_api(engine, config)
        # What start-up allocated (modules, the loaded state) lives as long as the process: out of the collector's
        # sight, a full collection walks only what came since, which keeps its pauses (and /ping's p99) short.
        gc.freeze()
        log.info("pacer serving headless: cluster %s, state %s%s", engine.cluster_id, config.scheduler.state,
                 f", API {api.url}" if api is not None else "")
        await stop.wait()
    finally:
        log.info("stopping")
        if api is not None:
            await api.stop()
        await engine.stop()
    return 0
