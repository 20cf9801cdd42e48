"""Tables (features/, variant_edits/, photos/) -> tensors: features x, sliders y in model space, ids, splits.

The caller reads the tables (photoedit: pipelines.core.model_store.read_edits). Column names follow
the Parquet contracts of pipelines/core/schemas.py (this package never imports `pipelines`): features/ has image_id, photo_id, variant, fc7 [D]; variant_edits/ has image_id,
photo_id, variant, editor, editor_kind and one float64 column per slider key of
`rendering.sliders.PROCESS_2003` (Lightroom units); photos/ has photo_id and split.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np
import pyarrow as pa
import torch

from modeling.splits import SPLITS, split_for
from rendering.sliders import PROCESS_2003, SliderSpec

log = logging.getLogger(__name__)

PSEUDO_USER_SIZE = 50  # experts are chunked into pseudo-users of about this many edits (Saeedi et al.)
PSEUDO_USER_SEED = 0   # seeds the shuffle of each expert's photos before chunking


@dataclass
class FeatureNormaliser:
    """Per-dimension standardisation of features: (x - mean) / std, stats from the train split."""

    mean: np.ndarray  # [D] float32
    std: np.ndarray   # [D] float32, >= min_std

    @classmethod
    def fit(cls, x: np.ndarray | torch.Tensor, min_std: float = 1e-3) -> "FeatureNormaliser":
        """Mean and std [D] of features x [N, D]; tiny stds are floored at `min_std`."""
        x = np.asarray(x)
        n, dim = x.shape
        if n < 2:
            mean = x.mean(axis=0, dtype=np.float64) if n else np.zeros(dim)
            return cls(mean.astype(np.float32), np.ones(dim, np.float32))
        chunk = 2048  # float64 accumulation in row chunks: no full-size float64 copy of x
        mean = sum(x[i:i + chunk].sum(axis=0, dtype=np.float64) for i in range(0, n, chunk)) / n
        sq = sum(((x[i:i + chunk] - mean) ** 2).sum(axis=0) for i in range(0, n, chunk))
        std = np.sqrt(sq / n)
        return cls(mean.astype(np.float32), np.maximum(std, min_std).astype(np.float32))

    @classmethod
    def identity(cls, dim: int) -> "FeatureNormaliser":
        return cls(np.zeros(dim, np.float32), np.ones(dim, np.float32))

    def to_config(self) -> dict:
        return {"mean": [float(v) for v in self.mean], "std": [float(v) for v in self.std]}

    @classmethod
    def from_config(cls, cfg: dict) -> "FeatureNormaliser":
        return cls(np.asarray(cfg["mean"], np.float32), np.asarray(cfg["std"], np.float32))


@dataclass
class EditsData:
    """One row per edit: sliders y [N, 11] in model space, who/what/where, and features by image.

    Features are stored once per image (`features` [M, D]) and shared by that image's edits through
    `feature_rows` [N] (None: one feature row per edit); `x_at(idx)` gathers a minibatch and the
    `x` property materialises all N rows (fine for a split, costly for 75 000 x 4096).
    """

    features: torch.Tensor           # [M, D] float32, raw features (models standardise inside)
    y: torch.Tensor                  # [N, 11] float32 in [-1, 1]
    image_ids: np.ndarray            # [N] str
    photo_ids: np.ndarray            # [N] str
    editors: np.ndarray              # [N] str ("A".."E" or a user id)
    editor_kinds: np.ndarray         # [N] str ("expert" | "user")
    splits: np.ndarray               # [N] str (train | validation | test)
    users: np.ndarray = field(default=None)  # [N] int user index (experts chunked into pseudo-users)
    feature_rows: torch.Tensor = field(default=None)  # [N] long row of `features` per edit

    def __post_init__(self) -> None:
        if self.feature_rows is None:
            self.feature_rows = torch.arange(self.features.shape[0])
        if self.users is None:
            self.users = pseudo_users(self.editors, self.editor_kinds, self.photo_ids)

    def __len__(self) -> int:
        return int(self.y.shape[0])

    @property
    def feature_dim(self) -> int:
        return int(self.features.shape[1])

    @property
    def x(self) -> torch.Tensor:
        """Features of every edit [N, D] (a gathered copy)."""
        return self.features[self.feature_rows]

    def x_at(self, idx: torch.Tensor) -> torch.Tensor:
        """Features [len(idx), D] of the edits at row indices idx."""
        return self.features[self.feature_rows[idx.to(self.feature_rows.device)]]

    def image_features(self) -> torch.Tensor:
        """The distinct feature rows used by these edits [M', D] (for standardisation stats)."""
        return self.features[torch.unique(self.feature_rows)]

    def subset(self, mask: np.ndarray) -> "EditsData":
        """Rows where mask is True (features shared, user indices kept as they are)."""
        idx = np.flatnonzero(np.asarray(mask))
        t = torch.from_numpy(idx)
        return EditsData(self.features, self.y[t], self.image_ids[idx], self.photo_ids[idx],
                         self.editors[idx], self.editor_kinds[idx], self.splits[idx], self.users[idx],
                         self.feature_rows[t])

    def split(self, name: str) -> "EditsData":
        """The rows of one split (train | validation | test); pseudo-users rebuilt inside it."""
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; use one of {SPLITS}")
        sub = self.subset(self.splits == name)
        sub.users = pseudo_users(sub.editors, sub.editor_kinds, sub.photo_ids)
        return sub

    def to(self, device: str | torch.device) -> "EditsData":
        return EditsData(self.features.to(device), self.y.to(device), self.image_ids, self.photo_ids,
                         self.editors, self.editor_kinds, self.splits, self.users, self.feature_rows.to(device))


def pseudo_users(editors: np.ndarray, editor_kinds: np.ndarray, photo_ids: np.ndarray,
                 size: int = PSEUDO_USER_SIZE, seed: int = PSEUDO_USER_SEED) -> np.ndarray:
    """User index [N] per edit: casual users ('user') are themselves; each expert's photos, in a seeded
    shuffle, are chunked into pseudo-users of whole photos, a chunk closing once it holds >= `size` edits.

    Every edit of one photo by one expert (its variants) sits in one pseudo-user. The shuffle is
    numpy's, seeded by (seed, the editor's rank in sorted order): the same rows give the same users.
    """
    editors = np.asarray(editors).astype(str)
    kinds = np.asarray(editor_kinds).astype(str)
    photos = np.asarray(photo_ids).astype(str)
    out = np.zeros(len(editors), dtype=np.int64)
    next_id = 0
    for rank, editor in enumerate(sorted(set(editors.tolist()))):
        rows = np.flatnonzero(editors == editor)
        if kinds[rows[0]] != "expert":
            out[rows] = next_id
            next_id += 1
            continue
        uniq, inv = np.unique(photos[rows], return_inverse=True)            # sorted photo ids
        order = np.random.default_rng([seed, rank]).permutation(len(uniq))
        position = np.empty(len(uniq), dtype=np.int64)
        position[order] = np.arange(len(uniq))
        edits_per_photo = np.bincount(position[inv], minlength=len(uniq))   # in shuffled photo order
        chunk, filled = np.zeros(len(uniq), dtype=np.int64), 0
        for i, n in enumerate(edits_per_photo):
            chunk[i] = next_id
            filled += n
            if filled >= size:
                next_id, filled = next_id + 1, 0
        next_id += int(filled > 0)
        out[rows] = chunk[position[inv]]
    return out


@dataclass(frozen=True)
class FeatureMatrix:
    """The features of M images: image ids [M] (object) and values [M, D] float32."""

    image_ids: np.ndarray
    values: np.ndarray


def stack_features(tables: Iterable[pa.Table], rows: int | None = None) -> FeatureMatrix:
    """image_id + fc7 of feature tables (e.g. one per features/ shard), one chunk at a time, into one
    [M, D] float32 array. With `rows` = M (known from the shards' footers) the array is filled in place
    and is the only full-size copy; without, the chunks are copied and concatenated at the end."""
    ids: list[str] = []
    blocks: list[np.ndarray] = []
    out: np.ndarray | None = None
    filled, dim = 0, 0
    for table in tables:
        ids += table.column("image_id").to_pylist()
        fc7 = table.column("fc7")
        if pa.types.is_fixed_size_list(fc7.type):
            dim = fc7.type.list_size
        for chunk in fc7.chunks:
            n = len(chunk)
            if n == 0:
                continue
            flat = chunk.flatten().to_numpy(zero_copy_only=False)
            block = flat.reshape(n, len(flat) // n)
            dim = block.shape[1]
            if rows is None:
                blocks.append(block.astype(np.float32))        # a copy: the table can go
            else:
                if out is None:
                    out = np.empty((rows, dim), dtype=np.float32)
                out[filled:filled + n] = block
            filled += n
    if rows is not None and filled != rows:
        raise ValueError(f"expected {rows} feature rows, read {filled}")
    if out is None:
        out = np.concatenate(blocks) if blocks else np.zeros((0, dim), dtype=np.float32)
    return FeatureMatrix(np.asarray(ids, dtype=object), out)


def edits_from_tables(features: pa.Table | FeatureMatrix, edits: pa.Table, photos: pa.Table | None = None,
                      spec: SliderSpec = PROCESS_2003) -> EditsData:
    """Join edits with features (a table with image_id, fc7, or a stacked FeatureMatrix) on image_id;
    sliders -> model space (clipped to [-1, 1]).

    Rows whose image has no feature vector, or with NaN sliders, are dropped (counts logged).
    The split comes from photos/ (column `split`) or, when absent, from modeling.splits.split_for.
    """
    if isinstance(features, pa.Table):
        features = stack_features([features], rows=features.num_rows)
    feat_ids, feat = features.image_ids, features.values
    row_of = {image_id: i for i, image_id in enumerate(feat_ids.tolist())}

    image_ids = np.asarray(edits.column("image_id").to_pylist(), dtype=object)
    keep = np.array([i in row_of for i in image_ids.tolist()], dtype=bool)
    lightroom = np.stack([np.asarray(edits.column(k).to_pylist(), dtype=np.float64)
                          for k in spec.keys], axis=1) if len(image_ids) else np.zeros((0, len(spec)))
    finite = np.all(np.isfinite(lightroom), axis=1)
    if (~keep).any():
        log.warning("%d edits have no feature vector and are dropped", int((~keep).sum()))
    if (~finite).any():
        log.warning("%d edits have NaN/infinite sliders and are dropped", int((~finite).sum()))
    keep &= finite
    idx = np.flatnonzero(keep)
    with np.errstate(divide="ignore", invalid="ignore"):
        y = np.clip(spec.to_model(lightroom[idx]), -1.0, 1.0).astype(np.float32)
    image_ids = image_ids[idx].astype(str)
    rows = np.array([row_of[i] for i in image_ids.tolist()], dtype=np.int64)
    photo_ids = np.asarray(edits.column("photo_id").to_pylist(), dtype=object)[idx].astype(str)
    editors = np.asarray(edits.column("editor").to_pylist(), dtype=object)[idx].astype(str)
    kinds = np.asarray(edits.column("editor_kind").to_pylist(), dtype=object)[idx].astype(str)
    split_of: dict[str, str] = {}
    if photos is not None and photos.num_rows:
        split_of = dict(zip(photos.column("photo_id").to_pylist(), photos.column("split").to_pylist()))
    splits = np.array([split_of.get(p) or split_for(p) for p in photo_ids.tolist()], dtype=object).astype(str)
    order = np.lexsort((editors, image_ids))  # deterministic row order whatever the shard order
    return EditsData(torch.from_numpy(feat), torch.from_numpy(y[order]), image_ids[order], photo_ids[order],
                     editors[order], kinds[order], splits[order], feature_rows=torch.from_numpy(rows[order]))


def load_edits(features: pa.Table | FeatureMatrix, edits: pa.Table, photos: pa.Table | None = None,
               spec: SliderSpec = PROCESS_2003) -> EditsData:
    """EditsData of a dataset's features/, variant_edits/ and (if any) photos/ tables, with a log line of counts."""
    if photos is None:
        log.warning("no photos/ table: splits from the stable photo-id hash")
    data = edits_from_tables(features, edits, photos, spec)
    log.info("loaded %d edits of %d images, feature dim %d (%s)", len(data),
             len(set(data.image_ids.tolist())), data.feature_dim,
             ", ".join(f"{s}={int((data.splits == s).sum())}" for s in SPLITS))
    return data
