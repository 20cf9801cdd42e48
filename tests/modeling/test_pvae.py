"""P-VAE personalisation: potentials that add over a user's edits, recognition trained on random
history sizes, the exact and amortised posteriors, and a curve that rises gradually where one edit
cannot identify a style but ten can."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment

from modeling import pvae
from modeling.personalisation import personalisation_curve
from modeling.training import TrainConfig, new_model, train
from tests.modeling.synthetic import ambiguous_user_problem, edits_data, user_problem

HISTORIES = (1, 3, 10, 30)
EPOCHS, BATCH = 30, 250
WHOLE_USERS_ONLY = {"random_history_mask": lambda inv, counts: torch.ones_like(inv, dtype=torch.bool)}


def fit(problem, users: int, **patches):
    """A small P-VAE trained on `users` users of `problem` (validation: 20 users); `patches` replace
    names in modeling.pvae during training."""
    xt, yt, ut, _ = problem(users, seed=1)
    xv, yv, uv, _ = problem(20, seed=2)
    train_data, val_data = edits_data(xt, yt, users=ut), edits_data(xv, yv, users=uv)
    model = new_model("pvae", train_data, seed=0, hidden=64, num_clusters=3, latent_dim=2,
                      projection_dim=0, input_dropout=0.0)
    with pytest.MonkeyPatch.context() as mp:
        for name, value in patches.items():
            mp.setattr(pvae, name, value)
        train(model, train_data, val_data, TrainConfig(epochs=EPOCHS, batch_size=BATCH, lr=3e-3, patience=40,
                                                       val_samples=10, progress=False))
    return model


@pytest.fixture(scope="module")
def ambiguous():
    return fit(ambiguous_user_problem, 150)


@pytest.fixture(scope="module")
def separated():
    return fit(user_problem, 100)


def posterior_table(model, problem=ambiguous_user_problem, num_users: int = 40) -> dict:
    """Per history size k: mean max probability of the amortised and exact posteriors, their mean
    total variation distance, and the exact posterior's accuracy (clusters matched to styles)."""
    xs, ys, us, styles = problem(num_users, seed=3)
    gen = torch.Generator().manual_seed(0)
    out = {}
    for k in HISTORIES:
        hist = [(xs[us == u][:k], ys[us == u][:k]) for u in range(num_users)]
        amortised = torch.stack([model.cluster_posterior(x, y) for x, y in hist])
        exact = torch.stack([model.exact_cluster_posterior(x, y, 50, gen) for x, y in hist])
        confusion = np.zeros((3, 3))
        np.add.at(confusion, (styles, exact.argmax(1).numpy()), 1)
        r, c = linear_sum_assignment(-confusion)                       # clusters up to relabelling
        out[k] = {"max_amortised": float(amortised.max(1).values.mean()),
                  "max_exact": float(exact.max(1).values.mean()),
                  "tv": float(0.5 * (amortised - exact).abs().sum(1).mean()),
                  "accuracy": confusion[r, c].sum() / num_users}
    return out


def amortised_tracks_exact(table: dict, tolerance: float = 0.25) -> bool:
    """The amortised q agrees with the model's exact posterior at every history size."""
    return all(table[k]["tv"] < tolerance for k in HISTORIES)


def test_potentials_add_over_edits():
    model = new_model("pvae", edits_data(torch.randn(10, 8), torch.zeros(10, 11)), seed=0, hidden=16,
                      num_clusters=3, projection_dim=0)
    with torch.no_grad():
        model.cluster_net.out.bias.copy_(torch.tensor([0.0, 0.3, -0.3]))
        model.prior_logits.copy_(torch.tensor([0.2, 0.0, -0.1]))
    x, y = torch.randn(1, 8).expand(10, -1), torch.zeros(10, 11)
    r = model.cluster_potentials(x[:1], y[:1])[0]
    expected = torch.softmax(model.log_prior_weights() + 10 * r, -1)
    assert torch.allclose(model.cluster_posterior(x, y), expected, atol=1e-6)
    assert torch.allclose(model.cluster_posterior(x[:0], y[:0]), model.log_prior_weights().exp())


def test_random_history_sizes_cover_one_to_all_edits():
    inv = torch.repeat_interleave(torch.arange(4), torch.tensor([1, 5, 50, 7]))
    counts = torch.bincount(inv)
    torch.manual_seed(0)
    sizes = torch.stack([torch.bincount(inv[pvae.random_history_mask(inv, counts)], minlength=4)
                         for _ in range(2000)]).float()
    assert sizes.min() >= 1 and torch.all(sizes.max(0).values == counts.float())
    assert abs(float(sizes[:, 2].mean()) - 25.5) < 1.0               # uniform on 1..50


def test_one_edit_cannot_identify_a_style_but_ten_can(ambiguous):
    table = posterior_table(ambiguous)
    for kind in ("max_amortised", "max_exact"):
        assert table[1][kind] < 0.7, table                             # one edit: still uncertain
        assert table[10][kind] > 0.8, table                            # ten edits: identified
    assert table[10]["accuracy"] >= 0.8 and table[30]["accuracy"] > 0.9, table
    assert amortised_tracks_exact(table), table


def test_a_mean_instead_of_sum_potential_fails(ambiguous, monkeypatch):
    def mean_logits(log_pi, log_r, inv, num_users):
        counts = torch.bincount(inv, minlength=num_users).clamp_min(1)[:, None].to(log_r.dtype)
        return log_pi[None] + torch.zeros(num_users, log_r.shape[1]).index_add(0, inv, log_r) / counts

    monkeypatch.setattr(pvae, "user_cluster_logits", mean_logits)
    table = posterior_table(ambiguous)
    assert not amortised_tracks_exact(table) and table[30]["max_amortised"] < 0.7, table


def test_one_edit_identifies_well_separated_styles(separated):
    """Where one edit does reveal the style, the model's posterior and the amortised q say so at once."""
    table = posterior_table(separated, user_problem, num_users=30)
    assert table[1]["max_exact"] > 0.95 and table[1]["max_amortised"] > 0.95, table
    assert amortised_tracks_exact(table, tolerance=0.1), table


def test_a_recognition_trained_only_on_whole_users_fails():
    """Without random history sizes the potentials only need to be right summed over ~50 edits."""
    table = posterior_table(fit(user_problem, 100, **WHOLE_USERS_ONLY), user_problem, num_users=30)
    assert table[1]["max_exact"] > 0.95 and not amortised_tracks_exact(table, tolerance=0.1), table


def test_personalisation_curve_rises_gradually_and_saturates(ambiguous):
    xs, ys, us, _ = ambiguous_user_problem(60, seed=4)
    curve = personalisation_curve(ambiguous, edits_data(xs, ys, users=us, split="test"), num_samples=20)
    assert curve["users"] == 60 and curve["history"] == list(range(31))
    for kind in ("exact", "amortised"):
        gain, se = np.array(curve[kind]["gain"]), np.array(curve[kind]["gain_se"])
        assert gain[0] == 0.0 and gain[30] > 3 * se[30] > 0, gain
        assert gain[1] < 0.6 * gain[30], gain                          # no jump at one edit
        assert gain[10] > 0.7 * gain[30], gain                         # most of the rise by ten edits
    assert curve["normalised"] == curve["amortised"]["gain"]
