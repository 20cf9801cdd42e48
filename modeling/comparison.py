"""The Table-1 analogue: every model's held-out figures over its training seeds with standard errors,
the feature-blind floor row, each model's paired gap to the floor, and per metric which model is
best, called only when its lead over the runner-up exceeds LEAD_SES standard errors of that lead.

Over training seeds: a model's per-unit figures (LL per edit, slider error per image, JSD bootstrap
draws) are averaged over its seeds, every seed scored on the same test edits; each metric is
reported as the mean over seeds ± the s.d. over seeds beside the s.e. over photos of the
seed-averaged figures.

Paired standard errors over photos: LL and slider error from per-photo differences of the two
models (the same test edits), JSD from the differences of their bootstrap draws over the same photo
resamples. The s.e. of a lead adds the seed spread of both means in quadrature:
se^2 = se_photos^2 + sd_a^2 / K_a + sd_b^2 / K_b (a model of one seed adds nothing: its spread is
unknown, which the line says).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from modeling.data import EditsData
from modeling.metrics import (
    DEFAULT_BINS,
    DEFAULT_IS_SAMPLES,
    ModelScores,
    group_means,
    mean_se,
    score_model,
)
from modeling.mixture_floor import FeatureBlindMixture, fit_floor

HIGHER_IS_BETTER = {"ll": True, "jsd": False, "slider_error": False}
FLOOR = "feature_blind_floor"
LEAD_SES = 2.0   # a model is called best only when its paired lead exceeds this many s.e.


@dataclass(frozen=True)
class Difference:
    """a - b on one metric with the s.e. of that paired difference."""

    value: float
    se: float


def seed_spread(values: Sequence[float]) -> tuple[float, float]:
    """Mean and s.d. (ddof 1) over training seeds of one figure; s.d. NaN for a single seed."""
    v = np.asarray(values, dtype=np.float64)
    if len(v) == 0:
        return float("nan"), float("nan")
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else float("nan")


def combine_seeds(per_seed: Sequence[ModelScores], seeds: Sequence[int | None], photo_ids: np.ndarray) -> ModelScores:
    """One model's scores over its training seeds (each scored on the same data, rows [N] with photos photo_ids [N]).

    Per-unit arrays are the means over seeds; the summary holds per metric the mean over seeds
    (`ll`, `jsd`, `slider_error`), the s.d. over seeds (`<metric>_seed_sd`), the s.e. over photos of
    the seed-averaged figures (`<metric>_se`), `seeds` (K), `seed_values` and one `per_seed` row each.
    """
    if not per_seed:
        raise ValueError("no seed to combine")
    if len(per_seed) != len(seeds):
        raise ValueError(f"{len(per_seed)} scores for {len(seeds)} seeds")
    ll = np.mean([s.ll for s in per_seed], axis=0)
    boot = np.mean([s.jsd_bootstrap for s in per_seed], axis=0)
    errors = np.mean([s.slider_error for s in per_seed], axis=0)
    photos = per_seed[0].image_photos
    summary: dict[str, Any] = dict(per_seed[0].summary)
    for metric in HIGHER_IS_BETTER:
        mean, sd = seed_spread([s.summary[metric] for s in per_seed])
        summary[metric], summary[f"{metric}_seed_sd"] = mean, sd if math.isfinite(sd) else None
    summary["ll_se"] = mean_se(group_means(ll, photo_ids))[1]
    summary["jsd_se"] = float(np.std(boot, ddof=1)) if len(boot) > 1 else 0.0
    summary["slider_error_se"] = mean_se(group_means(errors, photos))[1]
    summary["ll_per_edit_mean"] = float(ll.mean()) if len(ll) else float("nan")
    summary["jsd_per_slider"] = [float(v) for v in np.mean([s.summary["jsd_per_slider"] for s in per_seed], axis=0)]
    summary["seeds"] = len(per_seed)
    summary["seed_values"] = list(seeds)
    summary["per_seed"] = [{"seed": seed, **{k: s.summary.get(k) for k in
                                              ("ll", "ll_se", "jsd", "jsd_se", "slider_error", "slider_error_se",
                                               "ll_convergence")}}
                           for seed, s in zip(seeds, per_seed)]
    return ModelScores(summary, ll, boot, errors, photos)


def paired_difference(a: ModelScores, b: ModelScores, metric: str, photo_ids: np.ndarray) -> Difference:
    """a - b on `metric` (ll | jsd | slider_error) for two models scored on the same data; s.e. over photos."""
    if metric == "ll":
        return Difference(*mean_se(group_means(a.ll - b.ll, photo_ids)))
    if metric == "slider_error":
        return Difference(*mean_se(group_means(a.slider_error - b.slider_error, a.image_photos)))
    boot = a.jsd_bootstrap - b.jsd_bootstrap
    se = float(np.std(boot, ddof=1)) if len(boot) > 1 else float("nan")
    return Difference(a.summary["jsd"] - b.summary["jsd"], se)


def seed_variance_of_mean(summary: Mapping[str, Any], metric: str) -> float:
    """sd^2 / K of a model's mean over K seeds on `metric`; 0 for one seed (or a row without seeds, the floor)."""
    sd, k = summary.get(f"{metric}_seed_sd"), summary.get("seeds", 1)
    if sd is None or not math.isfinite(float(sd)) or k < 2:
        return 0.0
    return float(sd) ** 2 / k


def lead_se(photo_se: float, a: Mapping[str, Any], b: Mapping[str, Any], metric: str) -> float:
    """s.e. of a lead of model a over b: the paired s.e. over photos and both seed spreads, in quadrature."""
    return math.sqrt(photo_se ** 2 + seed_variance_of_mean(a, metric) + seed_variance_of_mean(b, metric))


def clear_lead(lead: float, se: float, threshold: float = LEAD_SES) -> bool:
    """Whether a lead is a clear one: |lead| > threshold * se (never with an unknown s.e.)."""
    return bool(math.isfinite(se) and abs(lead) > threshold * se)


def best_per_metric(scores: dict[str, ModelScores], photo_ids: np.ndarray, threshold: float = LEAD_SES) -> list[dict]:
    """Per metric: the leader, the runner-up, the lead (leader - runner-up) ± its s.e., and `best`: the
    leader when the lead exceeds `threshold` s.e., else None ('no clear best'), with a line saying so."""
    out = []
    for metric, higher in HIGHER_IS_BETTER.items():
        ranked = sorted(scores, key=lambda n: scores[n].summary[metric], reverse=higher)
        leader = ranked[0]
        row: dict[str, Any] = {"metric": metric, "higher_is_better": higher, "leader": leader,
                               "value": scores[leader].summary[metric], "threshold_se": threshold}
        if len(ranked) > 1:
            a, b = scores[leader], scores[ranked[1]]
            diff = paired_difference(a, b, metric, photo_ids)
            se = lead_se(diff.se, a.summary, b.summary, metric)
            clear = clear_lead(diff.value, se, threshold)
            seeds = (a.summary.get("seeds", 1), b.summary.get("seeds", 1))
            row.update(runner_up=ranked[1], lead=diff.value, lead_se=se, lead_se_photos=diff.se,
                       seeds=list(seeds), clear=clear, best=leader if clear else None)
            spread = ("seed spread unknown (one seed)" if min(seeds) < 2
                      else f"s.e. over photos {diff.se:.4f} and over {seeds[0]} / {seeds[1]} seeds")
            verdict = (f"best {leader}" if clear else "no clear best")
            row["line"] = (f"{metric}: {verdict}: {leader} ({row['value']:.4f}) leads {ranked[1]} by "
                           f"{diff.value:+.4f} ± {se:.4f} ({spread}), {'more' if clear else 'not more'} than "
                           f"{threshold:g} s.e.")
        else:
            row.update(best=leader, clear=None)
            row["line"] = f"{metric}: only {leader} ({row['value']:.4f})"
        out.append(row)
    return out


def compare(scores: dict[str, ModelScores], floor: ModelScores, photo_ids: np.ndarray) -> dict:
    """JSON-ready comparison: model rows (with the paired LL gap to the floor), the floor row, best lines."""
    rows = []
    for name, s in scores.items():
        gap = paired_difference(s, floor, "ll", photo_ids)
        rows.append({"model": name, **s.summary, "ll_minus_floor": gap.value,
                     "ll_minus_floor_se": lead_se(gap.se, s.summary, floor.summary, "ll")})
    best = best_per_metric(scores, photo_ids) if scores else []
    return {"models": rows, "floor": {"model": FLOOR, **floor.summary}, "best": best, "lead_threshold_se": LEAD_SES}


def floor_model(train_data: EditsData, val_data: EditsData, seed: int = 0) -> tuple[FeatureBlindMixture, list[dict]]:
    """The feature-blind floor of a dataset's splits (EM on train sliders, K by validation LL) and its candidates."""
    return fit_floor(train_data.y, val_data.y, train_data.feature_dim, seed=seed)


def score_all(models: Mapping[str, Any], train_data: EditsData, val_data: EditsData, test_data: EditsData,
              num_samples: int = DEFAULT_IS_SAMPLES, bins: int = DEFAULT_BINS, seed: int = 0
              ) -> tuple[dict[str, ModelScores], ModelScores]:
    """Scores on test_data of trained models and of the floor (EM on train sliders, K by validation).

    `models`: name -> a model, or name -> {training seed: model} (combined with combine_seeds).
    """
    model, floor_rows = floor_model(train_data, val_data, seed=seed)
    floor = score_model(model, test_data, num_samples, bins, seed)
    floor.summary.update(components=int(model.log_mix.shape[0]), candidates=floor_rows)
    scores = {}
    for name, entry in models.items():
        if isinstance(entry, Mapping):
            seeds = list(entry)
            scores[name] = combine_seeds([score_model(entry[s], test_data, num_samples, bins, seed) for s in seeds],
                                         seeds, test_data.photo_ids)
        else:
            scores[name] = score_model(entry, test_data, num_samples, bins, seed)
    return scores, floor


def evaluate_models(models: Mapping[str, Any], train_data: EditsData, val_data: EditsData, test_data: EditsData,
                    num_samples: int = DEFAULT_IS_SAMPLES, bins: int = DEFAULT_BINS, seed: int = 0) -> dict:
    """The comparison (see `compare`) of trained models (see `score_all`) and the floor on test_data."""
    scores, floor = score_all(models, train_data, val_data, test_data, num_samples, bins, seed)
    return compare(scores, floor, test_data.photo_ids)
