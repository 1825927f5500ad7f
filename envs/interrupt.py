"""Ctrl-C and SIGTERM during a solve: the search stops at its next check and hands back its best plan.

Inside `stoppable()` (the CLI wraps each solve in it) the first SIGINT or SIGTERM only records the signal. The
searches look at `requested()` where they look at their clocks (PyVRP's genetic search between iterations,
OR-Tools through a search limit, the policy between layers and decoding steps) and end as if their budget had
run out, so the caller gets the best plan found so far, marks it interrupted, prints and saves it, and exits
130 or 143. A second signal acts at once, as the signal's previous handler would (KeyboardInterrupt for
Ctrl-C). Outside `stoppable()` (nco used as a library) nothing changes: signals behave as the caller set them.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

SIGNALS = (signal.SIGINT, signal.SIGTERM)
_requested: int | None = None  # the first signal received inside stoppable()
_active = False


def requested() -> int | None:
    """The signal that asked the running solve to stop (None: none did)."""
    return _requested


def active() -> bool:
    """Whether a signal would stop the search rather than end the process (the OR-Tools limit costs a little
    search speed, so it is added only then)."""
    return _active


def signal_name(signum: int) -> str:
    return signal.Signals(signum).name


@contextmanager
def stoppable() -> Iterator[None]:
    """Defer the first SIGINT/SIGTERM to the searches' next check for the length of the block (main thread
    only: elsewhere Python allows no handlers, and the block changes nothing)."""
    global _requested, _active
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in SIGNALS}

    def handle(signum, frame):
        global _requested
        if _requested is None:
            _requested = signum
            return
        again = previous.get(signum)  # a second signal: what it would have done without us
        if callable(again):
            again(signum, frame)
        elif again == signal.SIG_DFL:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

    _requested, _active = None, True
    for sig, prev in previous.items():
        if prev is not signal.SIG_IGN and prev is not None:  # an ignored signal stays ignored
            signal.signal(sig, handle)
    try:
        yield
    finally:
        _active = False
        for sig, prev in previous.items():
            if prev is not None:
                signal.signal(sig, prev)


def reset() -> None:
    """Forget a recorded signal (after the caller has acted on it)."""
    global _requested
    _requested = None
