"""`pacer --serve`: the engine without a screen.

Logs to stderr and stops cleanly on SIGTERM or SIGINT.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from engine import Engine, PacerConfig

log = logging.getLogger("pacer.serve")


async def serve(config: PacerConfig) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    engine = Engine(config)
    await engine.start()
    log.info("pacer serving headless: cluster %s, state %s", engine.cluster_id, config.scheduler.state)
    try:
        await stop.wait()
    finally:
        log.info("stopping")
        await engine.stop()
    return 0
