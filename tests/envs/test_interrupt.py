"""Ctrl-C and SIGTERM during a solve end the search with its best plan (envs/interrupt.py), for every solver."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from envs import interrupt
from envs.io.load import load_instance
from envs.model.check import check
from nco.solvers.pipeline import SolveOptions, solve_and_check

BUDGET = 60.0  # far beyond the test: only the signal can end these solves in time


@pytest.fixture(autouse=True)
def default_meanings():
    """Each test starts with SIGINT and SIGTERM at Python's defaults, whatever an earlier test in this process
    (or a test runner's worker) left behind: an ignored signal stays ignored inside `stoppable`, by design."""
    previous = {sig: signal.getsignal(sig) for sig in interrupt.SIGNALS}
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    yield
    for sig, prev in previous.items():
        if prev is not None:  # None: a handler not set from Python, which Python cannot put back
            signal.signal(sig, prev)
    interrupt.reset()


def _signal_soon(signum: int, after: float = 0.5) -> threading.Timer:
    timer = threading.Timer(after, os.kill, (os.getpid(), signum))
    timer.start()
    return timer


@pytest.mark.parametrize("solver", ["nco", "pyvrp", "ortools"])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_ends_the_search_with_its_best_plan(solver, signum):
    inst = load_instance("data/x/X-n101-k25.vrp")
    before = signal.getsignal(signum)
    began = time.perf_counter()
    with interrupt.stoppable():
        timer = _signal_soon(signum)
        solution, report = solve_and_check(inst, SolveOptions(solver=solver, time_limit=BUDGET))
        timer.join()
    seconds = time.perf_counter() - began
    assert interrupt.requested() == signum
    assert seconds < BUDGET / 2, f"{solver} ran {seconds:.1f} s after the signal"  # not the budget
    assert report.feasible and len(solution.routes) < inst.num_clients / 2  # a real plan, not the trivial start
    assert check(inst, solution).cost == report.cost
    assert signal.getsignal(signum) is before  # the caller's handler is back
    interrupt.reset()


def test_outside_stoppable_signals_keep_their_meaning():
    assert not interrupt.active()
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(1)  # the handler runs at the next bytecode; the sleep is interrupted by it
    assert interrupt.requested() is None


def test_a_second_signal_acts_at_once():
    with pytest.raises(KeyboardInterrupt):
        with interrupt.stoppable():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)
            assert interrupt.requested() == signal.SIGINT and interrupt.active()
            os.kill(os.getpid(), signal.SIGINT)  # Python's default handler raises KeyboardInterrupt
            time.sleep(1)
    assert not interrupt.active()
    interrupt.reset()
