"""Lightning callbacks of a run: the nco checkpoint after each validation, and Ctrl-C / SIGTERM as a clean stop.

A run stops cleanly on Ctrl-C (SIGINT) or SIGTERM: the first signal asks the trainer to stop at the next batch
boundary, a second stops at once; either way the current policy is saved as `last.pt` and the exact-resume
Lightning state as `lightning/last.ckpt`, and train() raises TrainingInterrupted (see _SignalStop for what
becomes of the signal afterwards)."""

from __future__ import annotations

import math
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lightning.pytorch.callbacks import Callback

from envs.errors import Interrupted
from nco.policy.checkpoints import save_checkpoint
from nco.train import ledger


class TrainingInterrupted(Interrupted):
    """SIGINT or SIGTERM stopped train(); the policy and the Lightning state were saved first.

    `exit_code` is the shell's convention for a process ended by the signal (130 for SIGINT, 143 for SIGTERM),
    which the CLI returns."""

    def __init__(self, message: str, signum: int, last: Path | None, checkpoint: Path | None):
        super().__init__(message, signum)
        self.signum, self.last, self.checkpoint = signum, last, checkpoint


class KeyboardTrainingInterrupted(TrainingInterrupted, KeyboardInterrupt):
    """Ctrl-C where Python's default SIGINT handler was in force: still a KeyboardInterrupt, so that a caller
    that stops on one (pytest, a REPL) still does."""


class ExportPolicy(Callback):
    """After each validation, write the nco checkpoint (state dict + JSON): `last` always, `best` when improved.

    It counts what was trained (epochs whose batches all ran, instances) itself, so that a run stopped
    mid-epoch says so, and keeps its best cost and training time in the Lightning checkpoint, so that a
    resumed run neither overwrites a better best.pt nor restarts the clock."""

    def __init__(self, out_dir: Path, meta: dict, train_size: int, prior: dict | None = None, device: str = "cpu"):
        self.out_dir, self.meta, self.train_size = out_dir, meta, train_size
        self.prior, self.device = prior, device  # the start checkpoint's training record (nco.train.ledger)
        self.best = float("inf")
        self.started, self.seconds_before = time.time(), 0.0
        self.cpu_started, self.cpu_before = time.process_time(), 0.0
        self.epochs_full, self.seen, self.batches, self.epoch_open = 0, 0, 0, False
        self.restored = False
        self.validated: tuple[int, float] | None = None  # (global step, val cost) of the last validation

    def state_dict(self) -> dict:
        return {
            "best": self.best,
            "train_seconds": self.train_seconds(),
            "epochs_full": self.epochs_full,
            "seen": self.seen,
            "cpu_seconds": self.cpu_seconds(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.best, self.seconds_before = state["best"], state["train_seconds"]
        self.cpu_before = state.get("cpu_seconds", 0.0)  # absent in checkpoints from before the ledger
        self.epochs_full, self.seen, self.restored = state["epochs_full"], state["seen"], True

    def train_seconds(self) -> float:
        return round(self.seconds_before + time.time() - self.started, 1)

    def cpu_seconds(self) -> float:
        """CPU seconds of the process (all threads) since the run began, across resumes."""
        return round(self.cpu_before + time.process_time() - self.cpu_started, 1)

    def on_train_start(self, trainer, module):
        if not self.restored:  # fresh, or resumed from a checkpoint older than this state: count from its epoch
            self.epochs_full, self.seen = trainer.current_epoch, trainer.current_epoch * self.train_size

    def on_train_epoch_start(self, trainer, module):
        self.batches, self.epoch_open = 0, True

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        self.batches += 1
        self.seen += int(batch.batch_size[0])

    def on_train_epoch_end(self, trainer, module):
        self.epochs_full += self.batches >= trainer.num_training_batches
        self.epoch_open = False

    def epochs_done(self, trainer) -> int:
        """Epochs whose every batch was trained (an epoch counts from its validation on)."""
        return self.epochs_full + (self.epoch_open and self.batches >= trainer.num_training_batches)

    def meta_for(self, trainer, val_cost: float | None) -> dict:
        meta = {
            **self.meta,
            "epochs_done": self.epochs_done(trainer),
            "instances_seen": self.seen,
            "train_seconds": self.train_seconds(),
            "val_cost": val_cost,
        }
        if 0 < self.batches < trainer.num_training_batches:  # stopped part-way through an epoch
            meta["batches_into_epoch"] = self.batches
        if self.prior is not None:
            run = {
                "method": "reinforce",
                "minutes": round(self.cpu_seconds() / 60, 3),
                "wall_minutes": round(meta["train_seconds"] / 60, 3),
                "instances": self.seen,
                "val_cost": val_cost,
            }
            meta["training"] = ledger.record(self.prior, run, self.device)
        return meta

    def on_validation_epoch_end(self, trainer, module):
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        cost = float(trainer.callback_metrics.get("val/cost", float("nan")))
        self.validated = (trainer.global_step, cost)
        meta = self.meta_for(trainer, _finite_or_none(cost))
        save_checkpoint(module.policy, self.out_dir / "last.pt", meta)
        curve = self.out_dir / "curve.csv"  # the learning curve: validation cost against time and data
        with curve.open("a") as f:
            if f.tell() == 0:
                f.write("epoch,train_seconds,instances_seen,val_cost\n")
            f.write(f"{meta['epochs_done']},{meta['train_seconds']},{meta['instances_seen']},{cost}\n")
        if cost < self.best:
            self.best = cost
            save_checkpoint(module.policy, self.out_dir / "best.pt", meta)

    def where(self, trainer) -> str:
        """Where training stands, for the interruption message."""
        if 0 < self.batches < trainer.num_training_batches:  # `batches` holds the last epoch's count until the next
            return f"in epoch {self.epochs_full + 1}, after batch {self.batches} of {trainer.num_training_batches}"
        done = self.epochs_done(trainer)
        return f"after epoch {done} of {trainer.max_epochs}" if done else "before the first batch"


def _finite_or_none(x: float) -> float | None:
    """JSON has no NaN: a missing or diverged cost is written as null."""
    return x if math.isfinite(x) else None


class _StopNow(BaseException):
    """A second signal: leave the training step at once. Not a KeyboardInterrupt, which Lightning answers with
    sys.exit(1), and not an Exception, which code inside the step might swallow."""


class _SignalStop(Callback):
    """SIGINT/SIGTERM handlers for the length of train(), and the callback that turns a signal into a stop.

    The first signal only sets a flag; the callback turns it into `trainer.should_stop` at the next batch end
    (agreed across DDP ranks), so the step in progress completes, Lightning validates once more (as for early
    stopping) and fit returns normally. A second signal raises _StopNow from wherever the handler runs.

    Lightning 2.6 registers its own SIGTERM handler after `on_fit_start` (its signal connector, which wraps
    ours and then raises SIGTERMException, a SystemExit, at the next batch end, which pytest records as a
    failed test and carries on). We take SIGTERM back in `on_sanity_check_start` and `on_train_start`, and
    treat a SIGTERMException that slips through in the window between as our stop. Lightning restores, at
    teardown, the handlers it found, which are ours; installed() restores the caller's.

    After the files are written, the signal's previous handler decides what the caller sees (redeliver()):
    SIG_DFL ends the process by the same signal (as it would have without us: pytest given SIGTERM ends),
    Python's default SIGINT handler gets a KeyboardTrainingInterrupted, and any other handler (the CLI's
    SIGTERM one) a TrainingInterrupted, whose message and exit code the CLI prints and returns. Signals
    ignored (SIG_IGN) stay ignored; off the main thread nothing is installed (Python allows handlers only
    there) and Lightning's own handling applies.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.signum: int | None = None
        self.count = 0
        self.at_once = False  # a second signal cut the step short
        self.saving = False  # while the files are written, further signals only count
        self.previous: dict[int, Any] = {}

    @contextmanager
    def installed(self) -> Iterator[_SignalStop]:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                prev = signal.getsignal(sig)
                if prev not in (signal.SIG_IGN, None):  # None: set outside Python, so it could not be restored
                    self.previous[sig] = prev
            self._register()
        try:
            yield self
        except TrainingInterrupted as e:
            self._restore()
            self.redeliver(e)
            raise
        finally:
            self._restore()

    def _register(self) -> None:
        if threading.current_thread() is threading.main_thread():
            for sig in self.previous:
                signal.signal(sig, self._handle)

    def _restore(self) -> None:
        for sig, prev in self.previous.items():
            if signal.getsignal(sig) is not prev:
                signal.signal(sig, prev)

    def _handle(self, signum: int, frame: Any) -> None:
        self.count += 1
        self.signum = self.signum or signum
        if self.saving:
            return
        if self.count > 1:
            self.at_once = True
            raise _StopNow()
        name = signal.Signals(signum).name
        print(
            f"\n{name}: stopping after this batch and saving (send it again to stop at once)",
            file=sys.stderr,
            flush=True,
        )

    def error(self, message: str, last: Path | None, checkpoint: Path | None) -> TrainingInterrupted:
        assert self.signum is not None
        default_int = self.signum == signal.SIGINT and self.previous.get(self.signum) is signal.default_int_handler
        return (KeyboardTrainingInterrupted if default_int else TrainingInterrupted)(
            message, self.signum, last, checkpoint
        )

    def redeliver(self, e: TrainingInterrupted) -> None:
        """With the caller's handlers back: where the signal's default action was in force, take it now."""
        if self.previous.get(e.signum) == signal.SIG_DFL:
            print(f"nco: {e}", file=sys.stderr, flush=True)
            sys.stdout.flush()
            os.kill(os.getpid(), e.signum)  # ends the process; if the signal is blocked, the exception goes on

    def _sync(self, trainer) -> None:
        if trainer.strategy.reduce_boolean_decision(self.signum is not None, all=False):
            trainer.should_stop = True

    def on_sanity_check_start(self, trainer, module):
        self._register()

    def on_train_start(self, trainer, module):
        self._register()
        self._sync(trainer)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        self._sync(trainer)

    def on_validation_end(self, trainer, module):
        if not trainer.sanity_checking:
            self._sync(trainer)

    def on_train_epoch_end(self, trainer, module):
        self._sync(trainer)
