"""The `pacer` command: the console, the headless engine, and script helpers.

    pacer [--config F] [--demo] [--api HOST:PORT]           the console
    pacer --serve [--config F] [--api HOST:PORT]            headless engine (and API)
    pacer --serve --agent-config F                          an agent for remote engines ([agent] table)
    pacer deploy|apps|tasks|scale|restart|rm|logs|deployments ...   API client (cli/client.py)
    pacer image keygen|sign|signatures|unsign|verify ...           image signatures (cli/image_cmd.py)
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from cli.errors import ClientError, ImageCommandError
from engine import PacerConfig, PacerError, default_config, load_config
from engine.errors import report


def build_parser() -> argparse.ArgumentParser:
    from cli.client import EXIT_CODES_HELP, add_client_commands

    parser = argparse.ArgumentParser(
        prog="pacer",
        description="A container scheduler with a terminal console (Marathon's model on Docker daemons).",
        epilog="client commands (pacer COMMAND --help for each) talk to a running API; " + EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", "-c", metavar="FILE", help="TOML config: agents, scheduler, API")
    parser.add_argument("--serve", action="store_true", help="run headless (engine and agents, no screen)")
    parser.add_argument("--demo", action="store_true", help="use simulated agents instead of Docker")
    parser.add_argument("--state", metavar="PATH", help="state database (overrides the config)")
    parser.add_argument("--api", metavar="HOST:PORT",
                        help="serve Marathon's REST API here (overrides [scheduler] api); a non-loopback "
                             "address needs api_token, api_tls_cert and api_tls_key in the config")
    parser.add_argument("--agent-config", metavar="FILE",
                        help="with --serve: offer this host's dockerd to remote engines, as the [agent] table of "
                             "FILE says (a --config file with an [agent] table does the same; with [scheduler] "
                             "it runs the engine too)")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_client_commands(sub)
    from cli.image_cmd import add_image_commands

    add_image_commands(sub)
    return parser


def resolve_config(args: argparse.Namespace) -> PacerConfig:
    if args.config:
        config = load_config(args.config)
    else:
        config = default_config(demo=args.demo)
    if args.state:
        scheduler = config.scheduler.model_copy(update={"state": str(Path(args.state).resolve())})
        config = config.model_copy(update={"scheduler": scheduler})
    if getattr(args, "api", None):
        scheduler = config.scheduler.model_copy(update={"api": args.api})
        config = config.model_copy(update={"scheduler": scheduler})
    if config.scheduler.api:
        # Refuse a bad or unprotected binding before anything starts (exit 2).
        from engine.api import check_binding, parse_bind

        source = "--api" if getattr(args, "api", None) else config.source
        host, _ = parse_bind(config.scheduler.api, source=source)
        check_binding(host, config.scheduler, source)
    return config


def _client_config(args: argparse.Namespace) -> PacerConfig | None:
    """The client reads the API address and token from --config when given."""
    return load_config(args.config) if args.config else None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if args.log_level == "DEBUG":
        # Debugging pacer: the HTTP libraries' per-request lines would bury the engine's own.
        for noisy in ("urllib3", "httpcore", "httpx", "docker", "asyncio"):
            logging.getLogger(noisy).setLevel(logging.INFO)
    try:
        if args.command == "image":
            from cli.image_cmd import run_image

            return run_image(args, _client_config(args))
        if args.command:
            from cli.client import run_client

            return run_client(args, _client_config(args))
        if args.serve:
            from cli.serve import agent_config_for, serve

            agent, run_engine = agent_config_for(args)
            return asyncio.run(serve(resolve_config(args) if run_engine else None, agent=agent))
        config = resolve_config(args)
        from tui.app import run_console  # the only import of tui (Textual) in cli/: opening the console

        return run_console(config)
    except (ClientError, ImageCommandError) as exc:
        # run_client and run_image report these themselves; one that escapes them still gets its exit code
        print(f"pacer: {exc.message}", file=sys.stderr)
        return exc.code
    except PacerError as exc:
        return report(exc)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
