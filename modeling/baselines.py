"""Baselines of Saeedi et al.: a Gaussian MLP, a mixture density network (MDN) and a linearizing
belief network (LBN, Dauphin & Grangier 2015), all over sliders y [B, 11] given features x [B, D]."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from modeling.networks import (NUM_SLIDERS, ConditionalMLP, SliderModel, gaussian_log_prob,
                               log_mean_exp, multinomial, rand, randn, slider_head)


class ExactLikelihoodModel(SliderModel):
    """A model whose training objective is the exact log-likelihood log p(y | x)."""

    @torch.no_grad()
    def log_likelihood(self, x: torch.Tensor, y: torch.Tensor, num_samples: int = 100,
                       generator: torch.Generator | None = None) -> torch.Tensor:
        """Exact log p(y | x) [B] (nats); num_samples is ignored."""
        return self.objective(x, y)


class GaussianMLP(ExactLikelihoodModel):
    """MLP predicting the mean and diagonal variance of a Gaussian over the 11 sliders."""

    def __init__(self, feature_dim: int, hidden: int = 128, layers: int = 2):
        super().__init__(feature_dim, hidden=hidden, layers=layers)
        self.net = ConditionalMLP(feature_dim, 0, hidden, layers, 2 * NUM_SLIDERS)

    def predict(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance [B, 11] of p(y | x)."""
        return slider_head(self.net(self.net.project(self.standardise(x))))

    def objective(self, x, y, users=None) -> torch.Tensor:
        """Exact log p(y | x) [B] (nats)."""
        mean, logvar = self.predict(x)
        return gaussian_log_prob(y, mean, logvar)

    @torch.no_grad()
    def sample(self, x: torch.Tensor, n: int, generator: torch.Generator | None = None,
               noise: bool = True) -> torch.Tensor:
        """n draws [B, n, 11] from the Gaussian, clamped to [-1, 1]."""
        mean, logvar = self.predict(x)
        mean = mean[:, None].expand(-1, n, -1)
        if not noise:
            return mean.clamp(-1.0, 1.0)
        eps = randn(mean.shape, generator, mean.device)
        return (mean + torch.exp(0.5 * logvar)[:, None] * eps).clamp(-1.0, 1.0)


class MDN(ExactLikelihoodModel):
    """Mixture density network: K diagonal-Gaussian components with x-dependent weights."""

    def __init__(self, feature_dim: int, components: int = 5, hidden: int = 128, layers: int = 2):
        super().__init__(feature_dim, components=components, hidden=hidden, layers=layers)
        self.components = components
        self.net = ConditionalMLP(feature_dim, 0, hidden, layers, components * (1 + 2 * NUM_SLIDERS))

    def predict(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Log mixture weights [B, K], means and log-variances [B, K, 11]."""
        out = self.net(self.net.project(self.standardise(x)))
        K = self.components
        logits, rest = out[:, :K], out[:, K:].reshape(out.shape[0], K, 2 * NUM_SLIDERS)
        mean, logvar = slider_head(rest)
        return F.log_softmax(logits, dim=-1), mean, logvar

    def objective(self, x, y, users=None) -> torch.Tensor:
        """Exact log p(y | x) = logsumexp_k(log w_k + log N(y; m_k, v_k)) [B] (nats)."""
        log_w, mean, logvar = self.predict(x)
        return torch.logsumexp(log_w + gaussian_log_prob(y[:, None], mean, logvar), dim=-1)

    @torch.no_grad()
    def sample(self, x: torch.Tensor, n: int, generator: torch.Generator | None = None,
               noise: bool = True) -> torch.Tensor:
        """n draws [B, n, 11]: component ~ weights, then its Gaussian; clamped to [-1, 1]."""
        log_w, mean, logvar = self.predict(x)
        k = multinomial(log_w.exp(), n, generator)   # [B, n]
        idx = k[..., None].expand(-1, -1, NUM_SLIDERS)
        m, lv = torch.gather(mean, 1, idx), torch.gather(logvar, 1, idx)
        if noise:
            m = m + torch.exp(0.5 * lv) * randn(m.shape, generator, m.device)
        return m.clamp(-1.0, 1.0)


class LBN(SliderModel):
    """Linearizing belief network: h' = (W h + b) * g with gates g ~ Bernoulli(sigmoid(U h + c)).

    The units are linear; all non-linearity comes from the stochastic binary gates. Output
    p(y | x, g) is a diagonal Gaussian. Trained with the multi-sample objective
    log (1/S) sum_s p(y | x, g_s), gradients through the gates by the straight-through estimator.
    """

    def __init__(self, feature_dim: int, hidden: int = 128, layers: int = 2, train_samples: int = 10):
        super().__init__(feature_dim, hidden=hidden, layers=layers, train_samples=train_samples)
        self.train_samples = train_samples
        dims = [feature_dim] + [hidden] * layers
        self.linear = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.gate = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.out = nn.Linear(hidden, 2 * NUM_SLIDERS)

    def forward_samples(self, x: torch.Tensor, samples: int,
                        generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance [B, S, 11] of p(y | x, g_s) for S independent gate draws."""
        h = self.standardise(x)
        for i, (lin, gate) in enumerate(zip(self.linear, self.gate)):
            a, p = lin(h), torch.sigmoid(gate(h))
            if i == 0:  # the input is shared by all samples: expand after the (big) first layer
                a, p = a[:, None].expand(-1, samples, -1), p[:, None].expand(-1, samples, -1)
            u = rand(p.shape, generator, p.device)
            g = (u < p).to(p.dtype)
            g = g + p - p.detach()  # straight-through gradient for the Bernoulli gates
            h = a * g
        return slider_head(self.out(h))

    def _log_mean_lik(self, x, y, samples: int, generator=None) -> torch.Tensor:
        mean, logvar = self.forward_samples(x, samples, generator)
        return log_mean_exp(gaussian_log_prob(y[:, None], mean, logvar), dim=1)

    def objective(self, x, y, users=None) -> torch.Tensor:
        """Multi-sample objective log (1/S) sum_s p(y | x, g_s) [B] (nats), S = train_samples."""
        return self._log_mean_lik(x, y, self.train_samples)

    @torch.no_grad()
    def log_likelihood(self, x: torch.Tensor, y: torch.Tensor, num_samples: int = 100,
                       generator: torch.Generator | None = None) -> torch.Tensor:
        """log p(y | x) [B] (nats) estimated by log-mean-exp over `num_samples` gate draws."""
        return self._log_mean_lik(x, y, num_samples, generator)

    @torch.no_grad()
    def sample(self, x: torch.Tensor, n: int, generator: torch.Generator | None = None,
               noise: bool = True) -> torch.Tensor:
        """n draws [B, n, 11]: one forward pass with freshly sampled gates per draw; clamped to [-1, 1]."""
        mean, logvar = self.forward_samples(x, n, generator)
        if noise:
            mean = mean + torch.exp(0.5 * logvar) * randn(mean.shape, generator, mean.device)
        return mean.clamp(-1.0, 1.0)
