"""The Table-1 comparison: paired standard errors, the best model per metric, the floor row."""
from __future__ import annotations

import numpy as np
import torch

from modeling.comparison import (
    best_per_metric,
    compare,
    evaluate_models,
    paired_difference,
)
from modeling.known_answer import KnownAnswer, Regime
from modeling.metrics import ModelScores
from tests.modeling.synthetic import edits_data

PHOTOS = np.repeat(np.arange(50), 2).astype(str)


def scores(ll: np.ndarray, jsd_boot: np.ndarray, errors: np.ndarray) -> ModelScores:
    summary = {"ll": float(ll.mean()), "jsd": float(jsd_boot.mean()), "slider_error": float(errors.mean())}
    return ModelScores(summary, ll, jsd_boot, errors, PHOTOS)


def test_paired_difference_uses_per_photo_differences():
    rng = np.random.default_rng(0)
    shared = rng.normal(0, 5, 100)                        # large photo-to-photo spread, common to both
    a = scores(shared + 1.0 + 0.1 * rng.normal(size=100), rng.normal(0.1, 0.01, 200), np.ones(100))
    b = scores(shared, rng.normal(0.1, 0.01, 200), np.ones(100))
    diff = paired_difference(a, b, "ll", PHOTOS)
    assert abs(diff.value - 1.0) < 0.05 and diff.se < 0.05        # unpaired s.e. would be ~0.7


def test_best_per_metric_says_whether_the_lead_exceeds_its_se():
    rng = np.random.default_rng(1)
    base = rng.normal(0, 1, 100)
    models = {"clear": scores(base + 0.5, np.full(200, 0.10) + rng.normal(0, 0.001, 200), np.full(100, 0.2)),
              "close": scores(base + 0.49 + rng.normal(0, 1, 100), np.full(200, 0.30), np.full(100, 0.1))}
    rows = {r["metric"]: r for r in best_per_metric(models, PHOTOS)}
    assert rows["ll"]["best"] in models and rows["ll"]["lead_exceeds_se"] is False
    assert rows["jsd"]["best"] == "clear" and rows["jsd"]["lead_exceeds_se"] is True and rows["jsd"]["lead"] < 0
    assert rows["slider_error"]["best"] == "close" and "runner-up clear" in rows["slider_error"]["line"]
    table = compare(models, models["close"], PHOTOS)
    assert [r["model"] for r in table["models"]] == ["clear", "close"] and table["floor"]["model"] == "feature_blind_floor"
    assert table["models"][1]["ll_minus_floor"] == 0.0


def test_evaluate_models_puts_the_exact_model_above_the_floor():
    truth = KnownAnswer(Regime("t", "test", feature_dim=6, separation=0.3, weight_strength=2.0))
    data = []
    for photos, seed in ((150, 1), (60, 2), (100, 3)):
        x = truth.features(photos, seed).repeat_interleave(5, 0)
        y = truth.sample_edits(x, torch.arange(len(x)) % 5, torch.Generator().manual_seed(seed))
        data.append(edits_data(x, y, np.arange(len(x)) // 5, split="test"))
    out = evaluate_models({"truth": truth}, *data, num_samples=10)
    row = out["models"][0]
    assert row["ll_minus_floor"] > 3 * row["ll_minus_floor_se"] > 0, row
    assert out["floor"]["ll_num_samples"] == 1 and out["floor"]["components"] in (1, 2, 3, 5, 10)
    assert [b["metric"] for b in out["best"]] == ["ll", "jsd", "slider_error"] and "only truth" in out["best"][0]["line"]
