"""`photoedit augment`: K noisy slider variants per photo, rendered -> variants/, variant_edits/, images/.

For every photo in photos/ (joined with its rows in edits/ by photo id) the job writes K+1 images
and variants/ rows: variant 0 is the raw photo rendered at neutral sliders (as-shot white balance),
variants 1..K at neutral + uniform noise of ±10 % of each slider's range (pipelines.augment_noise,
drawn from keyed_rng(seed, photo_id, variant), so any worker and any rerun draws the same numbers).
All K+1 renders of a photo go through one batched PhotoRenderer call; the renderer is created once
per worker in DoFn.setup (on the GPU with --device cuda). Images are 8-bit sRGB PNGs written via
Beam FileSystems to <dataset>/images/<image_id>.png, so a gs:// dataset root works unchanged.
variant_edits/ has one row per variant x editor: the editor's target for that variant, i.e. the
edit minus the applied noise in model space, back in range by --policy (variant 0: the edit itself).
An unreadable or missing raw file or a renderer error -> errors/augment; the rest lands.
"""
from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystems import FileSystems

from pipelines.augment_noise import POLICIES, VariantSliders, variant_sliders, variant_target
from pipelines.errors import ERRORS_TAG, error_row, write_errors
from pipelines.layout import DatasetLayout
from pipelines.options import BEAM_HELP, beam_options, configure_logging, split_args
from pipelines.parquet_io import clear_folder, write_rows
from pipelines.progress import WorkerProgress, stage_counters
from pipelines.schemas import SLIDER_KEYS, VARIANT_EDITS, VARIANTS
from rendering.sliders import PROCESS_2003

log = logging.getLogger(__name__)
STAGE = "augment"
VARIANT_EDITS_TAG = "variant_edits"


@dataclass(frozen=True)
class AugmentConfig:
    """What the augment job renders: K variants per photo, seed, device, long side (px), target policy."""

    images_dir: str
    num_variants: int = 2
    seed: int = 0
    device: str = "cpu"
    size: int = 512
    policy: str = "clip"


def image_id(photo_id: str, variant: int) -> str:
    """`<photo_id>_v<variant>`, the key of variants/, variant_edits/, features/ and images/."""
    return f"{photo_id}_v{variant}"


def as_shot_white(photo_row: dict[str, Any], photo: Any) -> tuple[float, float]:
    """(temperature K, tint) as shot: from photos/ when ingest filled it, else from the DNG's profile."""
    temperature, tint = photo_row.get("as_shot_temperature"), photo_row.get("as_shot_tint")
    if temperature is None or tint is None or not np.isfinite(temperature) or not np.isfinite(tint):
        return photo.profile.as_shot_white()
    return float(temperature), float(tint)


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


def write_bytes(uri: str, data: bytes) -> None:
    """Write a file through Beam FileSystems (local path, gs://, s3:// ...)."""
    with FileSystems.create(uri) as f:
        f.write(data)


class RenderVariants(beam.DoFn):
    """(photo_id, {photo: [row], edits: [rows]}) -> variants/ rows; variant_edits and errors tagged."""

    def __init__(self, config: AugmentConfig):
        self._config = config

    def setup(self) -> None:
        from rendering.renderer import PhotoRenderer

        self._renderer = PhotoRenderer(device=self._config.device)
        self._photos = beam.metrics.Metrics.counter(STAGE, "photos")
        self._variants = beam.metrics.Metrics.counter(STAGE, "variants")
        self._progress = WorkerProgress(log, "augment: %d photos rendered by this worker")

    def process(self, joined: tuple[str, dict[str, list[dict[str, Any]]]]) -> Iterator[Any]:
        photo_id, group = joined
        if not group["photo"]:
            log.warning("augment: %d edits for photo %s which is not in photos/; skipped",
                        len(group["edits"]), photo_id)
            return
        row = group["photo"][0]
        try:
            variants, renders = self._render(photo_id, row)
            edit_rows = variant_edit_rows(photo_id, variants, group["edits"], self._config.policy)
            uris = []
            for v, image in zip(variants, renders):
                uri = FileSystems.join(self._config.images_dir, image_id(photo_id, v.variant) + ".png")
                write_bytes(uri, self._encode(image))
                uris.append(uri)
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

    def _render(self, photo_id: str, row: dict[str, Any]) -> tuple[list[VariantSliders], np.ndarray]:
        """Decode the raw at the configured long side and render all K+1 variants in one batch."""
        from rendering.raw import decode_raw

        with FileSystems.open(row["raw_uri"]) as f:
            data = f.read()
        photo = decode_raw(data, long_side=self._config.size, name=row["raw_uri"])
        neutral = PROCESS_2003.neutral(*as_shot_white(row, photo))
        variants = variant_sliders(neutral, self._config.seed, photo_id, self._config.num_variants)
        sliders = np.stack([v.sliders for v in variants])
        renders = self._renderer.render(photo, sliders, spec=PROCESS_2003, batch_size=len(variants))
        return variants, renders

    @staticmethod
    def _encode(image: np.ndarray) -> bytes:
        from rendering.image_io import encode_image

        return encode_image(image, fmt="png", space="srgb", bits=8)


class AugmentPhotos(beam.PTransform):
    """photos/ rows + edits/ rows -> (variants rows, variant_edits rows, error rows)."""

    def __init__(self, config: AugmentConfig):
        super().__init__()
        self._config = config

    def expand(self, inputs: tuple[beam.PCollection, beam.PCollection]):
        photos, edits = inputs
        joined = ({"photo": photos | "KeyPhotos" >> beam.Map(lambda r: (r["photo_id"], r)),
                   "edits": edits | "KeyEdits" >> beam.Map(lambda r: (r["photo_id"], r))}
                  | "JoinEdits" >> beam.CoGroupByKey())
        out = joined | "RenderVariants" >> beam.ParDo(RenderVariants(self._config)).with_outputs(
            VARIANT_EDITS_TAG, ERRORS_TAG, main="variants")
        return out.variants, out[VARIANT_EDITS_TAG], out[ERRORS_TAG]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="photoedit augment",
        description="K noisy slider variants per photo (uniform ±10 % of each slider's range, keyed by "
                    "seed/photo/variant), rendered from the raw -> variants/, variant_edits/, images/.",
        epilog=BEAM_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, help="dataset root (local path or gs://...)")
    parser.add_argument("-K", "--variants", dest="num_variants", type=int, default=2,
                        help="noisy variants per photo (plus the original, variant 0)")
    parser.add_argument("--seed", type=int, default=0, help="global seed of the noise")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="renderer device")
    parser.add_argument("--size", type=int, default=512, help="long side of the rendered images (px)")
    parser.add_argument("--policy", choices=POLICIES, default="clip",
                        help="targets out of range after expert - noise: clip to the range ends, or "
                             "reflect off them")
    parser.add_argument("--verbose", action="store_true")
    return parser


def run(argv: list[str] | None = None) -> int:
    """Entry point of `photoedit augment`; returns 0 (failed photos are rows in errors/augment)."""
    args, beam_args = split_args(build_parser(), argv)
    configure_logging(args.verbose)
    layout = DatasetLayout(args.dataset)
    config = AugmentConfig(images_dir=layout.images, num_variants=args.num_variants, seed=args.seed,
                           device=args.device, size=args.size, policy=args.policy)
    log.info("augment: %s", config)
    clear_folder(layout.variants)
    clear_folder(layout.variant_edits)

    with beam.Pipeline(options=beam_options(beam_args)) as pipeline:
        photos = pipeline | "ReadPhotos" >> beam.io.ReadFromParquet(FileSystems.join(layout.photos, "*.parquet"))
        edits = pipeline | "ReadEdits" >> beam.io.ReadFromParquet(FileSystems.join(layout.edits, "*.parquet"))
        variants, variant_edits, errors = (photos, edits) | "Augment" >> AugmentPhotos(config)
        write_rows(variants, layout.variants, VARIANTS, label="WriteVariants")
        write_rows(variant_edits, layout.variant_edits, VARIANT_EDITS, label="WriteVariantEdits")
        write_errors(errors, layout, STAGE)
    counters = stage_counters(pipeline.result, STAGE)
    print(f"augment: {counters.get('photos', 0)} photos -> {counters.get('variants', 0)} images, "
          f"{counters.get('errors', 0)} errors -> {layout.variants}")
    return 0

