"""What the report reads: every stage's outputs under a dataset root, None where a stage has not run."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from modeling.comparison import FLOOR
from modeling.registry import MODEL_ORDER
from pipelines.core import storage
from pipelines.core.lab_summary import pool_rows, proposal_pools
from pipelines.core.layout import DatasetLayout
from pipelines.core.model_store import seed_folders
from pipelines.core.parquet_io import Where, count_rows, parquet_files, read_table, read_table_file
from pipelines.core.schemas import NO_ADJUSTMENT, SLIDER_KEYS

log = logging.getLogger(__name__)


def evaluated_split(eval_summary: dict | None) -> str:
    """The split of evaluation/_summary.json, test when there is none."""
    return str((eval_summary or {}).get("split") or "test")


@dataclass
class Inputs:
    """The dataset's stage outputs as read for the report (None where a stage has not run)."""

    layout: DatasetLayout
    photos: pa.Table
    edits: pa.Table | None           # the edits of the evaluated split's photos (all the sections show)
    evaluation: pa.Table | None
    predictions: pa.Table | None
    eval_summary: dict | None
    models_summary: dict | None
    configs: dict[str, dict]
    metrics: dict[str, dict]
    models: list[str]
    folders: dict[str, str]          # model -> the folder of its lowest training seed (config, metrics, curve)
    seeds: dict[str, list]           # model -> its training seeds found (None: the layout before seeds)
    edit_kinds: dict[str, int] | None = None   # edits/ rows per editor kind, every split (None: no edits/)

    @property
    def split(self) -> str:
        """The split `photoedit evaluate` ran on (evaluation/_summary.json), test by default."""
        return evaluated_split(self.eval_summary)

    @property
    def pools(self) -> list[int]:
        """The proposal pools P of the evaluation rows, the paper's (largest) first; [] for rows without the column."""
        return proposal_pools(self.evaluation) if self.evaluation is not None else []

    @property
    def protocol_proposals(self) -> int | None:
        """P of the paper's protocol: evaluation/_summary.json's `proposals`, else the largest pool of the rows."""
        summary = (self.eval_summary or {}).get("proposals")
        pools = self.pools
        if summary is not None and (not pools or int(summary) in pools):
            return int(summary)
        return pools[0] if pools else None

    @property
    def protocol_evaluation(self) -> pa.Table | None:
        """The evaluation rows of the paper's protocol (P proposals aligned to the experts) and no_adjustment."""
        if self.evaluation is None:
            return None
        return pool_rows(self.evaluation, self.protocol_proposals)


def _optional_table(folder: str, what: str, command: str, columns: list[str] | None = None,
                    where: Where | None = None) -> pa.Table | None:
    """A stage's Parquet folder (those columns, the rows matching `where`), or None with a warning naming the
    command that writes it."""
    if not parquet_files(folder):
        log.warning("no %s under %s (run `%s`)", what, folder, command)
        return None
    return read_table(folder, columns=columns, where=where)


def _value_counts(folder: str, column: str) -> dict[str, int]:
    """Rows per value of one column of a Parquet folder, read shard by shard."""
    counts: dict[str, int] = {}
    for path in parquet_files(folder):
        for value in read_table_file(path, [column]).column(column).to_pylist():
            counts[value] = counts.get(value, 0) + 1
    return dict(sorted(counts.items()))


def optional_json(path: str) -> dict | None:
    try:
        return storage.read_json(path)
    except FileNotFoundError:
        return None
    except (ValueError, UnicodeDecodeError) as exc:
        log.warning("ignoring unreadable %s: %s", path, exc)
        return None


def load_inputs(layout: DatasetLayout) -> Inputs:
    """Read the stage outputs the report uses; FileNotFoundError when photos/ is missing.

    Of edits/ only the evaluated split's rows are kept (every section shows that split; the counts come
    from one column), of predictions/ only the model and slider columns the histograms need.
    """
    photos = read_table(layout.photos, sort_by=["photo_id"])
    eval_summary = optional_json(storage.join(layout.evaluation, "_summary.json"))
    edits = _optional_table(layout.edits, "edits", "photoedit ingest",
                            where={"photo_id": split_photo_ids(photos, evaluated_split(eval_summary))})
    edit_kinds = None if edits is None else _value_counts(layout.edits, "editor_kind")
    evaluation = _optional_table(layout.evaluation, "evaluation rows", f"photoedit evaluate --dataset {layout.root}")
    predictions = _optional_table(layout.predictions, "predictions", f"photoedit evaluate --dataset {layout.root}",
                                  columns=["model", *SLIDER_KEYS])
    models_summary = optional_json(layout.path("models", "summary.json"))
    names = set(MODEL_ORDER)
    for table in (evaluation, predictions):
        if table is not None:
            names.update(table.column("model").to_pylist())
    names -= {NO_ADJUSTMENT, FLOOR}
    configs, metrics, folders, seeds = {}, {}, {}, {}
    for name in sorted(names):
        found = seed_folders(layout.model_dir(name))
        if not found:
            continue
        seeds[name] = [s for s, _ in found]
        folders[name] = folder = found[0][1]
        config = optional_json(storage.join(folder, "config.json"))
        if config is not None:
            configs[name] = config
        metric = optional_json(storage.join(folder, "metrics.json"))
        if metric is not None:
            metrics[name] = metric
    models = list(MODEL_ORDER) + sorted(names - set(MODEL_ORDER))
    return Inputs(layout=layout, photos=photos, edits=edits, evaluation=evaluation, predictions=predictions,
                  eval_summary=eval_summary, models_summary=models_summary, configs=configs,
                  metrics=metrics, models=models, folders=folders, seeds=seeds, edit_kinds=edit_kinds)


def split_photo_ids(photos: pa.Table, split: str = "test") -> list[str]:
    """Sorted photo ids of one split."""
    return sorted(p for p, s in zip(photos.column("photo_id").to_pylist(), photos.column("split").to_pylist())
                  if s == split)


def slider_matrix(table: pa.Table) -> np.ndarray:
    """Slider columns of a table -> [N, 11] Lightroom units."""
    return np.stack([np.asarray(table.column(k).to_numpy(zero_copy_only=False), dtype=np.float64)
                     for k in SLIDER_KEYS], axis=1) if table.num_rows else np.zeros((0, len(SLIDER_KEYS)))


def error_counts(layout: DatasetLayout) -> dict[str, int]:
    """Rows under errors/<stage>/ per stage."""
    matches = storage.match(layout.path("errors", "*", "*.parquet"))
    stages = sorted({path.replace("\\", "/").rstrip("/").split("/")[-2] for path in matches})
    return {s: count_rows(layout.errors(s)) or 0 for s in stages}


def stage_markers(layout: DatasetLayout) -> dict[str, dict]:
    """_stages/<stage>.json markers written by `photoedit demo` (stage -> {config, seconds})."""
    out = {}
    for path in storage.match(layout.path("_stages", "*.json")):
        marker = optional_json(path)
        if marker is not None:
            out[path.replace("\\", "/").split("/")[-1][:-len(".json")]] = marker
    return out


def photoedit_version() -> str:
    """The installed photoedit version, or 'unknown (not installed)'."""
    from importlib import metadata
    try:
        return metadata.version("photoedit")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def data_counts(inputs: Inputs) -> dict[str, Any]:
    """Counts of the dataset: photos per split, edits (by kind), variants, features, predictions, evaluation rows."""
    layout = inputs.layout
    splits: dict[str, int] = {}
    for s in inputs.photos.column("split").to_pylist():
        splits[s] = splits.get(s, 0) + 1
    counts: dict[str, Any] = {"photos": inputs.photos.num_rows, "photos_per_split": dict(sorted(splits.items()))}
    if inputs.edit_kinds is not None:
        counts["edits"] = sum(inputs.edit_kinds.values())
        counts["edits_per_kind"] = inputs.edit_kinds
    else:
        counts["edits"] = None
    counts["variants"] = count_rows(layout.variants)
    counts["variant_edits"] = count_rows(layout.variant_edits)
    counts["features"] = count_rows(layout.features)
    counts["predictions"] = inputs.predictions.num_rows if inputs.predictions is not None else None
    counts["evaluation"] = inputs.evaluation.num_rows if inputs.evaluation is not None else None
    counts["errors"] = error_counts(layout)
    return counts
