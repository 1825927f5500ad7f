"""Labels: the teacher's plans are feasible, stored compactly, reloaded exactly, and followed by the decoder."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from envs.errors import NcoError
from envs.model.check import check
from envs.model.solution import Solution
from nco.policy.checkpoints import DEFAULT_CHECKPOINT, VARIANTS_CHECKPOINT, load_checkpoint
from nco.policy.model import AttentionPolicy, Follow, PolicyConfig
from nco.train.expert import plan_batch
from nco.train.labels import LabelSet, Teacher, label, plan_arrays, route_heads

TINY = PolicyConfig(embed_dim=16, num_heads=2, num_layers=1, ff_dim=32)


def routes_of(tour) -> list[tuple[int, ...]]:
    return [tuple(r.visits) for r in Solution.from_giant_tour(list(tour), "x").routes]


@st.composite
def plans(draw):
    """A random partition of clients 1..n into routes, as a giant tour."""
    n = draw(st.integers(1, 30))
    order = draw(st.permutations(list(range(1, n + 1))))
    cuts = sorted(draw(st.sets(st.integers(1, n - 1), max_size=n - 1))) if n > 1 else []
    tour, prev = [], 0
    for c in [*cuts, n]:
        tour += [*order[prev:c], 0]
        prev = c
    return n, np.array(tour, np.int16)


@given(plans(), st.booleans())
def test_successors_and_heads_rebuild_every_route(plan, reversible):
    n, tour = plan
    succ, pred = plan_arrays(tour, n + 1)
    heads = route_heads(tour, reversible)
    routes = routes_of(tour)
    rebuilt = []
    for h in heads:
        forwards = pred[h] == 0
        route, node = [int(h)], int(h)
        while (node := int(succ[node] if forwards else pred[node])) != 0:
            route.append(node)
        rebuilt.append(tuple(route) if forwards else tuple(reversed(route)))
    assert sorted(set(rebuilt)) == sorted(routes)
    singles = sum(len(r) == 1 for r in routes)
    assert len(heads) == (2 * len(routes) - singles if reversible else len(routes))


@pytest.fixture(scope="module")
def labels():
    return label("uniform", 12, [3, 4, 5], Teacher(str(DEFAULT_CHECKPOINT), seconds=0.2))


@pytest.mark.slow
def test_teacher_plans_are_feasible_and_reload_exactly(labels, tmp_path):
    for inst, tour, cost in zip(labels.instances(range(len(labels))), labels.tours, labels.costs):
        report = check(inst, Solution.from_giant_tour(list(tour), "teacher"))
        assert report.feasible and report.cost == pytest.approx(cost)
        assert sorted(int(v) for v in tour if v) == list(range(1, 13))
    path = labels.save(tmp_path / "labels.npz")
    back = LabelSet.load(path)
    assert (back.source, back.num_clients, len(back)) == ("uniform", 12, 3)
    assert [t.tolist() for t in back.tours] == [t.tolist() for t in labels.tours]
    assert back.seeds.tolist() == [3, 4, 5] and back.made_by[0]["seconds_each"] == 0.2
    assert path.stat().st_size < 2000  # compact: seeds and tours, not instances
    joined = back.extend(back)
    assert len(joined) == 6 and len(joined.made_by) == 2


@pytest.mark.slow
def test_the_decoder_follows_the_plan_from_every_route_end(labels):
    policy, _ = load_checkpoint(DEFAULT_CHECKPOINT)
    batch, follow = plan_batch(labels, [0, 1, 2], 6, np.random.default_rng(0), "cpu")
    with torch.no_grad():
        out = policy(batch, follow=follow)
    for b in range(3):
        want = {frozenset([r, r[::-1]]) for r in routes_of(labels.tours[b])}
        for s in range(6):
            got = {frozenset([r, r[::-1]]) for r in routes_of(out.actions[b, s].tolist())}
            assert got == want
    assert torch.isfinite(out.log_likelihood).all() and (out.log_likelihood < 0).all()


@pytest.mark.slow
def test_directed_plans_are_followed_in_their_direction():
    """With time windows a route reversed may be infeasible: the decoder enters routes at their first client."""
    vrptw = label("vrptw", 10, [7, 8], Teacher(str(VARIANTS_CHECKPOINT), seconds=0.2))
    policy = AttentionPolicy(PolicyConfig(**{**TINY.to_dict(), "attributes": ("time_windows",)}))
    batch, follow = plan_batch(vrptw, [0, 1], 4, np.random.default_rng(1), "cpu")
    assert not follow.reversible.any()
    with torch.no_grad():
        out = policy(batch, follow=follow)
    for b in range(2):
        for s in range(4):
            assert sorted(routes_of(out.actions[b, s].tolist())) == sorted(routes_of(vrptw.tours[b]))


def test_an_infeasible_plan_is_refused():
    """One route of all 6 clients of demand 1..9 over capacity 20 cannot be driven: the decoder says so."""
    policy = AttentionPolicy(TINY)
    data = {"locs": torch.rand(1, 7, 2), "demand": torch.tensor([[0, 0.45, 0.45, 0.45, 0.45, 0.45, 0.45]])}
    data["dist"] = torch.cdist(data["locs"], data["locs"])
    succ, pred = plan_arrays(np.array([1, 2, 3, 4, 5, 6, 0]), 7)
    follow = Follow(torch.tensor(succ)[None], torch.tensor(pred)[None], torch.tensor([[1]]), torch.tensor([True]))
    with pytest.raises(ValueError, match="forbid"):
        policy(data, follow=follow)


def test_bad_label_files_are_named(tmp_path, labels):
    with pytest.raises(NcoError, match="label set not found"):
        LabelSet.load(tmp_path / "none.npz")
    junk = tmp_path / "junk.npz"
    junk.write_text("not a zip")
    with pytest.raises(NcoError, match="is not an nco label set"):
        LabelSet.load(junk)
    drifted = LabelSet(**{**labels.__dict__, "checksums": labels.checksums + 1})
    with pytest.raises(NcoError, match="no longer makes the instance"):
        drifted.instances([0])
    with pytest.raises(NcoError, match="do not join"):
        labels.extend(LabelSet.empty("xlike", 12))
    with pytest.raises(NcoError, match="unknown label source"):
        label("nowhere", 5, [1], Teacher(None))


def test_merging_keeps_each_instance_once_with_its_cheaper_plan():
    from nco.train.labels import merged

    def labelset(seeds, costs, tag):
        tours = [np.array([tag, 0], np.int16) for _ in seeds]
        return LabelSet(
            "uniform",
            5,
            np.array(seeds, np.uint64),
            np.zeros(len(seeds), np.int64),
            tours,
            np.array(costs),
            [{"tag": tag}],
        )

    out = merged(labelset([1, 2, 3], [5.0, 5.0, 5.0], 1), labelset([2, 3, 4], [4.0, 6.0, 1.0], 2))
    assert out.seeds.tolist() == [1, 2, 3, 4] and out.costs.tolist() == [5.0, 4.0, 5.0, 1.0]
    assert [int(t[0]) for t in out.tours] == [1, 2, 1, 2] and [m["tag"] for m in out.made_by] == [1, 2]


def test_the_shipped_labels_regenerate_their_instances_and_are_feasible():
    from conftest import DATA

    shipped = LabelSet.load(DATA / "labels" / "uniform100.npz")
    assert (shipped.source, shipped.num_clients) == ("uniform", 100) and len(shipped) >= 1000
    assert len(set(shipped.seeds.tolist())) == len(shipped)  # each instance once
    for i, inst in zip(range(0, len(shipped), 401), shipped.instances(range(0, len(shipped), 401))):
        report = check(inst, Solution.from_giant_tour(list(shipped.tours[i]), "teacher"))
        assert report.feasible and report.cost == pytest.approx(shipped.costs[i])
