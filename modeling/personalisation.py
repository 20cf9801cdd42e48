"""P-VAE personalisation curve: held-out LL of a user's edits given k of their other edits, with the
model's exact cluster posterior and with the amortised recognition q, in the paper's normalisation
LL_k - LL_0 (nats per edit).

For each user (data.users: casual users, experts chunked into pseudo-users of 50) with at least
held_out + 1 edits, the edits are shuffled once (seeded); the first `held_out` are scored and the
next up to `max_history` are the history. Per-cluster log-likelihoods log p(y | x, s) of every
edit are importance-sampled once (modeling.cgmvae.cluster_log_likelihoods), so for every k:

    exact:     log w_k = log softmax(log pi + sum_{n<=k} log p(y_n | x_n, s))
    amortised: log w_k = log softmax(log pi + sum_{n<=k} log r(y_n, x_n))
    LL_k = mean over held-out edits i of log sum_s w_k(s) p(y_i | x_i, s)

Both use the same held-out per-cluster likelihoods, so they differ only in the posterior.
"""
from __future__ import annotations

import numpy as np
import torch

from modeling.data import EditsData
from modeling.metrics import mean_se

POSTERIORS = ("amortised", "exact")


@torch.no_grad()
def user_curves(model, data: EditsData, rows: np.ndarray, held_out: int, max_history: int,
                num_samples: int, generator: torch.Generator) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """One user's (LL_k [K+1], max posterior probability [K+1]) per posterior kind, k = 0..K history edits."""
    (x_test, y_test), (x_pool, y_pool) = (
        (data.x_at(torch.from_numpy(r)).to(model.device), data.y[torch.from_numpy(r)].to(model.device))
        for r in (rows[:held_out], rows[held_out:held_out + max_history]))
    test_lik = model.cluster_log_likelihoods(x_test, y_test, num_samples, generator)          # [H, L]
    log_pi = model.log_prior_weights()
    evidence = {"amortised": model.cluster_potentials(x_pool, y_pool),
                "exact": model.cluster_log_likelihoods(x_pool, y_pool, num_samples, generator)}
    out = {}
    for kind, per_edit in evidence.items():
        cumulative = torch.cat([torch.zeros_like(log_pi)[None], per_edit.cumsum(0)])        # [K+1, L]
        log_w = torch.log_softmax(log_pi[None] + cumulative, dim=-1)
        ll = torch.logsumexp(log_w[:, None, :] + test_lik[None], dim=-1).mean(1)              # [K+1]
        out[kind] = (ll.double().cpu().numpy(), log_w.exp().max(-1).values.double().cpu().numpy())
    return out


def _summarise(per_user: list[tuple[np.ndarray, np.ndarray]]) -> dict:
    """Mean and s.e. over users of LL_k, of the gain LL_k - LL_0 and of the max posterior probability."""
    out: dict[str, list[float]] = {"ll": [], "ll_se": [], "gain": [], "gain_se": [], "max_posterior": []}
    for k in range(max(len(ll) for ll, _ in per_user)):
        present = [(ll, mp) for ll, mp in per_user if len(ll) > k]
        for key, stats in (("ll", mean_se(np.array([ll[k] for ll, _ in present]))),
                           ("gain", mean_se(np.array([ll[k] - ll[0] for ll, _ in present])))):
            out[key].append(stats[0])
            out[f"{key}_se"].append(stats[1])
        out["max_posterior"].append(float(np.mean([mp[k] for _, mp in present])))
    return out


@torch.no_grad()
def personalisation_curve(model, data: EditsData, max_history: int = 30, held_out: int = 20,
                          num_samples: int = 50, seed: int = 0) -> dict:
    """P-VAE: the curve of the module docstring, both posteriors; JSON-ready.

    `exact` / `amortised` each hold per k: ll (mean over users), ll_se, gain = LL_k - LL_0 (mean
    and s.e. over users) and max_posterior (mean over users of the posterior's largest
    probability). Top-level `ll`, `ll_se` and `normalised` (= LL_k - LL_0) repeat the amortised
    curve, the one proposals use.
    """
    model.eval()
    rng = np.random.default_rng(seed)
    generator = torch.Generator(device=model.device).manual_seed(seed)
    per_user: dict[str, list] = {kind: [] for kind in POSTERIORS}
    for user in np.unique(data.users):
        rows = np.flatnonzero(data.users == user)
        if len(rows) < held_out + 1:
            continue
        for kind, curve in user_curves(model, data, rows[rng.permutation(len(rows))], held_out, max_history,
                                       num_samples, generator).items():
            per_user[kind].append(curve)
    users = len(per_user["exact"])
    if not users:
        return {"users": 0, "history": [], "ll": [], "ll_se": [], "normalised": []}
    blocks = {kind: _summarise(per_user[kind]) for kind in POSTERIORS}
    history = list(range(len(blocks["exact"]["ll"])))
    return {"users": users, "held_out": held_out, "num_samples": num_samples, "history": history,
            "users_at_k": [sum(len(ll) > k for ll, _ in per_user["exact"]) for k in history],
            **blocks, "ll": blocks["amortised"]["ll"], "ll_se": blocks["amortised"]["ll_se"],
            "normalised": blocks["amortised"]["gain"],
            "definition": "LL_k: mean over users of the mean held-out LL (nats/edit) given k other edits of the "
                          "user; normalised = gain = LL_k - LL_0 (Saeedi et al., Fig. 5); exact: the model's "
                          "posterior over clusters, amortised: the recognition network's q"}
