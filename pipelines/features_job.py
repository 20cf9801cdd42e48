"""`photoedit features`: VGG-16 FC7 (or TF-Hub) features of every image in variants/ -> features/ shards.

variants/ lists the originals (variant 0) and the noisy variants alike, so both get features.
Each image is read through Beam FileSystems, preprocessed (features.preprocess: whole image resized
to 224x224 bilinear, Keras' vgg16.preprocess_input), run through RunInference with
features.inference.FeatureModelHandler (model built in the worker, fixed-shape batches) and written
as Parquet rows (pipelines.schemas.FEATURES: fc7 fixed_size_list<float32>[4096], or
features_schema(D) for a TF-Hub module). Unreadable images and NaN features -> errors/features.
"""
from __future__ import annotations

import argparse
import logging
import math
from typing import Any, Iterator

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystems import FileSystems
from apache_beam.ml.inference.base import KeyedModelHandler, RunInference

from features.inference import FeatureConfig, FeatureModelHandler
from features.vgg16 import FC7_DIM, RANDOM_WEIGHTS, WEIGHTS_FILE_NAME
from pipelines.errors import ERRORS_TAG, error_row, write_errors
from pipelines.layout import DatasetLayout
from pipelines.options import BEAM_HELP, beam_options, configure_logging, split_args
from pipelines.parquet_io import clear_folder, count_rows, write_rows
from pipelines.progress import WorkerProgress, stage_counters
from pipelines.schemas import features_schema

log = logging.getLogger(__name__)
STAGE = "features"
VARIANT_COLUMNS = ["image_id", "photo_id", "variant", "image_uri"]


class PrepareImage(beam.DoFn):
    """variants/ row -> ((image_id, photo_id, variant), model input [S, S, 3]); failures -> errors."""

    def __init__(self, config: FeatureConfig):
        self._config = config

    def setup(self) -> None:
        self._images = beam.metrics.Metrics.counter(STAGE, "images_read")
        self._progress = WorkerProgress(log, "features: %d images read by this worker")

    def process(self, row: dict[str, Any]) -> Iterator[Any]:
        uri = row["image_uri"]
        try:
            with FileSystems.open(uri) as f:
                data = f.read()
            image = self._config.preprocess(data, uri)
        except Exception as exc:  # missing or unreadable image: the rest of the job goes on
            yield beam.pvalue.TaggedOutput(ERRORS_TAG, error_row(row["image_id"], STAGE, exc, uri))
            return
        self._images.inc()
        self._progress.step()
        yield (row["image_id"], row["photo_id"], int(row["variant"])), image


class FeatureRow(beam.DoFn):
    """(key, PredictionResult) -> features/ row; a non-finite feature vector -> errors."""

    def setup(self) -> None:
        self._rows = beam.metrics.Metrics.counter(STAGE, "features")

    def process(self, keyed: tuple[tuple[str, str, int], Any]) -> Iterator[Any]:
        (image_id, photo_id, variant), result = keyed
        fc7 = np.asarray(result.inference, dtype=np.float32)
        if not np.all(np.isfinite(fc7)):
            reason = f"FeatureError: {int(np.sum(~np.isfinite(fc7)))} non-finite values in the feature vector"
            yield beam.pvalue.TaggedOutput(ERRORS_TAG, error_row(image_id, STAGE, reason))
            return
        self._rows.inc()
        yield {"image_id": image_id, "photo_id": photo_id, "variant": variant, "fc7": fc7.tolist()}


class ExtractFeatures(beam.PTransform):
    """variants/ rows -> features/ rows (main output) and error rows (tagged `errors`)."""

    def __init__(self, config: FeatureConfig):
        super().__init__()
        self._config = config

    def expand(self, variants: beam.PCollection) -> beam.pvalue.DoOutputsTuple:
        prepared = variants | "PrepareImage" >> beam.ParDo(PrepareImage(self._config)).with_outputs(
            ERRORS_TAG, main="images")
        predicted = (prepared.images
                     | "RunInference" >> RunInference(KeyedModelHandler(FeatureModelHandler(self._config))))
        rows = predicted | "FeatureRow" >> beam.ParDo(FeatureRow()).with_outputs(ERRORS_TAG, main="rows")
        errors = ((prepared[ERRORS_TAG], rows[ERRORS_TAG])
                  | "FlattenFeatureErrors" >> beam.Flatten())
        return rows.rows, errors


def feature_width(config: FeatureConfig) -> int:
    """Width of the feature vector: 4096 for VGG-16 FC7, probed for a TF-Hub module."""
    if config.hub_module:
        from features.hub import feature_dim
        return feature_dim(config.hub_module, config.hub_image_size)
    return FC7_DIM


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
    parser.add_argument("--hub-image-size", type=int, default=224, help="input size of the TF-Hub module")
    parser.add_argument("--batch-size", type=int, default=8, help="images per model call (fixed shape)")
    parser.add_argument("--shard-size", type=int, default=5000,
                        help="about this many rows per features/ Parquet shard")
    parser.add_argument("--verbose", action="store_true")
    return parser


def run(argv: list[str] | None = None) -> int:
    """Entry point of `photoedit features`; returns 0 (errors are rows in errors/features, not a failure)."""
    args, beam_args = split_args(build_parser(), argv)
    configure_logging(args.verbose)
    if not args.hub_module and not args.weights:
        build_parser().error("pass --weights FILE (or --weights random) or --hub-module DIR")
    config = FeatureConfig(weights=args.weights or RANDOM_WEIGHTS, hub_module=args.hub_module,
                           hub_image_size=args.hub_image_size, batch_size=args.batch_size)
    layout = DatasetLayout(args.dataset)
    num_images = count_rows(layout.variants) or 0
    num_shards = max(1, math.ceil(num_images / max(1, args.shard_size)))
    schema = features_schema(feature_width(config))
    log.info("features: %d images from %s -> %d shard(s) under %s", num_images, layout.variants,
             num_shards, layout.features)
    clear_folder(layout.features)

    with beam.Pipeline(options=beam_options(beam_args)) as pipeline:
        variants = pipeline | "ReadVariants" >> beam.io.ReadFromParquet(
            FileSystems.join(layout.variants, "*.parquet"), columns=VARIANT_COLUMNS)
        rows, errors = variants | "ExtractFeatures" >> ExtractFeatures(config)
        write_rows(rows, layout.features, schema, label="WriteFeatures", num_shards=num_shards)
        write_errors(errors, layout, STAGE)
    counters = stage_counters(pipeline.result, STAGE)
    print(f"features: {counters.get('features', 0)} feature rows, {counters.get('errors', 0)} errors "
          f"-> {layout.features}")
    return 0
