"""How an nco command ends: one line `error: ...` on stderr, and SIGTERM unwinding like Ctrl-C."""

from __future__ import annotations

import sys

from envs.errors import EXIT_BAD_INPUT
from nco.cli.render import shown


class Terminated(Exception):
    """SIGTERM arrived: unwind like Ctrl-C does, so that servers stop and the exit status says why."""


def fail(message: str, code: int = EXIT_BAD_INPUT) -> int:
    print(f"error: {shown(message)}", file=sys.stderr)  # one line, whatever a file name or id holds
    return code
