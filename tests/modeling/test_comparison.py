"""The Table-1 comparison: figures over training seeds, paired standard errors, the best model per metric
only past 2 s.e. of its lead, the floor row."""
from __future__ import annotations

import numpy as np
import torch

import math

import pytest

from modeling.comparison import (
    LEAD_SES,
    best_per_metric,
    combine_seeds,
    compare,
    evaluate_models,
    lead_se,
    paired_difference,
    score_all,
)
from modeling.known_answer import KnownAnswer, Regime
from modeling.metrics import ModelScores, group_means
from tests.modeling.synthetic import edits_data

PHOTOS = np.repeat(np.arange(50), 2).astype(str)


def scores(ll: np.ndarray, jsd_boot: np.ndarray, errors: np.ndarray) -> ModelScores:
    summary = {"ll": float(ll.mean()), "jsd": float(jsd_boot.mean()), "slider_error": float(errors.mean()),
               "jsd_per_slider": [float(jsd_boot.mean())] * 11}
    return ModelScores(summary, ll, jsd_boot, errors, PHOTOS)


def test_combine_seeds_gives_mean_and_sd_over_seeds_and_se_over_photos_of_the_seed_average():
    rng = np.random.default_rng(4)
    photo_effect = rng.normal(0, 1, 50)
    per_seed = [scores(np.repeat(photo_effect, 2) + shift + 0.1 * rng.normal(size=100),
                       rng.normal(0.2 + shift / 10, 0.01, 200), np.full(100, 0.3 + shift)) for shift in (0.0, 0.3, 0.9)]
    out = combine_seeds(per_seed, [0, 1, 2], PHOTOS)
    seed_ll = [float(group_means(s.ll, PHOTOS).mean()) for s in per_seed]       # each seed's mean over photos
    assert out.summary["seeds"] == 3 and out.summary["seed_values"] == [0, 1, 2]
    assert out.summary["ll"] == pytest.approx(np.mean(seed_ll))
    assert out.summary["ll_seed_sd"] == pytest.approx(np.std(seed_ll, ddof=1))
    assert out.summary["slider_error_seed_sd"] == pytest.approx(np.std([0.3, 0.6, 1.2], ddof=1))
    averaged = group_means(np.mean([s.ll for s in per_seed], axis=0), PHOTOS)
    assert out.summary["ll_se"] == pytest.approx(averaged.std(ddof=1) / math.sqrt(50))
    assert np.allclose(out.jsd_bootstrap, np.mean([s.jsd_bootstrap for s in per_seed], axis=0))
    assert [r["seed"] for r in out.summary["per_seed"]] == [0, 1, 2]
    one = combine_seeds(per_seed[:1], [0], PHOTOS)
    assert one.summary["ll_seed_sd"] is None and one.summary["ll"] == pytest.approx(seed_ll[0])


def test_lead_se_adds_both_seed_spreads_to_the_paired_photo_se():
    a = {"ll_seed_sd": 0.3, "seeds": 3}
    b = {"ll_seed_sd": 0.4, "seeds": 4}
    assert lead_se(0.1, a, b, "ll") == pytest.approx(math.sqrt(0.01 + 0.09 / 3 + 0.16 / 4))
    assert lead_se(0.1, {"ll_seed_sd": None, "seeds": 1}, {}, "ll") == pytest.approx(0.1)


def _pair(lead_in_se: float) -> dict[str, ModelScores]:
    """Two models whose LL differs by exactly `lead_in_se` paired s.e. over photos (one seed each)."""
    rng = np.random.default_rng(2)
    base = rng.normal(0, 1, 100)
    noise = rng.normal(0, 1, 50)
    noise = (noise - noise.mean()) / noise.std(ddof=1)          # per-photo differences: mean 0, s.d. 1
    se = 1 / math.sqrt(50)
    diff = np.repeat(noise + lead_in_se * se, 2)
    boot = np.full(200, 0.1)
    return {"a": scores(base + diff, boot + rng.normal(0, 1e-3, 200), np.full(100, 0.2)),
            "b": scores(base, boot + rng.normal(0, 1e-3, 200), np.full(100, 0.2))}


def test_a_lead_of_one_and_a_half_se_names_no_best_and_two_and_a_half_do():
    assert LEAD_SES == 2.0
    close = {r["metric"]: r for r in best_per_metric(_pair(1.5), PHOTOS)}["ll"]
    assert close["leader"] == "a" and close["lead"] / close["lead_se"] == pytest.approx(1.5)
    assert close["best"] is None and close["clear"] is False and "no clear best" in close["line"]
    clear = {r["metric"]: r for r in best_per_metric(_pair(2.5), PHOTOS)}["ll"]
    assert clear["best"] == "a" and clear["clear"] is True and clear["line"].startswith("ll: best a")


def test_paired_difference_uses_per_photo_differences():
    rng = np.random.default_rng(0)
    shared = rng.normal(0, 5, 100)                        # large photo-to-photo spread, common to both
    a = scores(shared + 1.0 + 0.1 * rng.normal(size=100), rng.normal(0.1, 0.01, 200), np.ones(100))
    b = scores(shared, rng.normal(0.1, 0.01, 200), np.ones(100))
    diff = paired_difference(a, b, "ll", PHOTOS)
    assert abs(diff.value - 1.0) < 0.05 and diff.se < 0.05        # unpaired s.e. would be ~0.7


def test_best_per_metric_says_whether_the_lead_exceeds_two_se():
    rng = np.random.default_rng(1)
    base = rng.normal(0, 1, 100)
    models = {"clear": scores(base + 0.5, np.full(200, 0.10) + rng.normal(0, 0.001, 200), np.full(100, 0.2)),
              "close": scores(base + 0.49 + rng.normal(0, 1, 100), np.full(200, 0.30), np.full(100, 0.1))}
    rows = {r["metric"]: r for r in best_per_metric(models, PHOTOS)}
    assert rows["ll"]["leader"] in models and rows["ll"]["clear"] is False and rows["ll"]["best"] is None
    assert rows["jsd"]["best"] == "clear" and rows["jsd"]["clear"] is True and rows["jsd"]["lead"] < 0
    assert rows["slider_error"]["leader"] == "close" and "leads clear" in rows["slider_error"]["line"]
    table = compare(models, models["close"], PHOTOS)
    assert [r["model"] for r in table["models"]] == ["clear", "close"] and table["floor"]["model"] == "feature_blind_floor"
    assert table["models"][1]["ll_minus_floor"] == 0.0


def known_answer_splits(truth: KnownAnswer, photos: tuple[int, int, int]) -> list:
    """Train, validation and test EditsData of `truth`: photos[i] photos x 5 editors each, seeds 1, 2, 3."""
    data = []
    for count, seed in zip(photos, (1, 2, 3)):
        x = truth.features(count, seed).repeat_interleave(5, 0)
        y = truth.sample_edits(x, torch.arange(len(x)) % 5, torch.Generator().manual_seed(seed))
        data.append(edits_data(x, y, np.arange(len(x)) // 5, split="test"))
    return data


def test_evaluate_models_puts_the_exact_model_above_the_floor():
    truth = KnownAnswer(Regime("t", "test", feature_dim=6, separation=0.3, weight_strength=2.0))
    data = known_answer_splits(truth, (150, 60, 100))
    out = evaluate_models({"truth": truth}, *data, num_samples=10)
    row = out["models"][0]
    assert row["ll_minus_floor"] > 3 * row["ll_minus_floor_se"] > 0, row
    assert out["floor"]["ll_num_samples"] == 1 and out["floor"]["components"] in (1, 2, 3, 5, 10)
    assert [b["metric"] for b in out["best"]] == ["ll", "jsd", "slider_error"] and "only truth" in out["best"][0]["line"]


def test_score_all_combines_a_models_seeds_scored_on_the_same_edits():
    truth = KnownAnswer(Regime("t", "test", feature_dim=6, separation=0.3, weight_strength=2.0))
    data = known_answer_splits(truth, (60, 30, 40))
    other = KnownAnswer(Regime("u", "test", feature_dim=6, separation=0.6, weight_strength=0.5))
    scores_, _ = score_all({"seeds": {0: truth, 1: other}, "single": truth}, *data, num_samples=10)
    combined, single = scores_["seeds"].summary, scores_["single"].summary
    assert combined["seeds"] == 2 and combined["seed_values"] == [0, 1] and "seeds" not in single
    assert combined["ll"] == pytest.approx(np.mean([r["ll"] for r in combined["per_seed"]]))
    assert combined["per_seed"][0]["ll"] == pytest.approx(single["ll"])
    assert combined["ll_seed_sd"] > 0
