"""Baselines of Saeedi et al. with an exact likelihood: a Gaussian MLP and a mixture density network
(MDN), over sliders y [B, 11] given features x [B, D]. (The LBN is in modeling.lbn.)"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from modeling.likelihood import SliderParams, slider_log_prob
from modeling.networks import (
    HEAD_WIDTH,
    NUM_SLIDERS,
    ConditionalMLP,
    SliderModel,
    gaussian_log_prob,
    multinomial,
    sample_sliders,
    slider_head,
)


class ExactLikelihoodModel(SliderModel):
    """A model whose training objective is the exact log-likelihood log p(y | x)."""

    exact_likelihood = True

    @torch.no_grad()
    def log_weights(self, x: torch.Tensor, y: torch.Tensor, num_samples: int = 1,
                    generator: torch.Generator | None = None) -> torch.Tensor:
        """Exact log p(y | x) as a single 'weight' [B, 1] (nats); num_samples is ignored."""
        return self.objective(x, y)[:, None]

    def log_density(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The continuous part of p(y | x) as a density in model space [B] (nats), differentiable in y:
        what a MAP fit needs as a prior (the likelihood itself is constant within a Lightroom step)."""
        raise NotImplementedError


class GaussianMLP(ExactLikelihoodModel):
    """MLP predicting per slider a Gaussian (mean, variance) and the probability the slider is left untouched."""

    def __init__(self, feature_dim: int, hidden: int = 128, layers: int = 2, **encoder):
        super().__init__(feature_dim, hidden=hidden, layers=layers, **encoder)
        self.net = ConditionalMLP(self.input_dim, 0, hidden, layers, HEAD_WIDTH)

    def predict(self, x: torch.Tensor) -> SliderParams:
        """Per-slider params [B, 11] of p(y | x)."""
        return slider_head(self.net(self.net.project(self.encode(x))))

    def objective(self, x, y, users=None) -> torch.Tensor:
        """Exact log p(y | x) [B] (nats)."""
        return slider_log_prob(y, self.predict(x))

    def log_density(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Gaussian part of p(y | x) (untouched-slider atoms left out) [B] (nats), differentiable in y."""
        params = self.predict(x)
        return gaussian_log_prob(y, params.mean, params.logvar) + F.logsigmoid(-params.atom_logit).sum(-1)

    @torch.no_grad()
    def sample(self, x: torch.Tensor, n: int, generator: torch.Generator | None = None,
               noise: bool = True) -> torch.Tensor:
        """n draws [B, n, 11] (model space, in [-1, 1])."""
        params = SliderParams(*(t[:, None].expand(-1, n, -1) for t in self.predict(x)))
        return sample_sliders(params, generator, noise)


class MDN(ExactLikelihoodModel):
    """Mixture density network: K components (per-slider Gaussian and atom) with x-dependent weights."""

    def __init__(self, feature_dim: int, components: int = 5, hidden: int = 128, layers: int = 2, **encoder):
        super().__init__(feature_dim, components=components, hidden=hidden, layers=layers, **encoder)
        self.components = components
        self.net = ConditionalMLP(self.input_dim, 0, hidden, layers, components * (1 + HEAD_WIDTH))

    def predict(self, x: torch.Tensor) -> tuple[torch.Tensor, SliderParams]:
        """Log mixture weights [B, K] and the components' per-slider params [B, K, 11]."""
        out = self.net(self.net.project(self.encode(x)))
        K = self.components
        logits, rest = out[:, :K], out[:, K:].reshape(out.shape[0], K, HEAD_WIDTH)
        return F.log_softmax(logits, dim=-1), slider_head(rest)

    def objective(self, x, y, users=None) -> torch.Tensor:
        """Exact log p(y | x) = logsumexp_k(log w_k + log P(y | component k)) [B] (nats)."""
        log_w, params = self.predict(x)
        return torch.logsumexp(log_w + slider_log_prob(y[:, None], params), dim=-1)

    def log_density(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Gaussian part of the mixture (atoms left out) [B] (nats), differentiable in y."""
        log_w, params = self.predict(x)
        parts = gaussian_log_prob(y[:, None], params.mean, params.logvar) + F.logsigmoid(-params.atom_logit).sum(-1)
        return torch.logsumexp(log_w + parts, dim=-1)

    @torch.no_grad()
    def sample(self, x: torch.Tensor, n: int, generator: torch.Generator | None = None,
               noise: bool = True) -> torch.Tensor:
        """n draws [B, n, 11]: component ~ weights, then its sliders (model space, in [-1, 1])."""
        log_w, params = self.predict(x)
        k = multinomial(log_w.exp(), n, generator)   # [B, n]
        return sample_sliders(params.gather(1, k[..., None].expand(-1, -1, NUM_SLIDERS)), generator, noise)
