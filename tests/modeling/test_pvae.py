"""P-VAE on synthetic users with a known style: identification after 10 edits and the curve."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from modeling.metrics import personalisation_curve
from modeling.training import TrainConfig, new_model, train
from tests.modeling.synthetic import edits_data, user_problem


@pytest.fixture(scope="module")
def fitted():
    xt, yt, ut, _ = user_problem(100, seed=1)
    xv, yv, uv, _ = user_problem(20, seed=2)
    train_data, val_data = edits_data(xt, yt, users=ut), edits_data(xv, yv, users=uv)
    model = new_model("pvae", train_data, seed=0, hidden=64, num_clusters=3, latent_dim=2)
    train(model, train_data, val_data, TrainConfig(epochs=40, batch_size=200, lr=3e-3, patience=15,
                                                   progress=False))
    return model


def test_pvae_identifies_a_users_cluster_after_10_edits(fitted):
    xs, ys, us, styles = user_problem(60, seed=3)
    predicted = np.array([int(fitted.cluster_posterior(xs[us == u][:10], ys[us == u][:10]).argmax())
                          for u in range(60)])
    confusion = np.zeros((3, 3))
    np.add.at(confusion, (styles, predicted), 1)
    rows, cols = linear_sum_assignment(-confusion)  # clusters are identified up to relabelling
    accuracy = confusion[rows, cols].sum() / 60
    assert accuracy > 0.9, confusion


def test_personalisation_curve_rises_with_more_edits(fitted):
    xs, ys, us, _ = user_problem(30, seed=4)
    curve = personalisation_curve(fitted, edits_data(xs, ys, users=us, split="test"), num_samples=20)
    assert curve["users"] == 30 and curve["history"] == list(range(31))
    assert curve["normalised"][0] == 1.0
    assert curve["gain"][10] > 0.5 and curve["gain"][10] > 5 * curve["gain_se"][10]
    assert curve["normalised"][30] > curve["normalised"][0]
    assert curve["ll"][30] >= curve["ll"][1] - 0.05
