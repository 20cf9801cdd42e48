"""One training run as `photoedit train` does it, as a plain function (benchmarks call it too):
split the edits, train one setting or search the model's space, keep the best validation LL,
score the test split, and (with a store) write the model folder's files.

Model folder: checkpoint.pt (state dict), config.json (class, kwargs, feature stats, settings),
metrics.json (selection, history, search rows, test figures), training_state.pt (resume; single
setting only) and, for the P-VAE, personalisation.json.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Protocol

from modeling.checkpoints import json_bytes, model_files
from modeling.data import EditsData
from modeling.metrics import DEFAULT_BINS, DEFAULT_IS_SAMPLES, evaluate
from modeling.networks import SliderModel
from modeling.personalisation import personalisation_curve
from modeling.search import search
from modeling.training import (
    TRAINING_STATE,
    TrainConfig,
    TrainResult,
    config_dict,
    new_model,
    train,
)

log = logging.getLogger(__name__)

VAES = ("cgmvae", "pvae")
PERSONALISATION = "personalisation.json"
OBJECTIVES = {"cgmvae": "VLB", "pvae": "VLB (per-user)", "lbn": "importance-weighted bound (RWS)",
              "mlp": "log-likelihood", "mdn": "log-likelihood"}


class ModelStore(Protocol):
    """Where a run's files go, by file name (photoedit's model folders: pipelines.core.model_store)."""

    def write(self, name: str, data: bytes) -> None: ...

    def read(self, name: str) -> bytes | None: ...


@dataclass
class TrainSettings:
    """What to train: the model, its kwargs (the setting, or every axis's default for a search), the
    optimisation config, the search budget (0: no search) and the evaluation sample counts."""

    model: str
    kwargs: dict = field(default_factory=dict)
    config: TrainConfig = field(default_factory=TrainConfig)
    trials: int = 0
    is_samples: int = DEFAULT_IS_SAMPLES
    jsd_bins: int = DEFAULT_BINS


@dataclass
class TrainingRun:
    """A finished run: the kept model and how it was chosen, its metrics.json and P-VAE curve."""

    model: SliderModel
    kwargs: dict
    config: TrainConfig
    result: TrainResult
    selection: str
    metrics: dict
    curve: dict | None = None
    search_rows: list[dict] | None = None


def split_edits(data: EditsData) -> tuple[EditsData, EditsData, EditsData]:
    """(train, validation, test); an empty validation split falls back to the train split (logged)."""
    train_data, val_data, test_data = data.split("train"), data.split("validation"), data.split("test")
    if len(train_data) == 0:
        raise ValueError("the train split is empty")
    if len(val_data) == 0:
        log.warning("validation split is empty: early stopping on the train split")
        val_data = train_data
    return train_data, val_data, test_data


def held_out_metrics(model: SliderModel, name: str, test_data: EditsData, settings: TrainSettings
                     ) -> tuple[dict, dict | None]:
    """Test-split figures (keys prefixed test_) and, for the P-VAE, the personalisation curve."""
    if len(test_data) == 0:
        log.warning("test split is empty: no held-out metrics")
        return {}, None
    figures = evaluate(model, test_data, num_samples=settings.is_samples, bins=settings.jsd_bins,
                       seed=settings.config.seed)
    curve = personalisation_curve(model, test_data, seed=settings.config.seed) if name == "pvae" else None
    return {f"test_{k}": v for k, v in figures.items()}, curve


def save_files(store: ModelStore, files: dict[str, bytes]) -> None:
    """Write {file name: bytes} to the store."""
    for name, data in files.items():
        store.write(name, data)


def run_training(data: EditsData, settings: TrainSettings, store: ModelStore | None = None, resume: bool = False,
                 provenance: dict | None = None) -> TrainingRun:
    """Train (or search), select, score and, when `store` is given, write the model folder's files.

    `provenance` (e.g. the dataset path) is added to config.json. `resume` continues a single-setting
    run from the store's training_state.pt.
    """
    train_data, val_data, test_data = split_edits(data)
    name, config = settings.model, settings.config
    base = {**(provenance or {}), "slider_process": "2003",
            "feature_normalisation": "standardise with train-split mean/std (feature_mean, feature_std)",
            "splits": {"train": len(train_data), "validation": len(val_data), "test": len(test_data)},
            "search_trials": settings.trials}
    rows = None
    if settings.trials:
        found = search(name, train_data, val_data, config, settings.trials, settings.kwargs)
        model, kwargs, config, result, rows, selection = (found.model, found.kwargs, found.config, found.result,
                                                          found.rows, found.reason)
    else:
        kwargs = dict(settings.kwargs)
        model = new_model(name, train_data, config.seed, **kwargs)

        def save_best(m: SliderModel, epoch: int, val: float) -> None:
            save_files(store, model_files(m, {**base, "train": config_dict(config)},
                                          {"validation_ll": val, "best_epoch": epoch}))

        saved = store.read(TRAINING_STATE) if store is not None and resume else None
        if resume and saved is None:
            log.info("no %s to resume from: starting afresh", TRAINING_STATE)
        result = train(model, train_data, val_data, config, saved_state=saved,
                       save_state=(lambda state: store.write(TRAINING_STATE, state)) if store else None,
                       on_improve=save_best if store else None)
        selection = result.reason
    metrics = {"validation_ll": result.best_validation, "best_epoch": result.best_epoch,
               "epochs_run": result.epochs_run, "stopped_early": result.stopped_early, "selection": selection,
               "train_seconds": result.seconds,
               "data_loading_share": result.data_seconds / max(result.seconds, 1e-9),
               "objective": OBJECTIVES[name], "validation_samples": config.val_samples, "history": result.history}
    if rows is not None:
        metrics["search"] = rows
    held, curve = held_out_metrics(model, name, test_data, settings)
    metrics.update(held)
    if store is not None:
        save_files(store, model_files(model, {**base, "train": config_dict(config)}, metrics))
        if curve is not None:
            store.write(PERSONALISATION, json_bytes(curve))
    return TrainingRun(model, kwargs, config, result, selection, metrics, curve, rows)
