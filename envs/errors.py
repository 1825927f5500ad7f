"""Typed exceptions. Each carries a one-line message meant for the user."""


class NcoError(Exception):
    """Base class: the CLI prints `error: <message>` and exits non-zero."""


class InstanceError(NcoError, ValueError):
    """The problem description is malformed or infeasible on its face."""


class UnsupportedFeatureError(NcoError):
    """A solver was given an instance with a feature it cannot honour."""


class CheckpointError(NcoError):
    """A checkpoint is missing, unreadable or does not fit the instance."""


class OsrmError(NcoError):
    """The OSRM engine or server failed, or its answer cannot be used (far snaps, unreachable pairs)."""
