"""Diverse proposal selection: one per cluster when weights are even, none closer than min_distance,
most from the user's cluster when the weights say so."""
from __future__ import annotations

import numpy as np

from modeling.diversity import pairwise_distance, select_diverse, typicality_order

MIN_DISTANCE = 0.2


def clustered_candidates(per_cluster: int = 20, spread: float = 0.05, seed: int = 0):
    """Candidates [3 * per_cluster, 11] around 3 well-separated centres; cluster labels; centres."""
    rng = np.random.default_rng(seed)
    centres = np.array([np.full(11, -0.5), np.zeros(11), np.full(11, 0.5)])
    labels = np.repeat(np.arange(3), per_cluster)
    points = centres[labels] + spread * rng.normal(size=(len(labels), 11))
    return points, labels, centres


def test_even_weights_give_one_proposal_per_cluster_first():
    points, labels, _ = clustered_candidates()
    sel = select_diverse(points, labels, np.ones(3) / 3, n=3, min_distance=MIN_DISTANCE)
    assert sorted(sel.clusters.tolist()) == [0, 1, 2]
    np.testing.assert_array_equal(sel.sliders, points[sel.indices])


def test_no_two_proposals_closer_than_min_distance():
    points, labels, _ = clustered_candidates(spread=0.08)
    sel = select_diverse(points, labels, np.ones(3), n=8, min_distance=MIN_DISTANCE)
    assert len(sel.indices) == 8
    d = pairwise_distance(sel.sliders, sel.sliders)
    assert d[~np.eye(len(d), dtype=bool)].min() >= MIN_DISTANCE


def test_near_duplicates_are_skipped():
    base = np.zeros((1, 11))
    duplicates = base + 0.01 * np.arange(5)[:, None]             # all within 0.2 of each other
    far = np.full((1, 11), 0.3)
    points = np.concatenate([duplicates, far])
    sel = select_diverse(points, np.zeros(len(points), dtype=int), np.ones(1), n=3, min_distance=MIN_DISTANCE)
    assert len(sel.indices) == 2                                   # only 2 admissible, not 3 copies
    assert 5 in sel.indices.tolist()


def test_concentrated_weights_give_most_proposals_from_that_cluster():
    points, labels, centres = clustered_candidates(spread=0.1)
    sel = select_diverse(points, labels, np.array([0.02, 0.03, 0.95]), n=5, min_distance=MIN_DISTANCE)
    assert (sel.clusters == 2).sum() >= 4
    # and proportional allocation: even weights of two clusters share the slots
    sel2 = select_diverse(points, labels, np.array([0.5, 0.0, 0.5]), n=4, min_distance=MIN_DISTANCE)
    assert sorted(sel2.clusters.tolist()) == [0, 0, 2, 2]


def test_a_cluster_that_runs_out_hands_its_slots_to_the_others():
    points, labels, _ = clustered_candidates(per_cluster=1)  # one candidate per cluster
    sel = select_diverse(points, labels, np.array([0.98, 0.01, 0.01]), n=3, min_distance=MIN_DISTANCE)
    assert sorted(sel.clusters.tolist()) == [0, 1, 2]


def test_typicality_puts_the_medoid_first():
    pts = np.zeros((4, 11))
    pts[1] += 1.0
    pts[2] -= 1.0
    pts[3] += 0.05
    assert typicality_order(pts)[0] in (0, 3)
    assert set(typicality_order(pts)[-2:].tolist()) == {1, 2}
