"""JSD of slider histograms (bins centred on the neutral values), grouped standard errors, the LL
helpers with their convergence check, and the LAB-free slider error."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.spatial.distance import jensenshannon
from scipy.stats import norm

from modeling.baselines import GaussianMLP
from modeling.likelihood import ATOM_SLIDERS
from modeling.metrics import (
    NEUTRAL_MODEL,
    clustered_mean_se,
    convergence,
    grouped_mean_se,
    histogram_jsd,
    jsd_edges,
    jsd_scores,
    mean_se,
    predictive_log_likelihood,
    slider_errors,
    slider_jsd,
)
from modeling.networks import SliderModel
from rendering.sliders import PROCESS_2012
from tests.modeling.synthetic import edits_data


def test_histogram_jsd_known_values():
    rng = np.random.default_rng(0)
    a = rng.uniform(-1, -0.5, 1000)
    assert histogram_jsd(a, a) == 0.0
    assert abs(histogram_jsd(a, rng.uniform(0.5, 1.0, 1000)) - 1.0) < 1e-12  # disjoint: 1 bit
    # two bins [-1, 0], [0, 1]: p = [1, 0], q = [.5, .5] -> JSD = 0.3113 bits (squared JS distance)
    expected = jensenshannon(np.array([1.0, 0.0]), np.array([0.5, 0.5]), base=2) ** 2
    got = histogram_jsd(np.full(10, -0.5), np.r_[np.full(10, -0.5), np.full(10, 0.5)], bins=2, centre=0.5)
    assert abs(got - expected) < 1e-12 and abs(got - 0.3113) < 1e-4


@pytest.mark.parametrize("bins", [20, 21, 25])
def test_no_bin_edge_falls_on_a_neutral_value(bins):
    for neutral in [*NEUTRAL_MODEL, *PROCESS_2012.to_model(PROCESS_2012.neutral())]:
        edges = jsd_edges(float(neutral), bins)
        inner = edges[1:-1]
        assert edges[0] == -1.0 and edges[-1] == 1.0 and np.all(np.diff(edges) > 0)
        assert np.all(np.abs(inner - neutral) > 0.4 * 2 / bins)      # neutral sits mid-bin
        assert np.all(np.diff(edges) <= 2 / bins + 1e-12)


def test_an_atom_at_neutral_is_matched_by_a_model_centred_on_it():
    """Untouched sliders sit exactly at 0: a model centred there must score better than one shifted by 3 std."""
    rng = np.random.default_rng(2)
    atoms, std = np.zeros(4000), 0.01
    centred, shifted = rng.normal(0.0, std, 4000), rng.normal(3 * std, std, 4000)
    assert histogram_jsd(atoms, centred, bins=20) < 0.01
    assert histogram_jsd(atoms, centred, bins=20) < histogram_jsd(atoms, shifted, bins=20)
    # the former equal 20 bins on [-1, 1] put an edge at 0 and rank them the other way round
    old = np.linspace(-1, 1, 21)
    hist = lambda v: np.histogram(v, old)[0] / len(v)
    assert jensenshannon(hist(atoms), hist(centred), base=2) ** 2 > jensenshannon(hist(atoms), hist(shifted), base=2) ** 2


def test_slider_jsd_per_slider():
    rng = np.random.default_rng(1)
    true = rng.uniform(-1, 1, size=(2000, 11))
    sampled = true.copy()
    sampled[:, 4] = rng.uniform(0.8, 1.0, 2000)
    jsd = slider_jsd(true, sampled, bins=21)
    assert jsd.shape == (11,)
    assert np.all(jsd[np.arange(11) != 4] == 0) and jsd[4] > 0.5


def test_grouped_standard_error():
    values = np.array([1.0, 3.0, 10.0, 10.0, 10.0, 4.0])
    groups = np.array(["a", "a", "b", "b", "b", "c"])
    mean, se, n = grouped_mean_se(values, groups)
    assert n == 3 and mean == (2 + 10 + 4) / 3
    assert np.isclose(se, np.std([2, 10, 4], ddof=1) / np.sqrt(3))
    assert mean_se(np.array([5.0])) == (5.0, 0.0)


def test_exact_ll_and_jsd_scores_of_a_known_gaussian():
    torch.manual_seed(0)
    model = GaussianMLP(3, hidden=8)
    with torch.no_grad():
        model.net.out.bias[11:] = 2.0  # slider std ~0.4: histograms spread over the bins
    x = torch.randn(300, 3)
    y = model.sample(x, 1, generator=torch.Generator().manual_seed(5))[:, 0]
    ll = predictive_log_likelihood(model, x, y, batch_size=64)
    params = model.predict(x)
    mean, std = params.mean.detach().double().numpy(), np.exp(0.5 * params.logvar.detach().double().numpy())
    p_atom = 1 / (1 + np.exp(-params.atom_logit.detach().double().numpy())) * ATOM_SLIDERS.numpy()
    yd = y.double().numpy()
    counts = np.array([12000, 300, 800, 100, 100, 100, 150, 150, 200, 200, 200])
    k = np.round((yd + 1) * counts / 2)
    lo = np.where(k == 0, -np.inf, -1 + (2 * k - 1) / counts)
    hi = np.where(k == counts, np.inf, -1 + (2 * k + 1) / counts)
    at_neutral = k == np.round((NEUTRAL_MODEL + 1) * counts / 2)
    cells = norm.cdf((hi - mean) / std) - norm.cdf((lo - mean) / std)
    exact = np.log(p_atom * at_neutral + (1 - p_atom) * cells).sum(-1)
    assert at_neutral[:, ATOM_SLIDERS.numpy()].mean() > 0.05                     # the sample has atoms
    assert np.allclose(ll, exact, atol=1e-3)
    data = edits_data(x, y, image=np.arange(300) // 3, split="test")
    scores, boot = jsd_scores(model, data, bins=11, bootstrap=20)
    assert 0 < scores["jsd"] < 0.05 and len(boot) == 20  # its own distribution: only sampling noise
    shifted = edits_data(x, (y + 0.8).clamp(-1, 1), image=np.arange(300) // 3, split="test")
    assert jsd_scores(model, shifted, bins=11, bootstrap=0)[0]["jsd"] > 0.3
    assert scores["jsd_se"] > 0 and scores["jsd_images"] == 100 and len(scores["jsd_per_slider"]) == 11


def test_convergence_reports_nested_estimates():
    torch.manual_seed(0)
    log_w = torch.randn(500, 400, dtype=torch.float64)                 # log-normal weights, true LL = 0.5
    check = convergence(log_w)
    assert check["samples"] == [50, 100, 200, 400] and not check["exact"]
    assert check["ll"][0] < check["ll"][-1] < 0.5                     # biased low, rising with S
    assert check["ess_min"] <= check["ess_mean"] <= 400
    assert check["tolerance"] == 0.01 and check["converged"], check
    # log-normal weights: var(W)/E[W]^2 = e - 1, so the log bias at S draws is (e - 1) / (2 S)
    assert abs(check["ess_bias"] - (np.e - 1) / 800) < 0.001, check
    assert abs(check["ll"][-1] - (0.5 - (np.e - 1) / 800)) < 3 * check["ess_se"] + 0.002, check
    heavy = convergence(3.0 * log_w)                                   # heavy-tailed: not converged
    assert not heavy["converged"] and heavy["ess_bias"] > 0.01
    assert convergence(log_w[:, :1])["exact"]


def test_convergence_needs_the_ess_bias_under_tolerance():
    """Weights whose doublings do not move the mean but whose ESS (8 of 64) puts the log bias at 0.05: not converged."""
    few = torch.full((300, 64), -30.0, dtype=torch.float64)
    few[:, ::8] = 0.0                                                   # every 8th draw dominates
    check = convergence(few)
    assert check["last_doubling_change"] < 0.01 and check["ess_bias"] > 0.01 and not check["converged"], check


def test_clustered_se_counts_clusters_not_units():
    """Units identical within 2 clusters: the s.e. is that of 2 cluster means, not of 8 independent units."""
    values = np.array([1.0] * 4 + [3.0] * 4)
    mean, se = clustered_mean_se(values, np.array(["A"] * 4 + ["B"] * 4))
    assert mean == 2.0 and abs(se - 1.0) < 1e-12                        # std([1, 3]) / sqrt(2)
    assert se > 2 * mean_se(values)[1]                                   # the naive s.e.: 0.38
    same = clustered_mean_se(values, np.arange(8))                       # one unit per cluster: the usual s.e.
    assert abs(same[1] - mean_se(values)[1]) < 1e-12
    assert np.isnan(clustered_mean_se(values, np.zeros(8))[1])          # one cluster: not estimable


class Constant(SliderModel):
    """Proposes the same sliders for every photo (for a hand-computed slider error)."""

    def __init__(self, value: torch.Tensor):
        super().__init__(3)
        self.value = value

    def sample(self, x, n, generator=None):
        return self.value.expand(x.shape[0], n, 11).clone()


def test_slider_error_aligns_proposals_to_edits():
    y = torch.tensor([[0.1] * 11, [-0.2] * 11, [0.5] * 11, [0.5] * 11])
    data = edits_data(torch.zeros(4, 3), y, image=np.array([0, 0, 1, 1]), split="test")
    errors = slider_errors(Constant(torch.zeros(11)), data)
    assert np.allclose(errors, [(0.1 + 0.2) / 2, 0.5])                 # RMS over sliders, mean over edits
    assert math.isclose(float(slider_errors(Constant(torch.full((11,), 0.5)), data)[1]), 0.0, abs_tol=1e-7)
