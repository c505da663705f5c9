"""The `pacer` command: the console, the headless engine, and script helpers."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from engine import ConfigError, PacerConfig, PacerError, default_config, load_config


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pacer",
        description="A container scheduler with a terminal console (Marathon's model on Docker daemons).",
    )
    parser.add_argument("--config", "-c", metavar="FILE", help="TOML config: agents, scheduler, API")
    parser.add_argument("--serve", action="store_true", help="run headless (engine and agents, no screen)")
    parser.add_argument("--demo", action="store_true", help="use simulated agents instead of Docker")
    parser.add_argument("--state", metavar="PATH", help="state database (overrides the config)")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return parser


def resolve_config(args: argparse.Namespace) -> PacerConfig:
    if args.config:
        config = load_config(args.config)
    else:
        config = default_config(demo=args.demo)
    if args.state:
        scheduler = config.scheduler.model_copy(update={"state": str(Path(args.state).resolve())})
        config = config.model_copy(update={"scheduler": scheduler})
    return config


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        config = resolve_config(args)
        if args.serve:
            from tui.serve import serve

            return asyncio.run(serve(config))
        from tui.app import run_console

        return run_console(config)
    except ConfigError as exc:
        print(f"pacer: bad config: {exc.message}", file=sys.stderr)
        return 2
    except PacerError as exc:
        print(f"pacer: {exc.title}: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
