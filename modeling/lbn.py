"""Linearizing belief network (LBN, Dauphin & Grangier 2015), the third baseline of Saeedi et al.

Layers h_l = (W_l h_{l-1} + b_l) * g_l with binary gates g_l ~ Bernoulli(sigmoid(U_l h_{l-1} + c_l)):
the units are linear, all non-linearity comes from the stochastic gates; p(y | x, g) is per slider
a Gaussian and an atom, read through modeling.likelihood. p(y | x) sums over 2^(layers * hidden) gate settings,
so it is estimated by importance sampling with a learned proposal q(g | x, y): per layer the prior
gate logits plus a correction r_l(a_l, y) from a small network on the layer's pre-gate activations
a_l and the sliders. Training is reweighted wake-sleep (Bornschein & Bengio 2015): with S gate
settings from q and self-normalised weights w_s ∝ p(y, g_s | x) / q(g_s | x, y), the model climbs
sum_s w_s log p(y, g_s | x) and the proposal climbs sum_s w_s log q(g_s | x, y); the value reported
is the S-sample importance-weighted bound log (1/S) sum_s p(y, g_s | x) / q(g_s | x, y).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from modeling.likelihood import SliderParams, slider_log_prob
from modeling.networks import (
    HEAD_WIDTH,
    NUM_SLIDERS,
    SliderModel,
    log_mean_exp,
    rand,
    sample_sliders,
    slider_head,
    value_with_gradient_of,
)

IS_CHUNK = 100  # gate settings evaluated at once by log_weights (memory: B x chunk x hidden)


def bernoulli_log_prob(g: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """log Bernoulli(g; sigmoid(logits)) summed over the last axis: [..., H] -> [...] (nats)."""
    return -F.binary_cross_entropy_with_logits(logits, g, reduction="none").sum(-1)


class LBN(SliderModel):
    """LBN over sliders y [B, 11] given features x [B, D], with a learned gate proposal q(g | x, y)."""

    def __init__(self, feature_dim: int, hidden: int = 128, layers: int = 2, train_samples: int = 10, **encoder):
        super().__init__(feature_dim, hidden=hidden, layers=layers, train_samples=train_samples, **encoder)
        self.train_samples = train_samples
        dims = [self.input_dim] + [hidden] * layers
        self.linear = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.gate = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.proposal = nn.ModuleList(
            nn.Sequential(nn.Linear(hidden + NUM_SLIDERS, hidden), nn.ReLU(), nn.Linear(hidden, hidden))
            for _ in range(layers))
        self.out = nn.Linear(hidden, HEAD_WIDTH)

    def input_weights(self) -> list[nn.Parameter]:
        """First-layer weights that read the encoded features [hidden, input_dim]: the units' and the gates'."""
        return [self.linear[0].weight, self.gate[0].weight]

    def gate_terms(self, x: torch.Tensor, y: torch.Tensor | None, samples: int,
                   generator: torch.Generator | None = None, gates: list[torch.Tensor] | None = None
                   ) -> tuple[SliderParams, torch.Tensor, torch.Tensor]:
        """S gate settings per row: output params [B, S, 11], log p(g | x) and log q(g | x, y) [B, S].

        Gates are drawn from q(g | x, y) when y [B, 11] is given, from the prior when y is None
        (then log q = log p), or taken from `gates` (one 0/1 tensor [B, S, hidden] per layer).
        """
        h = self.encode(x)
        log_p = log_q = torch.zeros(x.shape[0], samples, device=h.device)
        for i, (lin, gate, prop) in enumerate(zip(self.linear, self.gate, self.proposal)):
            a, u = lin(h), gate(h)
            if i == 0:  # the input is shared by all samples: expand after the (big) first layer
                a, u = a[:, None].expand(-1, samples, -1), u[:, None].expand(-1, samples, -1)
            v = u
            if y is not None:  # proposal logits; the proposal's gradient stays in its own network
                extra = y[:, None].expand(-1, samples, -1).to(a.dtype)
                v = u.detach() + prop(torch.cat([a.detach(), extra], dim=-1))
            g = gates[i] if gates is not None else (rand(v.shape, generator, v.device) < torch.sigmoid(v)).to(v.dtype)
            log_p = log_p + bernoulli_log_prob(g, u)
            log_q = log_q + bernoulli_log_prob(g, v)
            h = a * g
        return slider_head(self.out(h)), log_p, log_q

    def objective(self, x, y, users=None) -> torch.Tensor:
        """S-sample importance-weighted bound [B] (nats), S = train_samples; gradient: reweighted wake-sleep."""
        params, log_p, log_q = self.gate_terms(x, y, self.train_samples)
        log_lik = slider_log_prob(y[:, None], params)
        log_w = log_lik + log_p - log_q
        weights = torch.softmax(log_w.detach(), dim=1)
        surrogate = (weights * (log_lik + log_p + log_q)).sum(1)
        return value_with_gradient_of(log_mean_exp(log_w, dim=1), surrogate)

    @torch.no_grad()
    def log_weights(self, x: torch.Tensor, y: torch.Tensor, num_samples: int = 100,
                    generator: torch.Generator | None = None) -> torch.Tensor:
        """log p(y, g_s | x) - log q(g_s | x, y) [B, S] for S = num_samples gates drawn from the proposal."""
        out = []
        for start in range(0, num_samples, IS_CHUNK):
            params, log_p, log_q = self.gate_terms(x, y, min(IS_CHUNK, num_samples - start), generator)
            out.append(slider_log_prob(y[:, None], params) + log_p - log_q)
        return torch.cat(out, dim=1)

    @torch.no_grad()
    def sample(self, x: torch.Tensor, n: int, generator: torch.Generator | None = None,
               noise: bool = True) -> torch.Tensor:
        """n draws [B, n, 11]: one pass with prior gates per draw, then its sliders (model space, in [-1, 1])."""
        return sample_sliders(self.gate_terms(x, None, n, generator)[0], generator, noise)
