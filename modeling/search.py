"""Hyper-parameter search, the same procedure and budget for every model.

Each model has a space: shared axes (width, depth, input dropout, PCA projection, weight decay,
group lasso on the first layers' input columns) plus its own (MDN: components K; CGM-VAE / P-VAE:
clusters L x latent dimension, the paper's grid {1, 3, 5, 10} x {2, 20}; MLP and LBN: none). A
search trains `trials` settings: the defaults first, then the INPUT_CANDIDATES (how the features
enter: the PCA projection for a low-rank signal, the group lasso on the raw features for a sparse
one, modeling.projection; the raw coordinates an input screen kept, alone or beside the projection,
modeling.input_screening), then distinct settings drawn uniformly from the space (seeded), each by
modeling.training with the same TrainConfig (epochs, patience, early stopping on validation LL).
The setting whose kept epoch has the best validation predictive LL wins.

Without a search (`photoedit train` without --search) the same input candidates are tried on top
of the given setting (modeling.train_run): a short validation search of len(INPUT_CANDIDATES)
trainings, plus the input screen's len(SCREEN_PENALTIES) MDN trainings (once per run).
"""
from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, replace

import numpy as np

from modeling.data import EditsData, FeatureNormaliser
from modeling.input_screening import InputScreening, screen_inputs
from modeling.networks import SliderModel
from modeling.training import (
    TrainConfig,
    TrainResult,
    new_model,
    standardised_pca,
    train,
)

log = logging.getLogger(__name__)

SHARED_SPACE: dict[str, tuple] = {
    "hidden": (64, 128, 256),
    "layers": (1, 2),
    "input_dropout": (0.0, 0.1, 0.3),
    "projection_dim": (0, 32, 128),
    "weight_decay": (0.0, 0.1, 1.0),
    "input_penalty": (0.0, 0.1, 0.3, 1.0, 3.0),
}
MODEL_SPACE: dict[str, dict[str, tuple]] = {
    "mlp": {},
    "lbn": {},
    "mdn": {"components": (2, 3, 5, 10)},
    "cgmvae": {"num_clusters": (1, 3, 5, 10), "latent_dim": (2, 20)},
    "pvae": {"num_clusters": (1, 3, 5, 10), "latent_dim": (2, 20)},
}
CONFIG_AXES = ("weight_decay", "input_penalty")  # axes that set TrainConfig fields; the rest are model kwargs
# The setting `photoedit train` uses without --search, and a search's first trial.
DEFAULTS: dict = {"hidden": 128, "layers": 2, "input_dropout": 0.0, "projection_dim": 32, "weight_decay": 0.1,
                  "input_penalty": 0.0, "components": 5, "num_clusters": 3, "latent_dim": 2}
# How the features enter, tried after the defaults by every search and by `photoedit train` without
# --search (each on top of the given setting): the setting as given (PCA projection by default: a
# low-rank signal); the raw standardised features under the model's own input group lasso (a sparse
# signal); the raw coordinates the input screen kept (modeling.input_screening), alone (none kept: a
# model that ignores the photo) and beside the PCA projection (a signal partly sparse, partly low rank).
INPUT_CANDIDATES: tuple[dict, ...] = ({}, {"projection_dim": 0, "input_penalty": 0.1},
                                      {"projection_dim": 0, "input_penalty": 0.0, "screened": True},
                                      {"input_penalty": 0.0, "screened": True})


@dataclass
class SearchOutcome:
    """The kept model, its kwargs and TrainConfig, its TrainResult, and one row per trial."""

    model: SliderModel
    kwargs: dict
    config: TrainConfig
    result: TrainResult
    rows: list[dict]
    reason: str


def search_space(name: str) -> dict[str, tuple]:
    """All axes of a model's space: shared axes then the model's own."""
    return {**SHARED_SPACE, **MODEL_SPACE[name]}


def default_kwargs(name: str) -> dict:
    """The model kwargs of DEFAULTS for the named model (its space's axes, TrainConfig axes left out)."""
    return {axis: DEFAULTS[axis] for axis in search_space(name) if axis not in CONFIG_AXES}


def input_settings(setting: dict) -> list[dict]:
    """The distinct INPUT_CANDIDATES applied on top of `setting` (the setting itself first)."""
    out: list[dict] = []
    for candidate in INPUT_CANDIDATES:
        s = {**setting, **candidate}
        if s not in out:
            out.append(s)
    return out


def draw_settings(name: str, trials: int, defaults: dict, seed: int = 0) -> list[dict]:
    """`trials` distinct settings: `defaults` (restricted to the space's axes; DEFAULTS for an axis it
    lacks) first, then the input candidates on top of them, then uniform draws."""
    space = search_space(name)
    first = input_settings({axis: defaults.get(axis, DEFAULTS[axis]) for axis in space})
    grid = [dict(zip(space, values)) for values in itertools.product(*space.values())]
    order = np.random.default_rng(seed).permutation(len(grid))
    rest = [grid[i] for i in order if grid[i] not in first]
    return [*first, *rest][:max(trials, 1)]


def split_setting(setting: dict, base_kwargs: dict, config: TrainConfig) -> tuple[dict, TrainConfig]:
    """(model kwargs, TrainConfig) of one setting on top of the base kwargs and config."""
    kwargs = {**base_kwargs, **{k: v for k, v in setting.items() if k not in CONFIG_AXES}}
    return kwargs, replace(config, **{k: v for k, v in setting.items() if k in CONFIG_AXES})


def needs_screening(settings: list[dict]) -> bool:
    """Whether any setting reads the input screen's columns."""
    return any(s.get("screened") for s in settings)


def search(name: str, train_data: EditsData, val_data: EditsData, config: TrainConfig, trials: int,
           base_kwargs: dict, settings: list[dict] | None = None,
           screening: InputScreening | None = None) -> SearchOutcome:
    """Train `trials` settings of the named model and keep the one with the best validation LL.

    `base_kwargs` holds the defaults of every axis (model kwargs; weight_decay and input_penalty
    come from `config`) plus any fixed kwargs; see the module docstring for the procedure.
    `settings` (each with projection_dim) replaces the drawn ones. `screening`: the input screen
    (computed here when a setting needs it and none is given).
    """
    defaults = {**base_kwargs, **{axis: getattr(config, axis) for axis in CONFIG_AXES}}
    settings = settings or draw_settings(name, trials, defaults, seed=config.seed)
    if screening is None and needs_screening(settings):
        screening = screen_inputs(train_data, val_data, config)
    base = {k: v for k, v in base_kwargs.items() if k not in CONFIG_AXES}
    widest = max(s["projection_dim"] for s in settings)
    basis = None
    if widest:
        norm = FeatureNormaliser.fit(train_data.image_features().cpu().numpy())
        basis = standardised_pca(train_data, norm, widest, config.seed)
    rows, best = [], None
    for i, setting in enumerate(settings):
        kwargs, trial_config = split_setting(setting, base, config)
        model = new_model(name, train_data, config.seed, basis=basis, screening=screening, **kwargs)
        result = train(model, train_data, val_data, trial_config)
        rows.append({"trial": i, **setting, "validation_ll": result.best_validation,
                     "best_epoch": result.best_epoch, "epochs_run": result.epochs_run})
        log.info("search %s trial %d/%d %s: %s", name, i + 1, len(settings), setting, result.reason)
        if best is None or result.best_validation > best[3].best_validation:
            best = (model, kwargs, trial_config, result, i)
    ranked = sorted(rows, key=lambda r: -r["validation_ll"])
    reason = (f"kept trial {best[4]} {settings[best[4]]} at epoch {best[3].best_epoch}: validation LL "
              f"{best[3].best_validation:.4f} nats/edit, best of {len(rows)} trials")
    if len(ranked) > 1:
        reason += (f"; runner-up trial {ranked[1]['trial']} {ranked[1]['validation_ll']:.4f} "
                   f"({best[3].best_validation - ranked[1]['validation_ll']:+.4f})")
    log.info("search %s: %s", name, reason)
    return SearchOutcome(best[0], best[1], best[2], best[3], rows, reason)
