"""One training run as `photoedit train` does it, as a plain function (benchmarks call it too):
split the edits, train one setting or search the model's space, keep the best validation LL,
score the test split, and (with a store) write the model folder's files.

Without a search, the given setting is trained under each of modeling.search.INPUT_CANDIDATES (the
setting as given, the raw features under the input group lasso, and the input screen's columns alone
and beside the projection) and the best validation LL is kept: a short validation search that costs
len(INPUT_CANDIDATES) trainings, one fewer when the screen kept no column (the projection beside an
empty screen is the projection; TrainSettings.input_search=False trains the setting alone). The
input screen (modeling.input_screening: the MDN under the group lasso, refitted on the kept
columns) is fitted once per run unless TrainSettings.screening gives it. A resumed run continues
the setting its folder's config.json records.

Model folder: checkpoint.pt (state dict), config.json (class, kwargs, feature stats, settings),
metrics.json (selection, history, search rows, test figures), training_state.pt (resume: the kept
input candidate's; none after a search) and, for the P-VAE, personalisation.json.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from typing import Protocol

from modeling.checkpoints import CONFIG, json_bytes, model_files
from modeling.data import EditsData
from modeling.input_screening import InputScreening, screen_inputs
from modeling.metrics import DEFAULT_BINS, DEFAULT_IS_SAMPLES, evaluate
from modeling.networks import SliderModel
from modeling.personalisation import personalisation_curve
from modeling.search import CONFIG_AXES, input_settings, needs_screening, search, split_setting
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
    optimisation config, the search budget (0: no search), the evaluation sample counts and a
    precomputed input screen (None: fitted when a candidate needs it)."""

    model: str
    kwargs: dict = field(default_factory=dict)
    config: TrainConfig = field(default_factory=TrainConfig)
    trials: int = 0
    input_search: bool = True     # no search: try the input candidates on top of the setting (module docstring)
    is_samples: int = DEFAULT_IS_SAMPLES
    jsd_bins: int = DEFAULT_BINS
    screening: InputScreening | None = None


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


def candidate_settings(settings: TrainSettings) -> list[tuple[dict, TrainConfig]]:
    """(model kwargs, TrainConfig) of each setting a run without search trains (the given one first)."""
    if not settings.input_search:
        return [(dict(settings.kwargs), settings.config)]
    given = {**settings.kwargs, **{axis: getattr(settings.config, axis) for axis in CONFIG_AXES}}
    given.setdefault("projection_dim", 0)
    return [split_setting(s, {}, settings.config) for s in input_settings(given)]


def without_empty_screen(candidates: list[tuple[dict, TrainConfig]], screening: InputScreening | None
                         ) -> list[tuple[dict, TrainConfig]]:
    """The candidates less "projection + screened inputs" when the screen kept no input: that one is
    the projection alone plus a zero column, trained the same way (the same validation LL)."""
    if screening is None or len(screening.columns) or len(candidates) == 1:
        return candidates
    return [(k, c) for k, c in candidates if not (k.get("screened") and k.get("projection_dim"))]


def resumed_setting(store: ModelStore, kwargs: dict, config: TrainConfig) -> tuple[dict, TrainConfig]:
    """The kwargs and config of the setting a folder's training state belongs to (its config.json's
    projection and input penalty on top of the given ones)."""
    raw = store.read(CONFIG)
    if raw is None:
        return kwargs, config
    saved = json.loads(raw)
    kept = {k: v for k, v in saved.get("kwargs", {}).items() if k in ("projection_dim",)}
    penalty = saved.get("train", {}).get("input_penalty", config.input_penalty)
    return {**kwargs, **kept}, replace(config, input_penalty=penalty)


def candidate_text(kwargs: dict, config: TrainConfig) -> str:
    """How a candidate feeds the features, compactly."""
    projection = kwargs.get("projection_dim", 0)
    text = f"PCA {projection}" if projection else "raw features"
    if kwargs.get("screened"):
        text = f"PCA {projection} + screened inputs" if projection else "screened inputs"
    return text + (f" + input group lasso {config.input_penalty:g}" if config.input_penalty else "")


def train_candidates(name: str, train_data: EditsData, val_data: EditsData, settings: TrainSettings,
                     store: ModelStore | None, saved: bytes | None, base: dict,
                     screening: InputScreening | None = None
                     ) -> tuple[SliderModel, dict, TrainConfig, TrainResult, str, list[dict]]:
    """Train each candidate setting (or resume the stored one from `saved`, its training_state.pt bytes),
    keep the best validation LL; write the kept one's training state.
    (model, kwargs, config, result, selection, candidate rows)."""
    candidates = without_empty_screen(candidate_settings(settings), screening)
    if saved is not None:
        candidates = [resumed_setting(store, *candidates[0])]
    rows, best, last_state = [], None, {}
    for i, (kwargs, config) in enumerate(candidates):
        model = new_model(name, train_data, config.seed, screening=screening, **kwargs)

        def save_best(m: SliderModel, epoch: int, val: float, config: TrainConfig = config) -> None:
            save_files(store, model_files(m, {**base, "train": config_dict(config)},
                                          {"validation_ll": val, "best_epoch": epoch}))

        def save_state(state: bytes, i=i) -> None:
            last_state[i] = state
            store.write(TRAINING_STATE, state)

        result = train(model, train_data, val_data, config, saved_state=saved,
                       save_state=save_state if store else None, on_improve=save_best if store else None)
        rows.append({"candidate": i, "input": candidate_text(kwargs, config), "validation_ll": result.best_validation,
                     "best_epoch": result.best_epoch})
        if len(candidates) > 1:
            log.info("%s input candidate %d/%d (%s): %s", name, i + 1, len(candidates), rows[-1]["input"], result.reason)
        if best is None or result.best_validation > best[3].best_validation:
            best = (model, kwargs, config, result, i)
    model, kwargs, config, result, kept = best
    selection = result.reason
    if len(candidates) > 1:
        others = ", ".join(f"{r['input']} {r['validation_ll']:.4f}" for r in rows if r["candidate"] != kept)
        selection += (f"; input: {rows[kept]['input']}, best validation LL of {len(rows)} input candidates "
                      f"(others: {others})")
        if store is not None and kept in last_state:
            store.write(TRAINING_STATE, last_state[kept])
    return model, kwargs, config, result, selection, rows


def run_screening(settings: TrainSettings, train_data: EditsData, val_data: EditsData, resuming: bool
                  ) -> InputScreening | None:
    """The run's input screen: the given one, else fitted when a candidate (or a search) reads it; None
    when resuming a training state (its setting is fixed)."""
    if settings.screening is not None or resuming:
        return settings.screening
    if settings.trials or needs_screening([kwargs for kwargs, _ in candidate_settings(settings)]):
        return screen_inputs(train_data, val_data, settings.config)
    return None


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
    rows, inputs = None, None
    saved = store.read(TRAINING_STATE) if store is not None and resume else None
    if resume and saved is None:
        log.info("no %s to resume from: starting afresh", TRAINING_STATE)
    screening = run_screening(settings, train_data, val_data, resuming=saved is not None)
    if settings.trials:
        found = search(name, train_data, val_data, config, settings.trials, settings.kwargs, screening=screening)
        model, kwargs, config, result, rows, selection = (found.model, found.kwargs, found.config, found.result,
                                                          found.rows, found.reason)
    else:
        model, kwargs, config, result, selection, inputs = train_candidates(name, train_data, val_data, settings,
                                                                           store, saved, base, screening)
    metrics = {"validation_ll": result.best_validation, "best_epoch": result.best_epoch,
               "epochs_run": result.epochs_run, "stopped_early": result.stopped_early, "selection": selection,
               "train_seconds": result.seconds,
               "data_loading_share": result.data_seconds / max(result.seconds, 1e-9),
               "objective": OBJECTIVES[name], "validation_samples": config.val_samples, "history": result.history}
    if rows is not None:
        metrics["search"] = rows
    if inputs is not None and len(inputs) > 1:
        metrics["input_candidates"] = inputs
    if screening is not None:
        metrics["input_screen"] = screening.summary()
    held, curve = held_out_metrics(model, name, test_data, settings)
    metrics.update(held)
    if store is not None:
        save_files(store, model_files(model, {**base, "train": config_dict(config)}, metrics))
        if curve is not None:
            store.write(PERSONALISATION, json_bytes(curve))
    return TrainingRun(model, kwargs, config, result, selection, metrics, curve, rows)
