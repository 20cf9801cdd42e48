"""P-VAE personalisation curve: held-out LL of a user's edits given k of their edits of other photos,
with the model's posterior over clusters (importance-sampled) and with the amortised recognition q,
in the paper's normalisation LL_k - LL_0 (nats per edit).

For each user (data.users: casual users, experts' pseudo-users of whole photos) the photos are
shuffled once (seeded); the edits of the first photos are scored (`held_out` of them) and the
edits of the remaining photos, up to `max_history`, are the history: no photo is in both. The
per-cluster log-likelihoods log p(y | x, s) of every scored and history edit are importance-sampled
(modeling.cgmvae.cluster_log_likelihoods), and for every k:

    sampled:   log w_k = log softmax(log pi + sum_{n<=k} log p(y_n | x_n, s))
    amortised: log w_k = log softmax(log pi + sum_{n<=k} log r(y_n, x_n))
    LL_k = mean over held-out edits i of log sum_s w_k(s) p(y_i | x_i, s)

LL_0 and every LL_k of both kinds read the same held-out per-cluster estimates, so a bias of those
cancels in the gain. The sample count S starts at `num_samples` and doubles (new draws pooled with
the old) until a doubling moves no point LL_k of either mean curve by CONVERGENCE_TOLERANCE or
more (hence no gain by twice that), up to MAX_SAMPLES; the curve reports the S it used and whether
it converged. (A cluster's estimates count where they matter: through the posterior weights and
the held-out mixtures; the estimates of a cluster no user's posterior reaches may stay rough.)
S.e. over users are clustered by editor (the pseudo-users of one expert are not independent).
"""
from __future__ import annotations

import logging
import math

import numpy as np
import torch

from modeling.data import EditsData
from modeling.metrics import clustered_mean_se

log = logging.getLogger(__name__)

POSTERIORS = ("amortised", "sampled")
CONVERGENCE_TOLERANCE = 0.01  # nats: the largest change over the last doubling of S called converged
MAX_SAMPLES = 3200            # importance samples per cluster and edit at most
BATCH_ROWS = 256              # edits per batch of per-cluster likelihood estimates


def split_by_photo(rows: np.ndarray, photos: np.ndarray, held_out: int, max_history: int,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(held-out rows [<= held_out], history rows [<= max_history]) of one user's rows with photo ids
    photos [len(rows)]: photos in a random order, the first ones' edits held out, no photo in both."""
    uniq, inv = np.unique(np.asarray(photos).astype(str), return_inverse=True)
    rank = rng.permutation(len(uniq))[inv]                                  # photo order of each edit
    ordered = rows[np.lexsort((rng.random(len(rows)), rank))]
    ranks = np.sort(rank)
    counts = np.cumsum(np.bincount(ranks, minlength=len(uniq)))
    first_history_photo = int(np.searchsorted(counts, held_out)) + 1        # photos [0, this) held out
    cut = int(counts[first_history_photo - 1]) if first_history_photo <= len(uniq) else len(rows)
    return ordered[:min(held_out, cut)], ordered[cut:cut + max_history]


def log_mean_exp_pair(a: torch.Tensor, b: torch.Tensor, weight_b: float) -> torch.Tensor:
    """log((1 - weight_b) exp(a) + weight_b exp(b)): pools two IS estimates of one log-likelihood."""
    return torch.logaddexp(a + math.log1p(-weight_b), b + math.log(weight_b))


@torch.no_grad()
def cluster_log_likelihoods(model, data: EditsData, rows: np.ndarray, num_samples: int,
                            generator: torch.Generator) -> torch.Tensor:
    """log p(y | x, s) [len(rows), L] (nats) of the edits at rows, S = num_samples draws per cluster, float64."""
    out = []
    for start in range(0, len(rows), BATCH_ROWS):
        idx = torch.from_numpy(rows[start:start + BATCH_ROWS])
        out.append(model.cluster_log_likelihoods(data.x_at(idx).to(model.device), data.y[idx].to(model.device),
                                                 num_samples, generator).double().cpu())
    return torch.cat(out) if out else torch.zeros(0, model.num_clusters, dtype=torch.float64)


def user_curves(log_pi: torch.Tensor, test_lik: torch.Tensor, evidence: dict[str, torch.Tensor]
                ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """One user's (LL_k [K+1], max posterior probability [K+1]) per posterior kind, k = 0..K history edits.

    log_pi [L]; test_lik [H, L] held-out log p(y | x, s); evidence {kind: [K, L]} per history edit.
    """
    out = {}
    for kind, per_edit in evidence.items():
        cumulative = torch.cat([torch.zeros_like(log_pi)[None], per_edit.cumsum(0)])        # [K+1, L]
        log_w = torch.log_softmax(log_pi[None] + cumulative, dim=-1)
        ll = torch.logsumexp(log_w[:, None, :] + test_lik[None], dim=-1).mean(1)              # [K+1]
        out[kind] = (ll.numpy(), log_w.exp().max(-1).values.numpy())
    return out


def mean_curves(per_user: dict[str, list[tuple[np.ndarray, np.ndarray]]]) -> np.ndarray:
    """Mean over users of LL_k, every k and kind stacked [kinds * (K+1)] (users absent at k left out)."""
    out = []
    for curves in per_user.values():
        longest = max(len(ll) for ll, _ in curves)
        out += [np.mean([ll[k] for ll, _ in curves if len(ll) > k]) for k in range(longest)]
    return np.asarray(out)


def summarise(per_user: list[tuple[np.ndarray, np.ndarray]], editors: np.ndarray) -> dict:
    """Mean over users and s.e. clustered by editor [U] of LL_k and of the gain LL_k - LL_0; mean max posterior."""
    out: dict[str, list[float]] = {"ll": [], "ll_se": [], "gain": [], "gain_se": [], "max_posterior": []}
    for k in range(max(len(ll) for ll, _ in per_user)):
        present = [i for i, (ll, _) in enumerate(per_user) if len(ll) > k]
        for key, values in (("ll", [per_user[i][0][k] for i in present]),
                            ("gain", [per_user[i][0][k] - per_user[i][0][0] for i in present])):
            mean, se = clustered_mean_se(np.array(values), editors[present])
            out[key].append(mean)
            out[f"{key}_se"].append(se)
        out["max_posterior"].append(float(np.mean([per_user[i][1][k] for i in present])))
    return out


@torch.no_grad()
def personalisation_curve(model, data: EditsData, max_history: int = 30, held_out: int = 20,
                          num_samples: int = 50, seed: int = 0) -> dict:
    """P-VAE: the curve of the module docstring, both posteriors; JSON-ready.

    `sampled` / `amortised` each hold per k: ll (mean over users), ll_se, gain = LL_k - LL_0 (mean
    over users, s.e. clustered by editor) and max_posterior (mean over users of the posterior's
    largest probability). `num_samples` is the S the estimates converged at (or MAX_SAMPLES), with
    `converged` and `last_doubling_change` (nats). Top-level `ll`, `ll_se` and `normalised`
    (= LL_k - LL_0) repeat the amortised curve, the one proposals use.
    """
    model.eval()
    rng = np.random.default_rng(seed)
    generator = torch.Generator(device=model.device).manual_seed(seed)
    splits, editors = [], []
    for user in np.unique(data.users):
        rows = np.flatnonzero(data.users == user)
        test_rows, history_rows = split_by_photo(rows, data.photo_ids[rows], held_out, max_history, rng)
        if len(test_rows) == held_out and len(history_rows):
            splits.append((test_rows, history_rows))
            editors.append(str(data.editors[rows[0]]))
    if not splits:
        return {"users": 0, "history": [], "ll": [], "ll_se": [], "normalised": []}
    log_pi = model.log_prior_weights().double().cpu()
    potentials = [model.cluster_potentials(data.x_at(torch.from_numpy(h)).to(model.device),
                                           data.y[torch.from_numpy(h)]).double().cpu() for _, h in splits]
    scored = np.concatenate([np.concatenate(s) for s in splits])
    bounds = np.cumsum([0] + [len(t) + len(h) for t, h in splits])

    def curves(lik: torch.Tensor) -> dict[str, list]:
        per_user: dict[str, list] = {kind: [] for kind in POSTERIORS}
        for u, (test_rows, _) in enumerate(splits):
            user_lik = lik[bounds[u]:bounds[u + 1]]
            got = user_curves(log_pi, user_lik[:len(test_rows)],
                              {"amortised": potentials[u], "sampled": user_lik[len(test_rows):]})
            for kind in POSTERIORS:
                per_user[kind].append(got[kind])
        return per_user

    samples = num_samples
    lik = cluster_log_likelihoods(model, data, scored, samples, generator)
    per_user = curves(lik)
    change = float("inf")
    while samples < MAX_SAMPLES:
        more = cluster_log_likelihoods(model, data, scored, samples, generator)
        pooled = log_mean_exp_pair(lik, more, 0.5)
        pooled_users = curves(pooled)
        change = float(np.abs(mean_curves(pooled_users) - mean_curves(per_user)).max())
        lik, per_user, samples = pooled, pooled_users, 2 * samples
        if change < CONVERGENCE_TOLERANCE:
            break
    converged = change < CONVERGENCE_TOLERANCE
    if not converged:
        log.warning("personalisation curve: importance sampling not converged at S=%d (last doubling %.4f nats)",
                    samples, change)
    editors_arr = np.asarray(editors)
    blocks = {kind: summarise(per_user[kind], editors_arr) for kind in POSTERIORS}
    history = list(range(len(blocks["sampled"]["ll"])))
    return {"users": len(splits), "editors": len(set(editors)), "held_out": held_out, "num_samples": samples,
            "converged": converged, "last_doubling_change": change, "tolerance": CONVERGENCE_TOLERANCE,
            "history": history, "users_at_k": [sum(len(ll) > k for ll, _ in per_user["sampled"]) for k in history],
            **blocks, "ll": blocks["amortised"]["ll"], "ll_se": blocks["amortised"]["ll_se"],
            "normalised": blocks["amortised"]["gain"],
            "definition": "LL_k: mean over users of the mean held-out LL (nats/edit) given k of the user's edits "
                          "of other photos; normalised = gain = LL_k - LL_0 (Saeedi et al., Fig. 5); s.e. "
                          "clustered by editor; sampled: the model's posterior over clusters from "
                          f"importance-sampled per-cluster likelihoods (S={samples} per cluster and edit), "
                          "amortised: the recognition network's q"}
