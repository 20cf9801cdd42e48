"""`photoedit fit`: recover Lightroom sliders from before/after image pairs (modeling.slider_fit).

Single pair:  photoedit fit BEFORE AFTER [--process 2003|2012] [--tone-curve] [--restarts R] [--size 256]
  prints the fitted sliders as JSON on stdout (Lightroom units, final mean ΔE76, ΔE of the plain
  decode, the prior and its weight and cost, sliders pinned at a range end, seconds), optionally
  writes a Camera Raw sidecar with --xmp FILE.
Prior (a MAP fit, modeling.slider_fit): the built-in FiveK-like prior by default; --prior-edits
  DATASET fits one to that dataset's edits/ (white balance relative to photos/ as-shot values);
  --prior-model MODEL_DIR --prior-features FILE.npy (single pair) uses a trained MLP / MDN's
  likelihood for the photo's features; --prior-weight W (ΔE per nat, 0 = no prior).
Dataset job:  photoedit fit --pairs DIR --out DATASET  (a Beam job; the rest of the flags as above)
  pairs are found in DIR by one of two conventions (the first that matches anything):
    DIR/before/<id>.<ext>  +  DIR/after/<id>.<ext>         (two subfolders)
    DIR/<id>_before.<ext>  +  DIR/<id>_after.<ext>         (one folder, suffixes)
  BEFORE: a DNG / camera raw (rendered from raw with its colour matrices) or a JPEG / PNG / TIFF
  (taken as the linear-ProPhoto "camera" of rendering.raw.load_photo); AFTER: JPEG / PNG / TIFF
  (embedded ICC honoured, untagged = sRGB). Writes DATASET/photos/ (raw_uri = the BEFORE file,
  split by photo id), DATASET/edits/ (pipelines.core.schemas.EDITS, editor "fit" (--editor),
  editor_kind "user", process_version, settings_sha256 of the fitted values), DATASET/fits/
  (id, ΔE76 before/after fitting, prior and weight, pinned sliders, seconds) and
  DATASET/errors/fit/ (unpaired files, undecodable images, mismatched sizes: one row each, the
  rest proceed).
Size rule: two images must have the same width x height; a raw BEFORE and its AFTER the same
aspect ratio within 1 % (raw decodes lose a few border pixels). Both are then fitted at long side --size.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import os
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any, Iterator

import apache_beam as beam
import numpy as np
import pyarrow as pa
from apache_beam.io.filesystems import FileSystems

from modeling.slider_fit import FitConfig, FitResult, GaussianPrior, SliderPrior
from modeling.splits import split_for
from pipelines.core.errors import ERRORS_TAG, error_row, write_errors
from pipelines.core.layout import DatasetLayout
from pipelines.core.console import configure_logging
from pipelines.core.options import BEAM_HELP, make_pipeline, split_args
from pipelines.core.parquet_io import clear_folder, write_rows
from pipelines.core.schemas import EDITS, PHOTOS
from pipelines.core.seeding import keyed_rng
from rendering.sliders import PROCESS_2003, SPECS

log = logging.getLogger(__name__)
STAGE = "fit"
EDITS_TAG = "edits"
FITS_TAG = "fits"
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".tif", ".tiff")
RAW_EXTS = (".dng", ".nef", ".cr2", ".cr3", ".arw", ".orf", ".rw2", ".raf", ".pef", ".srw")
ASPECT_TOLERANCE = 0.01

FITS = pa.schema([
    pa.field("photo_id", pa.string(), nullable=False),
    pa.field("delta_e", pa.float64(), nullable=False),        # mean ΔE76 (D50) of the fitted render vs AFTER
    pa.field("delta_e_start", pa.float64(), nullable=False),  # the same for the neutral sliders
    pa.field("prior", pa.string(), nullable=False),           # which prior the MAP fit used ("none": ML)
    pa.field("prior_weight", pa.float64(), nullable=False),   # its weight (ΔE per nat)
    pa.field("pinned", pa.list_(pa.string()), nullable=False),  # sliders at a range end ("Key=value (max)")
    pa.field("seconds", pa.float64(), nullable=False),
    pa.field("before_uri", pa.string(), nullable=False),
    pa.field("after_uri", pa.string(), nullable=False),
])


class PairError(ValueError):
    """A before/after pair cannot be fitted (unpaired, mismatched sizes); the message says why."""


@dataclass(frozen=True)
class Pair:
    """One before/after pair: id and the two file URIs."""

    pair_id: str
    before: str
    after: str


@dataclass(frozen=True)
class FitJobConfig:
    """What each pair is fitted with: slider process, long side (px), optimiser settings, prior, seed, editor."""

    process: str = "2003"
    size: int = 256
    fit: FitConfig = FitConfig()
    seed: int = 0
    device: str = "cpu"
    editor: str = "fit"
    prior: SliderPrior | None = None   # None: modeling.slider_fit.builtin_prior


# ------------------------------------------------------------------ pairs
def _listing(folder: str) -> list[str]:
    return sorted(m.path for m in FileSystems.match([FileSystems.join(folder, "*")])[0].metadata_list)


def _stem_ext(path: str) -> tuple[str, str]:
    base = path.rstrip("/").split("/")[-1]
    stem, ext = os.path.splitext(base)
    return stem, ext.lower()


def find_pairs(folder: str) -> tuple[list[Pair], list[dict[str, Any]]]:
    """Pairs under `folder` by the conventions of the module docstring, and error rows for unpaired files."""
    before_dir, after_dir = FileSystems.join(folder, "before"), FileSystems.join(folder, "after")
    befores: dict[str, list[str]] = {}
    afters: dict[str, list[str]] = {}
    subfolders = _listing(before_dir) if FileSystems.exists(before_dir) else []
    if subfolders:
        for path in subfolders:
            stem, ext = _stem_ext(path)
            if ext in IMAGE_EXTS + RAW_EXTS:
                befores.setdefault(stem, []).append(path)
        for path in (_listing(after_dir) if FileSystems.exists(after_dir) else []):
            stem, ext = _stem_ext(path)
            if ext in IMAGE_EXTS:
                afters.setdefault(stem, []).append(path)
    else:
        for path in _listing(folder):
            stem, ext = _stem_ext(path)
            if stem.endswith("_before") and ext in IMAGE_EXTS + RAW_EXTS:
                befores.setdefault(stem[: -len("_before")], []).append(path)
            elif stem.endswith("_after") and ext in IMAGE_EXTS:
                afters.setdefault(stem[: -len("_after")], []).append(path)
    pairs, errors = [], []
    for pid in sorted(set(befores) | set(afters)):
        b, a = befores.get(pid, []), afters.get(pid, [])
        if len(b) == 1 and len(a) == 1:
            pairs.append(Pair(pid, b[0], a[0]))
        elif not a:
            errors.append(error_row(pid, STAGE, PairError(f"no AFTER image for {b}"), b[0]))
        elif not b:
            errors.append(error_row(pid, STAGE, PairError(f"no BEFORE image for {a}"), a[0]))
        else:
            errors.append(error_row(pid, STAGE, PairError(f"ambiguous pair: before {b}, after {a}"), b[0]))
    return pairs, errors


# ------------------------------------------------------------------ one pair
def _read(uri: str) -> bytes:
    with FileSystems.open(uri) as f:
        return f.read()


def check_sizes(before_shape: tuple[int, int], after_shape: tuple[int, int], before_is_raw: bool,
                name: str) -> None:
    """Raise PairError unless the two (H, W) sizes agree (raw BEFORE: aspect ratio within 1 %)."""
    if before_is_raw:
        ratio_b, ratio_a = before_shape[1] / before_shape[0], after_shape[1] / after_shape[0]
        if abs(ratio_b / ratio_a - 1.0) > ASPECT_TOLERANCE:
            raise PairError(f"{name}: raw BEFORE aspect {before_shape[1]}x{before_shape[0]} and AFTER "
                            f"{after_shape[1]}x{after_shape[0]} differ by more than 1 % (cropped export?)")
    elif tuple(before_shape) != tuple(after_shape):
        raise PairError(f"{name}: BEFORE is {before_shape[1]}x{before_shape[0]} px but AFTER is "
                        f"{after_shape[1]}x{after_shape[0]} px")


def load_pair(before: bytes, after: bytes, size: int, name: str = "", before_is_raw: bool | None = None,
              after_name: str = ""):
    """(Photo at long side `size`, AFTER linear ProPhoto [3, h, w] matching the photo's size)."""
    import torch
    import torch.nn.functional as F

    from rendering.image_io import read_image, resize_long_side
    from rendering.raw import load_photo

    if before_is_raw is None:
        before_is_raw = not _looks_like_image(before)
    after_full = read_image(after, name=after_name or f"AFTER of {name}")
    if before_is_raw:
        photo = load_photo(before, long_side=size, name=name)   # same aspect as the full decode
        check_sizes(tuple(photo.camera_rgb.shape[1:]), tuple(after_full.shape[1:]), True, name)
    else:
        photo = load_photo(before, long_side=None, name=name)
        check_sizes(tuple(photo.camera_rgb.shape[1:]), tuple(after_full.shape[1:]), False, name)
        photo = dataclasses.replace(photo, camera_rgb=resize_long_side(photo.camera_rgb, size))
    h, w = photo.camera_rgb.shape[1:]
    after_t = torch.from_numpy(np.ascontiguousarray(after_full, dtype=np.float32))[None]
    if after_t.shape[2:] != (h, w):
        after_t = F.interpolate(after_t, size=(h, w), mode="area")
    return photo, after_t[0].clamp(0.0, 1.0)


def _looks_like_image(data: bytes) -> bool:
    """JPEG / PNG by magic; TIFF only when it is not a DNG (DNGs are TIFFs with a DNGVersion tag)."""
    if data[:3] == b"\xff\xd8\xff" or data[:8] == b"\x89PNG\r\n\x1a\n":
        return True
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        try:
            import io

            import tifffile
            with tifffile.TiffFile(io.BytesIO(data)) as tif:
                return 50706 not in tif.pages[0].tags  # DNGVersion
        except Exception:
            return True
    return False


def fit_pair(before: bytes, after: bytes, config: FitJobConfig, pair_id: str = "", name: str = "",
             before_is_raw: bool | None = None, after_name: str = "") -> tuple[FitResult, Any]:
    """Fit one pair: (FitResult, Photo)."""
    import torch

    from modeling.slider_fit import fit_sliders
    from rendering.renderer import CameraMatrices

    spec = SPECS[config.process]
    photo, after_img = load_pair(before, after, config.size, name or pair_id, before_is_raw, after_name)
    device = torch.device(config.device)
    camera = CameraMatrices.from_profiles([photo.profile], device)
    before_t = torch.from_numpy(np.ascontiguousarray(photo.camera_rgb, dtype=np.float32)).to(device)
    neutral = spec.neutral(*photo.profile.as_shot_white())
    result = fit_sliders(before_t, camera, after_img.to(device), neutral, config.fit, spec,
                         rng=keyed_rng(config.seed, "fit", pair_id), prior=config.prior)
    return result, photo


def settings_sha256(result: FitResult) -> str:
    """SHA-256 of the fitted settings (process, sliders to 1e-6, tone curve) as canonical JSON."""
    payload = {"process": result.spec.process,
               "sliders": {k: round(float(v), 6) for k, v in result.to_mapping().items()},
               "tone_curve": result.tone_curve}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()


def result_rows(pair: Pair, result: FitResult, photo, editor: str) -> tuple[dict, dict, dict]:
    """(photos/ row, edits/ row, fits/ row) of one fitted pair (edits need the 2003 process)."""
    temperature, tint = photo.profile.as_shot_white()
    photo_row = {"photo_id": pair.pair_id, "file_name": _stem_ext(pair.before)[0], "raw_uri": pair.before,
                 "camera_make": None, "camera_model": None, "location": None, "time": None, "light": None,
                 "subject": None, "split": split_for(pair.pair_id),
                 "as_shot_temperature": float(temperature), "as_shot_tint": float(tint)}
    edit_row = {"photo_id": pair.pair_id, "editor": editor, "editor_kind": "user",
                **{k: float(v) for k, v in result.to_mapping().items()},
                "process_version": "5.0" if result.spec.process == "2003" else "6.7",
                "tone_curve": [float(v) for v in result.tone_curve] if result.tone_curve else [0.0, 0.0, 255.0, 255.0],
                "white_balance": "Custom", "settings_sha256": settings_sha256(result)}
    fit_row = {"photo_id": pair.pair_id, "delta_e": result.delta_e, "delta_e_start": result.delta_e_start,
               "prior": result.prior, "prior_weight": result.prior_weight, "pinned": result.pinned,
               "seconds": result.seconds, "before_uri": pair.before, "after_uri": pair.after}
    return photo_row, edit_row, fit_row


# ------------------------------------------------------------------ Beam job
class FitPairFn(beam.DoFn):
    """Pair -> photos/ row (main), edits/ and fits/ rows (tagged); any failure -> errors row."""

    def __init__(self, config: FitJobConfig):
        self._config = config

    def setup(self) -> None:
        import torch
        torch.set_num_threads(1)  # one pair per worker core
        self._fitted = beam.metrics.Metrics.counter(STAGE, "pairs_fitted")
        self._delta_e = beam.metrics.Metrics.distribution(STAGE, "delta_e_x1000")

    def process(self, pair: Pair) -> Iterator[Any]:
        try:
            result, photo = fit_pair(_read(pair.before), _read(pair.after), self._config, pair.pair_id,
                                     name=pair.before, after_name=pair.after)
            photo_row, edit_row, fit_row = result_rows(pair, result, photo, self._config.editor)
        except Exception as exc:  # one bad pair: an errors/ row, the rest proceed
            yield beam.pvalue.TaggedOutput(ERRORS_TAG, error_row(pair.pair_id, STAGE, exc, pair.before))
            return
        self._fitted.inc()
        self._delta_e.update(int(round(result.delta_e * 1000)))
        log.info("fit %s: ΔE %.3f -> %.3f in %.1f s (prior %s, weight %g); at a range end: %s", pair.pair_id,
                 result.delta_e_start, result.delta_e, result.seconds, result.prior, result.prior_weight,
                 ", ".join(result.pinned) or "none")
        yield photo_row
        yield beam.pvalue.TaggedOutput(EDITS_TAG, edit_row)
        yield beam.pvalue.TaggedOutput(FITS_TAG, fit_row)


class FitPairs(beam.PTransform):
    """Pairs -> {main: photos rows, edits, fits, errors} (tagged outputs of FitPairFn)."""

    def __init__(self, config: FitJobConfig):
        super().__init__()
        self._config = config

    def expand(self, pairs):
        return (pairs | "Reshuffle" >> beam.Reshuffle()
                | "FitPair" >> beam.ParDo(FitPairFn(self._config)).with_outputs(
                    EDITS_TAG, FITS_TAG, ERRORS_TAG, main="photos"))


def run_pairs(folder: str, dataset: str, config: FitJobConfig, beam_args: list[str]) -> dict[str, int]:
    """The Beam job over all pairs of `folder` -> photos/, edits/, fits/, errors/fit under `dataset`."""
    layout = DatasetLayout(dataset)
    pairs, pair_errors = find_pairs(folder)
    log.info("fit: %d pairs, %d unpaired files under %s", len(pairs), len(pair_errors), folder)
    for folder_ in (layout.photos, layout.edits, layout.path("fits"), layout.errors(STAGE)):
        clear_folder(folder_)
    with make_pipeline(beam_args) as p:
        outputs = p | "Pairs" >> beam.Create(pairs) | "Fit" >> FitPairs(config)
        write_rows(outputs.photos, layout.photos, PHOTOS, label="WritePhotos", keys=("photo_id",))
        write_rows(outputs[EDITS_TAG], layout.edits, EDITS, label="WriteEdits", keys=("photo_id", "editor"))
        write_rows(outputs[FITS_TAG], layout.path("fits"), FITS, label="WriteFits", keys=("photo_id",))
        errors = (outputs[ERRORS_TAG], p | "PairErrors" >> beam.Create(pair_errors)) | "AllErrors" >> beam.Flatten()
        write_errors(errors, layout, STAGE)
    from pipelines.core.parquet_io import read_table
    fitted = read_table(layout.path("fits"), ["delta_e", "pinned"], required=False)
    failed = read_table(layout.errors(STAGE), ["id"], required=False)
    delta_e = fitted.column("delta_e").to_pylist() if fitted.num_columns else []
    pinned = fitted.column("pinned").to_pylist() if fitted.num_columns else []
    return {"pairs": len(pairs), "unpaired": len(pair_errors), "fitted": len(delta_e),
            "errors": failed.num_rows if failed.num_columns else 0,
            "mean_delta_e": float(np.mean(delta_e)) if delta_e else float("nan"),
            "pinned_pairs": sum(1 for p in pinned if p)}


# ------------------------------------------------------------------ priors
def edits_prior(dataset: str) -> GaussianPrior:
    """A Gaussian prior fitted to a dataset's edits/ (2003 sliders), white balance relative to photos/ as-shot."""
    from pipelines.core.parquet_io import read_table
    from pipelines.core.schemas import SLIDER_KEYS
    layout = DatasetLayout(dataset)
    edits = read_table(layout.edits, ["photo_id"] + SLIDER_KEYS).to_pylist()
    photos = {r["photo_id"]: r for r in read_table(layout.photos, ["photo_id", "as_shot_temperature", "as_shot_tint"])
              .to_pylist() if r["as_shot_temperature"] is not None and r["as_shot_tint"] is not None}
    rows = [e for e in edits if e["photo_id"] in photos]
    log.info("fit prior: %d of %d edits of %s have an as-shot white balance", len(rows), len(edits), dataset)
    return GaussianPrior.from_edits(np.array([[r[k] for k in SLIDER_KEYS] for r in rows]),
                                    np.array([[photos[r["photo_id"]]["as_shot_temperature"],
                                               photos[r["photo_id"]]["as_shot_tint"]] for r in rows]),
                                    PROCESS_2003)


def model_prior(model_dir: str, features_path: str) -> SliderPrior:
    """A trained model's likelihood (modeling.checkpoints folder) for one photo's features (.npy, [D])."""
    from modeling.baselines import ExactLikelihoodModel
    from modeling.checkpoints import load_model
    from modeling.slider_fit import ModelPrior
    model, _ = load_model(model_dir)
    if not isinstance(model, ExactLikelihoodModel):
        raise ValueError(f"{model_dir}: a prior needs a model with an exact likelihood (mlp, mdn), "
                         f"not {type(model).__name__}")
    return ModelPrior(model, np.load(features_path), name=f"model {model_dir}")


# ------------------------------------------------------------------ command line
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="photoedit fit", description=__doc__.split("\n")[0],
                                epilog=__doc__.split("\n", 2)[2] + "\n" + BEAM_HELP,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("images", nargs="*", metavar="BEFORE AFTER", help="one pair: BEFORE (DNG or image) and AFTER image")
    p.add_argument("--pairs", metavar="DIR", help="fit every pair in DIR (Beam job, see the conventions above)")
    p.add_argument("--out", metavar="DATASET", help="dataset root for --pairs outputs")
    p.add_argument("--process", default="2003", choices=sorted(SPECS), help="slider process (default 2003)")
    p.add_argument("--tone-curve", action="store_true", help="also fit a monotone point tone curve (7 knots)")
    p.add_argument("--restarts", type=int, default=4, help="optimiser restarts (default 4)")
    p.add_argument("--steps", type=int, default=FitConfig.adam_steps, help="Adam steps per restart (default 150)")
    p.add_argument("--size", type=int, default=256, help="long side in px the pair is fitted at (default 256)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--prior-edits", metavar="DATASET",
                   help="fit the prior to this dataset's edits/ (default: the built-in FiveK-like prior)")
    p.add_argument("--prior-model", metavar="MODEL_DIR", help="single pair: a trained MLP / MDN's likelihood as prior")
    p.add_argument("--prior-features", metavar="FILE.npy", help="the BEFORE photo's features for --prior-model")
    p.add_argument("--prior-weight", type=float, default=FitConfig.prior_weight,
                   help=f"weight of -log prior in ΔE per nat (default {FitConfig.prior_weight}; 0: no prior)")
    p.add_argument("--device", default="cpu", help="torch device (cpu, cuda)")
    p.add_argument("--editor", default="fit", help="editor name of the edits/ rows (default 'fit')")
    p.add_argument("--xmp", metavar="FILE", help="single pair: also write the fitted sliders as a Camera Raw sidecar")
    p.add_argument("--verbose", action="store_true")
    return p


def run(argv: list[str] | None = None) -> int:
    """`photoedit fit`: one pair (JSON on stdout) or a Beam job over a folder of pairs."""
    parser = _parser()
    args, beam_args = split_args(parser, argv)
    configure_logging(args.verbose)
    if bool(args.prior_model) != bool(args.prior_features) or (args.prior_model and (args.pairs or args.prior_edits)):
        parser.error("--prior-model needs --prior-features, a single pair and no --prior-edits")
    if args.prior_edits and args.process != "2003":
        parser.error("--prior-edits fits Camera Raw 2003 edits: use --process 2003")
    prior = (edits_prior(args.prior_edits) if args.prior_edits else
             model_prior(args.prior_model, args.prior_features) if args.prior_model else None)
    config = FitJobConfig(process=args.process, size=args.size, seed=args.seed, device=args.device,
                          editor=args.editor, prior=prior,
                          fit=FitConfig(restarts=args.restarts, adam_steps=args.steps, tone_curve=args.tone_curve,
                                        prior_weight=args.prior_weight))
    if args.pairs:
        if args.images or not args.out:
            parser.error("--pairs DIR needs --out DATASET and no BEFORE/AFTER arguments")
        if args.process != "2003":
            parser.error("edits/ stores Camera Raw 2003 sliders (pipelines.core.schemas.EDITS): use --process 2003 with --pairs")
        t0 = time.perf_counter()
        counts = run_pairs(args.pairs, args.out, config, beam_args)
        prior_name = (prior.name if prior else "built-in") if args.prior_weight else "none"
        print(f"photoedit fit: {counts['pairs']} pairs found, {counts['fitted']} fitted (mean ΔE76 "
              f"{counts['mean_delta_e']:.3f}; prior {prior_name}, weight {args.prior_weight:g}; "
              f"{counts['pinned_pairs']} with a slider at a range end), {counts['errors']} errors "
              f"({counts['unpaired']} unpaired files) in {time.perf_counter() - t0:.1f} s -> {args.out} "
              f"(photos/, edits/, fits/, errors/fit/)")
        return 0
    if len(args.images) != 2:
        parser.error("give BEFORE AFTER, or --pairs DIR --out DATASET")
    if beam_args:
        parser.error(f"unknown arguments {beam_args} (Beam options apply to --pairs only)")
    before, after = args.images
    try:
        with open(before, "rb") as f:
            before_bytes = f.read()
        with open(after, "rb") as f:
            after_bytes = f.read()
        result, _ = fit_pair(before_bytes, after_bytes, config, pair_id=_stem_ext(before)[0], name=before,
                             after_name=after)
    except Exception as exc:
        print(f"photoedit fit: {before} / {after}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if args.xmp:
        from pipelines.lightroom.xmp import CameraRawSettings, write_xmp
        curve = tuple(result.tone_curve) if result.tone_curve else (0.0, 0.0, 255.0, 255.0)
        write_xmp(args.xmp, CameraRawSettings(result.sliders, result.spec, curve,
                                              "Custom" if result.tone_curve else "Linear", "Custom",
                                              "5.0" if result.spec.process == "2003" else "6.7"))
    out = {"before": before, "after": after, "process": result.spec.process,
           "sliders": {k: round(v, 4) for k, v in result.to_mapping().items()},
           "tone_curve": result.tone_curve, "delta_e": round(result.delta_e, 4),
           "delta_e_start": round(result.delta_e_start, 4),
           "prior": {"name": result.prior, "weight": result.prior_weight, "cost": round(result.prior_cost, 4)},
           "pinned": result.pinned, "restart_objective": [round(v, 4) for v in result.restart_objective],
           "seconds": round(result.seconds, 2), "size": args.size, "fit": asdict(config.fit)}
    print(json.dumps(out, indent=2))
    return 0
