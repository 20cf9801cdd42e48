"""How the standardised features reach the networks' first layers, for the two shapes a signal in
4096-d features can take: spread over a few directions (low rank) or held by a few coordinates
(sparse).

- Low rank: a linear projection onto the leading principal components of the train split
  (whitened: unit variance each), so the networks get P inputs instead of D. The basis is a buffer
  of the model (modeling.networks.SliderModel.projection) and travels with the checkpoint. With D
  much larger than the number of photos the noise eigenvalues reach past a signal carried by a few
  raw coordinates, and the projection loses it.
- Sparse: a group lasso on the first-layer input weights, one group per input j (column j of every
  first layer that reads the features, modeling.networks.SliderModel.input_weights), penalty
  lambda * sum_j ||W_:j||_2 in nats per edit. It is applied as a proximal step after each optimiser
  step (modeling.training): a group soft-threshold that sets the columns of inputs the data do not
  support exactly to zero. Strong enough, it zeroes every column, and the model no longer sees the
  photo (a feature-blind fit of its own family).
"""
from __future__ import annotations

import torch


def pca_basis(standardised: torch.Tensor, dim: int, seed: int = 0) -> torch.Tensor:
    """Whitened PCA basis [D, dim] of standardised features [M, D]: x @ basis has unit-variance columns.

    Randomised SVD (torch.svd_lowrank, 4 power iterations, dim + 10 probe vectors), seeded.
    """
    m, d = standardised.shape
    dim = min(dim, d, max(m - 1, 1))
    centred = standardised - standardised.mean(0, keepdim=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        _, s, v = torch.svd_lowrank(centred, q=min(dim + 10, d, m), niter=4)
    scale = (s[:dim] / max(m - 1, 1) ** 0.5).clamp_min(1e-6)
    return v[:, :dim] / scale


def input_column_norms(weights: list[torch.Tensor]) -> torch.Tensor:
    """Norm of each input's group [D]: sqrt(sum over weights [H_i, D] of the squared column j)."""
    return torch.sqrt(sum((w.detach() ** 2).sum(0) for w in weights))


@torch.no_grad()
def group_soft_threshold(weights: list[torch.Tensor], thresholds: torch.Tensor | float) -> torch.Tensor:
    """Proximal map of the group lasso, in place: column j of every weight [H_i, D] scaled by
    max(0, 1 - t_j / ||group j||), t the thresholds [D] (or one number). Returns the kept-input mask [D]."""
    norms = input_column_norms(weights)
    scale = (1.0 - thresholds / norms.clamp_min(1e-30)).clamp_min(0.0)
    for w in weights:
        w.mul_(scale.to(w.dtype)[None])
    return scale > 0
