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
  editor_kind "user", process_version, settings_sha256 of the fitted values'
  settings text), DATASET/fits/
  (id, ΔE76 before/after fitting, prior and weight, pinned sliders, seconds) and
  DATASET/errors/fit/ (unpaired files, undecodable images, mismatched sizes: one row each, the
  rest proceed).
Size rule (rendering.image_pairs): two images must have the same width x height; a raw BEFORE and its
AFTER the same aspect ratio within 1 % (raw decodes lose a few border pixels). Both are then fitted
at long side --size.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from dataclasses import asdict, dataclass, field
from typing import Any, Iterator, Sequence

import apache_beam as beam
import numpy as np

from modeling.slider_fit import FitConfig, FitResult, GaussianPrior, SliderPrior
from modeling.splits import split_for
from pipelines.core import storage
from pipelines.core.console import configure_logging, local_log_dir
from pipelines.core.errors import ERRORS_TAG, error_row, write_errors
from pipelines.core.layout import DatasetLayout
from pipelines.core.math_threads import one_math_thread
from pipelines.core.options import BEAM_HELP, split_args
from pipelines.core.parquet_io import all_written, read_table, shards_for, write_rows
from pipelines.core.progress import WorkerProgress
from pipelines.core.schemas import EDITS, FITS, PHOTOS, SLIDER_KEYS
from pipelines.core.seeding import keyed_rng
from pipelines.core.stage import run_stage
from pipelines.core.transforms import TaggedParDo
from pipelines.lightroom.develop_settings import settings_sha256
from pipelines.lightroom.lua_table import format_lua_table
from rendering.image_pairs import PairError, load_pair
from rendering.raw import IMAGE_EXTENSIONS, RAW_EXTENSIONS
from rendering.sliders import PROCESS_2003, SPECS

log = logging.getLogger(__name__)
STAGE = "fit"
EDITS_TAG = "edits"
FITS_TAG = "fits"


@dataclass(frozen=True)
class Pair:
    """One before/after pair: id and the two file URIs."""

    pair_id: str
    before: str
    after: str


@dataclass(frozen=True)
class FitConfigForPairs:
    """How each pair is fitted: slider process, long side (px), optimiser settings, prior, seed, device, editor."""

    process: str = "2003"
    size: int = 256
    fit: FitConfig = field(default_factory=FitConfig)
    seed: int = 0
    device: str = "cpu"
    editor: str = "fit"
    prior: SliderPrior | None = None   # None: modeling.slider_fit.builtin_prior

    def __post_init__(self) -> None:
        if self.process not in SPECS:
            raise ValueError(f"process must be one of {', '.join(sorted(SPECS))}, got {self.process!r}")
        if self.size < 16:
            raise ValueError(f"size must be at least 16 px, got {self.size}")


@dataclass(frozen=True)
class FitJobConfig:
    """The `fit --pairs` job: folder of pairs, dataset root to write, how each pair is fitted (2003 process)."""

    pairs: str
    out: str
    pair: FitConfigForPairs = field(default_factory=FitConfigForPairs)

    def __post_init__(self) -> None:
        if self.pair.process != "2003":
            raise ValueError("edits/ stores Camera Raw 2003 sliders (pipelines.core.schemas.EDITS): "
                             "use --process 2003 with --pairs")

    @property
    def layout(self) -> DatasetLayout:
        return DatasetLayout(self.out)


# ------------------------------------------------------------------ pairs
def _listing(folder: str) -> list[str]:
    return storage.match(storage.join(folder, "*"))


def _stem_ext(path: str) -> tuple[str, str]:
    base = path.rstrip("/").split("/")[-1]
    stem, ext = os.path.splitext(base)
    return stem, ext.lower()


def find_pairs(folder: str) -> tuple[list[Pair], list[dict[str, Any]]]:
    """Pairs under `folder` by the conventions of the module docstring, and error rows for unpaired files."""
    before_dir, after_dir = storage.join(folder, "before"), storage.join(folder, "after")
    befores: dict[str, list[str]] = {}
    afters: dict[str, list[str]] = {}
    subfolders = _listing(before_dir) if storage.exists(before_dir) else []
    if subfolders:
        for path in subfolders:
            stem, ext = _stem_ext(path)
            if ext in IMAGE_EXTENSIONS | RAW_EXTENSIONS:
                befores.setdefault(stem, []).append(path)
        for path in (_listing(after_dir) if storage.exists(after_dir) else []):
            stem, ext = _stem_ext(path)
            if ext in IMAGE_EXTENSIONS:
                afters.setdefault(stem, []).append(path)
    else:
        for path in _listing(folder):
            stem, ext = _stem_ext(path)
            if stem.endswith("_before") and ext in IMAGE_EXTENSIONS | RAW_EXTENSIONS:
                befores.setdefault(stem[: -len("_before")], []).append(path)
            elif stem.endswith("_after") and ext in IMAGE_EXTENSIONS:
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
def fit_pair(before: bytes, after: bytes, config: FitConfigForPairs, pair_id: str = "", name: str = "",
             after_name: str = "") -> tuple[FitResult, Any]:
    """Fit one pair (file bytes): (FitResult, the BEFORE Photo)."""
    import torch

    from modeling.slider_fit import fit_sliders
    from rendering.renderer import CameraMatrices

    spec = SPECS[config.process]
    photo, after_img = load_pair(before, after, config.size, name or pair_id, after_name)
    device = torch.device(config.device)
    camera = CameraMatrices.from_profiles([photo.profile], device)
    before_t = torch.from_numpy(np.ascontiguousarray(photo.camera_rgb, dtype=np.float32)).to(device)
    neutral = spec.neutral(*photo.profile.as_shot_white())
    result = fit_sliders(before_t, camera, after_img.to(device), neutral, config.fit, spec,
                         rng=keyed_rng(config.seed, "fit", pair_id), prior=config.prior)
    return result, photo


def settings_text(result: FitResult) -> str:
    """The fitted edit as a settings text (what its edits/ row's settings_sha256 identifies): the sliders
    to 1e-6 as the row stores them, not rounded to Lightroom's steps, so two fits differ when their rows do."""
    values: dict[str, Any] = {"ProcessVersion": "5.0" if result.spec.process == "2003" else "6.7",
                              "WhiteBalance": "Custom",
                              **{k: round(float(v), 6) for k, v in result.to_mapping().items()}}
    if result.tone_curve:
        values["ToneCurve"] = [int(round(v)) for v in result.tone_curve]
    return format_lua_table(values)


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
                "white_balance": "Custom", "settings_sha256": settings_sha256(settings_text(result))}
    fit_row = {"photo_id": pair.pair_id, "delta_e": result.delta_e, "delta_e_start": result.delta_e_start,
               "prior": result.prior, "prior_weight": result.prior_weight, "pinned": result.pinned,
               "seconds": result.seconds, "before_uri": pair.before, "after_uri": pair.after}
    return photo_row, edit_row, fit_row


# ------------------------------------------------------------------ Beam job
class FitPairFn(beam.DoFn):
    """Pair -> photos/ row (main), edits/ and fits/ rows (tagged); any failure -> errors row."""

    def __init__(self, config: FitConfigForPairs):
        self._config = config

    def setup(self) -> None:
        self._fitted = beam.metrics.Metrics.counter(STAGE, "pairs_fitted")
        self._delta_e = beam.metrics.Metrics.distribution(STAGE, "delta_e_x1000")
        self._progress = WorkerProgress(log, STAGE)

    def process(self, pair: Pair) -> Iterator[Any]:
        try:
            with one_math_thread():  # one pair per worker core; the same sums on any runner
                result, photo = fit_pair(storage.read_bytes(pair.before), storage.read_bytes(pair.after),
                                         self._config, pair.pair_id, name=pair.before, after_name=pair.after)
            photo_row, edit_row, fit_row = result_rows(pair, result, photo, self._config.editor)
        except Exception as exc:  # one bad pair: an errors/ row, the rest proceed
            yield beam.pvalue.TaggedOutput(ERRORS_TAG, error_row(pair.pair_id, STAGE, exc, pair.before))
            return
        self._fitted.inc()
        self._delta_e.update(int(round(result.delta_e * 1000)))
        self._progress.step()
        log.debug("fit %s: ΔE %.3f -> %.3f in %.1f s (prior %s, weight %g); at a range end: %s", pair.pair_id,
                 result.delta_e_start, result.delta_e, result.seconds, result.prior, result.prior_weight,
                 ", ".join(result.pinned) or "none")
        yield photo_row
        yield beam.pvalue.TaggedOutput(EDITS_TAG, edit_row)
        yield beam.pvalue.TaggedOutput(FITS_TAG, fit_row)

    def finish_bundle(self) -> None:
        self._progress.flush()


class FitPairs(beam.PTransform):
    """Pairs -> {main: photos rows, edits, fits, errors} (tagged outputs of FitPairFn)."""

    def __init__(self, config: FitConfigForPairs):
        super().__init__()
        self._config = config

    def expand(self, pairs):
        # Reshuffle is an identity on the DaskRunner, where the Create's partitions spread the pairs
        return (pairs | "Reshuffle" >> beam.Reshuffle()
                | "FitPair" >> TaggedParDo(FitPairFn(self._config), EDITS_TAG, FITS_TAG, ERRORS_TAG, main="photos"))


def build_pipeline(pipeline: beam.Pipeline, config: FitJobConfig, pairs: list[Pair],
                   pair_errors: list[dict[str, Any]]) -> None:
    """Pairs -> FitPairs -> photos/, edits/, fits/, errors/fit under the dataset."""
    layout = config.layout
    outputs = pipeline | "Pairs" >> beam.Create(pairs) | "Fit" >> FitPairs(config.pair)
    errors = (outputs[ERRORS_TAG], pipeline | "PairErrors" >> beam.Create(pair_errors)) | "AllErrors" >> beam.Flatten()
    shards = shards_for(len(pairs))
    all_written(write_rows(outputs.photos, layout.photos, PHOTOS, label="WritePhotos", keys=("photo_id",),
                           num_shards=shards),
                write_rows(outputs[EDITS_TAG], layout.edits, EDITS, label="WriteEdits", keys=("photo_id", "editor"),
                           num_shards=shards),
                write_rows(outputs[FITS_TAG], layout.fits, FITS, label="WriteFits", keys=("photo_id",),
                           num_shards=shards),
                write_errors(errors, layout, STAGE))


def run_job(config: FitJobConfig, beam_args: Sequence[str] = (),
            test_pipeline: beam.Pipeline | None = None) -> dict[str, Any]:
    """The Beam job over all pairs of config.pairs; returns counts, mean ΔE and pairs with a pinned slider."""
    layout = config.layout
    pairs, pair_errors = find_pairs(config.pairs)
    if not pairs:   # nothing to fit: the dataset's photos/ and edits/ are not replaced by empty ones
        raise FileNotFoundError(f"no before/after pair under {config.pairs} ({len(pair_errors)} unpaired files): "
                                "see `photoedit fit --help` for the two naming conventions")
    prior = config.pair.prior.name if config.pair.prior else "built-in"
    log.info("fit: %d pairs, %d unpaired files under %s (prior %s, weight %g)", len(pairs), len(pair_errors),
             config.pairs, prior if config.pair.fit.prior_weight else "none", config.pair.fit.prior_weight)
    outputs = {"photos": layout.photos, "edits": layout.edits, "fits": layout.fits, "errors": layout.errors(STAGE)}
    run = run_stage(STAGE, outputs, len(pairs), "pairs",
                    lambda pipeline: build_pipeline(pipeline, config, pairs, pair_errors), beam_args, test_pipeline)
    fitted = read_table(layout.fits, ["delta_e", "pinned"], required=False)
    delta_e = fitted.column("delta_e").to_pylist() if fitted.num_columns else []
    pinned = fitted.column("pinned").to_pylist() if fitted.num_columns else []
    counts = {"pairs": len(pairs), "unpaired": len(pair_errors), "fitted": len(delta_e),
              "errors": run.counters.get("errors", len(pair_errors) + len(pairs) - len(delta_e)),
              "mean_delta_e": float(np.mean(delta_e)) if delta_e else float("nan"),
              "pinned_pairs": sum(1 for p in pinned if p), "seconds": run.seconds}
    log.info("fit: %d of %d pairs fitted (mean ΔE76 %.3f; %d with a slider at a range end), %d errors -> %s "
             "(photos/, edits/, fits/, errors/fit/) in %.1f s", counts["fitted"], counts["pairs"],
             counts["mean_delta_e"], counts["pinned_pairs"], counts["errors"], layout.root, run.seconds)
    return counts


# ------------------------------------------------------------------ priors
def edits_prior(dataset: str) -> GaussianPrior:
    """A Gaussian prior fitted to a dataset's edits/ (2003 sliders), white balance relative to photos/ as-shot."""
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
    from modeling.slider_fit import ModelPrior
    from pipelines.core.model_store import load_model
    model, _ = load_model(model_dir)
    if not isinstance(model, ExactLikelihoodModel):
        raise ValueError(f"{model_dir}: a prior needs a model with an exact likelihood (mlp, mdn), "
                         f"not {type(model).__name__}")
    return ModelPrior(model, np.load(features_path), name=f"model {model_dir}")


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
    p.add_argument("--steps", type=int, default=FitConfig.coarse_iterations,
                   help=f"Levenberg-Marquardt iterations of the restarts (default {FitConfig.coarse_iterations})")
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


def _fit_one(parser: argparse.ArgumentParser, args: argparse.Namespace, config: FitConfigForPairs) -> int:
    """`photoedit fit BEFORE AFTER`: the fitted sliders as JSON on stdout (and a sidecar with --xmp)."""
    before, after = args.images
    try:
        result, _ = fit_pair(storage.read_bytes(before), storage.read_bytes(after), config,
                             pair_id=_stem_ext(before)[0], name=before, after_name=after)
    except Exception as exc:   # undecodable, mismatched sizes: one line, exit 1
        log.error("fit: %s / %s: %s: %s", before, after, type(exc).__name__, exc)
        return 1
    if args.xmp:
        from pipelines.lightroom.develop_settings import CameraRawSettings
        from pipelines.lightroom.xmp import write_xmp
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
    sys.stdout.write(json.dumps(out, indent=2) + "\n")
    return 0


def run(argv: list[str] | None = None, test_pipeline: beam.Pipeline | None = None) -> int:
    """`photoedit fit`: one pair (JSON on stdout, exit 1 if it cannot be fitted) or a Beam job over a folder
    of pairs (exit 0; bad pairs are rows in errors/fit)."""
    parser = _parser()
    args, beam_args = split_args(parser, argv)
    configure_logging(args.verbose, local_log_dir(args.out) if args.out else None, STAGE)
    if bool(args.prior_model) != bool(args.prior_features) or (args.prior_model and (args.pairs or args.prior_edits)):
        parser.error("--prior-model needs --prior-features, a single pair and no --prior-edits")
    if args.prior_edits and args.process != "2003":
        parser.error("--prior-edits fits Camera Raw 2003 edits: use --process 2003")
    if args.pairs and (args.images or not args.out):
        parser.error("--pairs DIR needs --out DATASET and no BEFORE/AFTER arguments")
    if not args.pairs and len(args.images) != 2:
        parser.error("give BEFORE AFTER, or --pairs DIR --out DATASET")
    if not args.pairs and beam_args:
        parser.error(f"unknown arguments {beam_args} (Beam options apply to --pairs only)")
    try:
        prior = (edits_prior(args.prior_edits) if args.prior_edits else
                 model_prior(args.prior_model, args.prior_features) if args.prior_model else None)
        config = FitConfigForPairs(process=args.process, size=args.size, seed=args.seed, device=args.device,
                                   editor=args.editor, prior=prior,
                                   fit=FitConfig(restarts=args.restarts, coarse_iterations=args.steps,
                                                 tone_curve=args.tone_curve, prior_weight=args.prior_weight))
        if not args.pairs:
            return _fit_one(parser, args, config)
        run_job(FitJobConfig(pairs=args.pairs, out=args.out, pair=config), beam_args, test_pipeline)
    except (FileNotFoundError, ValueError) as exc:
        log.error("fit: %s", exc)
        return 2
    return 0
