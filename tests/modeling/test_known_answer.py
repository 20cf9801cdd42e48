"""Known-answer problem (modeling.known_answer): three styles whose weights depend on the photo, an
exact p(y | x) under the shared cell likelihood. Stated margins: MDN and CGM-VAE come within
MARGIN_NATS of the truth, above the feature-blind floor, and the MLP falls more than MLP_GAP_NATS
below them. The floor itself sits further than MARGIN_NATS below the truth, so a model that
ignores the features cannot pass the first test.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from modeling.known_answer import KnownAnswer, Regime
from modeling.metrics import grouped_mean_se, predictive_log_likelihood
from modeling.mixture_floor import fit_floor
from modeling.training import TrainConfig, new_model, train
from tests.modeling.synthetic import edits_data

MARGIN_NATS = 2.0
MLP_GAP_NATS = 5.0
TRUTH = KnownAnswer(Regime("test", "photo-dependent weights", feature_dim=8, weight_strength=1.0, seed=2))


@pytest.fixture(scope="module")
def problem():
    data = []
    for photos, seed in ((600, 1), (100, 2), (200, 3)):
        x = TRUTH.features(photos, seed).repeat_interleave(5, 0)
        y = TRUTH.sample_edits(x, torch.arange(len(x)) % 5, torch.Generator().manual_seed(seed))
        data.append(edits_data(x, y, np.arange(len(x)) // 5))
    return data


@pytest.fixture(scope="module")
def test_ll(problem):
    """Per-edit held-out LL [N] of the truth, the floor and three trained models."""
    train_data, val_data, test_data = problem
    out = {"truth": TRUTH.log_likelihood(test_data.x, test_data.y).double().numpy()}
    floor, _ = fit_floor(train_data.y, val_data.y, 8)
    out["floor"] = predictive_log_likelihood(floor, test_data, test_data.y)
    out["fixed_weights"] = TRUTH.with_fixed_weights(train_data.image_features()).log_likelihood(test_data.x, test_data.y).double().numpy()
    specs = {"mlp": ("mlp", {}), "mdn": ("mdn", {"components": 3}),
             "cgmvae": ("cgmvae", {"num_clusters": 3, "latent_dim": 2}),
             "cgmvae_px": ("cgmvae", {"num_clusters": 3, "latent_dim": 2, "cluster_prior": "photo"})}
    for name, (kind, kwargs) in specs.items():
        model = new_model(kind, train_data, seed=0, hidden=64, layers=1, projection_dim=0, **kwargs)
        train(model, train_data, val_data, TrainConfig(epochs=40, lr=3e-3, patience=10, val_samples=20, progress=False))
        out[name] = predictive_log_likelihood(model, test_data, test_data.y, num_samples=100)
        out[f"{name}_model"] = model
    return out


def gap(test_ll, problem, a: str, b: str) -> tuple[float, float]:
    """Mean and paired s.e. over photos of LL_a - LL_b (nats/edit)."""
    mean, se, _ = grouped_mean_se(test_ll[a] - test_ll[b], problem[2].photo_ids)
    return mean, se


def test_truth_is_what_the_data_says(problem, test_ll):
    for name in ("floor", "mlp", "mdn", "cgmvae", "cgmvae_px", "fixed_weights"):   # none beats the truth (Gibbs)
        mean, se = gap(test_ll, problem, name, "truth")
        assert mean < 3 * se, (name, mean, se)


def test_a_feature_blind_model_cannot_pass(problem, test_ll):
    mean, _ = gap(test_ll, problem, "floor", "truth")
    assert mean < -MARGIN_NATS, mean


@pytest.mark.parametrize("name", ["cgmvae", "cgmvae_px", "mdn"])
def test_multimodal_models_come_close_to_the_truth_and_beat_the_floor(problem, test_ll, name):
    to_truth, _ = gap(test_ll, problem, name, "truth")
    assert to_truth > -MARGIN_NATS, to_truth
    above, se = gap(test_ll, problem, name, "floor")
    assert above > 3 * se, (above, se)


@pytest.mark.parametrize("name", ["cgmvae", "mdn"])
def test_multimodal_models_beat_the_mlp(problem, test_ll, name):
    mean, se = gap(test_ll, problem, name, "mlp")
    assert mean > MLP_GAP_NATS and mean > 3 * se, (mean, se)


def test_cgmvae_clusters_capture_the_modes(problem, test_ll):
    """Edits spread over the clusters of q(s | x, y) (k-means start, then the VLB): no collapse."""
    test_data, model = problem[2], test_ll["cgmvae_model"]
    labels = model.cluster_logits(model.encode(test_data.x), test_data.y).argmax(-1).numpy()
    counts = np.bincount(labels, minlength=3) / len(labels)
    assert counts.max() < 0.8, counts


def test_weights_that_ignore_the_photo_cost_what_the_photo_says_about_the_style(problem, test_ll):
    """The truth with each editor's style weights averaged over photos: below the truth here (weights
    depend on x), equal to it where they do not (weight_strength 0)."""
    cost, se = gap(test_ll, problem, "fixed_weights", "truth")
    assert cost < -0.1 and cost < -3 * se, (cost, se)
    flat = KnownAnswer(Regime("flat", "weights fixed", feature_dim=8, weight_strength=0.0, seed=2))
    x = flat.features(50, 4).repeat_interleave(5, 0)
    y = flat.sample_edits(x, torch.arange(len(x)) % 5, torch.Generator().manual_seed(4))
    assert torch.allclose(flat.with_fixed_weights(x).log_likelihood(x, y), flat.log_likelihood(x, y), atol=1e-4)


def test_a_photo_cluster_prior_follows_the_photo(problem, test_ll):
    """The CGM-VAE ablation's p(s | x) moves with the photo (the truth's weights do); the paper's pi cannot."""
    test_data = problem[2]
    weights = test_ll["cgmvae_px_model"].cluster_prior_weights(test_data.x)
    spread = float((weights - weights.mean(0)).abs().sum(1).mean() / 2)     # mean total variation from the average
    fixed = test_ll["cgmvae_model"].cluster_prior_weights(test_data.x)
    assert spread > 0.05 and torch.equal(fixed, fixed[:1].expand_as(fixed)), spread
