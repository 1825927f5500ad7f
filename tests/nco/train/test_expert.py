"""Expert iteration learns from the search, resumes where it stopped, and records what each checkpoint went
through."""

import json

import pytest
import torch

from envs.errors import NcoError
from nco.policy.checkpoints import load_checkpoint, save_checkpoint
from nco.policy.model import AttentionPolicy, PolicyConfig
from nco.train import ledger
from nco.train.expert import ExpertConfig, expert_iteration, validation_batch, validation_cost

SMALL = PolicyConfig(embed_dim=32, num_heads=4, num_layers=2, ff_dim=64)


def config(out, **kw) -> ExpertConfig:
    base = dict(
        num_clients=10,
        minutes=60,  # the rounds decide: a test must not depend on how fast this machine is now
        out_dir=str(out),
        policy=SMALL,
        labels_per_round=8,
        label_seconds=0.1,
        steps_per_round=20,
        batch_size=16,
        lr=1e-3,
        val_size=16,
        max_rounds=2,
    )
    return ExpertConfig(**{**base, **kw})


@pytest.mark.slow
def test_imitating_the_search_lowers_the_cost_and_resumes(tmp_path):
    torch.manual_seed(0)
    out = tmp_path / "run"
    first = expert_iteration(config(out))
    history = json.loads((out / "last.json").read_text())["validation"]
    assert [r["round"] for r in history] == [0, 1, 2] and first["labels"] == 16
    assert history[-1]["val_cost"] < 0.8 * history[0]["val_cost"]  # a random policy is far worse than the labels
    trained, _ = load_checkpoint(first["best"])
    cfg = config(out)
    assert validation_cost(trained, validation_batch(cfg)) == pytest.approx(first["best_val_cost"], rel=1e-5)
    info = json.loads((out / "last.json").read_text())
    run = info["training"]["runs"][-1]
    assert run["method"] == "expert-iteration" and run["rounds"] == 2 and info["training"]["cpu_minutes"] > 0
    made = json.loads(__import__("numpy").load(out / "labels.npz")["meta"].item())["made_by"]
    assert [m["seconds_each"] for m in made] == [0.1, 0.1]  # the teacher's budget is the one asked for
    # resumed: the optimizer, the labels and the clocks carry on; the new round adds its labels
    again = expert_iteration(config(out, max_rounds=3))
    assert again["rounds"] == 3 and again["labels"] == 24 and again["steps"] == 60
    info = json.loads((out / "last.json").read_text())
    assert len(info["training"]["runs"]) == 1  # one run, resumed: its minutes grew
    assert info["training"]["cpu_minutes"] >= run["minutes"]
    assert [r["round"] for r in info["validation"]] == [0, 1, 2, 3]


@pytest.mark.slow
def test_training_minutes_accumulate_across_runs(tmp_path):
    start = save_checkpoint(
        AttentionPolicy(SMALL),
        tmp_path / "start.pt",
        {
            "variant": "cvrp",
            "features": [],
            "training": {"cpu_minutes": 100.0, "gpu_minutes": 2.0, "runs": [{"method": "reinforce"}]},
        },
    )
    result = expert_iteration(config(tmp_path / "run", init_from=str(start), max_rounds=1, steps_per_round=5))
    training = load_checkpoint(result["last"])[1]["training"]
    assert training["gpu_minutes"] == 2.0 and training["cpu_minutes"] > 100.0
    assert [r["method"] for r in training["runs"]] == ["reinforce", "expert-iteration"]


def test_a_checkpoint_without_a_record_counts_its_own_run():
    before = ledger.prior({"train_seconds": 4506.3})
    assert before["cpu_minutes"] == pytest.approx(75.1) and before["runs"][0]["estimated"]
    after = ledger.record(before, {"method": "expert-iteration", "minutes": 10.0}, "cuda")
    assert (after["cpu_minutes"], after["gpu_minutes"]) == (pytest.approx(75.1), 10.0)
    assert ledger.prior({}) == {"cpu_minutes": 0.0, "gpu_minutes": 0.0, "runs": []}


@pytest.mark.parametrize(
    "change, message",
    [
        ({"minutes": 0}, "minutes must be > 0"),
        ({"labels_per_round": 0}, "labels_per_round must be a whole number"),
        ({"label_share": 1.0}, "label_share must be between 0 and 1"),
        ({"source": "mars"}, "unknown label source"),
    ],
)
def test_bad_settings_are_refused_before_anything_runs(tmp_path, change, message):
    with pytest.raises(NcoError, match=message):
        expert_iteration(config(tmp_path / "run", **change))
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_train_command_runs_expert_iteration(tmp_path, capsys):
    from nco.cli.main import main

    out = tmp_path / "run"
    argv = ["train", "--method", "expert", "--size", "8", "--minutes", "0.05", "--layers", "1", "--embed-dim", "32"]
    argv += ["--labels-per-round", "4", "--label-seconds", "0.1", "--val-size", "8", "--no-progress", "--out", str(out)]
    assert main(argv) == 0
    assert "trained: validation cost" in capsys.readouterr().out
    policy, info = load_checkpoint(out / "best.pt")
    assert policy.cfg.num_layers == 1 and info["training"]["runs"][-1]["method"] == "expert-iteration"
    assert not (out / "teacher").exists()  # the rounds' seeding checkpoints are gone


@pytest.mark.parametrize(
    "args, message",
    [
        (["--distribution", "road"], "--method expert draws uniform or xlike instances"),
        (["--variants", "CVRP,VRPTW"], "one --variants name"),
        (["--resume", "x.ckpt"], "--resume: checkpoint not found"),
        (["--minutes", "0"], "minutes must be > 0"),
    ],
)
def test_bad_expert_options_fail_in_one_line(tmp_path, capsys, args, message):
    from nco.cli.main import main

    assert main(["train", "--method", "expert", *args, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_a_variant_source_trains_a_policy_that_reads_its_attributes(tmp_path):
    result = expert_iteration(config(tmp_path / "run", source="vrptw", max_rounds=1, steps_per_round=5))
    policy, info = load_checkpoint(result["best"])
    assert "time_windows" in policy.cfg.attributes and "time_windows" in info["features"]
    assert info["trained_on"]["distribution"] == "vrptw"


@pytest.mark.slow
def test_an_interrupted_run_keeps_its_labels_and_resumes(tmp_path):
    from envs.errors import Interrupted

    def stop(row):
        if row["round"] == 1:
            raise KeyboardInterrupt

    out = tmp_path / "run"
    with pytest.raises(Interrupted, match="interrupted by SIGINT after 0 rounds: saved .*8 labels") as caught:
        expert_iteration(config(out, steps_per_round=5), on_validate=stop)
    assert caught.value.exit_code == 130
    assert json.loads((out / "last.json").read_text())["interrupted"] is True
    again = expert_iteration(config(out, max_rounds=1, steps_per_round=5))
    assert again["rounds"] == 1 and again["labels"] == 16 and again["steps"] == 10  # labels and steps kept


def test_every_shipped_checkpoint_records_its_training():
    from nco.policy.checkpoints import PACKAGE_DATA

    for meta in sorted(PACKAGE_DATA.glob("*.json")):
        training = json.loads(meta.read_text())["training"]
        assert training["runs"] and training["cpu_minutes"] == pytest.approx(
            sum(r["minutes"] for r in training["runs"]), abs=0.2
        ), meta.name
        assert ledger.prior(json.loads(meta.read_text()))["cpu_minutes"] == training["cpu_minutes"]
