"""Proposal-to-expert alignment (minimum total cost, one-to-one) and the choice of diverse experts."""
import itertools

import numpy as np
import pytest

from modeling.alignment import (
    align_proposals,
    alignment_cost,
    expert_distances,
    most_diverse_experts,
)


def _total(cost: np.ndarray, assignment: np.ndarray) -> float:
    return float(cost[assignment, np.arange(len(assignment))].sum())


def _brute_force_best(cost: np.ndarray) -> float:
    num_proposals, num_experts = cost.shape
    return min(_total(cost, np.array(p)) for p in itertools.permutations(range(num_proposals), num_experts))


def test_cost_is_mean_squared_slider_difference():
    proposals = np.zeros((2, 11))
    proposals[1, 0] = 1.0
    experts = np.full((1, 11), 0.5)
    cost = alignment_cost(proposals, experts)
    assert cost.shape == (2, 1)
    assert cost[0, 0] == pytest.approx(0.25)
    assert cost[1, 0] == pytest.approx((10 * 0.25 + 0.25) / 11)


def test_optimal_where_greedy_nearest_neighbour_is_wrong():
    experts = np.stack([np.zeros(11), np.ones(11)])        # expert 0 at 0, expert 1 at 1
    proposals = np.stack([np.full(11, 0.4), np.full(11, -1.0)])
    # greedy: expert 0 takes its nearest (proposal 0, cost 0.16), expert 1 is left with proposal 1
    # (cost 4.0): total 4.16; optimal: expert 0 -> proposal 1 (1.0), expert 1 -> proposal 0 (0.36)
    cost = alignment_cost(proposals, experts)
    greedy = [int(np.argmin(cost[:, 0]))]
    greedy.append(int([p for p in range(2) if p not in greedy][0]))
    assert _total(cost, np.array(greedy)) == pytest.approx(4.16)
    assignment = align_proposals(proposals, experts)
    assert assignment.tolist() == [1, 0]
    assert _total(cost, assignment) == pytest.approx(1.36)


def test_more_proposals_than_experts_is_one_to_one_and_optimal():
    rng = np.random.default_rng(3)
    proposals = rng.uniform(-1, 1, (12, 11))
    experts = rng.uniform(-1, 1, (3, 11))
    assignment = align_proposals(proposals, experts)
    assert assignment.shape == (3,) and len(set(assignment.tolist())) == 3
    assert assignment.max() < 12
    cost = alignment_cost(proposals, experts)
    assert _total(cost, assignment) == pytest.approx(_brute_force_best(cost))


def test_exact_copy_of_an_expert_is_matched_to_it():
    rng = np.random.default_rng(4)
    experts = rng.uniform(-1, 1, (3, 11))
    proposals = rng.uniform(-1, 1, (20, 11))
    proposals[[7, 2, 15]] = experts
    assert align_proposals(proposals, experts).tolist() == [7, 2, 15]


def test_fewer_proposals_than_experts_or_nan_is_refused():
    with pytest.raises(ValueError, match="one-to-one"):
        align_proposals(np.zeros((2, 11)), np.zeros((3, 11)))
    bad = np.zeros((4, 11))
    bad[1, 3] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        align_proposals(bad, np.zeros((2, 11)))


def _edits(offsets: dict[str, tuple[float, float]], photos: int = 30) -> dict[str, np.ndarray]:
    """Experts' edits = a shared photo-dependent base + a per-expert offset on sliders 0 and 1."""
    base = np.random.default_rng(0).uniform(-0.3, 0.3, (photos, 11))
    out = {}
    for name, (dx, dy) in offsets.items():
        e = base.copy()
        e[:, 0] += dx
        e[:, 1] += dy
        out[name] = e
    return out


def test_most_diverse_experts_maximise_the_sum_of_pairwise_distances():
    edits = _edits({"A": (0.0, 0.0), "B": (0.0, 0.1), "C": (0.6, 0.0), "D": (-0.6, 0.0), "E": (0.0, 0.8)})
    # C,D,E: 1.2 + 1.0 + 1.0 = 3.2; the best triple with A or B instead of E sums to at most 2.42
    assert most_diverse_experts(edits, k=3) == ["C", "D", "E"]
    assert most_diverse_experts(edits, k=2) == ["C", "D"]
    names, dist = expert_distances(edits)
    assert names == ["A", "B", "C", "D", "E"]
    assert dist[2, 3] == pytest.approx(1.2) and dist[0, 0] == 0.0
    assert most_diverse_experts(edits, k=9) == names


def test_expert_distance_is_per_photo_not_between_means():
    # A and B have the same mean edit but disagree on every photo; C copies A plus a small offset
    rng = np.random.default_rng(1)
    a = rng.uniform(-1, 1, (40, 11))
    edits = {"A": a, "B": -a, "C": a + 0.05, "D": a - 0.05}
    chosen = most_diverse_experts(edits, k=2)
    assert "B" in chosen
