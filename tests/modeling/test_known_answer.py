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

from modeling.known_answer import KnownAnswer, Regime, truth_personalisation_curve
from modeling.likelihood import CELL_COUNTS, NEUTRAL, cell_index
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


# --- exactness of the generator's options (sparse / low rank / both, keep_style, clipping, steps) ---

OPTIONS = {
    "sparse": dict(feature_dim=24, informative=3, raw_informative=3, styles=3, weight_strength=2.0,
                   mean_strength=0.2, editor_preference=0.3),
    "both_atoms_clip_steps": dict(feature_dim=40, informative=4, raw_informative=2, factors=6, styles=2,
                                  weight_strength=1.5, mean_strength=0.1, atoms=True, touch_p=0.5,
                                  clip_share=0.3, steps=True, editor_preference=0.8),
    "low_rank_keep": dict(feature_dim=40, informative=3, raw_informative=0, factors=5, styles=4,
                          mean_strength=0.1, keep_style=True, editor_preference=0.3, atoms=True, steps=False),
}


def option_truth(name: str, **overrides) -> KnownAnswer:
    return KnownAnswer(Regime(name, "test", **{**OPTIONS[name], "seed": 5, **overrides}))


def joint_cells(y: torch.Tensor) -> np.ndarray:
    """The lattice cell of every slider of each edit [N, 11] (int)."""
    return cell_index(y).numpy().astype(np.int64)


@pytest.mark.parametrize("name", list(OPTIONS))
def test_sampled_cell_frequencies_match_the_exact_probabilities(name):
    """With a noise well below most cells an edit lands in few joint cells: the frequencies of
    sample_edits there match exp(log p(y | x)) (editor unknown, and per editor), and the exact
    masses of the distinct cells drawn never sum past 1."""
    truth = option_truth(name, noise=1e-4)
    x = truth.features(2, seed=1)
    n = 10000
    for photo in range(2):
        xs = x[photo:photo + 1].expand(n, -1)
        for editors, log_prob in ((None, truth.log_likelihood), (2, None)):
            if editors is None:
                y = truth.sample(x[photo:photo + 1], n, torch.Generator().manual_seed(photo))[0]
                lp = log_prob(xs, y)
            else:
                e = torch.full((n,), editors)
                y = truth.sample_edits(xs, e, torch.Generator().manual_seed(10 + photo))
                lp = truth.log_prob_given_editor(xs, y, e)
            cells, first, counts = np.unique(joint_cells(y), axis=0, return_index=True, return_counts=True)
            p = lp[first].double().exp().numpy()
            assert p.sum() <= 1 + 1e-6, p.sum()
            big = n * p >= 100
            assert p[big].sum() > 0.3, (name, p[big].sum())
            z = (counts[big] - n * p[big]) / np.sqrt(n * p[big] * (1 - p[big]))
            assert np.abs(z).max() < 5, (name, photo, editors, z)


def reference_log_prob(truth: KnownAnswer, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """log p(y | x) [N] written from the module docstring in numpy/scipy, apart from the module's code."""
    from scipy.stats import norm
    r = truth.regime
    t = truth.signal(x).double().numpy()
    logits = r.weight_strength * t @ truth.style_map.double().numpy()
    prefs = truth.prefs.double().numpy()                                                  # [E, S]
    w = np.exp(logits - logits.max(1, keepdims=True))[:, None] * prefs[None]               # [N, E, S]
    w /= w.sum(-1, keepdims=True)
    means = truth.centres.double().numpy()[None] + r.mean_strength * (t @ truth.mean_map.double().numpy())[:, None]
    counts = CELL_COUNTS.numpy()
    yy = y.double().numpy()
    k = np.round((yy + 1) * counts / 2)
    lo = np.where(k <= 0, -np.inf, -1 + (k - 0.5) * 2 / counts)[:, None]
    hi = np.where(k >= counts, np.inf, -1 + (k + 0.5) * 2 / counts)[:, None]
    cont = norm.cdf(hi, means, r.noise) - norm.cdf(lo, means, r.noise)                     # [N, S, 11]
    rho = truth.rho.double().numpy()[None]
    neutral = (k == np.round((NEUTRAL.double().numpy() + 1) * counts / 2))[:, None]
    per_slider = rho * neutral + (1 - rho) * cont
    per_slider[..., :2] = cont[..., :2]                                                    # white balance: no atom
    style = per_slider.prod(-1)                                                            # [N, S]
    return np.log((w * style[:, None]).sum(-1).mean(-1))


@pytest.mark.parametrize("name", list(OPTIONS))
def test_log_prob_matches_an_independent_reference(name):
    truth = option_truth(name, noise=0.08)
    x = truth.features(200, seed=2)
    y = truth.sample_edits(x, torch.arange(200) % 5, torch.Generator().manual_seed(3))
    ref = reference_log_prob(truth, x, y)
    assert np.isfinite(ref).all()
    assert np.allclose(truth.log_likelihood(x, y).double().numpy(), ref, atol=2e-4)


def test_signal_sits_where_the_regime_says():
    """Sparse: the signal is the raw coordinates at the drawn positions; factor directions: unit variance."""
    for name in OPTIONS:
        truth = option_truth(name)
        r = truth.regime
        x = truth.features(4000, seed=4)
        t = truth.signal(x)
        raw = truth.raw_positions
        assert len(raw) == r.raw_informative and len(set(raw.tolist())) == len(raw)
        assert torch.equal(t[:, :len(raw)], x[:, raw])
        assert torch.allclose(t.std(0), torch.ones(r.informative), atol=0.06), (name, t.std(0))
        others = np.setdiff1d(np.arange(r.feature_dim), raw.numpy())
        if r.factors == 0:   # the rest: independent noise, uncorrelated with the signal
            corr = np.corrcoef(np.concatenate([t.numpy(), x[:, others].numpy()], 1).T)[:r.informative, r.informative:]
            assert np.abs(corr).max() < 0.08


def test_a_user_who_keeps_a_style_uses_it_for_every_edit():
    truth = option_truth("low_rank_keep")
    x = truth.features(300, seed=5)
    log_style, _ = truth.components(x)                          # [B, E, S]
    assert torch.equal(log_style.exp(), truth.prefs[None].expand_as(log_style))
    assert torch.equal(truth.prefs.sum(1), torch.ones(5)) and set(truth.prefs.unique().tolist()) == {0.0, 1.0}
    y = truth.sample_edits(x.repeat_interleave(5, 0), torch.arange(1500) % 5, torch.Generator().manual_seed(6))
    each = truth.log_prob_each_editor(x.repeat_interleave(5, 0), y)
    assert torch.allclose(torch.logsumexp(each, 1) - np.log(5), truth.log_likelihood(x.repeat_interleave(5, 0), y)
                          .double(), atol=1e-4)
    flat = truth.with_fixed_weights(x)        # kept styles ignore the photo: fixed weights are the truth
    assert torch.allclose(flat.log_likelihood(x.repeat_interleave(5, 0), y),
                          truth.log_likelihood(x.repeat_interleave(5, 0), y), atol=1e-4)


def test_clipping_and_steps_put_edits_where_they_say():
    truth = option_truth("both_atoms_clip_steps", noise=0.08)
    x = truth.features(400, seed=7)
    y = truth.sample_edits(x, torch.arange(400) % 5, torch.Generator().manual_seed(8))
    assert float((y.abs() == 1).float().mean()) > 0.05                              # piled at the range ends
    lattice = -1.0 + 2.0 * cell_index(y) / CELL_COUNTS
    assert torch.allclose(lattice[:, 1:], y[:, 1:].double(), atol=1e-6)               # Lightroom steps
    off = option_truth("both_atoms_clip_steps", noise=0.08, steps=False, clip_share=0.0)
    y_off = off.sample_edits(x, torch.arange(400) % 5, torch.Generator().manual_seed(8))
    assert not torch.allclose(-1.0 + 2.0 * cell_index(y_off)[:, 1:] / CELL_COUNTS[1:], y_off[:, 1:].double(), atol=1e-6)


def test_truth_curve_is_zero_without_preference_and_reaches_the_ceiling_when_users_keep_a_style():
    none = truth_personalisation_curve(option_truth("sparse", editor_preference=0.0), users_per_editor=4, seed=1)
    assert max(abs(g) for g in none["gain"]) < 1e-9 and abs(none["ceiling"]) < 1e-9
    keep = truth_personalisation_curve(option_truth("low_rank_keep", editor_preference=0.0), users_per_editor=4, seed=1)
    assert abs(keep["gain"][0]) < 1e-9 and keep["ceiling"] > 0.1
    assert keep["gain"][1] > 0 and keep["gain"][30] <= keep["ceiling"] + 1e-9
    assert keep["gain"][30] > 0.9 * keep["ceiling"]     # 30 edits identify a kept style of noise-separated styles
