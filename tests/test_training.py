"""Training really learns, resumes, and writes checkpoints that load with weights_only; the shipped one is good."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from envs import cvrp_dynamics as dyn
from envs.batch_sampling import uniform_batch
from envs.checker import check
from envs.city_dataset import DEFAULT_ROAD_DATASET
from envs.generators import uniform_instances
from nco.checkpoint import (
    DEFAULT_CHECKPOINT,
    MATRIX_CHECKPOINT,
    TRANSPLANT_DIST_WEIGHT,
    load_checkpoint,
    save_checkpoint,
    transplant,
)
from nco.policy import AttentionPolicy, PolicyConfig

SMALL = PolicyConfig(embed_dim=64, num_heads=4, num_layers=2, ff_dim=128)


def greedy_cost(policy, data) -> float:
    with torch.no_grad():
        out = policy.eval()(data, num_starts=data["demand"].shape[1] - 1)
    return dyn.tour_cost(data["dist"], out.actions).min(-1).values.mean().item()


def test_short_training_lowers_the_cost_and_resumes(tmp_path):
    from nco.training import TrainConfig, train

    torch.manual_seed(0)
    data = uniform_batch(128, 10, generator=torch.Generator().manual_seed(5))
    start = save_checkpoint(AttentionPolicy(SMALL), tmp_path / "init.pt")
    before = greedy_cost(load_checkpoint(start)[0], data)
    cfg = TrainConfig(num_clients=10, epochs=3, batch_size=64, train_size=1280, val_size=64, lr=1e-3,
                      init_from=str(start), out_dir=str(tmp_path / "run"), progress_bar=False, seed=3)  # fmt: skip
    result = train(cfg)
    trained, info = load_checkpoint(result["best"])
    after = greedy_cost(trained, data)
    assert after < 0.93 * before, (before, after)
    assert info["trained_on"] == {"num_clients": 10, "distribution": "uniform"} and info["epochs_done"] >= 1
    assert (tmp_path / "run" / "logs").exists()  # CSV metrics were logged

    # resume the exact Lightning state for one more epoch
    cfg.epochs, cfg.resume = 4, str(tmp_path / "run" / "lightning" / "last.ckpt")
    train(cfg)
    assert json.loads((tmp_path / "run" / "last.json").read_text())["epochs_done"] == 4


def test_matrix_policy_learns_on_asymmetric_matrices(tmp_path):
    from envs.batch_sampling import asymmetric_batch
    from nco.training import TrainConfig, train

    torch.manual_seed(0)
    data = asymmetric_batch(128, 10, generator=torch.Generator().manual_seed(5))
    cfg = PolicyConfig(embed_dim=64, num_heads=4, num_layers=2, ff_dim=128, matrix=True)
    start = save_checkpoint(AttentionPolicy(cfg), tmp_path / "init.pt")
    before = greedy_cost(load_checkpoint(start)[0], data)
    result = train(TrainConfig(num_clients=10, distribution="asymmetric", epochs=2, batch_size=64, train_size=1280,
                               val_size=64, lr=1e-3, init_from=str(start), out_dir=str(tmp_path / "run"),
                               progress_bar=False, logger="none", seed=3))  # fmt: skip
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


def test_shipped_checkpoint_loads_and_beats_an_untrained_policy():
    policy, info = load_checkpoint(DEFAULT_CHECKPOINT)
    assert info["variant"] == "cvrp" and info["trained_on"]["num_clients"] in (50, 100)
    data = uniform_batch(16, 100, generator=torch.Generator().manual_seed(11))
    trained = greedy_cost(policy, data)
    untrained = greedy_cost(AttentionPolicy(PolicyConfig(**info["config"])), data)
    assert trained < 0.7 * untrained, (trained, untrained)


@pytest.mark.parametrize("budget", [1.0])
def test_shipped_checkpoint_is_close_to_ortools(budget):
    """Multi-start + augmentation within 10% of OR-Tools' guided local search at 1 s per instance."""
    from baselines import ortools_solver
    from nco import neural_solver

    gaps = []
    for inst in uniform_instances(100, 6, seed=99):
        ours = check(inst, neural_solver.solve(inst))
        ref = check(inst, ortools_solver.solve(inst, time_limit=budget))
        assert ours.feasible and ref.feasible
        gaps.append(ours.cost / ref.cost - 1)
    assert np.mean(gaps) < 0.10, gaps


def test_shipped_matrix_checkpoint_beats_the_planar_one_on_held_out_monaco_roads():
    """The road policy, on 100-client instances from Monaco locations its training never saw."""
    from envs.city_dataset import load_city_dataset, sample_instance
    from envs.tensors import stack_instances

    matrix, info = load_checkpoint(MATRIX_CHECKPOINT)
    assert matrix.cfg.matrix and info["features"] == ["asymmetric"]
    assert info["trained_on"] == {"num_clients": 100, "distribution": "road", "dataset": "monaco_1000.npz"}
    planar, _ = load_checkpoint(DEFAULT_CHECKPOINT)
    dataset = load_city_dataset(DEFAULT_ROAD_DATASET)
    data = stack_instances([sample_instance(dataset, 100, "test", seed=70 + i) for i in range(8)])
    assert greedy_cost(matrix, data) < 0.95 * greedy_cost(planar, data)


def test_solve_picks_the_matrix_checkpoint_for_road_matrices_and_the_planar_one_otherwise(tmp_path, capsys):
    from nco.cli import main

    root = Path(__file__).resolve().parent.parent
    for instance, expected in ((root / "data" / "monaco" / "city.json", MATRIX_CHECKPOINT),
                               (root / "data" / "city.json", DEFAULT_CHECKPOINT)):  # fmt: skip
        out = tmp_path / f"{instance.parent.name}.json"
        assert main(["solve", "--instance", str(instance), "--time-limit", "0", "--output", str(out), "--quiet"]) == 0
        written = json.loads(out.read_text())
        assert Path(written["meta"]["checkpoint"]) == expected and written["feasible"] is True
        assert f"| feasible | policy {expected.stem}" in capsys.readouterr().out


def test_train_command_on_xlike_data(tmp_path, capsys):
    from nco.cli import main

    out = tmp_path / "run"
    code = main(["train", "--size", "8", "--distribution", "xlike", "--epochs", "1", "--train-size", "64",
                 "--batch-size", "32", "--val-size", "32", "--layers", "1", "--embed-dim", "32",
                 "--no-progress", "--logger", "none", "--out", str(out)])  # fmt: skip
    assert code == 0
    assert "trained: validation cost" in capsys.readouterr().out
    policy, info = load_checkpoint(out / "best.pt")
    assert info["trained_on"] == {"num_clients": 8, "distribution": "xlike"} and policy.cfg.num_layers == 1


def test_train_command_refuses_a_missing_init_checkpoint(tmp_path, capsys):
    from nco.cli import main

    assert main(["train", "--init-from", str(tmp_path / "gone.pt")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err


def test_train_command_matrix_policy_on_road_data(tmp_path, capsys):
    from nco.cli import main

    out = tmp_path / "road"
    code = main(["train", "--size", "8", "--distribution", "road", "--policy", "matrix", "--epochs", "1",
                 "--train-size", "64", "--batch-size", "32", "--val-size", "32", "--layers", "1", "--embed-dim", "32",
                 "--no-progress", "--logger", "none", "--out", str(out)])  # fmt: skip
    assert code == 0
    policy, info = load_checkpoint(out / "best.pt")
    assert policy.cfg.matrix and info["features"] == ["asymmetric"]
    assert info["trained_on"] == {"num_clients": 8, "distribution": "road", "dataset": "monaco_1000.npz"}


def test_a_matrix_policy_transplanted_from_a_planar_one_is_it_plus_a_distance_prior(tmp_path):
    from envs.batch_sampling import asymmetric_batch

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
    from nco.cli import main

    init = save_checkpoint(AttentionPolicy(PolicyConfig(embed_dim=32, num_heads=4, num_layers=1, ff_dim=64)),
                           tmp_path / "planar.pt")  # fmt: skip
    out = tmp_path / "ft"
    code = main(["train", "--size", "8", "--distribution", "road", "--policy", "matrix", "--init-from", str(init),
                 "--epochs", "1", "--train-size", "64", "--batch-size", "32", "--lr", "0", "--matrix-lr", "0.01",
                 "--val-size", "32", "--no-progress", "--logger", "none", "--out", str(out)])  # fmt: skip
    assert code == 0
    policy, _ = load_checkpoint(out / "last.pt")
    assert policy.cfg.matrix and policy.cfg.num_heads == 4 and policy.cfg.ff_dim == 64
    # --lr 0 froze the transplanted layers; --matrix-lr moved the matrix-reading ones
    planar, _ = load_checkpoint(init)
    assert torch.equal(policy.layers[0].qkv.weight, planar.layers[0].qkv.weight)
    assert policy.dist_weight.item() != TRANSPLANT_DIST_WEIGHT
    assert policy.edge_bias[-1].weight.abs().sum() > 0
