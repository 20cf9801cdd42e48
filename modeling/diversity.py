"""Choose n diverse proposals from candidate slider vectors drawn per style cluster.

Distance: Euclidean norm of the difference of two slider vectors in model space ([-1, 1]^11), e.g.
0.2 is one slider moved by 10 % of its full range, or all 11 by about 3 %.

Selection (greedy, deterministic):
- slots go to clusters in proportion to their weights (the P-VAE posterior of a user's history, or
  the prior pi) by the D'Hondt rule: the next slot goes to the cluster with the largest
  w_s / (1 + proposals already taken from s), so clusters of comparable weight each get a
  proposal (diversity) while a user whose history sits in one cluster gets most proposals from it
  (personalisation);
- within a cluster candidates are taken most typical first (closest to the cluster's candidate
  medoid), skipping any candidate closer than `min_distance` to a proposal already chosen (no
  near-duplicates); a cluster with no admissible candidate left drops out.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

DEFAULT_MIN_DISTANCE = 0.2


@dataclass(frozen=True)
class Selection:
    """Chosen proposals: indices into the candidates, their clusters and sliders [n, 11]."""

    indices: np.ndarray   # [n] int, into the candidate rows
    clusters: np.ndarray  # [n] int
    sliders: np.ndarray   # [n, 11] model space


def pairwise_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean model-space distances [Na, Nb] between slider rows a [Na, 11] and b [Nb, 11]."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return np.sqrt(np.maximum(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1), 0.0))


def typicality_order(points: np.ndarray) -> np.ndarray:
    """Row order of points [M, 11], most typical first (smallest mean distance to the others)."""
    if len(points) <= 1:
        return np.arange(len(points))
    mean_distance = pairwise_distance(points, points).mean(axis=1)
    return np.argsort(mean_distance, kind="stable")


def select_diverse(candidates: np.ndarray, clusters: np.ndarray, weights: np.ndarray, n: int,
                   min_distance: float = DEFAULT_MIN_DISTANCE) -> Selection:
    """Up to n proposals from candidates [M, 11] (cluster [M] each) with pairwise distance >= min_distance.

    `weights` [L] are the clusters' weights (need not sum to 1; zero-weight clusters are used only
    when the others run out of admissible candidates). Fewer than n come back only when no
    candidate of any cluster is far enough from those chosen.
    """
    candidates = np.asarray(candidates, dtype=np.float64)
    clusters = np.asarray(clusters, dtype=np.int64)
    w = np.asarray(weights, dtype=np.float64).copy()
    if candidates.ndim != 2 or len(candidates) != len(clusters):
        raise ValueError(f"candidates {candidates.shape} and clusters {clusters.shape} do not match")
    if np.any(w < 0) or not np.all(np.isfinite(w)):
        raise ValueError("cluster weights must be finite and >= 0")
    num_clusters = len(w)
    queues: dict[int, list[int]] = {}
    for s in range(num_clusters):
        rows = np.flatnonzero(clusters == s)
        queues[s] = rows[typicality_order(candidates[rows])].tolist()
    w = np.where(w > 0, w, 1e-12)  # zero-weight clusters last, but still usable
    chosen: list[int] = []
    taken = np.zeros(num_clusters)
    active = np.array([bool(queues[s]) for s in range(num_clusters)])
    while len(chosen) < n and active.any():
        score = np.where(active, w / (1.0 + taken), -np.inf)
        s = int(np.argmax(score))
        picked = None
        while queues[s]:
            row = queues[s].pop(0)
            if not chosen or pairwise_distance(candidates[row:row + 1], candidates[chosen]).min() >= min_distance:
                picked = row
                break
        if picked is None:
            active[s] = False
            continue
        chosen.append(picked)
        taken[s] += 1
        active[s] = bool(queues[s])
    idx = np.asarray(chosen, dtype=np.int64)
    return Selection(indices=idx, clusters=clusters[idx], sliders=candidates[idx])


def cluster_weights(model, x_hist: torch.Tensor | None = None, y_hist: torch.Tensor | None = None,
                    x: torch.Tensor | None = None) -> np.ndarray:
    """Style-cluster weights [L]: a P-VAE's posterior given a history (x [N, D], y [N, 11] model
    space), else a clustered model's prior p(s | x) for the photo's features x [D] (pi when x is
    None or the prior is fixed); [1.0] for a model without clusters."""
    if hasattr(model, "cluster_posterior") and x_hist is not None and y_hist is not None:
        return model.cluster_posterior(x_hist.to(model.device), y_hist.to(model.device)).cpu().numpy()
    if hasattr(model, "cluster_prior_weights") and x is not None:
        return model.cluster_prior_weights(x.reshape(1, -1))[0].cpu().numpy()
    if hasattr(model, "log_prior_weights"):
        with torch.no_grad():
            return model.log_prior_weights().exp().cpu().numpy()
    return np.ones(1)


@torch.no_grad()
def draw_candidates(model, x: torch.Tensor, per_cluster: int,
                    generator: torch.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Candidate sliders [M, 11] (model space) for one photo x [D] and their cluster [M].

    Clustered models (CGM-VAE, P-VAE): `per_cluster` draws of p(y | x, s) per cluster s;
    any other model: `per_cluster` draws of `model.sample`, all in cluster 0.
    """
    x = x.reshape(1, -1).to(model.device)
    if hasattr(model, "sample_per_cluster"):
        draws = model.sample_per_cluster(x, per_cluster, generator=generator, noise=True)[0]  # [L, m, 11]
        L = draws.shape[0]
        labels = np.repeat(np.arange(L), per_cluster)
        return draws.reshape(L * per_cluster, -1).cpu().numpy().astype(np.float64), labels
    draws = model.sample(x, per_cluster, generator=generator)[0]
    return draws.cpu().numpy().astype(np.float64), np.zeros(per_cluster, dtype=np.int64)


def diverse_proposals(model, x: torch.Tensor, n: int, weights: np.ndarray | None = None,
                      per_cluster: int = 32, min_distance: float = DEFAULT_MIN_DISTANCE,
                      seed: int = 0) -> Selection:
    """n diverse proposals (model space) for one photo's features x [D] (see the module docstring).

    `weights` [L]: cluster weights (cluster_weights(model, history) for personalisation; default
    the model's prior). Same seed -> same proposals.
    """
    generator = torch.Generator(device="cpu").manual_seed(int(seed))
    candidates, labels = draw_candidates(model, x, per_cluster, generator)
    w = cluster_weights(model, x=x) if weights is None else np.asarray(weights, dtype=np.float64)
    if len(w) != int(labels.max()) + 1:
        raise ValueError(f"{len(w)} cluster weights for a model with {int(labels.max()) + 1} clusters")
    return select_diverse(candidates, labels, w, n, min_distance)
