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
evaluation/_summary.json (per P a table of LAB error per model), written into the staged evaluation/
so it is replaced with the rows or not at all. Steps 1-4 are pipelines.fivek.lab_evaluation. Only the
split's rows of photos/, edits/ and features/ (variant 0) are read, filtered in the reading worker, and
the floor is fitted on the sliders alone (model_store.read_sliders): no feature row of another split is
read.
"""
from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import apache_beam as beam
import numpy as np

from modeling.alignment import ExpertChoiceError, choose_experts
from modeling.checkpoints import CheckpointError
from modeling.comparison import FLOOR, floor_model
from modeling.mixture_floor import floor_from_parameters, floor_parameters
from modeling.registry import MODEL_ORDER, MODELS
from modeling.train_run import split_edits
from pipelines.core import storage
from pipelines.core.console import configure_logging, local_log_dir
from pipelines.core.errors import ERRORS_TAG, error_row, write_errors
from pipelines.core.lab_summary import lab_table, summarise, summarise_by_proposals
from pipelines.core.layout import DatasetLayout
from pipelines.core.math_threads import one_math_thread
from pipelines.core.model_store import load_model, primary_folder, read_sliders
from pipelines.core.options import BEAM_HELP, split_args
from pipelines.core.parquet_io import all_written, read_rows, read_table, shards_for, write_rows
from pipelines.core.progress import WorkerProgress
from pipelines.core.schemas import EVALUATION, PREDICTIONS, SLIDER_KEYS
from pipelines.core.stage import run_stage
from pipelines.core.transforms import TaggedParDo
from pipelines.fivek.lab_evaluation import (
    REFERENCES,
    EvaluateConfig,
    EvaluateInputError,
    evaluate_photo,
    proposal_pools,
)

log = logging.getLogger(__name__)
STAGE = "evaluate"
PREDICTIONS_TAG = "predictions"
SPLITS = ("train", "validation", "test")
SUMMARY = "_summary.json"   # evaluation/_summary.json: per P a table of LAB error per model


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
    the same fit as evaluate-models' floor row for the same seed; reads the sliders, not the features."""
    train_data, val_data, _ = split_edits(read_sliders(dataset))
    model, _ = floor_model(train_data, val_data, seed=seed)
    return FloorSpec(floor_parameters(model), train_data.feature_dim)


def split_photos(layout: DatasetLayout, split: str) -> list[str]:
    """Sorted photo ids of one split of photos/."""
    photos = read_table(layout.photos, columns=["photo_id", "split"], where={"split": [split]})
    return sorted(photos.column("photo_id").to_pylist())


def build_pipeline(pipeline: beam.Pipeline, config: EvaluateJobConfig, photo_ids: Sequence[str]) -> None:
    """photos/ + edits/ + features/ -> EvaluateSplit -> evaluation/, predictions/, errors/evaluate.

    Only the rows of the split's photos `photo_ids` are read (of features/, their variant-0 rows), filtered
    batch by batch in the reading worker (parquet_io.matching_batches), so the rest never reach a shuffle.
    """
    layout = config.layout
    photos = pipeline | "ReadPhotos" >> read_rows(layout.photos, where={"split": [config.split]})
    edits = pipeline | "ReadEdits" >> read_rows(layout.edits, columns=["photo_id", "editor", *SLIDER_KEYS, "tone_curve"],
                                                where={"photo_id": photo_ids, "editor": config.measure.experts})
    features = pipeline | "ReadFeatures" >> read_rows(layout.features, columns=["photo_id", "variant", "fc7"],
                                                      where={"photo_id": photo_ids, "variant": [0]}, arrays=["fc7"])
    evaluation, predictions, errors = (photos, edits, features) | "Evaluate" >> EvaluateSplit(config)
    shards = shards_for(len(photo_ids))
    all_written(write_rows(evaluation, layout.evaluation, EVALUATION, label="WriteEvaluation",
                           keys=("photo_id", "model", "proposals", "expert"), num_shards=shards),
                write_rows(predictions, layout.predictions, PREDICTIONS, label="WritePredictions",
                           keys=("photo_id", "model", "proposal"), num_shards=shards),
                write_errors(errors, layout, STAGE))


SUMMARY_COLUMNS = ["photo_id", "model", "proposals", "lab_error", "lab_rms"]


def write_summary(config: EvaluateJobConfig, evaluation: str) -> dict[str, Any]:
    """Summarise the evaluation rows under `evaluation` (the staged folder, before the replace) into its
    _summary.json, so the summary is replaced with the rows or not at all; returns the per-model summary."""
    measure = config.measure
    rows = read_table(evaluation, columns=SUMMARY_COLUMNS, required=False)
    summary = summarise(rows, measure.proposals)
    by_proposals = summarise_by_proposals(rows)
    storage.write_json(storage.join(evaluation, SUMMARY),
                       {"models": summary, "by_proposals": {str(k): v for k, v in by_proposals.items()},
                        "experts": list(measure.experts), "proposals": measure.proposals,
                        "few_proposals": measure.few_proposals, "size": measure.size,
                        "reference": measure.reference, "split": config.split, "seed": measure.seed,
                        "model_folders": {n: f for n, f in config.models},
                        "floor": None if config.floor is None else {"components": config.floor.components}})
    if summary:
        log.info("evaluate: LAB error vs experts %s\n%s", ",".join(measure.experts), lab_table(by_proposals))
    return summary


def run_job(config: EvaluateJobConfig, beam_args: Sequence[str] = (),
            test_pipeline: beam.Pipeline | None = None) -> dict[str, Any]:
    """Run the evaluate job with evaluation/_summary.json staged with its rows; returns the per-model LAB summary
    and counters."""
    layout = config.layout
    photo_ids = split_photos(layout, config.split)
    measure = config.measure
    names = [n for n, _ in config.models] + ([FLOOR] if config.floor is not None else [])
    log.info("evaluate: %d %s photos x %d models (%s), experts %s, P=%s, %d px, %s reference", len(photo_ids),
             config.split, len(names), ",".join(names), ",".join(measure.experts),
             " and ".join(map(str, proposal_pools(measure))), measure.size, measure.reference)
    outputs = {"evaluation_rows": layout.evaluation, "predictions": layout.predictions, "errors": layout.errors(STAGE)}
    summaries: list[dict[str, Any]] = []
    run = run_stage(STAGE, outputs, len(photo_ids), "photos",
                    lambda pipeline: build_pipeline(pipeline, config, photo_ids), beam_args, test_pipeline,
                    finish=lambda staged: summaries.append(write_summary(config, staged.path(layout.evaluation))))
    summary = summaries[0]
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
