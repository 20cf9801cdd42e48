"""Optional linear projection of standardised features onto their leading principal components.

With 4096-d FC7 features and a few thousand photos, the first layer of every network has far more
weights than there are photos; projecting onto the top P principal directions of the train split
(whitened: unit variance each) first gives the networks P inputs instead. The basis is a buffer of
the model (modeling.networks.SliderModel.projection), so it travels with the checkpoint.
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
