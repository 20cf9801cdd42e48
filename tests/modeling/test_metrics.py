"""JSD of slider histograms, grouped standard errors and the LL helpers."""
from __future__ import annotations

import numpy as np
import torch
from scipy.spatial.distance import jensenshannon

from modeling.baselines import GaussianMLP
from modeling.metrics import (grouped_mean_se, histogram_jsd, jsd_scores, mean_se,
                              predictive_log_likelihood, slider_jsd)
from tests.modeling.synthetic import edits_data


def test_histogram_jsd_known_values():
    rng = np.random.default_rng(0)
    a = rng.uniform(-1, -0.5, 1000)
    assert histogram_jsd(a, a) == 0.0
    assert abs(histogram_jsd(a, rng.uniform(0.5, 1.0, 1000)) - 1.0) < 1e-12  # disjoint: 1 bit
    # half overlapping: p = [1, 0], q = [.5, .5] on 2 bins -> JSD = 0.3113 bits (squared JS distance)
    p, q = np.array([1.0, 0.0]), np.array([0.5, 0.5])
    expected = jensenshannon(p, q, base=2) ** 2
    got = histogram_jsd(np.full(10, -0.5), np.r_[np.full(10, -0.5), np.full(10, 0.5)], bins=2)
    assert abs(got - expected) < 1e-12 and abs(got - 0.3113) < 1e-4


def test_slider_jsd_per_slider():
    rng = np.random.default_rng(1)
    true = rng.uniform(-1, 1, size=(2000, 11))
    sampled = true.copy()
    sampled[:, 4] = rng.uniform(0.8, 1.0, 2000)
    jsd = slider_jsd(true, sampled, bins=20)
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
        model.net.out.bias[11:] = 2.0  # slider std ~0.5: histograms spread over the bins
    x = torch.randn(300, 3)
    y = model.sample(x, 1, generator=torch.Generator().manual_seed(5))[:, 0]
    ll = predictive_log_likelihood(model, x, y, batch_size=64)
    mean, logvar = model.predict(x)
    exact = torch.distributions.Normal(mean, (0.5 * logvar).exp()).log_prob(y).sum(-1)
    assert np.allclose(ll, exact.detach().numpy(), atol=1e-4)
    data = edits_data(x, y, image=np.arange(300) // 3, split="test")
    scores = jsd_scores(model, data, bins=10, bootstrap=20)
    assert 0 < scores["jsd"] < 0.05  # its own distribution: only sampling noise
    shifted = edits_data(x, (y + 0.8).clamp(-1, 1), image=np.arange(300) // 3, split="test")
    assert jsd_scores(model, shifted, bins=10, bootstrap=0)["jsd"] > 0.3
    assert scores["jsd_se"] > 0 and scores["jsd_images"] == 100 and scores["jsd_log_base"] == 2.0
