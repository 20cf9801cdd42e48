"""Held-out metrics of slider models: predictive log-likelihood with a convergence check, JSD of
slider histograms and a LAB-free slider error, each with standard errors over photos.

- Log-likelihood (nats per edit, modeling.likelihood: Lightroom step cells, censored at the range
  ends): exact for MLP/MDN and the floor, importance-sampled for CGM-VAE/P-VAE (recognition network
  as proposal) and the LBN (learned gate proposal). For sampled estimators the same weights give
  nested estimates at S/8, S/4, S/2 and S draws and their effective sample size; `converged` says
  whether the last doubling moved the mean, and the log bias the ESS implies, both by less than
  CONVERGENCE_TOLERANCE (0.01 nats/edit). S.e. over photos
  (edits of a photo averaged first).
- JSD: per slider, between normalised histograms of the true edits and of model samples, log base
  2 (0 <= JSD <= 1), averaged over the 11 sliders. Bins are 2/bins wide and one bin is centred on
  the slider's neutral value (model space), so no edge falls on the atom of untouched sliders.
  scipy's jensenshannon returns the JS *distance* (square root); it is squared here.
- Slider error: per image, PROPOSALS samples aligned one-to-one to the image's edits at minimum
  total cost (modeling.alignment), the RMS slider difference (model units) of each aligned pair,
  averaged over the image's edits.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.spatial.distance import jensenshannon

from modeling.alignment import align_proposals, alignment_cost
from modeling.data import EditsData
from modeling.networks import log_mean_exp
from rendering.sliders import PROCESS_2003

DEFAULT_IS_SAMPLES = 200
DEFAULT_BINS = 21
JSD_BASE = 2.0
CONVERGENCE_TOLERANCE = 0.01   # nats/edit: largest doubling change and ESS-implied bias called converged
PROPOSALS = 20
NEUTRAL_MODEL = PROCESS_2003.to_model(PROCESS_2003.neutral())  # [11] model space (Temperature: 5000 K)


def mean_se(values: np.ndarray) -> tuple[float, float]:
    """Mean and standard error of the mean of a 1-D array (s.e. 0 for fewer than 2 values)."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return float("nan"), float("nan")
    se = values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else 0.0
    return float(values.mean()), float(se)


def clustered_mean_se(values: np.ndarray, clusters: np.ndarray) -> tuple[float, float]:
    """Mean of values [N] and its cluster-robust s.e. for cluster labels [N] (units correlated within one
    cluster): sqrt(G / (G - 1) sum_g (sum_{i in g} (v_i - mean))^2) / N; nan for fewer than 2 clusters."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return float("nan"), float("nan")
    _, inv = np.unique(np.asarray(clusters).astype(str), return_inverse=True)
    mean, groups = float(values.mean()), int(inv.max()) + 1
    if groups < 2:
        return mean, float("nan")
    sums = np.bincount(inv, weights=values - mean, minlength=groups)
    return mean, float(np.sqrt(groups / (groups - 1) * (sums ** 2).sum()) / len(values))


def group_means(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Mean of values [N] within each group (sorted group order) -> [G]."""
    _, inv = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    return np.bincount(inv, weights=np.asarray(values, dtype=np.float64)) / np.bincount(inv)


def grouped_mean_se(values: np.ndarray, groups: np.ndarray) -> tuple[float, float, int]:
    """Average values within each group (photo / user), then mean, s.e. and count over groups."""
    means = group_means(values, groups)
    mean, se = mean_se(means)
    return mean, se, len(means)


def _batches(x: torch.Tensor | EditsData, rows: int, batch_size: int):
    """(start, features [b, D]) over rows of features or an EditsData."""
    for start in range(0, rows, batch_size):
        stop = min(start + batch_size, rows)
        yield start, (x.x_at(torch.arange(start, stop)) if isinstance(x, EditsData) else x[start:stop])


@torch.no_grad()
def log_likelihood_weights(model, x: torch.Tensor | EditsData, y: torch.Tensor, num_samples: int,
                           batch_size: int = 256, seed: int = 0) -> torch.Tensor:
    """log importance weights [N, S] of log p(y_i | x_i) (S = 1 for exact models), seeded."""
    model.eval()
    gen = torch.Generator(device=model.device).manual_seed(seed)
    out = [model.log_weights(xb.to(model.device), y[s:s + len(xb)].to(model.device), num_samples, gen).cpu()
           for s, xb in _batches(x, y.shape[0], batch_size)]
    return torch.cat(out).double() if out else torch.zeros(0, 1, dtype=torch.float64)


def predictive_log_likelihood(model, x: torch.Tensor | EditsData, y: torch.Tensor,
                              num_samples: int = DEFAULT_IS_SAMPLES, batch_size: int = 256,
                              seed: int = 0) -> np.ndarray:
    """log p(y_i | x_i) [N] (nats); x is features [N, D] or an EditsData."""
    return log_mean_exp(log_likelihood_weights(model, x, y, num_samples, batch_size, seed), dim=1).numpy()


def convergence(log_w: torch.Tensor) -> dict:
    """Whether the IS estimate of the mean LL (nats/edit) from weights [N, S] has converged, and why.

    Nested estimates at S/8 .. S draws (`ll`, `last_doubling_change` = |LL_S - LL_S/2|) and the
    effective sample size per edit ESS = 1 / sum_s w_s^2 (normalised weights). By the delta method
    var(log p_hat) ~ 1/ESS - 1/S, so the estimate's log bias is about -(1/ESS - 1/S)/2 per edit
    (`ess_bias`, mean over edits) and its Monte Carlo s.e. on the mean `ess_se`. Converged: both
    the last doubling's change and `ess_bias` under CONVERGENCE_TOLERANCE (the doubling guards
    against weights too heavy-tailed for the ESS to see).
    """
    S = log_w.shape[1]
    if S == 1:
        return {"exact": True, "samples": [1], "ll": [float(log_w.mean())], "converged": True}
    sizes = sorted({max(S // d, 1) for d in (8, 4, 2, 1)})
    lls = [float(log_mean_exp(log_w[:, :m], dim=1).mean()) for m in sizes]
    w = torch.softmax(log_w.double(), dim=1)
    ess = 1.0 / (w ** 2).sum(1)
    var_log = (1.0 / ess - 1.0 / S).clamp_min(0.0)                    # [N] delta-method var of log p_hat
    bias = float(var_log.mean() / 2)
    change = abs(lls[-1] - lls[-2]) if len(lls) > 1 else float("nan")
    return {"exact": False, "samples": sizes, "ll": lls, "last_doubling_change": change,
            "ess_mean": float(ess.mean()), "ess_min": float(ess.min()), "ess_bias": bias,
            "ess_se": float(var_log.sum().sqrt() / len(var_log)),
            "converged": bool(change < CONVERGENCE_TOLERANCE and bias < CONVERGENCE_TOLERANCE),
            "tolerance": CONVERGENCE_TOLERANCE}


def jsd_edges(centre: float, bins: int, low: float = -1.0, high: float = 1.0) -> np.ndarray:
    """Histogram edges on [low, high]: width (high - low) / bins, one bin centred on `centre`."""
    width = (high - low) / bins
    k = np.arange(np.floor((low - centre) / width) - 1, np.ceil((high - centre) / width) + 1)
    inner = centre + (k + 0.5) * width
    inner = inner[(inner > low + 1e-9) & (inner < high - 1e-9)]
    return np.concatenate([[low], inner, [high]])


def histogram_jsd(a: np.ndarray, b: np.ndarray, bins: int = DEFAULT_BINS, low: float = -1.0,
                  high: float = 1.0, base: float = JSD_BASE, centre: float = 0.0) -> float:
    """Jensen-Shannon divergence (base `base`) between normalised histograms of samples a and b."""
    edges = jsd_edges(centre, bins, low, high)
    ha = np.histogram(np.clip(a, low, high), edges)[0].astype(np.float64)
    hb = np.histogram(np.clip(b, low, high), edges)[0].astype(np.float64)
    if ha.sum() == 0 or hb.sum() == 0:
        return float("nan")
    return float(jensenshannon(ha / ha.sum(), hb / hb.sum(), base=base) ** 2)


def slider_jsd(true: np.ndarray, sampled: np.ndarray, bins: int = DEFAULT_BINS,
               base: float = JSD_BASE, centres: np.ndarray = NEUTRAL_MODEL) -> np.ndarray:
    """Per-slider JSD [11] between true sliders [N, 11] and sampled sliders [M, 11] (bins centred on `centres`)."""
    true, sampled = np.asarray(true), np.asarray(sampled)
    return np.array([histogram_jsd(true[:, j], sampled[:, j], bins, base=base, centre=float(centres[j]))
                     for j in range(true.shape[1])])


@torch.no_grad()
def sample_rows(model, x: torch.Tensor | EditsData, n: int, seed: int = 0, batch_size: int = 256) -> np.ndarray:
    """n model samples per row of x [N, D] (or per edit of an EditsData): [N, n, 11] in model space."""
    model.eval()
    gen = torch.Generator(device=model.device).manual_seed(seed)
    rows = len(x) if isinstance(x, EditsData) else x.shape[0]
    out = [model.sample(xb.to(model.device), n, generator=gen).cpu() for _, xb in _batches(x, rows, batch_size)]
    return torch.cat(out).numpy() if out else np.zeros((0, n, 11), np.float32)


def _rows_by(labels: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """First row of each distinct label and the rows of each (sorted label order)."""
    _, first, inv = np.unique(labels, return_index=True, return_inverse=True)
    return first, [np.flatnonzero(inv == i) for i in range(len(first))]


def jsd_scores(model, data: EditsData, bins: int = DEFAULT_BINS, per_image_samples: int = 20,
               per_image_bins: int = 11, bootstrap: int = 200, seed: int = 0) -> tuple[dict, np.ndarray]:
    """JSD of true vs sampled sliders on `data`, pooled over all edits and per image; and the bootstrap draws.

    pooled: histogram of every true edit vs one model sample per edit (same x distribution), per
    slider, averaged; s.e. by bootstrap over photos (seeded: the same resamples for every model).
    per image: each image's true edits vs `per_image_samples` samples for it; mean, s.e. over images.
    """
    y_true = data.y.numpy()
    one = sample_rows(model, data, 1, seed=seed)[:, 0]
    per_slider = slider_jsd(y_true, one, bins)
    rng = np.random.default_rng(seed)
    _, rows_of = _rows_by(data.photo_ids)
    boot = []
    for _ in range(bootstrap if len(rows_of) > 1 else 0):
        rows = np.concatenate([rows_of[i] for i in rng.integers(0, len(rows_of), len(rows_of))])
        boot.append(np.nanmean(slider_jsd(y_true[rows], one[rows], bins)))
    first, image_rows = _rows_by(data.image_ids)
    samples = sample_rows(model, data.x_at(torch.from_numpy(first)), per_image_samples, seed=seed + 1)
    per_image = np.array([np.nanmean(slider_jsd(y_true[r], samples[i], per_image_bins))
                          for i, r in enumerate(image_rows)])
    image_mean, image_se = mean_se(per_image)
    boot = np.asarray(boot)
    return {
        "jsd": float(np.nanmean(per_slider)),
        "jsd_se": float(np.std(boot, ddof=1)) if len(boot) > 1 else 0.0,
        "jsd_per_slider": [float(v) for v in per_slider], "jsd_sliders": PROCESS_2003.names,
        "jsd_bins": bins, "jsd_bin_centres": "neutral value of each slider", "jsd_log_base": JSD_BASE,
        "jsd_bootstrap": len(boot), "jsd_samples": len(one),
        "jsd_per_image": image_mean, "jsd_per_image_se": image_se,
        "jsd_per_image_samples": per_image_samples, "jsd_per_image_bins": per_image_bins,
        "jsd_images": len(first),
    }, boot


def slider_errors(model, data: EditsData, proposals: int = PROPOSALS, seed: int = 0) -> np.ndarray:
    """Per image [M]: mean RMS slider difference (model units) of its edits to aligned model proposals."""
    first, image_rows = _rows_by(data.image_ids)
    samples = sample_rows(model, data.x_at(torch.from_numpy(first)), proposals, seed=seed + 2)
    y = data.y.numpy()
    out = np.empty(len(first))
    for i, rows in enumerate(image_rows):
        edits = y[rows[:proposals]]
        match = align_proposals(samples[i], edits)
        out[i] = np.sqrt(alignment_cost(samples[i][match], edits).diagonal()).mean()
    return out


@dataclass
class ModelScores:
    """One model's held-out figures: `summary` (JSON-ready) and the per-unit arrays paired comparisons need."""

    summary: dict
    ll: np.ndarray                # [N] nats per edit, rows of the data
    jsd_bootstrap: np.ndarray     # [bootstrap] mean JSD per photo resample (same resamples for every model)
    slider_error: np.ndarray      # [M] per image
    image_photos: np.ndarray      # [M] photo of each image


def score_model(model, data: EditsData, num_samples: int = DEFAULT_IS_SAMPLES, bins: int = DEFAULT_BINS,
                seed: int = 0) -> ModelScores:
    """Held-out LL (nats per edit, s.e. over photos, convergence), JSD and slider error of a model on `data`."""
    log_w = log_likelihood_weights(model, data, data.y, num_samples, seed=seed)
    ll = log_mean_exp(log_w, dim=1).numpy()
    ll_mean, ll_se, n_photos = grouped_mean_se(ll, data.photo_ids)
    summary = {"ll": ll_mean, "ll_se": ll_se, "ll_photos": n_photos, "ll_edits": len(ll),
               "ll_per_edit_mean": float(ll.mean()) if len(ll) else float("nan"),
               "ll_num_samples": int(log_w.shape[1]), "ll_convergence": convergence(log_w),
               "ll_units": "nats per edit, Lightroom step cells in model space, censored at the range ends"}
    jsd, boot = jsd_scores(model, data, bins=bins, seed=seed)
    summary.update(jsd)
    errors = slider_errors(model, data, seed=seed)
    first, _ = _rows_by(data.image_ids)
    photos = data.photo_ids[first]
    err_mean, err_se, _ = grouped_mean_se(errors, photos)
    summary.update({"slider_error": err_mean, "slider_error_se": err_se, "slider_error_proposals": PROPOSALS,
                    "slider_error_units": "RMS over sliders of aligned proposal - edit, model units"})
    return ModelScores(summary, ll, boot, errors, photos)


def evaluate(model, data: EditsData, num_samples: int = DEFAULT_IS_SAMPLES, bins: int = DEFAULT_BINS,
             seed: int = 0) -> dict:
    """Held-out LL, JSD and slider-error figures of a model on `data` (the summary of score_model)."""
    return score_model(model, data, num_samples, bins, seed).summary
