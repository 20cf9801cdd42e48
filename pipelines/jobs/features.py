"""`photoedit features`: VGG-16 FC7 (or TF-Hub) features of every image in variants/ -> features/ shards.

variants/ lists the originals (variant 0) and the noisy variants alike, so both get features.
Each image is read through Beam FileSystems, preprocessed (features.preprocess: whole image resized
to 224x224 bilinear, Keras' vgg16.preprocess_input), run in fixed-shape batches by
features.inference.FeatureModelHandler (model built in the worker, once per process) and written
as Parquet rows (pipelines.core.schemas.FEATURES: fc7 fixed_size_list<float32>[4096], or
features_schema(D) for a TF-Hub module). Images are dealt by a stable hash of image_id into groups
of about 16 batches (at most --shard-size rows) and the worker that runs a group writes it as one
shard, sorted by image_id: the feature vectors never cross a shuffle, so no process holds more than
a group of them whatever N (same rows on any runner). Unreadable images and NaN features -> errors/features.
"""
from __future__ import annotations

import argparse
import itertools
import logging
import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Sequence

import apache_beam as beam
import numpy as np
import pyarrow as pa
from apache_beam.utils import shared

from features.inference import FeatureConfig, FeatureModelHandler
from features.vgg16 import FC7_DIM, RANDOM_WEIGHTS, WEIGHTS_FILE_NAME, check_weights
from pipelines.core import storage
from pipelines.core.console import configure_logging, local_log_dir
from pipelines.core.errors import ERRORS_TAG, error_row, write_errors
from pipelines.core.layout import DatasetLayout
from pipelines.core.options import BEAM_HELP, split_args
from pipelines.core.parquet_io import (
    all_written,
    count_rows,
    read_rows,
    shard_of,
    write_shard,
)
from pipelines.core.progress import WorkerProgress
from pipelines.core.schemas import features_schema
from pipelines.core.stage import run_stage
from pipelines.core.staging import staged_path
from pipelines.core.transforms import GroupIntoShards, TaggedParDo

log = logging.getLogger(__name__)
STAGE = "features"
VARIANT_COLUMNS = ["image_id", "photo_id", "variant", "image_uri"]
BATCHES_PER_GROUP = 16   # model batches per group of images (one worker runs a group)


def feature_row(row: dict[str, Any], features: Any) -> dict[str, Any]:
    """features/ row of a variants/ row, fc7 a float32 array [D]; raises ValueError on a non-finite feature vector.

    fc7 stays a numpy array up to the Parquet writer: 4 bytes a value where a shard is gathered (a
    list of Python floats would be 32 bytes a value in the writer and 9 encoded between workers).
    """
    fc7 = np.array(features, dtype=np.float32).reshape(-1)
    if not np.all(np.isfinite(fc7)):
        raise ValueError(f"{int(np.sum(~np.isfinite(fc7)))} non-finite values in the feature vector")
    return {"image_id": row["image_id"], "photo_id": row["photo_id"], "variant": int(row["variant"]), "fc7": fc7}


def batch_groups(num_images: int, batch_size: int) -> int:
    """How many groups ExtractFeatures deals `num_images` into: about BATCHES_PER_GROUP batches each."""
    return max(1, math.ceil(num_images / (BATCHES_PER_GROUP * batch_size)))


@dataclass(frozen=True)
class ShardSink:
    """Where ExtractBatches writes group g's rows itself, as shard g of `count` (sorted by image_id)."""

    folder: str
    schema: pa.Schema
    count: int


class ExtractBatches(beam.DoFn):
    """(group, variants/ rows) -> features/ rows, `batch_size` images per model call; failures -> errors.

    With a ShardSink the group's rows are written as its shard and only the shard's path is output:
    feature vectors (16 KiB each) never cross a shuffle, where the in-process runner would hold every
    one of them in the driver's memory.
    """

    def __init__(self, config: FeatureConfig, sink: ShardSink | None = None):
        self._config, self._sink = config, sink
        self._model_handle = shared.Shared()

    def setup(self) -> None:
        self._handler = FeatureModelHandler(self._config)
        # one model per worker process: the DaskRunner calls setup once per partition
        self._model = self._model_handle.acquire(self._handler.load_model)
        self._images = beam.metrics.Metrics.counter(STAGE, "images_read")
        self._rows = beam.metrics.Metrics.counter(STAGE, "features")
        self._progress = WorkerProgress(log, STAGE)

    def process(self, group: tuple[int, Iterable[dict[str, Any]]]) -> Iterator[Any]:
        rows, done = iter(group[1]), []
        while batch := list(itertools.islice(rows, self._config.batch_size)):
            for out in self._batch(batch):
                if self._sink is None or isinstance(out, beam.pvalue.TaggedOutput):
                    yield out
                else:
                    done.append(out)
        if self._sink is not None:
            yield write_shard((group[0], done), self._sink.folder, self._sink.schema, ("image_id",), self._sink.count)

    def _batch(self, batch: list[dict[str, Any]]) -> Iterator[Any]:
        ready, images = [], []
        for row in batch:
            uri = row["image_uri"]
            try:
                images.append(self._config.preprocess(storage.read_bytes(uri), uri))
            except Exception as exc:  # missing or unreadable image: the rest of the job goes on
                yield beam.pvalue.TaggedOutput(ERRORS_TAG, error_row(row["image_id"], STAGE, exc, uri))
                continue
            ready.append(row)
        self._images.inc(len(ready))
        results = self._handler.run_inference(images, self._model) if ready else []
        for row, result in zip(ready, results):
            try:
                out = feature_row(row, result.inference)
            except ValueError as exc:
                yield beam.pvalue.TaggedOutput(ERRORS_TAG, error_row(row["image_id"], STAGE, f"FeatureError: {exc}"))
                continue
            self._rows.inc()
            self._progress.step()
            yield out

    def finish_bundle(self) -> None:
        self._progress.flush()


class ExtractFeatures(beam.PTransform):
    """variants/ rows -> features/ rows (main output) and error rows (tagged `errors`); with a ShardSink
    of `groups` shards the main output is the paths of the shards written instead of the rows.

    Rows are dealt into `groups` by a stable hash of image_id (every group exists, empty ones too:
    GroupIntoShards) and each group is run in batches of `batch_size` images (the last one padded:
    fixed shapes, features.inference). Not RunInference: its BatchElements emits a bundle's last
    batch from finish_bundle, which the DaskRunner drops (pipelines.core.transforms), so those
    images got no features there.
    """

    def __init__(self, config: FeatureConfig, groups: int = 1, sink: ShardSink | None = None):
        super().__init__()
        if sink is not None and sink.count != groups:
            raise ValueError(f"a ShardSink of {sink.count} shards needs as many groups, got {groups}")
        self._config, self._groups, self._sink = config, groups, sink

    def expand(self, variants: beam.PCollection) -> tuple[beam.PCollection, beam.PCollection]:
        groups = self._groups
        out = (variants | "GroupKey" >> beam.Map(lambda r: (shard_of(r, ("image_id",), groups), r))
               | "Group" >> GroupIntoShards(groups)
               | "ExtractBatches" >> TaggedParDo(ExtractBatches(self._config, self._sink), ERRORS_TAG, main="rows"))
        return out.rows, out[ERRORS_TAG]


def feature_width(config: FeatureConfig) -> int:
    """Width of the feature vector: 4096 for VGG-16 FC7, probed for a TF-Hub module."""
    if config.hub_module:
        from features.hub import feature_dim
        return feature_dim(config.hub_module, config.hub_image_size)
    return FC7_DIM


@dataclass(frozen=True)
class FeaturesJobConfig:
    """The features job: dataset root, extractor (features.inference.FeatureConfig), rows per output shard."""

    dataset: str
    extractor: FeatureConfig = field(default_factory=FeatureConfig)
    shard_size: int = 5000

    def __post_init__(self) -> None:
        if self.shard_size < 1:
            raise ValueError(f"shard size must be >= 1, got {self.shard_size}")
        if self.extractor.batch_size < 1:
            raise ValueError(f"batch size must be >= 1, got {self.extractor.batch_size}")
        if self.extractor.hub_module:
            if not storage.exists(self.extractor.hub_module):
                raise ValueError(f"TF-Hub module folder not found: {self.extractor.hub_module}")
        else:
            check_weights(self.extractor.weights)   # a corrupt file fails here, before any output is touched

    @property
    def layout(self) -> DatasetLayout:
        return DatasetLayout(self.dataset)


def shard_count(num_images: int, shard_size: int, batch_size: int) -> int:
    """features/ shards (= groups of images, each written by the worker that ran it): at most about
    `shard_size` rows each and about BATCHES_PER_GROUP batches each (so that the workers share the work)."""
    return max(batch_groups(num_images, batch_size), math.ceil(num_images / shard_size), 1)


def build_pipeline(pipeline: beam.Pipeline, config: FeaturesJobConfig, width: int, num_shards: int) -> None:
    """variants/ -> ExtractFeatures (`num_shards` groups, each written as its shard of `width`-d rows by the
    worker that ran it) -> features/, errors/features."""
    layout = config.layout
    variants = pipeline | "ReadVariants" >> read_rows(layout.variants, columns=VARIANT_COLUMNS)
    sink = ShardSink(staged_path(layout.features), features_schema(width), num_shards)
    paths, errors = variants | "ExtractFeatures" >> ExtractFeatures(config.extractor, num_shards, sink)
    all_written(paths, write_errors(errors, layout, STAGE))


def run_job(config: FeaturesJobConfig, beam_args: Sequence[str] = (),
            test_pipeline: beam.Pipeline | None = None) -> dict[str, int]:
    """Run the features job (outputs of an earlier run replaced); returns its counters."""
    layout = config.layout
    num_images = count_rows(layout.variants)
    if num_images is None:
        raise FileNotFoundError(f"no variants/ under {layout.root}: run `photoedit augment` first")
    num_shards = shard_count(num_images, config.shard_size, config.extractor.batch_size)
    width = feature_width(config.extractor)
    source = config.extractor.hub_module or f"VGG-16 fc2, weights {config.extractor.weights}"
    log.info("features: %d images, %s (%d-d) -> %d shard(s) under %s", num_images, source, width,
             num_shards, layout.features)
    run = run_stage(STAGE, {"features": layout.features, "errors": layout.errors(STAGE)}, num_images, "images",
                    lambda pipeline: build_pipeline(pipeline, config, width, num_shards), beam_args,
                    test_pipeline)
    log.info("features: %d feature rows, %d errors -> %s (%.1f s)", run.counters.get("features", 0),
             run.counters.get("errors", 0), layout.features, run.seconds)
    return run.counters


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="photoedit features",
        description="VGG-16 FC7 (Keras `fc2`, 4096-d) or TF-Hub features of every image in variants/ "
                    "(originals = variant 0, and the noisy variants) -> features/ Parquet shards. "
                    "Preprocessing: whole image resized to 224x224 (bilinear, aspect not kept, no crop), "
                    "then keras.applications.vgg16.preprocess_input.",
        epilog=BEAM_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, help="dataset root (local path or gs://...)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--weights", default=None,
                        help=f"VGG-16 weights: a local file, e.g. Keras' ImageNet weights "
                             f"{WEIGHTS_FILE_NAME} (download it once elsewhere: it is what "
                             f"keras.applications.VGG16(weights='imagenet') stores in ~/.keras/models/), "
                             f"or a saved .keras/.h5 VGG-16; or '{RANDOM_WEIGHTS}' (fixed seed; features "
                             "are meaningless: tests and demo only). Required unless --hub-module.")
    source.add_argument("--hub-module", default=None,
                        help="a TF-Hub image feature-vector module directory (SavedModel) instead of VGG-16")
    parser.add_argument("--hub-image-size", type=int, default=224, help="input size of the TF-Hub module (default 224)")
    parser.add_argument("--batch-size", type=int, default=8, help="images per model call, a fixed shape (default 8)")
    parser.add_argument("--shard-size", type=int, default=5000,
                        help="at most about this many rows per features/ Parquet shard (default 5000); a "
                             "shard is also at most about 16 batches: each is written by the worker that ran it")
    parser.add_argument("--verbose", action="store_true", help="every log line, Beam's, TensorFlow's and the workers' too")
    return parser


def run(argv: list[str] | None = None, test_pipeline: beam.Pipeline | None = None) -> int:
    """Entry point of `photoedit features`; 0 when the job ran (errors are rows in errors/features), 2 on bad input."""
    parser = build_parser()
    args, beam_args = split_args(parser, argv)
    configure_logging(args.verbose, local_log_dir(args.dataset), STAGE)
    if not args.hub_module and not args.weights:
        parser.error("pass --weights FILE (or --weights random) or --hub-module DIR")
    try:
        config = FeaturesJobConfig(
            dataset=args.dataset, shard_size=args.shard_size,
            extractor=FeatureConfig(weights=args.weights or RANDOM_WEIGHTS, hub_module=args.hub_module,
                                    hub_image_size=args.hub_image_size, batch_size=args.batch_size))
        run_job(config, beam_args, test_pipeline)
    except (FileNotFoundError, ValueError) as exc:   # bad input, found before any output is touched
        log.error("features: %s", exc)
        return 2
    return 0
