"""The slider likelihood (Lightroom step cells, censored at the range ends, an atom at the neutral
value): proper, and independent of the models' std floor."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from modeling import networks
from modeling.known_answer import KnownAnswer, Regime
from modeling.likelihood import (
    ATOM_SLIDERS,
    CELL_COUNTS,
    NEUTRAL,
    SliderParams,
    cell_bounds,
    log_normal_interval,
    slider_log_prob,
    slider_log_probs,
)
from modeling.metrics import predictive_log_likelihood
from modeling.mixture_floor import fit_floor
from modeling.training import TrainConfig, new_model, train
from tests.modeling.synthetic import edits_data


def lattice(slider: int) -> torch.Tensor:
    """Every lattice value of one slider as rows [n + 1, 11] (other sliders 0)."""
    n = int(CELL_COUNTS[slider])
    y = torch.zeros(n + 1, 11, dtype=torch.float64)
    y[:, slider] = -1.0 + 2.0 * torch.arange(n + 1, dtype=torch.float64) / n
    return y


@pytest.mark.parametrize("slider", [1, 2, 3, 7])
@pytest.mark.parametrize("mean, std", [(0.0, 0.3), (0.97, 0.05), (-1.4, 0.2), (0.1, 1e-5), (-1.0, 1e-6)])
def test_cell_masses_sum_to_one(slider, mean, std):
    lo, hi = cell_bounds(lattice(slider))
    mass = log_normal_interval(lo[:, slider], hi[:, slider], torch.tensor(mean, dtype=torch.float64),
                               torch.tensor(2 * math.log(std), dtype=torch.float64)).exp()
    assert abs(float(mass.sum()) - 1.0) < 1e-9


@pytest.mark.parametrize("slider", [1, 3, 7, 8])
def test_masses_with_an_atom_sum_to_one(slider):
    y = lattice(slider)
    params = SliderParams(torch.full_like(y, 0.2), torch.full_like(y, 2 * math.log(0.3)), torch.full_like(y, 0.4))
    total = float(slider_log_probs(y, params)[:, slider].exp().sum())
    assert abs(total - 1.0) < 1e-9
    at_neutral = float(slider_log_probs(NEUTRAL[None].double(), SliderParams(*(t[:1] for t in params)))[0, slider].exp())
    gaussian_only = float(log_normal_interval(*(b[:, slider] for b in cell_bounds(NEUTRAL[None])),
                                              torch.tensor(0.2), torch.tensor(2 * math.log(0.3))).exp())
    p_atom = 1 / (1 + math.exp(-0.4)) if ATOM_SLIDERS[slider] else 0.0   # Tint (1) has no atom
    assert abs(at_neutral - (p_atom + (1 - p_atom) * gaussian_only)) < 1e-6


def test_cells_are_lightroom_steps_and_ends_are_open():
    assert CELL_COUNTS[2] == 800 and CELL_COUNTS[1] == 300 and CELL_COUNTS[3] == 100  # 0.01 EV, 1 unit
    y = torch.tensor([[0.0, 0.0, 0.0, -1.0, 1.0, 0.3, 0.0, -1 / 3, 0.0, 0.0, 1.0]])
    lo, hi = cell_bounds(y)
    assert torch.allclose(hi[0, 2] - lo[0, 2], torch.tensor(2 / 800, dtype=torch.float64))
    assert lo[0, 3] < -100 and hi[0, 4] > 100 and hi[0, 10] > 100     # range-end cells hold the tails
    assert lo[0, 7] < -1 / 3 < hi[0, 7]                                 # Contrast's neutral is a cell centre


def test_a_cell_bounds_a_sharp_value_and_the_censored_end_holds_the_tail():
    y = torch.zeros(1, 11)
    y[0, 3] = 0.5
    no_atom = torch.full((1, 11), -30.0)
    sharp = slider_log_prob(y, SliderParams(y, torch.full((1, 11), 2 * math.log(1e-5)), no_atom))
    assert -1e-6 < float(sharp) <= 0.0                     # all mass in the values' cells, not +inf
    y[0, 3] = -1.0
    mean = torch.zeros(1, 11)
    mean[0, 3] = -0.9
    lo, hi = cell_bounds(y)
    per_slider = log_normal_interval(lo, hi, mean, torch.full((1, 11), 2 * math.log(0.1)))
    z = (-1.0 + 1 / 100 + 0.9) / 0.1                     # P(Y <= -1 + w/2), w = 2/100: Phi(z)
    tail = math.log(0.5 * math.erfc(-z / math.sqrt(2)))
    assert abs(float(per_slider[0, 3]) - tail) < 1e-5
    params = SliderParams(mean, torch.full((1, 11), 2 * math.log(0.1)), torch.full((1, 11), -torch.inf))
    assert torch.isclose(slider_log_prob(y, params), per_slider.sum(-1).float())


def atom_data(seed: int):
    """FiveK-like known-answer data (sliders at neutral, clipped, on Lightroom steps): train / val / test."""
    truth = KnownAnswer(Regime("atoms", "test", feature_dim=8, separation=0.9, weight_strength=1.0,
                               noise=0.1, atoms=True, touch_p=0.3, seed=3))
    out = []
    for photos, s in ((300, seed), (60, seed + 1), (100, seed + 2)):
        x = truth.features(photos, s).repeat_interleave(5, 0)
        y = truth.sample_edits(x, torch.arange(len(x)) % 5, torch.Generator().manual_seed(s))
        out.append(edits_data(x, y, np.arange(len(x)) // 5))
    return out


def fit_all(data) -> dict[str, float]:
    """Held-out LL (nats/edit) of MLP, MDN, CGM-VAE and the floor trained on atom data."""
    train_data, val_data, test_data = data
    config = TrainConfig(epochs=10, lr=3e-3, patience=20, val_samples=20, progress=False)
    specs = {"mlp": {}, "mdn": {"components": 5}, "cgmvae": {"num_clusters": 5, "latent_dim": 2}}
    out = {}
    for name, kwargs in specs.items():
        model = new_model(name, train_data, seed=0, hidden=64, layers=1, projection_dim=0, **kwargs)
        train(model, train_data, val_data, config)
        out[name] = float(predictive_log_likelihood(model, test_data, test_data.y, num_samples=100).mean())
    floor, _ = fit_floor(train_data.y, val_data.y, 8)
    out["floor"] = float(predictive_log_likelihood(floor, test_data, test_data.y).mean())
    return out


def test_ten_times_the_std_floor_leaves_ll_and_ranking_unchanged(monkeypatch):
    data = atom_data(seed=10)
    y = data[0].y
    assert float(((y == 0) | (y.abs() == 1)).float().mean()) > 0.3   # plenty of atoms
    base = fit_all(data)
    monkeypatch.setattr(networks, "LOGVAR_MIN", networks.LOGVAR_MIN + 2 * math.log(10.0))
    raised = fit_all(data)
    for name in base:
        assert abs(base[name] - raised[name]) < 0.1, (base, raised)
    assert sorted(base, key=base.get) == sorted(raised, key=raised.get), (base, raised)
    assert len({round(v, 1) for v in base.values()}) == len(base)      # distinct enough for a ranking


def test_a_gaussian_density_on_the_same_atoms_would_move_with_the_floor(monkeypatch):
    """Guards the test above: the density (no cells) of a sharp model grows by log 10 per atom as the floor drops."""
    y = atom_data(seed=10)[0].y[:200]
    on_atom = ((y == 0) | (y.abs() == 1)).float().sum(1).mean()
    densities = []
    for floor in (1e-5, 1e-4):
        monkeypatch.setattr(networks, "LOGVAR_MIN", 2 * math.log(floor))
        logvar = networks.bounded_logvar(torch.full_like(y, -50.0))         # a head at its floor
        densities.append(float(networks.gaussian_log_prob(y, y, logvar).mean()))
        cells = float(slider_log_prob(y, SliderParams(y, logvar, torch.full_like(y, -30.0))).mean())
        assert cells <= 0.0                                                 # bounded by the cells
    assert densities[0] - densities[1] > 0.9 * math.log(10) * float(on_atom)
