"""`photoedit augment`: K noisy slider variants per photo, rendered -> variants/, variant_edits/, images/.

For every photo in photos/ (joined with its rows in edits/ by photo id) the job writes K+1 images
and variants/ rows: variant 0 is the raw photo rendered at neutral sliders (as-shot white balance),
variants 1..K at neutral + uniform noise of ±10 % of each slider's range (pipelines.fivek.augmentation,
drawn from keyed_rng(seed, photo_id, variant), so any worker and any rerun draws the same numbers).
All K+1 renders of a photo go through one batched PhotoRenderer call; the renderer is created once
per worker in DoFn.setup (on the GPU with --device cuda). Images are 8-bit sRGB PNGs written through
the storage layer to <dataset>/images/<image_id>.png, so a gs:// dataset root works unchanged; like the
tables they are written to the stage's staging folder first and replace images/ only when the whole
job succeeded (pipelines.core.stage), so a failed rerun keeps the images the old variants/ rows name.
variant_edits/ has one row per variant x editor: the editor's target for that variant, i.e. the
edit minus the applied noise in model space, back in range by --policy (variant 0: the edit itself).
An unreadable or missing raw file or a renderer error -> errors/augment; the rest lands.
"""
from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Sequence

import apache_beam as beam
import numpy as np

from pipelines.core import storage
from pipelines.core.console import configure_logging, local_log_dir
from pipelines.core.errors import ERRORS_TAG, error_row, write_errors
from pipelines.core.layout import DatasetLayout
from pipelines.core.math_threads import one_math_thread
from pipelines.core.options import BEAM_HELP, split_args
from pipelines.core.parquet_io import all_written, count_rows, read_rows, shards_for, write_rows
from pipelines.core.photos import as_shot_white, open_photo
from pipelines.core.progress import WorkerProgress
from pipelines.core.schemas import SLIDER_KEYS, VARIANT_EDITS, VARIANTS, image_id
from pipelines.core.stage import run_stage
from pipelines.core.staging import staged_path
from pipelines.core.transforms import TaggedParDo
from pipelines.fivek.augmentation import (
    POLICIES,
    VariantSliders,
    variant_sliders,
    variant_target,
)
from rendering.sliders import PROCESS_2003

log = logging.getLogger(__name__)
STAGE = "augment"
VARIANT_EDITS_TAG = "variant_edits"
DEVICES = ("cpu", "cuda")


@dataclass(frozen=True)
class AugmentConfig:
    """What the augment job renders: dataset root, K variants per photo, seed, device, long side (px), policy."""

    dataset: str
    num_variants: int = 2
    seed: int = 0
    device: str = "cpu"
    size: int = 512
    policy: str = "clip"

    def __post_init__(self) -> None:
        if self.num_variants < 0:
            raise ValueError(f"variants must be >= 0, got {self.num_variants}")
        if self.size < 16:
            raise ValueError(f"size must be at least 16 px, got {self.size}")
        if self.policy not in POLICIES:
            raise ValueError(f"policy must be one of {', '.join(POLICIES)}, got {self.policy!r}")
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {self.device!r}")

    @property
    def layout(self) -> DatasetLayout:
        return DatasetLayout(self.dataset)


def variant_row(photo_id: str, variant: VariantSliders, seed: int, uri: str, height: int, width: int) -> dict[str, Any]:
    """One variants/ row (noise in model space, sliders in Lightroom units)."""
    return {"image_id": image_id(photo_id, variant.variant), "photo_id": photo_id,
            "variant": variant.variant, "seed": int(seed), "noise": [float(x) for x in variant.noise],
            "sliders": [float(x) for x in variant.sliders], "image_uri": uri,
            "width": int(width), "height": int(height)}


def variant_edit_rows(photo_id: str, variants: list[VariantSliders], edits: Iterable[dict[str, Any]],
                      policy: str) -> list[dict[str, Any]]:
    """variant_edits/ rows: per variant x editor the target sliders (Lightroom units), tone curve copied."""
    rows = []
    for edit in sorted(edits, key=lambda e: e["editor"]):
        expert = PROCESS_2003.validate(np.array([edit[k] for k in SLIDER_KEYS], dtype=np.float64))
        for v in variants:
            target = expert if v.variant == 0 else variant_target(expert, v.noise, policy)
            rows.append({"image_id": image_id(photo_id, v.variant), "photo_id": photo_id,
                         "variant": v.variant, "editor": edit["editor"], "editor_kind": edit["editor_kind"],
                         **{k: float(x) for k, x in zip(SLIDER_KEYS, target)},
                         "tone_curve": edit.get("tone_curve")})
    return rows


def render_variants(photo_row: dict[str, Any], config: AugmentConfig, renderer: Any) -> tuple[list[VariantSliders], np.ndarray]:
    """Decode a photo's raw at the configured long side and render its K+1 variants in one batch [K+1, 3, H, W]."""
    photo = open_photo(photo_row, config.size)
    neutral = PROCESS_2003.neutral(*as_shot_white(photo_row, photo))
    variants = variant_sliders(neutral, config.seed, photo_row["photo_id"], config.num_variants)
    sliders = np.stack([v.sliders for v in variants])
    return variants, renderer.render(photo, sliders, spec=PROCESS_2003, batch_size=len(variants))


class RenderVariants(beam.DoFn):
    """(photo_id, {photo: [row], edits: [rows]}) -> variants/ rows; variant_edits and errors tagged.

    PNGs are written under `images` (default <dataset>/images; the staged images/ in a job), while the
    rows name them where they end up, <dataset>/images/<image_id>.png.
    """

    def __init__(self, config: AugmentConfig, images: str | None = None):
        self._config = config
        self._images = images or config.layout.images

    def setup(self) -> None:
        from rendering.renderer import PhotoRenderer

        self._renderer = PhotoRenderer(device=self._config.device)
        self._photos = beam.metrics.Metrics.counter(STAGE, "photos")
        self._variants = beam.metrics.Metrics.counter(STAGE, "variants")
        self._progress = WorkerProgress(log, STAGE)

    def process(self, joined: tuple[str, dict[str, list[dict[str, Any]]]]) -> Iterator[Any]:
        from rendering.image_io import encode_image

        photo_id, group = joined
        if not group["photo"]:
            log.warning("augment: %d edits for photo %s which is not in photos/; skipped",
                        len(group["edits"]), photo_id)
            return
        row = group["photo"][0]
        try:
            with one_math_thread():  # the same renders on any runner and number of workers
                variants, renders = render_variants(row, self._config, self._renderer)
            edit_rows = variant_edit_rows(photo_id, variants, group["edits"], self._config.policy)
            uris = []
            for v, image in zip(variants, renders):
                name = image_id(photo_id, v.variant) + ".png"
                png = encode_image(image, fmt="png", space="srgb", bits=8)
                storage.write_bytes(storage.join(self._images, name), png)
                uris.append(storage.join(self._config.layout.images, name))
        except Exception as exc:  # unreadable raw, missing file, renderer error: the job goes on
            yield beam.pvalue.TaggedOutput(ERRORS_TAG, error_row(photo_id, STAGE, exc, row.get("raw_uri")))
            return
        for v, image, uri in zip(variants, renders, uris):
            yield variant_row(photo_id, v, self._config.seed, uri, image.shape[1], image.shape[2])
        for edit_row in edit_rows:
            yield beam.pvalue.TaggedOutput(VARIANT_EDITS_TAG, edit_row)
        self._photos.inc()
        self._variants.inc(len(variants))
        self._progress.step()

    def finish_bundle(self) -> None:
        self._progress.flush()


class AugmentPhotos(beam.PTransform):
    """photos/ rows + edits/ rows -> (variants rows, variant_edits rows, error rows); PNGs written under
    `images` (default <dataset>/images, see RenderVariants)."""

    def __init__(self, config: AugmentConfig, images: str | None = None):
        super().__init__()
        self._config, self._images = config, images

    def expand(self, inputs: tuple[beam.PCollection, beam.PCollection]):
        photos, edits = inputs
        joined = ({"photo": photos | "KeyPhotos" >> beam.Map(lambda r: (r["photo_id"], r)),
                   "edits": edits | "KeyEdits" >> beam.Map(lambda r: (r["photo_id"], r))}
                  | "JoinEdits" >> beam.CoGroupByKey())
        render = RenderVariants(self._config, self._images)
        out = joined | "RenderVariants" >> TaggedParDo(render, VARIANT_EDITS_TAG, ERRORS_TAG, main="variants")
        return out.variants, out[VARIANT_EDITS_TAG], out[ERRORS_TAG]


def build_pipeline(pipeline: beam.Pipeline, config: AugmentConfig) -> None:
    """photos/ + edits/ -> AugmentPhotos -> variants/, variant_edits/, errors/augment, images/ (staged in a job);
    variants/ and variant_edits/ in shards of about 250 photos (parquet_io.shards_for)."""
    layout = config.layout
    shards = shards_for(count_rows(layout.photos) or 0)
    photos = pipeline | "ReadPhotos" >> read_rows(layout.photos)
    edits = pipeline | "ReadEdits" >> read_rows(layout.edits)
    images = staged_path(layout.images)
    variants, variant_edits, errors = (photos, edits) | "Augment" >> AugmentPhotos(config, images)
    all_written(write_rows(variants, layout.variants, VARIANTS, label="WriteVariants", keys=("image_id",),
                           num_shards=shards),
                write_rows(variant_edits, layout.variant_edits, VARIANT_EDITS, label="WriteVariantEdits",
                           keys=("image_id", "editor"), num_shards=shards),
                write_errors(errors, layout, STAGE))


def run_job(config: AugmentConfig, beam_args: Sequence[str] = (),
            test_pipeline: beam.Pipeline | None = None) -> dict[str, int]:
    """Run the augment job (outputs of an earlier run replaced); returns its counters."""
    layout = config.layout
    total = count_rows(layout.photos)
    if total is None:
        raise FileNotFoundError(f"no photos/ under {layout.root}: run `photoedit ingest` first")
    log.info("augment: %d photos x %d variants at %d px (seed %d, %s) under %s", total, config.num_variants + 1,
             config.size, config.seed, config.device, layout.root)
    outputs = {"variants": layout.variants, "variant_edits": layout.variant_edits, "errors": layout.errors(STAGE)}
    run = run_stage(STAGE, outputs, total, "photos", lambda pipeline: build_pipeline(pipeline, config), beam_args,
                    test_pipeline, files=[layout.images])
    variants = run.counters.get("variants", 0)   # K+1 per rendered photo
    log.info("augment: %d photos -> %d images, %d errors -> %s (%.1f s)", variants // (config.num_variants + 1),
             variants, run.counters.get("errors", 0), layout.variants, run.seconds)
    return run.counters


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="photoedit augment",
        description="K noisy slider variants per photo (uniform ±10 % of each slider's range, keyed by "
                    "seed/photo/variant), rendered from the raw -> variants/, variant_edits/, images/.",
        epilog=BEAM_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, help="dataset root (local path or gs://...)")
    parser.add_argument("-K", "--variants", dest="num_variants", type=int, default=2,
                        help="noisy variants per photo (plus the original, variant 0; default 2)")
    parser.add_argument("--seed", type=int, default=0, help="global seed of the noise (default 0)")
    parser.add_argument("--device", choices=DEVICES, default="cpu", help="renderer device (default cpu)")
    parser.add_argument("--size", type=int, default=512, help="long side of the rendered images in px (default 512)")
    parser.add_argument("--policy", choices=POLICIES, default="clip",
                        help="targets out of range after expert - noise: clip to the range ends (default), or "
                             "reflect off them")
    parser.add_argument("--verbose", action="store_true", help="every log line, Beam's and the workers' too")
    return parser


def run(argv: list[str] | None = None, test_pipeline: beam.Pipeline | None = None) -> int:
    """Entry point of `photoedit augment`; 0 when the job ran (failed photos are rows in errors/augment), 2 on bad input."""
    parser = build_parser()
    args, beam_args = split_args(parser, argv)
    configure_logging(args.verbose, local_log_dir(args.dataset), STAGE)
    try:
        config = AugmentConfig(dataset=args.dataset, num_variants=args.num_variants, seed=args.seed,
                               device=args.device, size=args.size, policy=args.policy)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        run_job(config, beam_args, test_pipeline)
    except FileNotFoundError as exc:
        log.error("augment: %s", exc)
        return 2
    return 0
