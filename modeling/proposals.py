"""Proposals of a trained model for one photo: P slider sets drawn for re-rendering and alignment.

Clustered models (CGM-VAE, P-VAE without history) draw each proposal's style cluster from the
prior p(s | x) (pi for the paper's fixed prior and for a P-VAE user with no history), or from
`cluster_weights` when given, then one noisy draw of p(y | x, cluster); the other models draw from
`model.sample` (MLP: its Gaussian, MDN: its mixture, LBN: fresh gates per draw).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from modeling.diversity import cluster_weights as prior_weights
from modeling.networks import multinomial
from rendering.sliders import PROCESS_2003, SliderSpec


@dataclass
class Proposals:
    """P proposals of one model for one photo: model space [P, 11], Lightroom units [P, 11], cluster [P] or None."""

    model_space: np.ndarray
    lightroom: np.ndarray
    clusters: np.ndarray | None


@torch.no_grad()
def draw_proposals(model: torch.nn.Module, features: np.ndarray, n: int, generator: torch.Generator,
                   spec: SliderSpec = PROCESS_2003, cluster_weights: np.ndarray | None = None) -> Proposals:
    """n proposals for one photo's raw features [D] (the model standardises them itself).

    Draws are clipped to model space [-1, 1] and converted to Lightroom units of `spec`; raises
    ValueError for non-finite draws.
    """
    x = torch.as_tensor(np.asarray(features, dtype=np.float32)).reshape(1, -1).to(model.device)
    clusters = None
    if hasattr(model, "sample_per_cluster"):
        weights = prior_weights(model, x=x[0]) if cluster_weights is None else cluster_weights
        weights_t = torch.as_tensor(np.asarray(weights), dtype=torch.float32)
        clusters_t = multinomial(weights_t[None], n, generator)[0]                          # [n]
        per_cluster = model.sample_per_cluster(x, n, generator=generator, noise=True)[0]   # [L, n, 11]
        draws = per_cluster[clusters_t.to(per_cluster.device), torch.arange(n, device=per_cluster.device)]
        clusters = clusters_t.cpu().numpy().astype(np.int32)
    else:
        draws = model.sample(x, n, generator=generator)[0]
    model_space = draws.cpu().numpy().astype(np.float64)
    if not np.all(np.isfinite(model_space)):
        raise ValueError(f"{int(np.sum(~np.isfinite(model_space)))} non-finite slider values in the proposals")
    model_space = np.clip(model_space, -1.0, 1.0)
    return Proposals(model_space, spec.clip(spec.from_model(model_space)), clusters)
