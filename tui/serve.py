"""`pacer --serve`: the engine without a screen.

Logs to stderr and stops cleanly on SIGTERM or SIGINT. With ``--api
HOST:PORT`` or ``[scheduler] api`` it also serves the Marathon REST API in
the engine's event loop (uvicorn leaves the signals to this function).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

from engine import Engine, PacerConfig

log = logging.getLogger("pacer.serve")


async def serve(config: PacerConfig) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    engine = Engine(config)
    await engine.start()
    api: Any = None
    try:
        if config.scheduler.api:
            from engine.api import start_api

            api = await start_api(engine, config)
        log.info("pacer serving headless: cluster %s, state %s%s", engine.cluster_id, config.scheduler.state,
                 f", API {api.url}" if api is not None else "")
        await stop.wait()
    finally:
        log.info("stopping")
        if api is not None:
            await api.stop()
        await engine.stop()
    return 0
