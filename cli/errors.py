"""Errors of the `pacer` command line, in engine/errors.py's PacerError tree.

Each carries the exit code its command returns (cli/client.py's and cli/image_cmd.py's EXIT_*); the
command prints ``pacer COMMAND: message`` on stderr itself (run_client, run_image).
"""

from __future__ import annotations

from engine.errors import PacerError


class ClientError(PacerError):
    """A client command (pacer deploy, apps, ...) failed; `code` is its exit code."""

    title = "client error"

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class ImageCommandError(PacerError):
    """A `pacer image` command failed; `code` is its exit code."""

    title = "image command error"

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
