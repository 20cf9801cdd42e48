"""P-VAE (Saeedi et al., AISTATS 2018): the CGM-VAE with one style cluster per user.

Each user u has s_u ~ Cat(pi) shared by all of the user's edits; z_un | s_u ~ N(mu_s, S_s) and the
CGM-VAE decoder. Recognition: per-edit potentials log r(y, x) [L] that add over the user's edits,
q(s_u | edits) = softmax(log pi + sum_n log r(y_un, x_un)), so any number of edits (0 ... N) works,
and q(z | x, y, s) as in the CGM-VAE. The VLB of a user sums the edits' terms inside each cluster.

The prior pi is fitted in closed form, not by gradient: for fixed q the VLB is largest at
pi = the mean over users of q(s_u), so each training batch sets pi to a bias-corrected moving
average of its users' q(s_u) (a stochastic EM step over about PRIOR_WINDOW_USERS users; during the
k-means warm-up, of the smoothed targets, an average that restarts when the warm-up ends). Gradient steps on pi are slow next to the recognition
network's (about 2 users per batch), and a pi that lags behind the users' posteriors makes LL_0 too
low and the personalisation gain too high.

The VLB alone only asks q to be right for whole users (~50 edits). So that q is also right after
1, 2, ... edits, training adds a matching term: for each user a random history size k in 1..n_u
and a random k of its edits; q from those k edits is pulled (cross-entropy) towards the model's
own posterior given the same edits, softmax(log pi + sum_n log p(y_n | x_n, s)) with the
per-cluster likelihoods importance-sampled (HISTORY_IS_SAMPLES draws, no gradient), over
HISTORY_DRAWS random histories per user and batch. The term trains the recognition network only
(pi is detached in it, so pi stays the VLB's), and changes gradients only: the objective's value
stays the VLB.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from modeling.cgmvae import WARMUP_SMOOTHING, CGMVAE, warmup_objective
from modeling.networks import multinomial, value_with_gradient_of

HISTORY_DRAWS = 4       # random histories per user and batch in the matching term
HISTORY_IS_SAMPLES = 8  # importance samples per cluster of the matching term's log p(y | x, s)
PRIOR_WINDOW_USERS = 100.0  # pi: mean of q(s_u) over about this many most recent training users
PVAE_PRIOR_LOGVAR_INIT = 0.0  # start of log sigma_s^2 (the CGM-VAE's -3 fails three tests of test_pvae.py)


def user_cluster_logits(log_pi: torch.Tensor, log_r: torch.Tensor, inv: torch.Tensor, num_users: int) -> torch.Tensor:
    """log pi [L] + the SUM over each user's edits of the potentials log_r [B, L] (users inv [B]): [U, L]."""
    summed = torch.zeros(num_users, log_r.shape[1], device=log_r.device, dtype=log_r.dtype).index_add(0, inv, log_r)
    return log_pi[None] + summed


def random_history_mask(inv: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """[B] bool: for every user (rows inv [B], sizes counts [U]) a random k ~ U{1..n_u} of its rows."""
    B, U = inv.shape[0], counts.shape[0]
    k = (torch.rand(U, device=inv.device) * counts).floor().long() + 1
    order = torch.argsort(inv.to(torch.float64) + torch.rand(B, device=inv.device, dtype=torch.float64))
    start = torch.cumsum(counts, 0) - counts                      # first sorted position of each user
    rank = torch.empty(B, dtype=torch.long, device=inv.device)
    rank[order] = torch.arange(B, device=inv.device) - start[inv[order]]
    return rank < k[inv]


class PVAE(CGMVAE):
    """Personalised VAE: `cluster_net` outputs per-edit log-potentials log r(y, x) [B, L]."""

    needs_users = True

    def __init__(self, *args, **kwargs):
        # the P-VAE's clusters start wide (log var 0): at the CGM-VAE's -3 three known-behaviour tests of
        # tests/modeling/test_pvae.py fail (one edit vs ten, well-separated styles, no gain where none is)
        kwargs.setdefault("prior_logvar", PVAE_PRIOR_LOGVAR_INIT)
        super().__init__(*args, **kwargs)
        # running sums of the prior's moving average (not saved: pi itself is, in prior_logits)
        self.register_buffer("prior_sum", torch.zeros(self.num_clusters), persistent=False)
        self.register_buffer("prior_mass", torch.zeros(()), persistent=False)
        self.register_buffer("prior_warmup", torch.zeros((), dtype=torch.bool), persistent=False)

    @torch.no_grad()
    def update_prior(self, q_users: torch.Tensor, warmup: bool = False) -> None:
        """pi <- moving average of users' cluster posteriors q_users [U, L] (the VLB's optimum for fixed q).

        The average restarts when training passes from the warm-up (q: smoothed k-means targets) to the VLB.
        """
        if bool(self.prior_warmup) != warmup:
            self.prior_sum.zero_()
            self.prior_mass.zero_()
            self.prior_warmup.fill_(warmup)
        keep = (1.0 - 1.0 / PRIOR_WINDOW_USERS) ** q_users.shape[0]
        self.prior_sum.mul_(keep).add_(q_users.sum(0))
        self.prior_mass.mul_(keep).add_(q_users.shape[0])
        self.prior_logits.copy_(torch.log((self.prior_sum / self.prior_mass).clamp_min(1e-12)))

    def objective(self, x: torch.Tensor, y: torch.Tensor, users: torch.Tensor | None = None,
                  cluster_targets: torch.Tensor | None = None) -> torch.Tensor:
        """Per-edit share of each user's VLB [B] (nats): a user's VLB is spread evenly over their edits.

        VLB_u = sum_s q(s_u) (sum_n [E log p(y_un|z) - KL_z] + log pi_s - log q(s_u)).
        `users` [B] int groups the rows; None treats the whole batch as one user. With
        `cluster_targets` [B] (one k-means label per user, repeated on its rows) the warm-up bound
        of modeling.cgmvae.warmup_objective is used per user. In training mode (no targets) the
        gradient also carries the random-history matching term of the module docstring. In training
        mode pi gets no gradient: the call sets it to the moving average of the batch users' q
        (see update_prior).
        """
        xs = self.encode(x)
        if users is None:
            users = torch.zeros(xs.shape[0], dtype=torch.long, device=xs.device)
        uniq, inv = torch.unique(users, return_inverse=True)
        U = uniq.shape[0]
        log_r = self.cluster_logits(xs, y)                                   # [B, L]
        terms = self.per_cluster_terms(xs, y)                                # [B, L]
        log_pi = self.log_prior_weights().detach() if self.training else self.log_prior_weights()
        log_q = F.log_softmax(user_cluster_logits(log_pi, log_r, inv, U), dim=-1)      # [U, L]
        sum_t = torch.zeros_like(log_q).index_add(0, inv, terms)
        counts = torch.bincount(inv, minlength=U)
        if cluster_targets is not None:
            user_targets = torch.zeros(U, dtype=torch.long, device=xs.device).scatter(0, inv, cluster_targets)
            value = (warmup_objective(log_q, sum_t, log_pi, user_targets) / counts)[inv]
            if self.training:
                L = self.num_clusters
                self.update_prior(F.one_hot(user_targets, L).to(log_q.dtype) * (1 - WARMUP_SMOOTHING)
                                  + WARMUP_SMOOTHING / L, warmup=True)
            return value
        vlb_user = (log_q.exp() * (sum_t + log_pi[None] - log_q)).sum(-1)     # [U]
        value = (vlb_user / counts)[inv]
        if not self.training:
            return value
        self.update_prior(log_q.detach().exp())
        match = torch.zeros_like(vlb_user)
        evidence = self.cluster_log_likelihoods(x, y, HISTORY_IS_SAMPLES)     # [B, L], no gradient
        for _ in range(HISTORY_DRAWS):
            keep = random_history_mask(inv, counts).to(log_r.dtype)[:, None]
            log_q_k = F.log_softmax(user_cluster_logits(log_pi.detach(), log_r * keep, inv, U), dim=-1)
            target = F.softmax(user_cluster_logits(log_pi.detach(), evidence * keep, inv, U), dim=-1)
            match = match + (target * log_q_k).sum(-1) / HISTORY_DRAWS        # [U]
        return value_with_gradient_of(value, value + (match / counts)[inv])

    def cluster_init_points(self, y: np.ndarray, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Points k-means clusters for the warm-up start: each user's mean sliders; row -> user map."""
        uniq, inv = np.unique(users, return_inverse=True)
        sums = np.zeros((len(uniq), y.shape[1]))
        np.add.at(sums, inv, y)
        return sums / np.bincount(inv)[:, None], inv

    @torch.no_grad()
    def cluster_potentials(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-edit log-potentials log r(y, x) [N, L] of features [N, D] and sliders [N, 11]."""
        return self.cluster_logits(self.encode(x), y.to(self.device))

    @torch.no_grad()
    def cluster_posterior(self, x_hist: torch.Tensor, y_hist: torch.Tensor) -> torch.Tensor:
        """Amortised q(s_u | a user's N edits) [L] from features [N, D] and sliders [N, 11]; N = 0 gives pi."""
        log_r = self.cluster_potentials(x_hist, y_hist)
        inv = torch.zeros(log_r.shape[0], dtype=torch.long, device=log_r.device)
        return F.softmax(user_cluster_logits(self.log_prior_weights(), log_r, inv, 1)[0], dim=-1)

    @torch.no_grad()
    def sampled_cluster_posterior(self, x_hist: torch.Tensor, y_hist: torch.Tensor, num_samples: int = 100,
                                  generator: torch.Generator | None = None) -> torch.Tensor:
        """The model's posterior p(s_u | N edits) ∝ pi_s prod_n p(y_n | x_n, s) [L], each p(y_n | x_n, s)
        importance-sampled with num_samples draws (biased low in log; N = 0 gives pi exactly)."""
        log_lik = self.cluster_log_likelihoods(x_hist, y_hist.to(self.device), num_samples, generator)
        return F.softmax(self.log_prior_weights() + log_lik.sum(0), dim=-1)

    @torch.no_grad()
    def log_weights(self, x: torch.Tensor, y: torch.Tensor, num_samples: int = 100,
                    generator: torch.Generator | None = None,
                    cluster_weights: torch.Tensor | None = None) -> torch.Tensor:
        """Importance log-weights [B, S] of log p(y | x, user's cluster weights w) (each edit on its own).

        p(y|x) = sum_s w_s p(y|x,s); proposal q(s) ∝ w_s r_s(y, x), then q(z | x, y, s).
        w defaults to pi (a user with no edits).
        """
        xs = self.encode(x)
        log_w = (self.log_prior_weights() if cluster_weights is None
                 else torch.log(cluster_weights.to(xs.device).clamp_min(1e-30)))
        log_q_s = F.log_softmax(log_w[None] + self.cluster_logits(xs, y), dim=-1)
        return self.mixture_log_weights(xs, y, log_w[None].expand(xs.shape[0], -1), log_q_s, num_samples, generator)

    @torch.no_grad()
    def sample(self, x: torch.Tensor, n: int, cluster_weights: torch.Tensor | None = None,
               generator: torch.Generator | None = None, noise: bool = True) -> torch.Tensor:
        """n draws [B, n, 11] for a user with cluster weights [L] (default pi), clamped to [-1, 1]."""
        if isinstance(cluster_weights, torch.Generator):  # tolerate sample(x, n, generator) positionally
            cluster_weights, generator = None, cluster_weights
        xs = self.encode(x)
        w = (self.log_prior_weights().exp() if cluster_weights is None
             else cluster_weights.to(xs.device, torch.float32))
        s = multinomial(w[None].expand(xs.shape[0], -1), n, generator)
        return self._sample_given_clusters(xs, s, generator, noise)
