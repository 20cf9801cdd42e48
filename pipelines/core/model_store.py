"""Model folders and the training data of a dataset, through the storage layer (local paths, gs://, ...).

`modeling` works on tables and bytes; this module reads and writes them where photoedit keeps them:
<dataset>/models/<name>/{checkpoint.pt, config.json, metrics.json, training_state.pt,
personalisation.json}, and the features/, variant_edits/ and photos/ tables a model trains on.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from modeling.checkpoints import (
    CHECKPOINT,
    CONFIG,
    CheckpointError,
    model_files,
    model_from_files,
)
from modeling.data import EditsData, load_edits
from modeling.networks import SliderModel
from pipelines.core import storage
from pipelines.core.layout import DatasetLayout
from pipelines.core.parquet_io import parquet_files, read_table
from rendering.sliders import PROCESS_2003


@dataclass(frozen=True)
class ModelFolder:
    """One model folder (modeling.train_run.ModelStore): files by name under `path`."""

    path: str

    def write(self, name: str, data: bytes) -> None:
        storage.write_bytes(storage.join(self.path, name), data)

    def read(self, name: str) -> bytes | None:
        """The file's bytes, None when it does not exist."""
        path = storage.join(self.path, name)
        return storage.read_bytes(path) if storage.exists(path) else None


def is_model_folder(path: str) -> bool:
    """Whether `path` holds a config.json (a trained model)."""
    return storage.exists(storage.join(path, CONFIG))


def load_model(folder: str, device: str | torch.device = "cpu") -> tuple[SliderModel, dict[str, Any]]:
    """The model of a model folder on `device`, in eval mode, and its config.json; CheckpointError if it is not one."""
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


def read_edits(dataset: str) -> EditsData:
    """The training data of a dataset: features/ joined with variant_edits/, splits from photos/.

    FileNotFoundError naming the stage to run when features/ or variant_edits/ is missing.
    """
    layout = DatasetLayout(dataset)
    for folder, command in ((layout.features, "photoedit features"), (layout.variant_edits, "photoedit augment")):
        if not parquet_files(folder):
            raise FileNotFoundError(f"no Parquet shards under {folder}: run `{command}` first")
    features = read_table(layout.features, ["image_id", "fc7"])
    edits = read_table(layout.variant_edits, ["image_id", "photo_id", "editor", "editor_kind", *PROCESS_2003.keys])
    photos = read_table(layout.photos, ["photo_id", "split"], required=False)
    return load_edits(features, edits, photos if photos.num_columns else None)
