"""The LBN's likelihood estimate: importance sampling over gates with the learned proposal matches
brute-force enumeration of every gate setting of a tiny network, and reports its convergence."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from modeling.likelihood import slider_log_prob
from modeling.metrics import convergence, log_likelihood_weights
from modeling.networks import log_mean_exp
from modeling.training import TrainConfig, new_model, train
from tests.modeling.synthetic import edits_data, mixture_problem

HIDDEN, LAYERS = 3, 2   # 6 gates: 64 settings


@pytest.fixture(scope="module")
def tiny():
    xt, yt, _, it = mixture_problem(300, seed=1)
    xv, yv, _, iv = mixture_problem(60, seed=2)
    model = new_model("lbn", edits_data(xt, yt, it), seed=0, hidden=HIDDEN, layers=LAYERS, projection_dim=0)
    train(model, edits_data(xt, yt, it), edits_data(xv, yv, iv),
          TrainConfig(epochs=40, batch_size=50, lr=1e-2, patience=40, val_samples=20, progress=False))
    xs, ys, _, _ = mixture_problem(40, seed=3)
    return model, xs, ys


def enumerated_log_likelihood(model, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """log p(y | x) [B] summed exactly over all 2^(layers * hidden) gate settings."""
    settings = torch.tensor(list(itertools.product([0.0, 1.0], repeat=LAYERS * HIDDEN)))   # [64, 6]
    gates = [settings[:, l * HIDDEN:(l + 1) * HIDDEN][None].expand(x.shape[0], -1, -1) for l in range(LAYERS)]
    with torch.no_grad():
        params, log_p, _ = model.gate_terms(x, y, len(settings), gates=gates)
        return torch.logsumexp(slider_log_prob(y[:, None], params).double() + log_p.double(), dim=1)


def test_importance_sampling_matches_enumeration(tiny):
    model, xs, ys = tiny
    exact = enumerated_log_likelihood(model, xs, ys)
    log_w = log_likelihood_weights(model, xs, ys, num_samples=200, seed=0)
    estimate = log_mean_exp(log_w, dim=1)
    assert float((estimate - exact).abs().mean()) < 0.1, (estimate - exact)
    check = convergence(log_w)
    assert not check["exact"] and check["samples"] == [25, 50, 100, 200] and check["converged"], check


def test_the_learned_proposal_beats_prior_gates(tiny):
    """With the same 10 draws, gates from q(g | x, y) estimate log p(y | x) better than gates from the prior."""
    model, xs, ys = tiny
    exact = enumerated_log_likelihood(model, xs, ys)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        params, _, _ = model.gate_terms(xs, None, 10, gen)                  # prior gates
        prior_estimate = log_mean_exp(slider_log_prob(ys[:, None], params).double(), dim=1)
    learned = log_mean_exp(log_likelihood_weights(model, xs, ys, num_samples=10, seed=1), dim=1)
    assert float((learned - exact).abs().mean()) < float((prior_estimate - exact).abs().mean())


def test_training_objective_is_the_importance_weighted_bound(tiny):
    """The objective's value is the S-sample bound: below the enumerated log-likelihood on average."""
    model, xs, ys = tiny
    model.train()
    torch.manual_seed(0)
    bound = torch.stack([model.objective(xs, ys) for _ in range(20)]).mean(0).detach()
    model.eval()
    assert float(bound.mean()) <= float(enumerated_log_likelihood(model, xs, ys).mean()) + 1e-3
    assert np.isfinite(bound.numpy()).all()
