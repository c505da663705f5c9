"""``python -m engine.agentd --agent-config FILE``: the agent server alone (same as ``pacer --serve --agent-config``)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from engine.agentd.config import load_agent_config
from engine.errors import PacerError, report


async def run(path: str) -> int:
    from engine.agentd.server import start_agent

    config = load_agent_config(path)
    assert config is not None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    agent = await start_agent(config)
    try:
        await stop.wait()
    finally:
        await agent.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.agentd")
    parser.add_argument("--agent-config", required=True, metavar="FILE", help="TOML file with an [agent] table")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=getattr(logging, args.log_level), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return asyncio.run(run(args.agent_config))
    except PacerError as exc:
        return report(exc)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
