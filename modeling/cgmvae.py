"""CGM-VAE (Saeedi et al., AISTATS 2018): a conditional VAE whose latent prior is a Gaussian mixture.

Generative model: s ~ Cat(pi), z | s ~ N(mu_s, diag sigma_s^2), y | x, z ~ N(m(x, z), diag v(x, z)).
Recognition: q(s | x, y) a softmax MLP, q(z | x, y, s) a Gaussian MLP on (one-hot s, x, y).
Training maximises the VLB with s summed out exactly over the L clusters and z reparameterised
(the z-KL in closed form). L = 1 is the plain conditional VAE. p(y | x, z) is read through
modeling.likelihood (Lightroom step cells, censored at the range ends).

cluster_prior="photo" (not the paper's model, an ablation): s ~ Cat(pi(x)) with
pi(x) = softmax(logits + g(x)), g an MLP on the encoded features that starts at 0, so that style
weights can follow the photo the way an MDN's do; "fixed" (the default) is the paper's pi.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from modeling.likelihood import SliderParams, slider_log_prob
from modeling.networks import (
    HEAD_WIDTH,
    NUM_SLIDERS,
    ConditionalMLP,
    SliderModel,
    gaussian_kl,
    gaussian_log_prob,
    log_mean_exp,
    multinomial,
    randn,
    sample_sliders,
    slider_head,
)

IS_CHUNK = 50
WARMUP_SMOOTHING = 0.1  # k-means targets t become q(s) = (1 - 0.1) onehot(t) + 0.1 / L during warm-up
# initial log sigma_s^2 of every cluster's z Gaussian (learned from there); tight clusters
# (sigma 0.22 against means spread 2) start each style as one mode instead of overlapping blobs
PRIOR_LOGVAR_INIT = -3.0
CLUSTER_PRIORS = ("fixed", "photo")  # p(s): the paper's pi, or pi(x) depending on the photo


def warmup_objective(log_q: torch.Tensor, terms: torch.Tensor, log_pi: torch.Tensor,
                     targets: torch.Tensor) -> torch.Tensor:
    """VLB [B] with q(s) fixed to smoothed one-hot targets [B], minus CE(recognition q, targets).

    log_pi: log p(s), [L] or per row [B, L].
    """
    L = log_q.shape[-1]
    q = F.one_hot(targets, L).to(terms.dtype) * (1 - WARMUP_SMOOTHING) + WARMUP_SMOOTHING / L
    vlb = (q * (terms + log_pi.expand_as(terms) - torch.log(q))).sum(-1)
    return vlb + torch.gather(log_q, 1, targets[:, None])[:, 0]


class CGMVAE(SliderModel):
    """Categorical-Gaussian-mixture VAE over slider vectors y [B, 11] given features x [B, D]."""

    def __init__(self, feature_dim: int, num_clusters: int = 3, latent_dim: int = 2,
                 hidden: int = 128, layers: int = 2, prior_spread: float = 2.0,
                 prior_logvar: float = PRIOR_LOGVAR_INIT, cluster_prior: str = "fixed", **encoder):
        if cluster_prior not in CLUSTER_PRIORS:
            raise ValueError(f"cluster_prior must be one of {', '.join(CLUSTER_PRIORS)}, not {cluster_prior!r}")
        if cluster_prior != "fixed" and self.needs_users:
            raise ValueError("a P-VAE's cluster belongs to a user, not a photo: its prior must be 'fixed'")
        super().__init__(feature_dim, num_clusters=num_clusters, latent_dim=latent_dim,
                         hidden=hidden, layers=layers, prior_spread=prior_spread,
                         prior_logvar=prior_logvar, **encoder)
        if cluster_prior != "fixed":  # stored only when set: checkpoints of the paper's model keep their kwargs
            self.init_kwargs["cluster_prior"] = cluster_prior
        L, Z = num_clusters, latent_dim
        self.num_clusters, self.latent_dim = L, Z
        self.prior_logits = nn.Parameter(torch.zeros(L))
        self.prior_mu = nn.Parameter(prior_spread * torch.randn(L, Z) if L > 1 else torch.zeros(L, Z))
        self.prior_logvar = nn.Parameter(torch.full((L, Z), float(prior_logvar)))
        D = self.input_dim
        self.decoder = ConditionalMLP(D, Z, hidden, layers, HEAD_WIDTH)
        self.cluster_net = ConditionalMLP(D, NUM_SLIDERS, hidden, layers, L)   # q(s|x,y)
        self.latent_net = ConditionalMLP(D, NUM_SLIDERS + L, hidden, layers, 2 * Z)  # q(z|x,y,s)
        # q(s | .) starts uniform so every cluster's decoder region gets gradient from every edit
        # (random initial potentials, summed over a user's edits, lock users onto one cluster).
        nn.init.zeros_(self.cluster_net.out.weight)
        nn.init.zeros_(self.cluster_net.out.bias)
        self.prior_net = ConditionalMLP(D, 0, hidden, layers, L) if cluster_prior == "photo" else None
        if self.prior_net is not None:  # pi(x) starts as the fixed pi
            nn.init.zeros_(self.prior_net.out.weight)
            nn.init.zeros_(self.prior_net.out.bias)

    # --- pieces -----------------------------------------------------------------------------
    def log_prior_weights(self) -> torch.Tensor:
        """log pi [L]: the photo-independent part of p(s) (all of it with cluster_prior="fixed")."""
        return F.log_softmax(self.prior_logits, dim=-1)

    def log_cluster_prior(self, xs: torch.Tensor) -> torch.Tensor:
        """log p(s | x) [B, L] for encoded features xs [B, D']: log pi, or log pi(x) with a photo prior."""
        if self.prior_net is None:
            return self.log_prior_weights()[None].expand(xs.shape[0], -1)
        return F.log_softmax(self.prior_logits[None] + self.prior_net(self.prior_net.project(xs)), dim=-1)

    @torch.no_grad()
    def cluster_prior_weights(self, x: torch.Tensor) -> torch.Tensor:
        """p(s | x) [B, L] for raw features x [B, D] (pi on every row with the paper's fixed prior)."""
        return self.log_cluster_prior(self.encode(x.to(self.device))).exp()

    def cluster_logits(self, xs: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Unnormalised recognition logits over clusters [B, L] from encoded x and y."""
        return self.cluster_net(self.cluster_net.project(xs), y)

    def latent_posterior(self, xs: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z | x, y, s) for every s: mean and log-variance [B, L, Z]."""
        B, L = xs.shape[0], self.num_clusters
        onehot = torch.eye(L, device=xs.device).expand(B, L, L)
        extra = torch.cat([y[:, None, :].expand(B, L, y.shape[-1]), onehot], dim=-1)
        out = self.latent_net(self.latent_net.project(xs), extra)
        mu, logvar = out.chunk(2, dim=-1)
        return mu, logvar.clamp(-12.0, 6.0)

    def decode(self, x_proj: torch.Tensor, z: torch.Tensor) -> SliderParams:
        """p(y | x, z): per-slider params [B, ..., 11] for z [B, ..., Z]."""
        return slider_head(self.decoder(x_proj, z))

    def per_cluster_terms(self, xs: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """E_q(z|x,y,s)[log p(y|x,z)] - KL(q(z|x,y,s) || p(z|s)) for every s: [B, L] (one z sample)."""
        mu_q, logvar_q = self.latent_posterior(xs, y)
        z = mu_q + torch.exp(0.5 * logvar_q) * torch.randn_like(mu_q)
        rec = slider_log_prob(y[:, None, :], self.decode(self.decoder.project(xs), z))
        kl = gaussian_kl(mu_q, logvar_q, self.prior_mu[None], self.prior_logvar[None])
        return rec - kl

    # --- training objective -----------------------------------------------------------------
    def objective(self, x: torch.Tensor, y: torch.Tensor, users: torch.Tensor | None = None,
                  cluster_targets: torch.Tensor | None = None) -> torch.Tensor:
        """VLB [B] (nats) with s marginalised exactly: sum_s q(s)(E[log p(y|z)] - KL_z + log pi_s - log q(s)).

        With `cluster_targets` [B] (warm-up from a k-means start, see modeling.cluster_init) the VLB
        uses q(s) = the smoothed targets instead (still a lower bound) and adds the cross-entropy
        that teaches the recognition network those targets.
        """
        xs = self.encode(x)
        log_q = F.log_softmax(self.cluster_logits(xs, y), dim=-1)
        terms = self.per_cluster_terms(xs, y)
        log_pi = self.log_cluster_prior(xs)
        if cluster_targets is not None:
            return warmup_objective(log_q, terms, log_pi, cluster_targets)
        return (log_q.exp() * (terms + log_pi - log_q)).sum(-1)

    def cluster_init_points(self, y: np.ndarray, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Points k-means clusters for the warm-up start, and the row -> point map: every edit."""
        return y, np.arange(len(y))

    # --- predictive distribution ------------------------------------------------------------
    def mixture_log_weights(self, xs: torch.Tensor, y: torch.Tensor, log_prior_s: torch.Tensor,
                            log_q_s: torch.Tensor, num_samples: int,
                            generator: torch.Generator | None) -> torch.Tensor:
        """Importance log-weights [B, S] of log p(y|x) with z ~ q(z|x,y) = sum_s q(s|x,y) q(z|x,y,s).

        Weight p(y|x,z) p(z) / q(z|x,y), with both p(z) = sum_s pi_s N(z; mu_s, S_s) (log_prior_s
        [B, L]) and q(z|x,y) (log_q_s [B, L]) mixtures evaluated exactly over s.
        """
        B, Z = xs.shape[0], self.latent_dim
        mu_q, logvar_q = self.latent_posterior(xs, y)            # [B, L, Z]
        x_proj = self.decoder.project(xs)
        log_w_all = []
        for done in range(0, num_samples, IS_CHUNK):  # chunks bound memory: B x chunk decoder passes
            k = min(IS_CHUNK, num_samples - done)
            s = multinomial(log_q_s.exp(), k, generator)  # [B, k]
            idx = s[..., None].expand(B, k, Z)
            eps = randn((B, k, Z), generator, xs.device)
            z = torch.gather(mu_q, 1, idx) + torch.exp(0.5 * torch.gather(logvar_q, 1, idx)) * eps
            log_lik = slider_log_prob(y[:, None, :], self.decode(x_proj, z))            # [B, k]
            zz = z[:, :, None, :]                                                          # [B, k, 1, Z]
            log_p_z = torch.logsumexp(log_prior_s[:, None, :] + gaussian_log_prob(
                zz, self.prior_mu[None, None], self.prior_logvar[None, None]), dim=-1)
            log_q_z = torch.logsumexp(log_q_s[:, None, :] + gaussian_log_prob(
                zz, mu_q[:, None], logvar_q[:, None]), dim=-1)
            log_w_all.append(log_lik + log_p_z - log_q_z)
        return torch.cat(log_w_all, dim=1)

    @torch.no_grad()
    def log_weights(self, x: torch.Tensor, y: torch.Tensor, num_samples: int = 100,
                    generator: torch.Generator | None = None) -> torch.Tensor:
        """Importance log-weights [B, S] of log p(y | x), recognition network as proposal."""
        xs = self.encode(x)
        log_q_s = F.log_softmax(self.cluster_logits(xs, y), dim=-1)
        return self.mixture_log_weights(xs, y, self.log_cluster_prior(xs), log_q_s, num_samples, generator)

    @torch.no_grad()
    def cluster_log_likelihoods(self, x: torch.Tensor, y: torch.Tensor, num_samples: int = 100,
                                generator: torch.Generator | None = None) -> torch.Tensor:
        """log p(y | x, s) [B, L] (nats) for every cluster s, importance-sampled with q(z | x, y, s)."""
        xs = self.encode(x)
        B, L, Z = xs.shape[0], self.num_clusters, self.latent_dim
        mu_q, logvar_q = self.latent_posterior(xs, y)                                   # [B, L, Z]
        x_proj = self.decoder.project(xs)
        out = []
        for done in range(0, num_samples, IS_CHUNK):
            k = min(IS_CHUNK, num_samples - done)
            z = mu_q[:, :, None] + torch.exp(0.5 * logvar_q)[:, :, None] * randn((B, L, k, Z), generator, xs.device)
            log_lik = slider_log_prob(y[:, None, :], self.decode(x_proj, z.reshape(B, L * k, Z))).reshape(B, L, k)
            log_p_z = gaussian_log_prob(z, self.prior_mu[None, :, None], self.prior_logvar[None, :, None])
            log_q_z = gaussian_log_prob(z, mu_q[:, :, None], logvar_q[:, :, None])
            out.append(log_lik + log_p_z - log_q_z)
        return log_mean_exp(torch.cat(out, dim=2), dim=2)

    def _sample_given_clusters(self, xs: torch.Tensor, s: torch.Tensor, generator, noise: bool) -> torch.Tensor:
        """Sliders [B, n, 11] for cluster indices s [B, n]: z ~ p(z|s), y ~ p(y|x,z) (model space, in [-1, 1])."""
        B, n = s.shape
        eps = randn((B, n, self.latent_dim), generator, xs.device)
        z = self.prior_mu[s] + torch.exp(0.5 * self.prior_logvar[s]) * eps
        return sample_sliders(self.decode(self.decoder.project(xs), z), generator, noise)

    @torch.no_grad()
    def sample(self, x: torch.Tensor, n: int, generator: torch.Generator | None = None,
               noise: bool = True) -> torch.Tensor:
        """n draws [B, n, 11] from p(y | x) (model space, clamped to [-1, 1]); noise=False gives decoder means."""
        xs = self.encode(x)
        s = multinomial(self.log_cluster_prior(xs).exp(), n, generator)
        return self._sample_given_clusters(xs, s, generator, noise)

    @torch.no_grad()
    def sample_per_cluster(self, x: torch.Tensor, n: int, generator: torch.Generator | None = None,
                           noise: bool = False) -> torch.Tensor:
        """n draws per cluster [B, L, n, 11] (decoder means by default): one style per cluster."""
        xs = self.encode(x)
        B, L = xs.shape[0], self.num_clusters
        s = torch.arange(L, device=xs.device).repeat_interleave(n)[None].expand(B, L * n)
        return self._sample_given_clusters(xs, s, generator, noise).reshape(B, L, n, NUM_SLIDERS)
