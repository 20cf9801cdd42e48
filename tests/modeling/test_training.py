"""Training loop: seeds, early stopping, resume, and the hyper-parameter search."""
from __future__ import annotations

import torch

from modeling.training import SEARCH_GRID, TrainConfig, minibatches, new_model, search, train
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
    assert hist[-1]["validation_objective"] > hist[0]["validation_objective"]
    assert runs[0][1].best_validation == max(h["validation_objective"] for h in hist)


def test_early_stopping_and_best_epoch_kept():
    tr, va = _data()
    model = new_model("mlp", tr, seed=0, hidden=16)
    # a huge learning rate makes validation worse after the first epochs; patience 2 stops it
    result = train(model, tr, va, TrainConfig(epochs=50, batch_size=32, lr=0.3, patience=2, progress=False))
    assert result.stopped_early and result.epochs_run < 50
    assert result.epochs_run - 1 - result.best_epoch <= 3


def test_resume_continues_where_it_stopped(tmp_path):
    tr, va = _data()
    full = new_model("cgmvae", tr, seed=0, hidden=16, num_clusters=2, latent_dim=2)
    ref = train(full, tr, va, TrainConfig(epochs=6, batch_size=64, patience=100, progress=False,
                                          warmup_epochs=2), state_folder=str(tmp_path / "a"))
    part = new_model("cgmvae", tr, seed=0, hidden=16, num_clusters=2, latent_dim=2)
    train(part, tr, va, TrainConfig(epochs=3, batch_size=64, patience=100, progress=False, warmup_epochs=2),
          state_folder=str(tmp_path / "b"))
    fresh = new_model("cgmvae", tr, seed=5, hidden=16, num_clusters=2, latent_dim=2)
    resumed = train(fresh, tr, va, TrainConfig(epochs=6, batch_size=64, patience=100, progress=False,
                                               warmup_epochs=2), state_folder=str(tmp_path / "b"), resume=True)
    assert [h["epoch"] for h in resumed.history] == list(range(6))
    for a, b in zip(ref.history, resumed.history):
        assert abs(a["validation_objective"] - b["validation_objective"]) < 1e-3
    for k, v in full.state_dict().items():
        assert torch.allclose(v, fresh.state_dict()[k], atol=1e-5), k


def test_minibatches_keep_users_whole():
    import numpy as np
    users = np.repeat(np.arange(10), 7)
    seen = []
    for idx in minibatches(70, 20, torch.Generator().manual_seed(0), users):
        batch_users = set(users[idx.numpy()].tolist())
        for u in batch_users:
            assert (users[idx.numpy()] == u).sum() == 7
        seen += idx.tolist()
    assert sorted(seen) == list(range(70))


def test_search_picks_the_best_validation_vlb():
    tr, va = _data()
    grid = [{"latent_dim": 2, "num_clusters": 1}, {"latent_dim": 2, "num_clusters": 3}]
    model, kwargs, result, rows = search("cgmvae", tr, va, TrainConfig(epochs=3, batch_size=64, progress=False),
                                         grid, base_kwargs={"hidden": 16})
    assert len(rows) == 2 and result.best_validation == max(r["validation_objective"] for r in rows)
    assert model.num_clusters == kwargs["num_clusters"]
    assert {(g["latent_dim"], g["num_clusters"]) for g in SEARCH_GRID} == {
        (d, L) for d in (2, 20) for L in (1, 3, 5, 10)}
