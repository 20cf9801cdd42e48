"""Held-out metrics of slider models: predictive log-likelihood, JSD of slider histograms and the
P-VAE personalisation curve, each with standard errors over photos or users.

- Log-likelihood (nats per edit, model space): exact for MLP/MDN, importance-sampled with the
  recognition network as proposal for CGM-VAE/P-VAE, log-mean-exp over gate draws for the LBN;
  `num_samples` is reported with the figures. S.e. over photos (edits of a photo averaged first).
- JSD: per slider, between normalised histograms (`bins` equal bins on [-1, 1]) of the true edits
  and of model samples, log base 2 (so 0 <= JSD <= 1), averaged over the 11 sliders. scipy's
  jensenshannon returns the JS *distance* (square root); it is squared here.
"""
from __future__ import annotations

import logging

import numpy as np
import torch
from scipy.spatial.distance import jensenshannon

from modeling.data import EditsData

log = logging.getLogger(__name__)

DEFAULT_IS_SAMPLES = 200
DEFAULT_BINS = 20
JSD_BASE = 2.0


def mean_se(values: np.ndarray) -> tuple[float, float]:
    """Mean and standard error of the mean of a 1-D array (s.e. 0 for fewer than 2 values)."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return float("nan"), float("nan")
    se = values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else 0.0
    return float(values.mean()), float(se)


def grouped_mean_se(values: np.ndarray, groups: np.ndarray) -> tuple[float, float, int]:
    """Average values within each group (photo / user), then mean, s.e. and count over groups."""
    values = np.asarray(values, dtype=np.float64)
    _, inv = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    sums = np.bincount(inv, weights=values)
    counts = np.bincount(inv)
    mean, se = mean_se(sums / counts)
    return mean, se, int(len(counts))


@torch.no_grad()
def predictive_log_likelihood(model, x: "torch.Tensor | EditsData", y: torch.Tensor,
                              num_samples: int = DEFAULT_IS_SAMPLES, batch_size: int = 256, seed: int = 0,
                              **kwargs) -> np.ndarray:
    """log p(y_i | x_i) [N] (nats) in batches, with a seeded generator for the sampled estimators.

    x is features [N, D] or an EditsData (its features gathered batch by batch).
    """
    model.eval()
    device = model.device
    gen = torch.Generator(device=device).manual_seed(seed)
    out = []
    for start in range(0, y.shape[0], batch_size):
        xb = (x.x_at(torch.arange(start, min(start + batch_size, y.shape[0]))) if isinstance(x, EditsData)
              else x[start:start + batch_size]).to(device)
        yb = y[start:start + batch_size].to(device)
        out.append(model.log_likelihood(xb, yb, num_samples=num_samples, generator=gen, **kwargs).cpu())
    return torch.cat(out).double().numpy() if out else np.zeros(0)


def histogram_jsd(a: np.ndarray, b: np.ndarray, bins: int = DEFAULT_BINS, low: float = -1.0,
                  high: float = 1.0, base: float = JSD_BASE) -> float:
    """Jensen-Shannon divergence (base `base`) between normalised histograms of samples a and b."""
    edges = np.linspace(low, high, bins + 1)
    ha = np.histogram(np.clip(a, low, high), edges)[0].astype(np.float64)
    hb = np.histogram(np.clip(b, low, high), edges)[0].astype(np.float64)
    if ha.sum() == 0 or hb.sum() == 0:
        return float("nan")
    return float(jensenshannon(ha / ha.sum(), hb / hb.sum(), base=base) ** 2)


def slider_jsd(true: np.ndarray, sampled: np.ndarray, bins: int = DEFAULT_BINS,
               base: float = JSD_BASE) -> np.ndarray:
    """Per-slider JSD [11] between true sliders [N, 11] and sampled sliders [M, 11]."""
    true, sampled = np.asarray(true), np.asarray(sampled)
    return np.array([histogram_jsd(true[:, j], sampled[:, j], bins, base=base)
                     for j in range(true.shape[1])])


@torch.no_grad()
def sample_rows(model, x: "torch.Tensor | EditsData", n: int, seed: int = 0, batch_size: int = 256) -> np.ndarray:
    """n model samples per row of x [N, D] (or per edit of an EditsData): [N, n, 11] in model space."""
    model.eval()
    gen = torch.Generator(device=model.device).manual_seed(seed)
    rows = len(x) if isinstance(x, EditsData) else x.shape[0]
    take = (lambda a, b: x.x_at(torch.arange(a, min(b, rows)))) if isinstance(x, EditsData) else (lambda a, b: x[a:b])
    out = [model.sample(take(s, s + batch_size).to(model.device), n, generator=gen).cpu()
           for s in range(0, rows, batch_size)]
    return torch.cat(out).numpy() if out else np.zeros((0, n, 11), np.float32)


def jsd_scores(model, data: EditsData, bins: int = DEFAULT_BINS, per_image_samples: int = 20,
               per_image_bins: int = 10, bootstrap: int = 200, seed: int = 0) -> dict:
    """JSD of true vs sampled sliders on `data`: pooled over all edits and per image.

    pooled: histogram of every true edit vs one model sample per edit (same x distribution), per
    slider, averaged; s.e. by bootstrap over photos. per image: each image's true edits (all its
    editors) vs `per_image_samples` samples for it, `per_image_bins` bins; mean and s.e. over images.
    """
    y_true = data.y.numpy()
    one = sample_rows(model, data, 1, seed=seed)[:, 0]
    per_slider = slider_jsd(y_true, one, bins)
    rng = np.random.default_rng(seed)
    photos, photo_inv = np.unique(data.photo_ids, return_inverse=True)
    rows_of = [np.flatnonzero(photo_inv == i) for i in range(len(photos))]
    boot = []
    for _ in range(bootstrap if len(photos) > 1 else 0):
        rows = np.concatenate([rows_of[i] for i in rng.integers(0, len(photos), len(photos))])
        boot.append(np.nanmean(slider_jsd(y_true[rows], one[rows], bins)))
    images, first, image_inv = np.unique(data.image_ids, return_index=True, return_inverse=True)
    samples = sample_rows(model, data.x_at(torch.from_numpy(first)), per_image_samples, seed=seed + 1)
    per_image = np.array([np.nanmean(slider_jsd(y_true[image_inv == i], samples[i], per_image_bins))
                          for i in range(len(images))])
    image_mean, image_se = mean_se(per_image)
    return {
        "jsd": float(np.nanmean(per_slider)),
        "jsd_se": float(np.std(boot, ddof=1)) if len(boot) > 1 else 0.0,
        "jsd_per_slider": [float(v) for v in per_slider],
        "jsd_bins": bins, "jsd_log_base": JSD_BASE, "jsd_bootstrap": len(boot),
        "jsd_per_image": image_mean, "jsd_per_image_se": image_se,
        "jsd_per_image_samples": per_image_samples, "jsd_per_image_bins": per_image_bins,
        "jsd_images": int(len(images)),
    }


def evaluate(model, data: EditsData, num_samples: int = DEFAULT_IS_SAMPLES, bins: int = DEFAULT_BINS,
             seed: int = 0) -> dict:
    """Held-out LL (nats per edit, s.e. over photos) and JSD figures of a model on `data`."""
    ll = predictive_log_likelihood(model, data, data.y, num_samples=num_samples, seed=seed)
    ll_mean, ll_se, n_photos = grouped_mean_se(ll, data.photo_ids)
    out = {"ll": ll_mean, "ll_se": ll_se, "ll_photos": n_photos, "ll_edits": int(len(ll)),
           "ll_per_edit_mean": float(ll.mean()) if len(ll) else float("nan"),
           "ll_num_samples": num_samples, "ll_units": "nats per edit, model space [-1, 1]^11"}
    out.update(jsd_scores(model, data, bins=bins, seed=seed))
    return out


@torch.no_grad()
def personalisation_curve(model, data: EditsData, max_history: int = 30, held_out: int = 20,
                          num_samples: int = 50, seed: int = 0) -> dict:
    """P-VAE: mean LL of `held_out` edits of each user given 0..max_history of their other edits.

    Users are data.users (experts chunked into pseudo-users of 50). A user takes part at history
    size k when it has >= held_out + k edits; each user's edits are shuffled once (seeded). Per user
    LL_k is the mean over the held-out edits of log p(y | x, q(s_u | first k other edits)).
    `ll` is the mean of LL_k over the users present at k; `normalised` = 1 + (ll_k - ll_0) / |ll_0|
    (= ll_k / ll_0 when ll_0 > 0; 1 at k = 0, rising as history helps); `gain` = LL_k - LL_0 per
    user, mean and s.e. over users.
    """
    model.eval()
    rng = np.random.default_rng(seed)
    device = model.device
    per_user: list[np.ndarray] = []
    for user in np.unique(data.users):
        rows = np.flatnonzero(data.users == user)
        if len(rows) < held_out + 1:
            continue
        rows = rows[rng.permutation(len(rows))]
        test_rows, pool = rows[:held_out], rows[held_out:]
        xt, yt = data.x_at(torch.from_numpy(test_rows)).to(device), data.y[test_rows].to(device)
        lls = []
        for k in range(min(max_history, len(pool)) + 1):
            hist = torch.from_numpy(pool[:k])
            w = model.cluster_posterior(data.x_at(hist).to(device), data.y[hist].to(device))
            gen = torch.Generator(device=device).manual_seed(seed)  # common random numbers across k
            lls.append(float(model.log_likelihood(xt, yt, num_samples=num_samples, generator=gen,
                                                  cluster_weights=w).mean()))
        per_user.append(np.array(lls))
    if not per_user:
        return {"users": 0, "history": [], "ll": [], "normalised": [], "gain": [], "gain_se": []}
    full = max(len(u) for u in per_user)
    history, ll, ll_se, gain, gain_se, counts = [], [], [], [], [], []
    for k in range(full):
        vals = np.array([u[k] for u in per_user if len(u) > k])
        gains = np.array([u[k] - u[0] for u in per_user if len(u) > k])
        m, s = mean_se(vals)
        gm, gs = mean_se(gains)
        history.append(k); ll.append(m); ll_se.append(s); gain.append(gm); gain_se.append(gs)
        counts.append(int(len(vals)))
    ll0 = ll[0]
    normalised = [1.0 + (v - ll0) / abs(ll0) if ll0 != 0 else float("nan") for v in ll]
    return {"users": len(per_user), "held_out": held_out, "num_samples": num_samples,
            "history": history, "ll": ll, "ll_se": ll_se, "normalised": normalised,
            "gain": gain, "gain_se": gain_se, "users_at_k": counts,
            "definition": "mean over users of mean held-out LL (nats/edit) given k other edits; "
                          "normalised = 1 + (LL_k - LL_0)/|LL_0|"}
