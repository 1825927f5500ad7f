"""Typed exceptions. Each carries a one-line message meant for the user."""


class NcoError(Exception):
    """Base class: the CLI prints `error: <message>` and exits non-zero (`exit_code`, default EXIT_BAD_INPUT)."""

    exit_code: int | None = None


class InstanceError(NcoError, ValueError):
    """The problem description is malformed or infeasible on its face."""


class UnsupportedFeatureError(NcoError):
    """A solver was given an instance with a feature it cannot honour."""


class CheckpointError(NcoError):
    """A checkpoint is missing, unreadable or does not fit the instance."""


class OsrmError(NcoError):
    """The OSRM engine or server failed, or its answer cannot be used (far snaps, unreachable pairs)."""


class NoSolutionFound(NcoError):
    """A solver found no feasible solution within its budget (valid input; a longer budget may find one).

    The CLI exits with EXIT_NO_SOLUTION for it, apart from bad input (2) and infeasible plans (1)."""


class Interrupted(NcoError):
    """Ctrl-C or SIGTERM stopped the work; `exit_code` is 128 + the signal (130, 143)."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.exit_code = 128 + signum


# `nco` exit statuses (README, "Exit status").
EXIT_FEASIBLE, EXIT_INFEASIBLE, EXIT_BAD_INPUT, EXIT_NO_SOLUTION = 0, 1, 2, 3
