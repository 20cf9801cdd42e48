"""Training loop and search: seeds, early stopping and selection on the validation LL, resume, the
same search budget for every model (input group lasso axis and candidates included), the PCA
projection and input dropout. The group lasso itself: tests/modeling/test_input_sparsity.py."""
from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from modeling.metrics import predictive_log_likelihood
from modeling.search import (
    DEFAULTS,
    INPUT_CANDIDATES,
    MODEL_SPACE,
    SHARED_SPACE,
    default_kwargs,
    draw_settings,
    search,
    search_space,
)
from modeling.training import TrainConfig, minibatches, new_model, train
from tests.modeling.synthetic import edits_data, mixture_problem


def _data():
    xt, yt, _, it = mixture_problem(400, seed=1)
    xv, yv, _, iv = mixture_problem(100, seed=2)
    return edits_data(xt, yt, it), edits_data(xv, yv, iv)


def test_same_seed_same_weights_and_training_improves():
    tr, va = _data()
    runs = []
    for seed in (0, 0, 1):
        model = new_model("mdn", tr, seed=seed, hidden=16, components=3)
        result = train(model, tr, va, TrainConfig(epochs=4, batch_size=64, seed=seed, progress=False))
        runs.append((model.state_dict(), result))
    for k in runs[0][0]:
        assert torch.equal(runs[0][0][k], runs[1][0][k])
    assert any(not torch.equal(runs[0][0][k], runs[2][0][k]) for k in runs[0][0])
    hist = runs[0][1].history
    assert hist[-1]["validation_ll"] > hist[0]["validation_ll"]
    assert runs[0][1].best_validation == max(h["validation_ll"] for h in hist)


def test_selection_is_on_the_validation_predictive_ll(caplog):
    """For a VAE the kept epoch is the best validation LL (importance-sampled), not the best VLB."""
    tr, va = _data()
    model = new_model("cgmvae", tr, seed=0, hidden=16, num_clusters=3, latent_dim=2)
    config = TrainConfig(epochs=5, batch_size=64, patience=10, warmup_epochs=1, val_samples=20, progress=False)
    with caplog.at_level(logging.DEBUG, logger="modeling.training"):
        result = train(model, tr, va, config)
    again = float(predictive_log_likelihood(model, va, va.y, num_samples=20, batch_size=512, seed=0).mean())
    assert abs(again - result.best_validation) < 1e-4
    assert f"kept epoch {result.best_epoch}" in result.reason and "ran all 5 epochs" in result.reason
    assert any(result.reason in r.getMessage() for r in caplog.records)


def test_early_stopping_and_best_epoch_kept():
    tr, va = _data()
    model = new_model("mlp", tr, seed=0, hidden=16)
    # a huge learning rate makes validation worse after the first epochs; patience 2 stops it
    result = train(model, tr, va, TrainConfig(epochs=50, batch_size=32, lr=0.3, patience=2, progress=False))
    assert result.stopped_early and result.epochs_run < 50
    assert result.epochs_run - 1 - result.best_epoch <= 3 and "no gain for 2 epochs" in result.reason


def test_resume_continues_where_it_stopped():
    tr, va = _data()
    config = dict(batch_size=64, patience=100, progress=False, warmup_epochs=2, val_samples=10)
    full = new_model("cgmvae", tr, seed=0, hidden=16, num_clusters=2, latent_dim=2)
    ref = train(full, tr, va, TrainConfig(epochs=6, **config))
    part = new_model("cgmvae", tr, seed=0, hidden=16, num_clusters=2, latent_dim=2)
    states: list[bytes] = []
    train(part, tr, va, TrainConfig(epochs=3, **config), save_state=states.append)
    assert len(states) == 3                                  # one training state per epoch
    fresh = new_model("cgmvae", tr, seed=5, hidden=16, num_clusters=2, latent_dim=2)
    resumed = train(fresh, tr, va, TrainConfig(epochs=6, **config), saved_state=states[-1])
    assert [h["epoch"] for h in resumed.history] == list(range(6))
    for a, b in zip(ref.history, resumed.history):
        assert abs(a["validation_ll"] - b["validation_ll"]) < 1e-3
    for k, v in full.state_dict().items():
        assert torch.allclose(v, fresh.state_dict()[k], atol=1e-5), k


def test_minibatches_keep_users_whole():
    users = np.repeat(np.arange(10), 7)
    seen = []
    for idx in minibatches(70, 20, torch.Generator().manual_seed(0), users):
        batch_users = set(users[idx.numpy()].tolist())
        for u in batch_users:
            assert (users[idx.numpy()] == u).sum() == 7
        seen += idx.tolist()
    assert sorted(seen) == list(range(70))


@pytest.mark.parametrize("name", sorted(MODEL_SPACE))
def test_every_model_gets_the_same_search_budget(name):
    settings = draw_settings(name, 6, {**default_kwargs(name), "weight_decay": DEFAULTS["weight_decay"]})
    assert len(settings) == 6 and len({tuple(sorted(s.items())) for s in settings}) == 6
    assert settings[0] == {axis: DEFAULTS[axis] for axis in search_space(name)}     # the defaults first
    assert all(set(s) - {"screened"} == set(search_space(name)) for s in settings)
    assert draw_settings(name, 6, settings[0]) == settings                         # seeded
    assert {"hidden", "layers", "input_dropout", "projection_dim", "weight_decay",
            "input_penalty"} <= set(search_space(name))
    # then how the features enter, the same for all: the raw features under the input group lasso, the
    # input screen's columns alone and beside the projection (refitted without the penalty)
    assert settings[1:len(INPUT_CANDIDATES)] == [{**settings[0], **c} for c in INPUT_CANDIDATES[1:]]
    assert [(s["projection_dim"], s["input_penalty"], s.get("screened", False))
            for s in settings[:len(INPUT_CANDIDATES)]] == [(32, 0.0, False), (0, 0.1, False), (0, 0.0, True),
                                                           (32, 0.0, True)]
    assert 0.0 in SHARED_SPACE["input_penalty"] and max(SHARED_SPACE["input_penalty"]) >= 3.0


def test_search_keeps_the_best_validation_ll(caplog):
    tr, va = _data()
    with caplog.at_level(logging.INFO, logger="modeling.search"):
        found = search("mdn", tr, va, TrainConfig(epochs=3, batch_size=64, progress=False), 3,
                       {**default_kwargs("mdn"), "hidden": 16})
    assert len(found.rows) == 3 and found.result.best_validation == max(r["validation_ll"] for r in found.rows)
    kept = max(found.rows, key=lambda r: r["validation_ll"])
    assert found.model.components == kept["components"] and found.config.weight_decay == kept["weight_decay"]
    assert f"kept trial {kept['trial']}" in found.reason and "runner-up" in found.reason
    assert any(found.reason in r.getMessage() for r in caplog.records)


def test_projection_is_a_whitened_pca_and_dropout_acts_in_training_only():
    tr, _ = _data()
    model = new_model("mlp", tr, seed=0, hidden=16, projection_dim=3, input_dropout=0.5)
    x = tr.image_features()
    model.eval()
    z = model.encode(x)
    assert z.shape == (len(x), 3)
    assert torch.allclose(z.std(0), torch.ones(3), atol=0.05) and torch.allclose(z.mean(0), torch.zeros(3), atol=0.05)
    assert torch.equal(model.encode(x), z)                                          # eval: no dropout
    model.train()
    assert (model.encode(x) == 0).float().mean() > 0.3                              # training: dropped
    wide = new_model("mlp", tr, seed=0, hidden=16, projection_dim=50)                # more than the 8 features
    assert wide.projection.shape == (8, 8) and wide.init_kwargs["projection_dim"] == 8
