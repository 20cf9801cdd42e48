"""`photoedit evaluate`: re-render model proposals and measure CIE-LAB error against the experts.

For every photo of one split (photos/ joined by photo id with its expert rows in edits/ and its
variant-0 row in features/, i.e. the FC7 of the unedited photo) and every trained model (one
training seed each: the lowest, or --model-seed), plus the feature-blind floor (modeling.mixture_floor,
fitted by EM on the train sliders, its proposals drawn from the mixture whatever the photo):
  1. draw P proposals (default 20) in model space with a torch generator seeded by
     keyed_rng(seed, photo_id, model), so any worker and any rerun draws the same numbers
     (modeling.proposals: CGM-VAE / P-VAE draw each proposal's style cluster from the prior pi,
     i.e. the P-VAE of a user with no history, then p(y | x, cluster); MLP / MDN / LBN / floor:
     model.sample);
  2. match them one-to-one to the chosen experts by minimum total cost (modeling.alignment: mean
     squared model-space slider difference, Hungarian method): the paper's protocol, all P; and the
     same for the first --few-proposals (default 3) of them, as many proposals as experts (the
     draws are independent, so the first 3 of 20 are a draw of 3);
  3. render every aligned proposal of every model, the unedited photo (`no_adjustment`, proposal -1:
     Camera Raw's default look at the as-shot white balance, pipelines.core.photos.unedited) and, with --reference renderer, each expert's own sliders + point ToneCurve, all
     in ONE batched PhotoRenderer call on the raw decoded at --size (long side);
  4. LAB error of each render against that expert's rendition: mean and RMS of the per-pixel CIE76
     ΔE, both images linear ProPhoto -> XYZ -> CIE-LAB with the D50 white
     (rendering.colour.lab_error_stats).
     With --reference tiff the rendition is the expert's exported tiff16_<x>/<file_name>.tif under
     --tiff-root, read with its ICC profile and resized to the same long side.
Outputs: evaluation/ (schemas.EVALUATION, one row per photo x model x P x expert, plus no_adjustment
with P = 0), predictions/ (schemas.PREDICTIONS, every proposal in Lightroom units), errors/evaluate/
(unreadable raw, missing features or edits, missing or mis-sized TIFF, NaN) and
evaluation/_summary.json (per P a table of LAB error per model).
"""
from __future__ import annotations

import argparse
import logging
import time
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Sequence

import apache_beam as beam
import numpy as np
import torch

from modeling.alignment import ExpertChoiceError, align_proposals, choose_experts
from modeling.checkpoints import CheckpointError
from modeling.comparison import FLOOR, floor_model
from modeling.mixture_floor import floor_from_parameters, floor_parameters
from modeling.proposals import Proposals, draw_proposals
from modeling.train_run import split_edits
from modeling.registry import MODEL_ORDER, MODELS
from pipelines.core import storage
from pipelines.core.console import configure_logging, local_log_dir
from pipelines.core.errors import ERRORS_TAG, error_row, write_errors
from pipelines.core.lab_summary import lab_table, summarise, summarise_by_proposals
from pipelines.core.layout import DatasetLayout
from pipelines.core.math_threads import one_math_thread
from pipelines.core.model_store import load_model, primary_folder, read_edits
from pipelines.core.options import BEAM_HELP, split_args
from pipelines.core.parquet_io import all_written, read_rows, read_table, write_rows
from pipelines.core.photos import as_shot_white, open_photo, unedited
from pipelines.core.progress import WorkerProgress
from pipelines.core.schemas import EVALUATION, NO_ADJUSTMENT, PREDICTIONS, SLIDER_KEYS
from pipelines.core.seeding import keyed_rng
from pipelines.core.stage import run_stage
from pipelines.core.transforms import TaggedParDo
from pipelines.fivek.layout import expert_rendition_path
from rendering.colour import lab_error_stats
from rendering.sliders import PROCESS_2003

log = logging.getLogger(__name__)
STAGE = "evaluate"
PREDICTIONS_TAG = "predictions"
REFERENCES = ("renderer", "tiff")
SPLITS = ("train", "validation", "test")


class EvaluateInputError(ValueError):
    """A photo's inputs are missing or unusable (features, edits, TIFF); `uri` names the culprit."""

    def __init__(self, message: str, uri: str | None = None):
        super().__init__(message)
        self.uri = uri


@dataclass(frozen=True)
class EvaluateConfig:
    """How one photo is measured: experts, P proposals, the smaller P' (0: none), size (px), reference, device, seed."""

    experts: tuple[str, ...]
    proposals: int = 20
    size: int = 256
    reference: str = "renderer"
    tiff_root: str | None = None
    device: str = "cpu"
    seed: int = 0
    few_proposals: int = 3

    def __post_init__(self) -> None:
        if not self.experts:
            raise ValueError("no expert to compare with")
        if self.proposals < len(self.experts):
            raise ValueError(f"proposals ({self.proposals}) < {len(self.experts)} experts: alignment is one-to-one")
        if self.few_proposals and not len(self.experts) <= self.few_proposals < self.proposals:
            raise ValueError(f"few proposals ({self.few_proposals}) must lie in [{len(self.experts)} experts, "
                             f"{self.proposals} proposals) or be 0 (none)")
        if self.reference not in REFERENCES:
            raise ValueError(f"reference must be one of {', '.join(REFERENCES)}, got {self.reference!r}")
        if self.reference == "tiff" and not self.tiff_root:
            raise ValueError("--reference tiff needs --tiff-root")
        if self.size < 16:
            raise ValueError(f"size must be at least 16 px, got {self.size}")


@dataclass(frozen=True)
class EvaluateJobConfig:
    """The evaluate job: dataset root, models (name, folder), the split evaluated, how each photo is measured."""

    dataset: str
    models: tuple[tuple[str, str], ...]
    measure: EvaluateConfig
    split: str = "test"
    floor: FloorSpec | None = None     # the feature-blind floor as one more row (model FLOOR), None: no floor row

    def __post_init__(self) -> None:
        if not self.models:
            raise ValueError("no model to evaluate")
        if self.split not in SPLITS:
            raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {self.split!r}")

    @property
    def layout(self) -> DatasetLayout:
        return DatasetLayout(self.dataset)


@dataclass(frozen=True)
class FloorSpec:
    """The feature-blind floor shipped to the workers: its fitted parameters (floor_parameters) and feature width."""

    parameters: dict
    feature_dim: int

    @property
    def components(self) -> int:
        return len(self.parameters["log_mix"])


@dataclass
class PhotoResult:
    """Rows of one photo: EVALUATION rows and PREDICTIONS rows."""

    evaluation: list[dict[str, Any]]
    predictions: list[dict[str, Any]]


# ------------------------------------------------------------------------------ plain functions

def proposal_generator(seed: int, photo_id: str, model_name: str) -> torch.Generator:
    """CPU torch generator seeded from keyed_rng(seed, photo_id, model_name) (worker-independent)."""
    value = int(keyed_rng(seed, photo_id, model_name, "proposals").integers(0, 2**63 - 1))
    return torch.Generator(device="cpu").manual_seed(value)


def lab_errors(renders: np.ndarray, references: np.ndarray, reference_index: Sequence[int] | None = None,
               device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """(mean, RMS) per-pixel CIE76 ΔE [N] of renders [N, 3, H, W] vs references[reference_index] (linear ProPhoto)."""
    def tensor(images: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.asarray(images, dtype=np.float32)).to(device)

    index = None if reference_index is None else torch.as_tensor(np.asarray(reference_index, dtype=np.int64))
    mean, rms = lab_error_stats(tensor(renders), tensor(references), index)
    return mean.cpu().numpy(), rms.cpu().numpy()


def read_reference_tiff(uri: str, shape: tuple[int, int], size: int) -> np.ndarray:
    """An expert's TIFF as linear ProPhoto [3, H, W] at long side `size`; EvaluateInputError if absent or mis-sized."""
    from rendering.image_io import read_image, resize_long_side

    if not storage.exists(uri):
        raise EvaluateInputError(f"expert rendition not found: {uri}", uri)
    image = resize_long_side(read_image(storage.read_bytes(uri), name=uri), size)
    if tuple(image.shape[1:]) != tuple(shape):
        raise EvaluateInputError(f"expert rendition {uri} is {image.shape[2]}x{image.shape[1]} at long side "
                                 f"{size}, the raw renders {shape[1]}x{shape[0]}", uri)
    return image


def expert_sliders(edits: Mapping[str, Mapping[str, Any]], experts: Sequence[str], photo_id: str) -> np.ndarray:
    """Lightroom sliders [E, 11] of the chosen experts' edits of one photo (SliderError for NaN / out of range)."""
    missing = [e for e in experts if e not in edits]
    if missing:
        raise EvaluateInputError(f"photo {photo_id} has no edit by expert(s) {', '.join(missing)}")
    values = np.array([[edits[e][k] for k in SLIDER_KEYS] for e in experts], dtype=np.float64)  # None -> NaN
    return PROCESS_2003.validate(values)


def _slider_columns(sliders: np.ndarray) -> dict[str, float]:
    return {k: float(v) for k, v in zip(SLIDER_KEYS, sliders)}


def proposal_pools(config: EvaluateConfig) -> list[int]:
    """The pool sizes P each model's proposals are aligned from: P, then the few proposals P' if any."""
    return [config.proposals] + ([config.few_proposals] if config.few_proposals else [])


def evaluate_photo(photo_row: Mapping[str, Any], edits: Mapping[str, Mapping[str, Any]], fc7: np.ndarray,
                   models: Mapping[str, torch.nn.Module], renderer: Any, config: EvaluateConfig,
                   timings: dict[str, float] | None = None) -> PhotoResult:
    """EVALUATION and PREDICTIONS rows of one photo (edits: expert -> edits/ row; fc7 [D] of variant 0).

    Per model, P proposals are aligned to the E experts and so are the first P' of them (the pools
    of proposal_pools); each distinct aligned proposal, the unedited render and, with the renderer
    reference, the E expert renditions go through one `renderer.render` call. `timings`, if given,
    accumulates seconds spent in 'sampling', 'decode', 'render' and 'lab'.
    """
    clock = time.perf_counter
    photo_id = photo_row["photo_id"]
    experts = list(config.experts)
    num_experts = len(experts)
    pools = proposal_pools(config)
    experts_lr = expert_sliders(edits, experts, photo_id)
    experts_ms = np.clip(PROCESS_2003.to_model(experts_lr), -1.0, 1.0)

    t = clock()
    drawn: dict[str, Proposals] = {}
    aligned: dict[tuple[str, int], np.ndarray] = {}       # (model, P) -> proposal index per expert [E]
    for name, model in models.items():
        drawn[name] = draw_proposals(model, fc7, config.proposals,
                                     proposal_generator(config.seed, photo_id, name))
        for pool in pools:
            aligned[name, pool] = align_proposals(drawn[name].model_space[:pool], experts_ms)
    t_sampling = clock() - t

    t = clock()
    photo = open_photo(photo_row, config.size)
    neutral, neutral_curve = unedited(as_shot_white(photo_row, photo))
    if config.reference == "tiff":  # read before rendering: a missing TIFF fails the photo early
        references = np.stack([read_reference_tiff(expert_rendition_path(config.tiff_root, e, photo_row["file_name"]),
                                                   photo.shape, config.size) for e in experts])
    t_decode = clock() - t

    names = list(models)
    slot: dict[tuple[str, int], int] = {}                 # (model, proposal) -> index into the render batch
    batch: list[np.ndarray] = []
    for name in names:
        for proposal in sorted({int(i) for pool in pools for i in aligned[name, pool]}):
            slot[name, proposal] = len(batch)
            batch.append(drawn[name].lightroom[proposal])
    neutral_slot = len(batch)
    batch.append(neutral)
    curves: list[Any] = [None] * neutral_slot + [neutral_curve]
    if config.reference == "renderer":
        batch += list(experts_lr)
        curves += [edits[e].get("tone_curve") for e in experts]
    t = clock()
    renders = renderer.render(photo, np.stack(batch), tone_curves=curves, spec=PROCESS_2003,
                              batch_size=len(batch))
    t_render = clock() - t

    if config.reference == "renderer":
        references = renders[neutral_slot + 1:]
    # candidates: per model and pool the aligned proposal of each expert, then the unedited render per expert
    keys = [(name, pool, e) for name in names for pool in pools for e in range(num_experts)]
    render_index = [slot[name, int(aligned[name, pool][e])] for name, pool, e in keys] + [neutral_slot] * num_experts
    expert_index = [e for _, _, e in keys] + list(range(num_experts))
    t = clock()
    mean, rms = lab_errors(renders[render_index], references, expert_index, device=config.device)
    t_lab = clock() - t
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(rms))):
        raise ValueError(f"non-finite LAB error for photo {photo_id}")

    evaluation, predictions = [], []
    base = {"photo_id": photo_id, "reference": config.reference, "size": int(config.size)}
    for k, (name, pool, e) in enumerate(keys + [(NO_ADJUSTMENT, 0, e) for e in range(num_experts)]):
        if name == NO_ADJUSTMENT:
            proposal, sliders = -1, neutral
        else:
            proposal = int(aligned[name, pool][e])
            sliders = drawn[name].lightroom[proposal]
        evaluation.append({**base, "model": name, "expert": experts[e], "proposals": int(pool),
                           "proposal": proposal, "lab_error": float(mean[k]), "lab_rms": float(rms[k]),
                           **_slider_columns(sliders)})
    for name in names:
        p = drawn[name]
        for j in range(config.proposals):
            predictions.append({"photo_id": photo_id, "model": name, "proposal": j,
                                "cluster": None if p.clusters is None else int(p.clusters[j]),
                                **_slider_columns(p.lightroom[j])})
    if timings is not None:
        for key, value in (("sampling", t_sampling), ("decode", t_decode), ("render", t_render), ("lab", t_lab)):
            timings[key] = timings.get(key, 0.0) + value
    return PhotoResult(evaluation, predictions)


# ------------------------------------------------------------------------------ Beam wiring

class EvaluatePhotos(beam.DoFn):
    """(photo_id, {photo, edits, features}) -> EVALUATION rows; PREDICTIONS rows and errors tagged."""

    def __init__(self, config: EvaluateJobConfig):
        self._config = config

    def setup(self) -> None:
        from rendering.renderer import PhotoRenderer

        device = self._config.measure.device
        self._models = {name: load_model(folder, device=device)[0] for name, folder in self._config.models}
        floor = self._config.floor
        if floor is not None:
            self._models[FLOOR] = floor_from_parameters(floor.parameters, floor.feature_dim).to(device)
        self._renderer = PhotoRenderer(device=device)
        self._photos = beam.metrics.Metrics.counter(STAGE, "photos")
        self._rows = beam.metrics.Metrics.counter(STAGE, "evaluation_rows")
        self._predictions = beam.metrics.Metrics.counter(STAGE, "predictions")
        self._skipped = beam.metrics.Metrics.counter(STAGE, "skipped_not_in_split")
        self._progress = WorkerProgress(log, STAGE)

    def process(self, joined: tuple[str, dict[str, list[dict[str, Any]]]]) -> Iterator[Any]:
        photo_id, group = joined
        if not group["photo"]:
            self._skipped.inc()
            return
        row = group["photo"][0]
        try:
            if not group["features"]:
                raise EvaluateInputError(f"photo {photo_id} has no variant-0 row in features/ "
                                         "(run `photoedit features`)")
            fc7 = np.asarray(group["features"][0]["fc7"], dtype=np.float32)
            edits = {e["editor"]: e for e in group["edits"]}
            with one_math_thread():  # the same sums on any runner and number of workers
                result = evaluate_photo(row, edits, fc7, self._models, self._renderer, self._config.measure)
        except Exception as exc:  # unreadable raw, missing input, NaN: this photo fails, the job goes on
            uri = getattr(exc, "uri", None) or row.get("raw_uri")
            yield beam.pvalue.TaggedOutput(ERRORS_TAG, error_row(photo_id, STAGE, exc, uri))
            return
        yield from result.evaluation
        for p in result.predictions:
            yield beam.pvalue.TaggedOutput(PREDICTIONS_TAG, p)
        self._photos.inc()
        self._rows.inc(len(result.evaluation))
        self._predictions.inc(len(result.predictions))
        self._progress.step()

    def finish_bundle(self) -> None:
        self._progress.flush()


class EvaluateSplit(beam.PTransform):
    """(photos, edits, features) rows -> (evaluation rows, predictions rows, error rows)."""

    def __init__(self, config: EvaluateJobConfig):
        super().__init__()
        self._config = config

    def expand(self, inputs: tuple[beam.PCollection, beam.PCollection, beam.PCollection]):
        photos, edits, features = inputs
        split, experts = self._config.split, set(self._config.measure.experts)
        joined = ({"photo": photos | "InSplit" >> beam.Filter(lambda r: r["split"] == split)
                   | "KeyPhotos" >> beam.Map(lambda r: (r["photo_id"], r)),
                   "edits": edits | "ChosenExperts" >> beam.Filter(lambda r: r["editor"] in experts)
                   | "KeyEdits" >> beam.Map(lambda r: (r["photo_id"], r)),
                   "features": features | "Variant0" >> beam.Filter(lambda r: int(r["variant"]) == 0)
                   | "KeyFeatures" >> beam.Map(lambda r: (r["photo_id"], r))}
                  | "JoinInputs" >> beam.CoGroupByKey())
        out = joined | "EvaluatePhotos" >> TaggedParDo(EvaluatePhotos(self._config), PREDICTIONS_TAG, ERRORS_TAG,
                                                       main="evaluation")
        return out.evaluation, out[PREDICTIONS_TAG], out[ERRORS_TAG]


# ------------------------------------------------------------------------------ driver

def model_folders(layout: DatasetLayout, names: Sequence[str], seed: int | None = None) -> list[tuple[str, str]]:
    """(name, folder) of the requested models that are trained: one training seed each (`seed`, else the
    lowest); missing ones are warned about."""
    found = []
    for name in names:
        try:
            folder = primary_folder(layout.model_dir(name), seed)
        except CheckpointError:
            which = f" seed {seed}" if seed is not None else ""
            log.warning("evaluate: no trained model %s%s under %s (run `photoedit train --model %s`); skipped",
                        name, which, layout.model_dir(name), name)
            continue
        found.append((name, folder))
    return found


def fit_floor_spec(dataset: str, seed: int = 0) -> FloorSpec:
    """The feature-blind floor of a dataset (modeling.comparison.floor_model on its train / validation edits),
    the same fit as evaluate-models' floor row for the same seed."""
    train_data, val_data, _ = split_edits(read_edits(dataset))
    model, _ = floor_model(train_data, val_data, seed=seed)
    return FloorSpec(floor_parameters(model), train_data.feature_dim)


def build_pipeline(pipeline: beam.Pipeline, config: EvaluateJobConfig) -> None:
    """photos/ + edits/ + features/ -> EvaluateSplit -> evaluation/, predictions/, errors/evaluate."""
    layout = config.layout
    photos = pipeline | "ReadPhotos" >> read_rows(layout.photos)
    edits = pipeline | "ReadEdits" >> read_rows(layout.edits, columns=["photo_id", "editor", *SLIDER_KEYS, "tone_curve"])
    features = pipeline | "ReadFeatures" >> read_rows(layout.features, columns=["photo_id", "variant", "fc7"])
    evaluation, predictions, errors = (photos, edits, features) | "Evaluate" >> EvaluateSplit(config)
    all_written(write_rows(evaluation, layout.evaluation, EVALUATION, label="WriteEvaluation",
                           keys=("photo_id", "model", "proposals", "expert")),
                write_rows(predictions, layout.predictions, PREDICTIONS, label="WritePredictions",
                           keys=("photo_id", "model", "proposal")),
                write_errors(errors, layout, STAGE))


def run_job(config: EvaluateJobConfig, beam_args: Sequence[str] = (),
            test_pipeline: beam.Pipeline | None = None) -> dict[str, Any]:
    """Run the evaluate job, write evaluation/_summary.json; returns the per-model LAB summary and counters."""
    layout = config.layout
    photos = read_table(layout.photos, columns=["split"])
    total = sum(1 for s in photos.column("split").to_pylist() if s == config.split)
    measure = config.measure
    names = [n for n, _ in config.models] + ([FLOOR] if config.floor is not None else [])
    log.info("evaluate: %d %s photos x %d models (%s), experts %s, P=%s, %d px, %s reference", total,
             config.split, len(names), ",".join(names), ",".join(measure.experts),
             " and ".join(map(str, proposal_pools(measure))), measure.size, measure.reference)
    outputs = {"evaluation_rows": layout.evaluation, "predictions": layout.predictions, "errors": layout.errors(STAGE)}
    run = run_stage(STAGE, outputs, total, "photos", lambda pipeline: build_pipeline(pipeline, config), beam_args,
                    test_pipeline)
    rows = read_table(layout.evaluation, required=False)
    summary = summarise(rows, measure.proposals)
    by_proposals = summarise_by_proposals(rows)
    storage.write_json(storage.join(layout.evaluation, "_summary.json"),
                       {"models": summary, "by_proposals": {str(k): v for k, v in by_proposals.items()},
                        "experts": list(measure.experts), "proposals": measure.proposals,
                        "few_proposals": measure.few_proposals, "size": measure.size,
                        "reference": measure.reference, "split": config.split, "seed": measure.seed,
                        "model_folders": {n: f for n, f in config.models},
                        "floor": None if config.floor is None else {"components": config.floor.components}})
    if summary:
        log.info("evaluate: LAB error vs experts %s\n%s", ",".join(measure.experts), lab_table(by_proposals))
    photos_done = max((m["photos"] for m in summary.values()), default=0)
    log.info("evaluate: %d %s photos, %d errors -> %s (%.1f s)", photos_done, config.split,
             run.counters.get("errors", 0), layout.evaluation, run.seconds)
    return {"models": summary, "counters": run.counters}


def few_proposals(requested: int | None, experts: int, proposals: int) -> int:
    """--few-proposals: as asked, else as many as the experts when that is fewer than P (else 0: none)."""
    if requested is not None:
        return requested
    return experts if experts < proposals else 0


def resolve_experts(layout: DatasetLayout, experts: str) -> list[str]:
    """--experts: 'auto' = the 3 most diverse experts of the train split, else the named editors (checked)."""
    edits = read_table(layout.edits, columns=["photo_id", "editor", "editor_kind", *SLIDER_KEYS])
    if experts == "auto":
        chosen, basis = choose_experts(edits, read_table(layout.photos, columns=["photo_id", "split"]))
        log.info("evaluate: experts %s chosen as the %d most diverse of %s over %d %s photos", ",".join(chosen),
                 len(chosen), ",".join(basis["editors"]), basis["photos"], basis["split"])
        return chosen
    names = [e.strip() for e in experts.split(",") if e.strip()]
    known = set(edits.column("editor").to_pylist())
    unknown = sorted(set(names) - known)
    if not names or unknown:
        raise ValueError(f"--experts {experts}: unknown editor(s) {', '.join(unknown) or '(none given)'}; "
                         f"edits/ has {', '.join(sorted(known))}")
    return names


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="photoedit evaluate",
        description="Per photo of a split and per trained model (and the feature-blind floor): draw P\n"
                    "proposals, align them one-to-one to the experts (minimum total mean-squared model-space\n"
                    "slider difference, Hungarian), and so the first P' (--few-proposals) of them,\n"
                    "render them from the raw and measure the mean and RMS per-pixel CIE-LAB dE76 (D50)\n"
                    "against each expert's rendition; no_adjustment rows compare the as-shot render.\n"
                    "Writes evaluation/, predictions/, errors/evaluate/ and evaluation/_summary.json.",
        epilog=BEAM_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, help="dataset root (local path or gs://...)")
    parser.add_argument("--models", default=",".join(MODEL_ORDER),
                        help="comma-separated model folders under <dataset>/models (default %(default)s; "
                             "missing ones are skipped with a warning)")
    parser.add_argument("--proposals", type=int, default=20, help="proposals P drawn per photo and model (default 20)")
    parser.add_argument("--few-proposals", type=int, default=None,
                        help="also align only the first P' of them (default: as many as the experts, 3 with "
                             "--experts auto; 0 = no such rows)")
    parser.add_argument("--no-floor", action="store_true",
                        help="leave out the feature-blind floor's row (a mixture fitted by EM to the train sliders, "
                             "proposals drawn from it whatever the photo)")
    parser.add_argument("--model-seed", type=int, default=None,
                        help="training seed of the models evaluated (models/<name>/seed-<s>/; default: each "
                             "model's lowest)")
    parser.add_argument("--experts", default="auto",
                        help="comma-separated experts, e.g. A,C,E; 'auto' (default) = the 3 most diverse "
                             "experts (largest mean model-space distance between their train-split edits)")
    parser.add_argument("--size", type=int, default=256, help="long side (px) of the renders compared (default 256)")
    parser.add_argument("--reference", choices=REFERENCES, default="renderer",
                        help="expert rendition: 'renderer' = the expert's sliders and tone curve rendered here "
                             "(default); 'tiff' = FiveK's exported tiff16_<x>/<file_name>.tif under --tiff-root")
    parser.add_argument("--tiff-root", default=None, help="folder holding tiff16_a .. tiff16_e (with --reference tiff)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="models and renderer device")
    parser.add_argument("--split", choices=("train", "validation", "test"), default="test",
                        help="photos evaluated (default test)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the proposals (default 0)")
    parser.add_argument("--verbose", action="store_true", help="every log line, Beam's and the workers' too")
    return parser


def run(argv: list[str] | None = None, test_pipeline: beam.Pipeline | None = None) -> int:
    """Entry point of `photoedit evaluate`; 0 when the job ran (failed photos are rows in errors/evaluate),
    1 when no requested model is trained, 2 on bad input."""
    parser = build_parser()
    args, beam_args = split_args(parser, argv)
    configure_logging(args.verbose, local_log_dir(args.dataset), STAGE)
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(MODEL_ORDER)}")
    layout = DatasetLayout(args.dataset)
    try:
        models = model_folders(layout, names, args.model_seed)
        if not models:
            log.error("evaluate: none of the models %s is trained under %s", ", ".join(names), layout.models)
            return 1
        experts = resolve_experts(layout, args.experts)
        measure = EvaluateConfig(experts=tuple(experts), proposals=args.proposals, size=args.size,
                                 reference=args.reference, tiff_root=args.tiff_root, device=args.device,
                                 seed=args.seed, few_proposals=few_proposals(args.few_proposals, len(experts),
                                                                             args.proposals))
        floor = None if args.no_floor else fit_floor_spec(args.dataset, args.seed)
        config = EvaluateJobConfig(dataset=args.dataset, models=tuple(models), measure=measure, split=args.split,
                                   floor=floor)
        run_job(config, beam_args, test_pipeline)
    except (FileNotFoundError, ExpertChoiceError, ValueError) as exc:
        log.error("evaluate: %s", exc)
        return 2
    return 0
