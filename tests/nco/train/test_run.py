"""Training really learns, resumes, and writes checkpoints that load with weights_only; the shipped one is good."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ROOT

from envs.generate.cvrp import uniform_instances
from envs.model.check import check
from envs.rl import dynamics as dyn
from envs.rl.distributions import uniform_batch
from envs.roads.city_dataset import DEFAULT_ROAD_DATASET
from nco.policy.checkpoints import (
    DEFAULT_CHECKPOINT,
    MATRIX_CHECKPOINT,
    TRANSPLANT_DIST_WEIGHT,
    load_checkpoint,
    save_checkpoint,
    transplant,
)
from nco.policy.model import AttentionPolicy, PolicyConfig

SMALL = PolicyConfig(embed_dim=64, num_heads=4, num_layers=2, ff_dim=128)


def greedy_cost(policy, data) -> float:
    with torch.no_grad():
        out = policy.eval()(data, num_starts=data["demand"].shape[1] - 1)
    return dyn.tour_cost(data["dist"], out.actions).min(-1).values.mean().item()


@pytest.mark.slow
def test_short_training_lowers_the_cost_and_resumes(tmp_path):
    from nco.train.run import TrainConfig, train

    torch.manual_seed(0)
    data = uniform_batch(128, 10, generator=torch.Generator().manual_seed(5))
    start = save_checkpoint(AttentionPolicy(SMALL), tmp_path / "init.pt")
    before = greedy_cost(load_checkpoint(start)[0], data)
    cfg = TrainConfig(
        num_clients=10,
        epochs=3,
        batch_size=64,
        train_size=1280,
        val_size=64,
        lr=1e-3,
        init_from=str(start),
        out_dir=str(tmp_path / "run"),
        progress_bar=False,
        seed=3,
    )
    result = train(cfg)
    trained, info = load_checkpoint(result["best"])
    after = greedy_cost(trained, data)
    assert after < 0.93 * before, (before, after)
    assert info["trained_on"] == {"num_clients": 10, "distribution": "uniform"} and info["epochs_done"] >= 1
    assert (tmp_path / "run" / "logs").exists()  # CSV metrics were logged

    # resume the exact Lightning state for one more epoch
    cfg.epochs, cfg.resume = 4, str(tmp_path / "run" / "lightning" / "last.ckpt")
    train(cfg)
    last = json.loads((tmp_path / "run" / "last.json").read_text())
    assert last["epochs_done"] == 4
    # the ledger: one reinforce run (resumed, so its CPU-minutes grew), on top of the start checkpoint's none
    (run,) = last["training"]["runs"]
    assert run["method"] == "reinforce" and run["instances"] == 4 * 1280
    assert last["training"]["cpu_minutes"] == run["minutes"] > info["training"]["runs"][0]["minutes"] > 0


@pytest.mark.slow
def test_matrix_policy_learns_on_asymmetric_matrices(tmp_path):
    from envs.rl.distributions import asymmetric_batch
    from nco.train.run import TrainConfig, train

    torch.manual_seed(0)
    data = asymmetric_batch(128, 10, generator=torch.Generator().manual_seed(5))
    cfg = PolicyConfig(embed_dim=64, num_heads=4, num_layers=2, ff_dim=128, matrix=True)
    start = save_checkpoint(AttentionPolicy(cfg), tmp_path / "init.pt")
    before = greedy_cost(load_checkpoint(start)[0], data)
    result = train(
        TrainConfig(
            num_clients=10,
            distribution="asymmetric",
            epochs=2,
            batch_size=64,
            train_size=1280,
            val_size=64,
            lr=1e-3,
            init_from=str(start),
            out_dir=str(tmp_path / "run"),
            progress_bar=False,
            logger="none",
            seed=3,
        )
    )
    trained, info = load_checkpoint(result["best"])
    assert trained.cfg.matrix and info["trained_on"]["distribution"] == "asymmetric"
    assert greedy_cost(trained, data) < 0.93 * before


def test_checkpoint_round_trip_is_exact(tmp_path):
    policy = AttentionPolicy(SMALL)
    path = save_checkpoint(policy, tmp_path / "p.pt", {"variant": "cvrp"})
    loaded, info = load_checkpoint(path)
    assert info["config"] == SMALL.to_dict() and info["variant"] == "cvrp"
    for (k, a), (_, b) in zip(policy.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), k
    torch.load(path, weights_only=True)  # plain tensors only


@pytest.mark.slow
def test_shipped_checkpoint_loads_and_beats_an_untrained_policy():
    policy, info = load_checkpoint(DEFAULT_CHECKPOINT)
    assert info["variant"] == "cvrp" and info["trained_on"]["num_clients"] in (50, 100)
    data = uniform_batch(16, 100, generator=torch.Generator().manual_seed(11))
    trained = greedy_cost(policy, data)
    untrained = greedy_cost(AttentionPolicy(PolicyConfig(**info["config"])), data)
    assert trained < 0.7 * untrained, (trained, untrained)


@pytest.mark.parametrize("budget", [1.0])
@pytest.mark.slow
def test_shipped_checkpoint_is_close_to_ortools(budget):
    """Multi-start + augmentation within 10% of OR-Tools' guided local search at 1 s per instance."""
    from baselines import ortools_solver
    from nco.solvers import construct

    gaps = []
    for inst in uniform_instances(100, 6, seed=99):
        ours = check(inst, construct.solve(inst))
        ref = check(inst, ortools_solver.solve(inst, time_limit=budget))
        assert ours.feasible and ref.feasible
        gaps.append(ours.cost / ref.cost - 1)
    assert np.mean(gaps) < 0.10, gaps


@pytest.mark.slow
def test_shipped_matrix_checkpoint_beats_the_planar_one_on_held_out_monaco_roads():
    """The road policy, on 100-client instances from Monaco locations its training never saw."""
    from envs.rl.batch import stack_instances
    from envs.roads.city_dataset import load_city_dataset, sample_instance

    matrix, info = load_checkpoint(MATRIX_CHECKPOINT)
    assert matrix.cfg.matrix and info["features"] == ["asymmetric"]
    assert info["trained_on"] == {"num_clients": 100, "distribution": "road", "dataset": "monaco_1000.npz"}
    planar, _ = load_checkpoint(DEFAULT_CHECKPOINT)
    dataset = load_city_dataset(DEFAULT_ROAD_DATASET)
    data = stack_instances([sample_instance(dataset, 100, "test", seed=70 + i) for i in range(8)])
    assert greedy_cost(matrix, data) < 0.95 * greedy_cost(planar, data)


@pytest.mark.slow
def test_solve_picks_the_matrix_checkpoint_for_road_matrices_and_the_planar_one_otherwise(tmp_path, capsys):
    from nco.cli.main import main

    root = ROOT
    for instance, expected in (
        (root / "data" / "monaco" / "city.json", MATRIX_CHECKPOINT),
        (root / "data" / "city.json", DEFAULT_CHECKPOINT),
    ):
        out = tmp_path / f"{instance.parent.name}.json"
        assert main(["solve", "--instance", str(instance), "--time-limit", "0", "--output", str(out), "--quiet"]) == 0
        written = json.loads(out.read_text())
        assert Path(written["meta"]["checkpoint"]) == expected and written["feasible"] is True
        assert f"| feasible | policy {expected.stem}" in capsys.readouterr().out


def test_train_command_on_xlike_data(tmp_path, capsys):
    from nco.cli.main import main

    out = tmp_path / "run"
    code = main(
        [
            "train",
            "--size",
            "8",
            "--distribution",
            "xlike",
            "--epochs",
            "1",
            "--train-size",
            "64",
            "--batch-size",
            "32",
            "--val-size",
            "32",
            "--layers",
            "1",
            "--embed-dim",
            "32",
            "--no-progress",
            "--logger",
            "none",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    assert "trained: validation cost" in capsys.readouterr().out
    policy, info = load_checkpoint(out / "best.pt")
    assert info["trained_on"] == {"num_clients": 8, "distribution": "xlike"} and policy.cfg.num_layers == 1


def test_train_command_refuses_a_missing_init_checkpoint(tmp_path, capsys):
    from nco.cli.main import main

    assert main(["train", "--init-from", str(tmp_path / "gone.pt")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err


@pytest.mark.parametrize(
    "distribution, features",
    [("road", ["asymmetric"]), ("roadtw", ["asymmetric", "service_times", "time_windows"])],
)
def test_train_command_matrix_policy_on_road_data(tmp_path, capsys, distribution, features):
    from nco.cli.main import main

    out = tmp_path / distribution
    code = main(
        [
            "train",
            "--size",
            "8",
            "--distribution",
            distribution,
            "--policy",
            "matrix",
            "--epochs",
            "1",
            "--train-size",
            "64",
            "--batch-size",
            "32",
            "--val-size",
            "32",
            "--layers",
            "1",
            "--embed-dim",
            "32",
            "--no-progress",
            "--logger",
            "none",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    policy, info = load_checkpoint(out / "best.pt")
    assert policy.cfg.matrix and info["features"] == features
    assert ("time_windows" in policy.cfg.attributes) == (distribution == "roadtw")
    assert info["trained_on"] == {"num_clients": 8, "distribution": distribution, "dataset": "monaco_1000.npz"}


def test_a_matrix_policy_transplanted_from_a_planar_one_is_it_plus_a_distance_prior(tmp_path):
    from envs.rl.distributions import asymmetric_batch

    torch.manual_seed(1)
    planar = AttentionPolicy(SMALL).eval()
    matrix = transplant(planar, AttentionPolicy(PolicyConfig(**{**SMALL.to_dict(), "matrix": True}))).eval()
    assert matrix.dist_weight.item() == TRANSPLANT_DIST_WEIGHT
    data = asymmetric_batch(4, 12, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        matrix.dist_weight.zero_()  # without the prior, the new inputs are silent: the planar policy exactly
        a, b = planar(data, num_starts=12), matrix(data, num_starts=12)
    assert torch.equal(a.actions, b.actions)
    assert torch.allclose(a.log_likelihood, b.log_likelihood, atol=1e-5)


def test_fine_tuning_a_planar_checkpoint_into_a_matrix_policy(tmp_path, capsys):
    from nco.cli.main import main

    init = save_checkpoint(
        AttentionPolicy(PolicyConfig(embed_dim=32, num_heads=4, num_layers=1, ff_dim=64)), tmp_path / "planar.pt"
    )
    out = tmp_path / "ft"
    code = main(
        [
            "train",
            "--size",
            "8",
            "--distribution",
            "road",
            "--policy",
            "matrix",
            "--init-from",
            str(init),
            "--epochs",
            "1",
            "--train-size",
            "64",
            "--batch-size",
            "32",
            "--lr",
            "0",
            "--matrix-lr",
            "0.01",
            "--val-size",
            "32",
            "--no-progress",
            "--logger",
            "none",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    policy, _ = load_checkpoint(out / "last.pt")
    assert policy.cfg.matrix and policy.cfg.num_heads == 4 and policy.cfg.ff_dim == 64
    # --lr 0 froze the transplanted layers; --matrix-lr moved the matrix-reading ones
    planar, _ = load_checkpoint(init)
    assert torch.equal(policy.layers[0].qkv.weight, planar.layers[0].qkv.weight)
    assert policy.dist_weight.item() != TRANSPLANT_DIST_WEIGHT
    assert policy.edge_bias[-1].weight.abs().sum() > 0


# ---------------------------------------------------------------- stopping cleanly, bad options, what a run writes
TINY = [
    "--size",
    "10",
    "--train-size",
    "64",
    "--batch-size",
    "32",
    "--val-size",
    "32",
    "--layers",
    "1",
    "--embed-dim",
    "32",
    "--logger",
    "none",
    "--no-progress",
]


def _interrupted_run(tmp_path: Path, name: str, how: str) -> tuple[subprocess.Popen, Path, signal.Signals]:
    """A long tiny training in a subprocess: through the CLI (`cli`) or nco.train.run.train with the default
    SIGTERM action in force (`lib`, as under pytest). Handlers are set explicitly, since a shell may have
    started us with SIGINT ignored."""
    out = tmp_path / name
    sig = signal.SIGINT if name == "sigint" else signal.SIGTERM
    reset = "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler)\n"
    if how == "cli":
        code = (
            reset
            + f"from nco.cli.main import main\nsys.exit(main({['train', '--epochs', '1000', *TINY, '--out', str(out)]!r}))"
        )
    else:
        code = reset + (
            "signal.signal(signal.SIGTERM, signal.SIG_DFL)\n"
            "from nco.policy.model import PolicyConfig\nfrom nco.train.run import TrainConfig, train\n"
            "train(TrainConfig(num_clients=10, epochs=1000, train_size=64, batch_size=32, val_size=32, logger='none',"
            f" progress_bar=False, policy=PolicyConfig(embed_dim=32, num_layers=1), out_dir={str(out)!r}))"
        )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    return proc, out, sig


@pytest.mark.slow
def test_sigterm_and_sigint_stop_training_and_leave_checkpoints_that_load(tmp_path):
    from nco.train.config import _not_a_lightning_checkpoint

    runs = [
        _interrupted_run(tmp_path, "sigterm", "cli"),
        _interrupted_run(tmp_path, "sigint", "cli"),
        _interrupted_run(tmp_path, "sigterm_lib", "lib"),
    ]
    try:
        pending = list(runs)
        deadline = time.monotonic() + 240  # imports and a first epoch on a busy machine; behaviour, not speed
        while pending and time.monotonic() < deadline:  # signal each after its first validation
            for run in list(pending):
                proc, out, sig = run
                assert proc.poll() is None, proc.communicate()
                if (out / "last.pt").exists():
                    proc.send_signal(sig)
                    pending.remove(run)
            time.sleep(0.1)
        assert not pending, "no first validation within the wait"
        for proc, out, sig in runs:
            _, err = proc.communicate(timeout=60)  # it stops at the next batch end: promptly
            line = f"training interrupted by {sig.name}"
            if out.name == "sigterm_lib":  # the default action, taken after saving: the process ends by the signal
                assert proc.returncode == -sig, err
                assert f"nco: {line}" in err
            else:  # the CLI: one line and the shell's code for the signal
                assert proc.returncode == 128 + sig, err
                assert err.strip().splitlines()[-1].startswith(f"error: {line}"), err
                assert "Traceback" not in err
            assert f"--resume {out / 'lightning' / 'last.ckpt'}" in err
            policy, info = load_checkpoint(out / "last.pt")
            assert info["interrupted"] == sig.name and info["epochs_done"] >= 1 and policy.cfg.embed_dim == 32
            ckpt = torch.load(out / "lightning" / "last.ckpt", map_location="cpu", weights_only=False)
            assert {"state_dict", "epoch", "optimizer_states"} <= ckpt.keys()
            assert _not_a_lightning_checkpoint(out / "lightning" / "last.ckpt") is None
            assert json.loads((out / "result.json").read_text())["interrupted"] == sig.name
    finally:
        for proc, _, _ in runs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


def test_ctrl_c_under_pythons_default_handler_is_still_a_keyboard_interrupt():
    """pytest (or a REPL) stops on KeyboardInterrupt; the CLI catches it as an NcoError and exits 130."""
    from envs.errors import NcoError
    from nco.train.callbacks import TrainingInterrupted, _SignalStop

    stop = _SignalStop()
    stop.signum, stop.previous = signal.SIGINT, {signal.SIGINT: signal.default_int_handler}
    e = stop.error("interrupted", None, None)
    assert isinstance(e, KeyboardInterrupt) and isinstance(e, NcoError) and e.exit_code == 130
    stop.signum, stop.previous = signal.SIGTERM, {signal.SIGTERM: lambda *_: None}  # the CLI's own handler
    e = stop.error("interrupted", None, None)
    assert type(e) is TrainingInterrupted and e.exit_code == 143


@pytest.mark.parametrize(
    "args, message",
    [
        (["--size", "0"], "--size must be a whole number >= 1, got 0"),
        (["--batch-size", "0"], "--batch-size must be"),
        (["--epochs", "0"], "--epochs must be a whole number >= 1"),
        (["--lr", "0"], "--lr must be > 0"),
        (["--lr", "-1"], "--lr must be a finite number > 0"),
        (["--lr", "inf"], "--lr must be a finite number > 0"),
        (["--train-size", "0"], "--train-size must be"),
        (["--val-size", "0"], "--val-size must be"),
        (["--embed-dim", "30"], "--embed-dim 30 is not divisible by the policy's 8 attention heads (try 32)"),
        (["--devices", "abc"], "--devices must be 'auto' or a positive number of devices, got 'abc'"),
        (["--max-time", "2h"], "--max-time must be DD:HH:MM:SS"),
        (["--resume", "POLICY"], "this is an nco policy checkpoint, not a Lightning one"),
        (["--resume", "TEXT"], "not a Lightning checkpoint"),
    ],
)
def test_bad_train_options_fail_in_one_line_before_lightning_starts(tmp_path, capsys, monkeypatch, args, message):
    import nco.train.run
    from nco.cli.main import main

    def no_trainer(*a, **k):
        raise AssertionError("Lightning started")

    monkeypatch.setattr(nco.train.run, "RL4COTrainer", no_trainer)
    paths = {"POLICY": str(save_checkpoint(AttentionPolicy(SMALL), tmp_path / "p.pt")), "TEXT": str(tmp_path / "t.txt")}
    (tmp_path / "t.txt").write_text("not a checkpoint")
    args = [paths.get(a, a) for a in args]
    assert main(["train", *args, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_last_ckpt_is_written_at_every_validation_and_train_restores_the_threads(tmp_path):
    import logging

    from lightning.pytorch.callbacks import Callback

    from nco.threads import available_cores
    from nco.train.run import TrainConfig, train

    seen: dict = {}

    class Probe(Callback):
        def on_train_epoch_start(self, trainer, module):
            seen["threads"] = torch.get_num_threads()
            if trainer.current_epoch == 1:  # after epoch 0's validation, before the run ends
                seen["ckpt"] = torch.load(tmp_path / "run" / "lightning" / "last.ckpt", weights_only=False)

    before, level = torch.get_num_threads(), logging.getLogger("lightning.pytorch").level
    torch.set_num_threads(1)
    try:
        cfg = TrainConfig(
            num_clients=8,
            epochs=2,
            batch_size=32,
            train_size=64,
            val_size=32,
            progress_bar=False,
            logger="none",
            policy=PolicyConfig(embed_dim=32, num_heads=4, num_layers=1, ff_dim=64),
            out_dir=str(tmp_path / "run"),
        )
        result = train(cfg, callbacks=[Probe()])
        assert torch.get_num_threads() == 1  # the caller's count is back, and Lightning's logging level
        assert logging.getLogger("lightning.pytorch").level == level
    finally:
        torch.set_num_threads(before)
    assert seen["threads"] == available_cores()
    assert seen["ckpt"]["epoch"] == 0 and seen["ckpt"]["global_step"] == 2  # written after the first epoch
    assert torch.load(tmp_path / "run" / "lightning" / "last.ckpt", weights_only=False)["global_step"] == 4
    assert (
        Path(result["best"]).exists()
        and result["val_cost"] == json.loads((tmp_path / "run" / "result.json").read_text())["val_cost"]
    )
    assert load_checkpoint(tmp_path / "run" / "last.pt")[1]["instances_seen"] == 128


def test_result_names_no_missing_best_and_writes_null_for_a_nan_cost(tmp_path):
    from types import SimpleNamespace

    from nco.train.callbacks import ExportPolicy
    from nco.train.run import _summary

    export = ExportPolicy(tmp_path, {}, 64)  # best stays inf: no validation improved on nothing
    nan = SimpleNamespace(callback_metrics={"val/cost": torch.tensor(float("nan"))})
    result = _summary(tmp_path, nan, export)
    assert result["best"] is None and result["checkpoint"] is None and result["val_cost"] is None
    assert "NaN" in result["note"] and "null" in json.dumps(result)
    assert "no validation finished" in _summary(tmp_path, SimpleNamespace(callback_metrics={}), export)["note"]


def test_the_policy_cache_reloads_a_rewritten_checkpoint_and_stays_bounded(tmp_path):
    """A checkpoint rewritten at the same path (a run's best.pt, a teacher of expert iteration) is read again;
    the cache keeps only the most recent few."""
    from nco.solvers import construct

    path = save_checkpoint(AttentionPolicy(SMALL), tmp_path / "p.pt")
    first, _ = construct.cached_policy(path)
    assert construct.cached_policy(path)[0] is first  # unchanged: loaded once
    time.sleep(0.05)  # past the file system's timestamp granularity
    save_checkpoint(AttentionPolicy(SMALL), path)
    again, _ = construct.cached_policy(path)
    assert again is not first
    for k in range(construct.CACHED_POLICIES + 2):
        construct.cached_policy(save_checkpoint(AttentionPolicy(SMALL), tmp_path / f"q{k}.pt"))
    assert len(construct._CACHE) == construct.CACHED_POLICIES
