"""Model folders and the training data of a dataset, through the storage layer (local paths, gs://, ...).

`modeling` works on tables and bytes; this module reads and writes them where photoedit keeps them:
<dataset>/models/<name>/seed-<s>/{checkpoint.pt, config.json, metrics.json, training_state.pt,
personalisation.json}, one folder per training seed, and the features/, variant_edits/ and photos/
tables a model trains on. A model folder that holds config.json itself (the layout before seeds)
is read as one model of unknown seed; where seed-<s>/ folders exist they take precedence.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import re
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np
import pyarrow as pa
import torch

from modeling.checkpoints import (
    CHECKPOINT,
    CONFIG,
    CheckpointError,
    model_files,
    model_from_files,
)
from modeling.data import EditsData, FeatureMatrix, edits_from_tables, load_edits, stack_features
from modeling.networks import SliderModel
from modeling.splits import split_for
from modeling.training import TRAINING_STATE
from pipelines.core import staging, storage
from pipelines.core.layout import DatasetLayout
from pipelines.core.parquet_io import count_rows, file_schema, parquet_files, read_table, read_table_file
from rendering.sliders import PROCESS_2003

log = logging.getLogger(__name__)
SEED_PREFIX = "seed-"
_SEED_FOLDER = re.compile(r"seed-(\d+)$")


@dataclass(frozen=True)
class ModelFolder:
    """One model folder (modeling.train_run.ModelStore): files by name under `path`; a file not there is
    read from `fallback` when given (the folder a staged training run will replace)."""

    path: str
    fallback: str | None = None

    def write(self, name: str, data: bytes) -> None:
        storage.write_bytes(storage.join(self.path, name), data)

    def read(self, name: str) -> bytes | None:
        """The file's bytes, None when it does not exist."""
        for folder in (self.path, self.fallback):
            path = storage.join(folder, name) if folder else None
            if path and storage.exists(path):
                return storage.read_bytes(path)
        return None


@contextlib.contextmanager
def staged_model_folder(folder: str, resume: bool = False) -> Iterator[ModelFolder]:
    """A ModelFolder for one training run whose files replace `folder` whole only when the run finished
    (pipelines.core.staging): a failed or killed run leaves the model that was there. Its staging folder
    is kept on failure, and `resume` continues from an unfinished run's files (training_state.pt), else
    from those of `folder`."""
    with staging.staged_outputs("train", [folder], resume=resume, keep_failed=True) as run:
        staged = run.path(folder)
        unfinished = storage.exists(storage.join(staged, TRAINING_STATE))   # resuming a killed run's own files
        yield ModelFolder(staged, fallback=folder if resume and not unfinished else None)


def is_model_folder(path: str) -> bool:
    """Whether `path` holds a config.json (one trained model)."""
    return storage.exists(storage.join(path, CONFIG))


def seed_folder(model_dir: str, seed: int) -> str:
    """The folder of one training seed of a model: <model_dir>/seed-<seed>."""
    return storage.join(model_dir, f"{SEED_PREFIX}{int(seed)}")


def seed_folders(model_dir: str) -> list[tuple[int | None, str]]:
    """(seed, folder) of every trained seed of a model, by seed; [(None, model_dir)] for the flat layout, [] if none."""
    found = []
    for path in storage.match(storage.join(model_dir, f"{SEED_PREFIX}*", CONFIG)):
        folder = storage.parent(path)
        hit = _SEED_FOLDER.search(folder.replace("\\", "/").rstrip("/"))
        if hit:
            found.append((int(hit.group(1)), folder))
    if found:
        return sorted(found)
    return [(None, model_dir)] if is_model_folder(model_dir) else []


def is_trained(model_dir: str) -> bool:
    """Whether a model folder holds at least one trained seed (or is itself a trained model)."""
    return bool(seed_folders(model_dir))


def primary_folder(model_dir: str, seed: int | None = None) -> str:
    """The one folder used where one model is needed (evaluate, propose): seed `seed`, else the lowest seed.

    CheckpointError when the model has no trained seed or not the one asked for.
    """
    folders = seed_folders(model_dir)
    if seed is not None:
        folders = [(s, f) for s, f in folders if s == seed]
    if not folders:
        which = f"seed {seed} of " if seed is not None else ""
        raise CheckpointError(f"no trained {which}model under {model_dir} (no {CONFIG} there or in "
                              f"{SEED_PREFIX}<s>/): not a model folder")
    return folders[0][1]


def load_model(folder: str, device: str | torch.device = "cpu") -> tuple[SliderModel, dict[str, Any]]:
    """The model of a model folder on `device`, in eval mode, and its config.json; CheckpointError if it is not one.

    `folder` is one seed's folder, or a model folder with seed-<s>/ inside: then its lowest seed.
    """
    if not is_model_folder(folder):
        folder = primary_folder(folder)
    try:
        config = storage.read_json(storage.join(folder, CONFIG))
        checkpoint = storage.read_bytes(storage.join(folder, CHECKPOINT))
    except FileNotFoundError:
        raise CheckpointError(f"no {CONFIG} and {CHECKPOINT} under {folder}: not a model folder") from None
    return model_from_files(config, checkpoint, folder, device), config


def save_model(model: SliderModel, config: dict, metrics: dict, folder: str) -> None:
    """Write a model folder: checkpoint.pt, config.json (modeling.checkpoints.model_config), metrics.json."""
    for name, data in model_files(model, config, metrics).items():
        ModelFolder(folder).write(name, data)


def _check_training_inputs(layout: DatasetLayout) -> None:
    """FileNotFoundError naming the stage to run when features/ or variant_edits/ is missing."""
    for folder, command in ((layout.features, "photoedit features"), (layout.variant_edits, "photoedit augment")):
        if not parquet_files(folder):
            raise FileNotFoundError(f"no Parquet shards under {folder}: run `{command}` first")


def _photos_in(layout: DatasetLayout, photos: pa.Table, splits: Sequence[str]) -> list[str]:
    """The photo ids of the splits: photos/' split column, else (no photos/) the stable hash of variant_edits' ids."""
    if photos.num_columns:
        ids, assigned = photos.column("photo_id").to_pylist(), photos.column("split").to_pylist()
    else:
        ids = sorted(set(read_table(layout.variant_edits, ["photo_id"]).column("photo_id").to_pylist()))
        assigned = [split_for(p) for p in ids]
    return [p for p, s in zip(ids, assigned) if s in splits]


_EDIT_COLUMNS = ["image_id", "photo_id", "editor", "editor_kind", *PROCESS_2003.keys]


def read_edits(dataset: str, splits: Sequence[str] | None = None) -> EditsData:
    """The training data of a dataset: features/ joined with variant_edits/, splits from photos/; with
    `splits`, only the edits and feature rows of the photos in those splits are read (test: a tenth).

    FileNotFoundError naming the stage to run when features/ or variant_edits/ is missing.
    """
    layout = DatasetLayout(dataset)
    _check_training_inputs(layout)
    photos = read_table(layout.photos, ["photo_id", "split"], required=False)
    where = None if splits is None else {"photo_id": _photos_in(layout, photos, splits)}
    # shard by shard into one float32 [M, D] array: 15 000 x 4096 is 240 MiB, never two or three copies of it
    shards = (read_table_file(path, ["image_id", "fc7"], where) for path in parquet_files(layout.features))
    features = stack_features(shards, rows=count_rows(layout.features) if where is None else None)
    edits = read_table(layout.variant_edits, _EDIT_COLUMNS, where=where)
    return load_edits(features, edits, photos if photos.num_columns else None)


def read_sliders(dataset: str) -> EditsData:
    """read_edits' edits, sliders and splits without the feature vectors: every edit points at one zero row of
    the features' width. For what never looks at a feature (the feature-blind floor): it reads the features'
    image ids, not their values (15 000 x 4096 float32 at FiveK scale)."""
    layout = DatasetLayout(dataset)
    _check_training_inputs(layout)
    files = parquet_files(layout.features)
    ids = [i for path in files for i in read_table_file(path, ["image_id"]).column("image_id").to_pylist()]
    width = file_schema(files[0]).field("fc7").type.list_size
    photos = read_table(layout.photos, ["photo_id", "split"], required=False)
    data = edits_from_tables(FeatureMatrix(np.asarray(ids, dtype=object), np.zeros((len(ids), 0), np.float32)),
                             read_table(layout.variant_edits, _EDIT_COLUMNS), photos if photos.num_columns else None)
    return dataclasses.replace(data, features=torch.zeros((1, width)),
                               feature_rows=torch.zeros(len(data), dtype=torch.long))
