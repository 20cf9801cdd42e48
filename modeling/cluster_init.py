"""k-means start for the VAEs' style clusters (as k-means starts a Gaussian mixture).

Without it the recognition network sends every edit (or every user: potentials summed over 50 edits
are sharp) to whichever cluster decodes best at initialisation, and the other clusters never train.
The trainer runs a few warm-up epochs with q(s) fixed near the k-means labels (a valid lower bound)
while the recognition network learns them, then optimises the plain VLB.
"""
from __future__ import annotations

import numpy as np


def kmeans(points: np.ndarray, k: int, seed: int = 0, iterations: int = 50) -> np.ndarray:
    """Cluster labels [N] in 0..k-1 of points [N, d] by Lloyd's algorithm with k-means++ seeding."""
    points = np.asarray(points, dtype=np.float64)
    n = len(points)
    if k <= 1 or n == 0:
        return np.zeros(n, dtype=np.int64)
    rng = np.random.default_rng(seed)
    centres = [points[rng.integers(n)]]
    for _ in range(1, min(k, n)):
        d2 = np.min(((points[:, None] - np.array(centres)[None]) ** 2).sum(-1), axis=1)
        p = d2 / d2.sum() if d2.sum() > 0 else np.full(n, 1.0 / n)
        centres.append(points[rng.choice(n, p=p)])
    centres = np.array(centres)
    labels = np.zeros(n, dtype=np.int64)
    for _ in range(iterations):
        d2 = ((points[:, None] - centres[None]) ** 2).sum(-1)
        new = d2.argmin(1)
        if np.array_equal(new, labels) and _ > 0:
            break
        labels = new
        for j in range(len(centres)):
            if np.any(labels == j):
                centres[j] = points[labels == j].mean(0)
    return labels


def initial_cluster_targets(model, y: np.ndarray, users: np.ndarray, seed: int = 0) -> np.ndarray | None:
    """Per-row k-means cluster labels [N] for a model with `cluster_init_points`, else None."""
    if not hasattr(model, "cluster_init_points") or getattr(model, "num_clusters", 1) <= 1:
        return None
    points, row_to_point = model.cluster_init_points(np.asarray(y, dtype=np.float64), np.asarray(users))
    return kmeans(points, model.num_clusters, seed=seed)[row_to_point]
