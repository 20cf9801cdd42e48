"""The input group lasso (modeling.projection, modeling.training): the proximal map, which inputs a
trained model keeps on a problem whose signal sits in a few raw coordinates, a strong penalty that
leaves the feature-blind fit, the checkpoint of a penalised model, and the default input candidates
of a run without search."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from modeling.checkpoints import CHECKPOINT, CONFIG, model_files, model_from_files
from modeling.metrics import predictive_log_likelihood
from modeling.mixture_floor import fit_em
from modeling.projection import group_soft_threshold, input_column_norms
from modeling.registry import MODELS
from modeling.input_screening import SCREEN_PENALTIES, InputScreening, screen_inputs
from modeling.search import INPUT_CANDIDATES
from modeling.train_run import TrainSettings, run_training, without_empty_screen
from modeling.training import TrainConfig, new_model, proximal_input_step, train
from tests.modeling.synthetic import edits_data

D, SIGNAL = 24, 3   # features, of which the first SIGNAL carry the signal


def sparse_problem(photos: int, seed: int, strength: float = 0.4):
    """y = clip(0.5 tanh(x[:, :3] B) + 0.05 noise): sliders that depend on 3 of 24 standard normal features."""
    B = np.random.default_rng(5).normal(size=(SIGNAL, 11))
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(photos, D))
    y = np.clip(strength * np.tanh(x[:, :SIGNAL] @ B) + 0.05 * rng.normal(size=(photos, 11)), -1, 1)
    return torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)


@pytest.fixture(scope="module")
def data():
    return (edits_data(*sparse_problem(400, seed=1)), edits_data(*sparse_problem(150, seed=2)))


def test_group_soft_threshold_is_the_proximal_map_of_the_group_lasso():
    g = torch.Generator().manual_seed(0)
    weights = [torch.randn(4, 6, generator=g), torch.randn(3, 6, generator=g)]
    weights[0][:, 2] *= 0.01
    weights[1][:, 2] *= 0.01                                    # input 2: a small group
    before = [w.clone() for w in weights]
    norms = input_column_norms(before)
    t = 0.5
    kept = group_soft_threshold(weights, t)
    assert kept.tolist() == (norms > t).tolist() and not kept[2]
    for w, v in zip(weights, before):
        assert torch.allclose(w, v * (1 - t / norms).clamp_min(0)[None])
        assert torch.equal(w[:, 2], torch.zeros(w.shape[0]))
    # it minimises 0.5 ||W - V||^2 + t sum_j ||W_j||: no nearby point does better
    def cost(ws):
        return sum(0.5 * ((w - v) ** 2).sum() for w, v in zip(ws, before)) + t * input_column_norms(ws).sum()
    best = cost(weights)
    for _ in range(20):
        nudged = [w + 0.01 * torch.randn(w.shape, generator=g) for w in weights]
        assert cost(nudged) > best


def test_the_threshold_is_the_penalty_times_adams_step():
    torch.manual_seed(0)
    model = MODELS["mlp"](feature_dim=5, hidden=4)
    opt = torch.optim.AdamW(model.parameters(), lr=0.01)
    model.objective(torch.randn(8, 5), torch.rand(8, 11) * 2 - 1).mean().neg().backward()
    opt.step()
    w = model.input_weights()[0]
    v_hat = opt.state[w]["exp_avg_sq"] / (1 - 0.999)
    expected = 0.3 * 0.01 / (v_hat.mean(0).sqrt() + 1e-8)
    before = w.detach().clone()
    proximal_input_step(model, opt, 0.3)
    assert torch.allclose(w.detach(), before * (1 - expected / before.norm(dim=0)).clamp_min(0)[None])


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_exposes_the_first_layers_that_read_the_features(name):
    kwargs = {"num_clusters": 2, "latent_dim": 2} if name in ("cgmvae", "pvae") else {}
    model = MODELS[name](feature_dim=7, hidden=5, projection_dim=3, **kwargs)
    weights = model.input_weights()
    assert weights and all(w.shape == (5, 3) for w in weights)
    for w in weights:                                              # zero columns: the model ignores that input
        w.data[:, 1] = 0
    x = torch.randn(4, 7)
    model.eval()
    shifted = model.encode(x)
    assert shifted.shape == (4, 3)


def test_the_penalty_keeps_the_relevant_inputs_only_and_survives_a_checkpoint(data):
    tr, va = data
    model = new_model("mlp", tr, seed=0, hidden=16)
    result = train(model, tr, va, TrainConfig(epochs=25, batch_size=32, lr=3e-3, patience=30, seed=0,
                                              input_penalty=1.0, progress=False))
    norms = input_column_norms(model.input_weights())
    assert (norms[:SIGNAL] > 0.1).all(), norms
    assert torch.equal(norms[SIGNAL:], torch.zeros(D - SIGNAL)), norms                 # exactly zero
    assert f"{SIGNAL} of {D} inputs kept" in result.reason
    files = model_files(model, {}, {})
    loaded = model_from_files(json.loads(files[CONFIG]), files[CHECKPOINT])
    assert torch.equal(input_column_norms(loaded.input_weights()), norms)
    x = torch.randn(5, D)
    assert torch.equal(loaded.predict(x).mean, model.predict(x).mean)


def test_a_strong_penalty_leaves_the_feature_blind_fit(data):
    tr, va = data
    model = new_model("mlp", tr, seed=0, hidden=16)
    train(model, tr, va, TrainConfig(epochs=40, batch_size=32, lr=1e-2, patience=40, seed=0,
                                     input_penalty=100.0, progress=False))
    assert torch.equal(input_column_norms(model.input_weights()), torch.zeros(D))
    x = torch.randn(6, D)
    params = model.predict(x)
    assert torch.allclose(params.mean, params.mean[:1].expand_as(params.mean), atol=1e-6)   # the same for every photo
    blind, _ = fit_em(tr.y, 1, feature_dim=D)                                       # the floor's family at K = 1
    ll_model = float(predictive_log_likelihood(model, va, va.y).mean())
    ll_blind = float(blind.log_prob(va.y).mean())
    assert abs(ll_model - ll_blind) < 0.15, (ll_model, ll_blind)
    free = new_model("mlp", tr, seed=0, hidden=16)
    train(free, tr, va, TrainConfig(epochs=40, batch_size=32, lr=1e-2, patience=40, seed=0, progress=False))
    assert float(predictive_log_likelihood(free, va, va.y).mean()) > ll_blind + 1.0   # the signal is real


def test_a_run_without_search_picks_its_input_candidate_on_validation(data):
    tr, va = data
    x = torch.cat([tr.features, va.features])
    y = torch.cat([tr.y, va.y])
    both = edits_data(x, y)
    both.splits = np.array(["train"] * len(tr) + ["validation"] * len(va))
    config = TrainConfig(epochs=3, batch_size=64, seed=0, progress=False)
    run = run_training(both, TrainSettings("mlp", {"hidden": 8, "projection_dim": 4}, config))
    rows = run.metrics["input_candidates"]
    screen = run.metrics["input_screen"]
    kept_inputs = bool(screen["columns"])                   # an empty screen adds nothing to the projection
    assert len(rows) == len(INPUT_CANDIDATES) - (not kept_inputs) and rows[0]["input"] == "PCA 4"
    assert [r["input"] for r in rows[1:]] == ["raw features + input group lasso 0.1", "screened inputs"
                                              ] + ["PCA 4 + screened inputs"] * kept_inputs
    assert screen["model"] == "mdn" and 1 <= len(screen["rows"]) <= len(SCREEN_PENALTIES) + 1
    kept = max(rows, key=lambda r: r["validation_ll"])
    assert run.result.best_validation == kept["validation_ll"] and f"input: {kept['input']}" in run.selection
    assert run.selection.startswith("kept epoch")
    alone = run_training(both, TrainSettings("mlp", {"hidden": 8, "projection_dim": 4}, config, input_search=False))
    assert "input_candidates" not in alone.metrics and alone.result.best_validation == rows[0]["validation_ll"]


def test_the_input_screen_keeps_the_signal_coordinates_and_drops_noise(data):
    tr, va = data
    config = TrainConfig(epochs=30, batch_size=64, lr=3e-3, patience=30, seed=0, progress=False)
    screen = screen_inputs(tr, va, config, {"hidden": 16})
    assert set(range(SIGNAL)) <= set(screen.columns.tolist())            # every signal coordinate
    assert len(screen.columns) <= SIGNAL + 3, screen.columns             # and few of the 21 noise ones
    assert screen.validation_ll == max(r["validation_ll"] for r in screen.rows)
    # photos whose sliders carry nothing of the features: nothing (or next to nothing) is kept
    rng = np.random.default_rng(3)
    blind = [edits_data(torch.tensor(rng.normal(size=(len(d), D)), dtype=torch.float32), d.y) for d in (tr, va)]
    assert len(screen_inputs(*blind, config, {"hidden": 16}).columns) <= 2


def test_a_screened_candidate_reads_exactly_the_kept_coordinates(data):
    tr, _ = data
    screen = InputScreening(np.array([0, 2, 5]), D, 0.3, -1.0, [])
    model = new_model("mdn", tr, seed=0, hidden=8, projection_dim=0, screened=True, screening=screen)
    assert model.input_dim == 3 and model.init_kwargs["projection_dim"] == 3 and "screened" not in model.init_kwargs
    x = torch.randn(7, D)
    assert torch.allclose(model.encode(x), model.standardise(x)[:, [0, 2, 5]])
    beside = new_model("mdn", tr, seed=0, hidden=8, projection_dim=4, screened=True, screening=screen)
    pca = new_model("mdn", tr, seed=0, hidden=8, projection_dim=4)
    assert beside.input_dim == 7
    assert torch.allclose(beside.encode(x), torch.cat([pca.encode(x), model.encode(x)], dim=1))
    nothing = InputScreening(np.array([], dtype=np.int64), D, 1.0, -1.0, [])
    blind = new_model("mdn", tr, seed=0, hidden=8, projection_dim=0, screened=True, screening=nothing)
    assert torch.equal(blind.encode(x), torch.zeros(7, 1))                 # sees no photo at all
    files = model_files(model, {}, {})
    loaded = model_from_files(json.loads(files[CONFIG]), files[CHECKPOINT])
    assert torch.equal(loaded.encode(x), model.encode(x))
    with pytest.raises(ValueError, match="input screening"):
        new_model("mdn", tr, seed=0, projection_dim=0, screened=True)


def test_an_empty_screen_drops_only_the_projection_plus_screen_candidate():
    config = TrainConfig(epochs=1, progress=False)
    candidates = [({"projection_dim": 32}, config), ({"projection_dim": 0}, config),
                  ({"projection_dim": 0, "screened": True}, config), ({"projection_dim": 32, "screened": True}, config)]
    empty = InputScreening(np.array([], dtype=int), 10, float("nan"), -1.0, [])
    kept = InputScreening(np.array([3]), 10, 0.3, -1.0, [])
    assert without_empty_screen(candidates, empty) == candidates[:3]
    assert without_empty_screen(candidates, kept) == candidates
    assert without_empty_screen(candidates, None) == candidates
