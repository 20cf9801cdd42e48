"""The Table-1 analogue: every model's held-out figures with standard errors, the feature-blind
floor row, each model's paired gap to the floor, and per metric which model is best and whether
its lead over the runner-up is larger than the s.e. of that lead.

Paired standard errors: LL and slider error from per-photo differences of the two models (the same
test edits), JSD from the differences of their bootstrap draws over the same photo resamples.
"""
from __future__ import annotations

from dataclasses import dataclass

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
from modeling.mixture_floor import fit_floor

HIGHER_IS_BETTER = {"ll": True, "jsd": False, "slider_error": False}
FLOOR = "feature_blind_floor"


@dataclass(frozen=True)
class Difference:
    """a - b on one metric with the s.e. of that paired difference."""

    value: float
    se: float


def paired_difference(a: ModelScores, b: ModelScores, metric: str, photo_ids: np.ndarray) -> Difference:
    """a - b on `metric` (ll | jsd | slider_error) for two models scored on the same data."""
    if metric == "ll":
        return Difference(*mean_se(group_means(a.ll - b.ll, photo_ids)))
    if metric == "slider_error":
        return Difference(*mean_se(group_means(a.slider_error - b.slider_error, a.image_photos)))
    boot = a.jsd_bootstrap - b.jsd_bootstrap
    se = float(np.std(boot, ddof=1)) if len(boot) > 1 else float("nan")
    return Difference(a.summary["jsd"] - b.summary["jsd"], se)


def best_per_metric(scores: dict[str, ModelScores], photo_ids: np.ndarray) -> list[dict]:
    """Per metric: the best model, the runner-up, the lead (best - runner-up) ± paired s.e., and a line."""
    out = []
    for metric, higher in HIGHER_IS_BETTER.items():
        ranked = sorted(scores, key=lambda n: scores[n].summary[metric], reverse=higher)
        row = {"metric": metric, "higher_is_better": higher, "best": ranked[0],
               "value": scores[ranked[0]].summary[metric]}
        if len(ranked) > 1:
            lead = paired_difference(scores[ranked[0]], scores[ranked[1]], metric, photo_ids)
            clear = abs(lead.value) > lead.se
            row.update(runner_up=ranked[1], lead=lead.value, lead_se=lead.se, lead_exceeds_se=bool(clear))
            row["line"] = (f"{metric}: best {ranked[0]} ({row['value']:.4f}), runner-up {ranked[1]} by "
                           f"{lead.value:+.4f} ± {lead.se:.4f}: {'larger' if clear else 'not larger'} than its s.e.")
        else:
            row["line"] = f"{metric}: only {ranked[0]} ({row['value']:.4f})"
        out.append(row)
    return out


def compare(scores: dict[str, ModelScores], floor: ModelScores, photo_ids: np.ndarray) -> dict:
    """JSON-ready comparison: model rows (with the paired LL gap to the floor), the floor row, best lines."""
    rows = []
    for name, s in scores.items():
        gap = paired_difference(s, floor, "ll", photo_ids)
        rows.append({"model": name, **s.summary, "ll_minus_floor": gap.value, "ll_minus_floor_se": gap.se})
    best = best_per_metric(scores, photo_ids) if scores else []
    return {"models": rows, "floor": {"model": FLOOR, **floor.summary}, "best": best}


def score_all(models: dict, train_data: EditsData, val_data: EditsData, test_data: EditsData,
              num_samples: int = DEFAULT_IS_SAMPLES, bins: int = DEFAULT_BINS, seed: int = 0
              ) -> tuple[dict[str, ModelScores], ModelScores]:
    """Scores of trained models (name -> model) and of the floor (EM on train sliders, K by validation) on test_data."""
    floor_model, floor_rows = fit_floor(train_data.y, val_data.y, test_data.feature_dim, seed=seed)
    floor = score_model(floor_model, test_data, num_samples, bins, seed)
    floor.summary.update(components=int(floor_model.log_mix.shape[0]), candidates=floor_rows)
    scores = {name: score_model(model, test_data, num_samples, bins, seed) for name, model in models.items()}
    return scores, floor


def evaluate_models(models: dict, train_data: EditsData, val_data: EditsData, test_data: EditsData,
                    num_samples: int = DEFAULT_IS_SAMPLES, bins: int = DEFAULT_BINS, seed: int = 0) -> dict:
    """The comparison (see `compare`) of trained models and the floor on test_data."""
    scores, floor = score_all(models, train_data, val_data, test_data, num_samples, bins, seed)
    return compare(scores, floor, test_data.photo_ids)
