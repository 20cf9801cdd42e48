"""P-VAE (Saeedi et al., AISTATS 2018): the CGM-VAE with one style cluster per user.

Each user u has s_u ~ Cat(pi) shared by all of the user's edits; z_un | s_u ~ N(mu_s, S_s) and the
CGM-VAE decoder. Recognition: per-edit potentials log r(y, x) [L] that add over the user's edits,
q(s_u | edits) = softmax(log pi + sum_n log r(y_un, x_un)), so any number of edits (0 ... N) works,
and q(z | x, y, s) as in the CGM-VAE. The VLB of a user sums the edits' terms inside each cluster.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from modeling.cgmvae import CGMVAE, warmup_objective
from modeling.networks import multinomial


class PVAE(CGMVAE):
    """Personalised VAE: `cluster_net` outputs per-edit log-potentials log r(y, x) [B, L]."""

    needs_users = True

    def objective(self, x: torch.Tensor, y: torch.Tensor, users: torch.Tensor | None = None,
                  cluster_targets: torch.Tensor | None = None) -> torch.Tensor:
        """Per-edit share of each user's VLB [B] (nats): a user's VLB is spread evenly over their edits.

        VLB_u = sum_s q(s_u) (sum_n [E log p(y_un|z) - KL_z] + log pi_s - log q(s_u)).
        `users` [B] int groups the rows; None treats the whole batch as one user. With
        `cluster_targets` [B] (one k-means label per user, repeated on its rows) the warm-up bound
        of modeling.cgmvae.warmup_objective is used per user.
        """
        xs = self.standardise(x)
        if users is None:
            users = torch.zeros(xs.shape[0], dtype=torch.long, device=xs.device)
        uniq, inv = torch.unique(users, return_inverse=True)
        U, L = uniq.shape[0], self.num_clusters
        log_r = self.cluster_logits(xs, y)                                   # [B, L]
        terms = self.per_cluster_terms(xs, y)                                # [B, L]
        sum_r = torch.zeros(U, L, device=xs.device, dtype=log_r.dtype).index_add(0, inv, log_r)
        sum_t = torch.zeros(U, L, device=xs.device, dtype=terms.dtype).index_add(0, inv, terms)
        log_pi = self.log_prior_weights()[None]
        log_q = F.log_softmax(log_pi + sum_r, dim=-1)                        # [U, L]
        counts = torch.zeros(U, device=xs.device).index_add(0, inv, torch.ones_like(inv, dtype=torch.float32))
        if cluster_targets is not None:
            user_targets = torch.zeros(U, dtype=torch.long, device=xs.device).scatter(0, inv, cluster_targets)
            return (warmup_objective(log_q, sum_t, log_pi[0], user_targets) / counts)[inv]
        vlb_user = (log_q.exp() * (sum_t + log_pi - log_q)).sum(-1)          # [U]
        return (vlb_user / counts)[inv]

    def cluster_init_points(self, y: np.ndarray, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Points k-means clusters for the warm-up start: each user's mean sliders; row -> user map."""
        uniq, inv = np.unique(users, return_inverse=True)
        sums = np.zeros((len(uniq), y.shape[1]))
        np.add.at(sums, inv, y)
        return sums / np.bincount(inv)[:, None], inv

    @torch.no_grad()
    def cluster_posterior(self, x_hist: torch.Tensor, y_hist: torch.Tensor) -> torch.Tensor:
        """q(s_u | a user's N edits) [L] from features [N, D] and sliders [N, 11]; N = 0 gives pi."""
        log_pi = self.log_prior_weights()
        if x_hist.shape[0] == 0:
            return log_pi.exp()
        log_r = self.cluster_logits(self.standardise(x_hist), y_hist.to(log_pi.device))
        return F.softmax(log_pi + log_r.sum(0), dim=-1)

    @torch.no_grad()
    def log_likelihood(self, x: torch.Tensor, y: torch.Tensor, num_samples: int = 100,
                       generator: torch.Generator | None = None,
                       cluster_weights: torch.Tensor | None = None) -> torch.Tensor:
        """log p(y | x, user's cluster weights w) [B] (nats, each edit on its own), importance-sampled.

        p(y|x) = sum_s w_s p(y|x,s); proposal q(s) ∝ w_s r_s(y, x), then q(z | x, y, s).
        w defaults to pi (a user with no edits).
        """
        xs = self.standardise(x)
        log_w = (self.log_prior_weights() if cluster_weights is None
                 else torch.log(cluster_weights.to(xs.device).clamp_min(1e-30)))
        log_q_s = F.log_softmax(log_w[None] + self.cluster_logits(xs, y), dim=-1)
        return self._importance_ll(xs, y, log_w[None].expand(xs.shape[0], -1), log_q_s, num_samples, generator)

    @torch.no_grad()
    def sample(self, x: torch.Tensor, n: int, cluster_weights: torch.Tensor | None = None,
               generator: torch.Generator | None = None, noise: bool = True) -> torch.Tensor:
        """n draws [B, n, 11] for a user with cluster weights [L] (default pi), clamped to [-1, 1]."""
        if isinstance(cluster_weights, torch.Generator):  # tolerate sample(x, n, generator) positionally
            cluster_weights, generator = None, cluster_weights
        xs = self.standardise(x)
        w = (self.log_prior_weights().exp() if cluster_weights is None
             else cluster_weights.to(xs.device, torch.float32))
        s = multinomial(w[None].expand(xs.shape[0], -1), n, generator)
        return self._sample_given_clusters(xs, s, generator, noise)
