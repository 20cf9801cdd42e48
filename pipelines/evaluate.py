"""`photoedit evaluate`: re-render model proposals and measure CIE-LAB error against the experts.

For every photo of one split (photos/ joined by photo id with its expert rows in edits/ and its
variant-0 row in features/, i.e. the FC7 of the unedited photo) and every trained model:
  1. draw P proposals (default 20) in model space with a torch generator seeded by
     keyed_rng(seed, photo_id, model), so any worker and any rerun draws the same numbers
     (CGM-VAE / P-VAE: each proposal's style cluster drawn from the prior pi, i.e. the P-VAE of a
     user with no history, then a draw of p(y | x, cluster); MLP / MDN / LBN: model.sample);
  2. match them one-to-one to the chosen experts by minimum total cost (modeling.alignment: mean
     squared model-space slider difference, Hungarian method);
  3. render every aligned proposal of every model, the as-shot neutral render (`no_adjustment`,
     proposal -1) and, with --reference renderer, each expert's own sliders + point ToneCurve, all
     in ONE batched PhotoRenderer call on the raw decoded at --size (long side);
  4. LAB error of each render against that expert's rendition: mean and RMS of the per-pixel CIE76
     ΔE, both images linear ProPhoto -> XYZ -> CIE-LAB with the D50 white (rendering.colour).
     With --reference tiff the rendition is the expert's exported tiff16_<x>/<file_name>.tif under
     --tiff-root, read with its ICC profile and resized to the same long side.
Outputs: evaluation/ (schemas.EVALUATION, one row per photo x model x expert, plus no_adjustment),
predictions/ (schemas.PREDICTIONS, every proposal in Lightroom units), errors/evaluate/ (unreadable
raw, missing features or edits, missing or mis-sized TIFF, NaN) and evaluation/_summary.json.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Sequence

import apache_beam as beam
import numpy as np
import pyarrow as pa
import torch
from apache_beam.io.filesystems import FileSystems

from modeling.alignment import align_proposals, most_diverse_experts
from modeling.checkpoints import load_model, write_json
from modeling.diversity import cluster_weights
from modeling.metrics import grouped_mean_se
from modeling.networks import multinomial
from modeling.registry import MODELS
from pipelines.augment import as_shot_white
from pipelines.errors import ERRORS_TAG, error_row, write_errors
from pipelines.layout import DatasetLayout
from pipelines.options import BEAM_HELP, beam_options, configure_logging, split_args
from pipelines.parquet_io import clear_folder, read_table, write_rows
from pipelines.progress import WorkerProgress, stage_counters
from pipelines.schemas import EVALUATION, PREDICTIONS, SLIDER_KEYS
from pipelines.seeding import keyed_rng
from rendering.colour import delta_e76, linear_prophoto_to_lab
from rendering.sliders import PROCESS_2003

log = logging.getLogger(__name__)
STAGE = "evaluate"
NO_ADJUSTMENT = "no_adjustment"
PREDICTIONS_TAG = "predictions"
REFERENCES = ("renderer", "tiff")
DEFAULT_MODELS = ("mlp", "mdn", "lbn", "cgmvae", "pvae")
LAB_CHUNK = 16  # image pairs per LAB computation (bounds float64 memory at large --size)


class EvaluateInputError(ValueError):
    """A photo's inputs are missing or unusable (features, edits, TIFF); `uri` names the culprit."""

    def __init__(self, message: str, uri: str | None = None):
        super().__init__(message)
        self.uri = uri


@dataclass(frozen=True)
class EvaluateConfig:
    """What the evaluate job measures: models (name, folder), experts, P proposals, size (px), reference."""

    models: tuple[tuple[str, str], ...]
    experts: tuple[str, ...]
    proposals: int = 20
    size: int = 256
    reference: str = "renderer"
    tiff_root: str | None = None
    device: str = "cpu"
    seed: int = 0
    split: str = "test"


@dataclass
class Proposals:
    """P proposals of one model for one photo: model space [P, 11], Lightroom units [P, 11], cluster [P] or None."""

    model_space: np.ndarray
    lightroom: np.ndarray
    clusters: np.ndarray | None


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


@torch.no_grad()
def draw_proposals(model: torch.nn.Module, fc7: np.ndarray, n: int, generator: torch.Generator) -> Proposals:
    """n proposals for one photo's raw features fc7 [D] (the model standardises them itself).

    Clustered models (CGM-VAE, P-VAE without history): cluster of each proposal ~ prior pi, then
    one noisy draw of p(y | x, cluster). Other models: `model.sample` (MLP: its Gaussian, MDN: its
    mixture, LBN: fresh gates per draw). Raises ValueError for non-finite draws.
    """
    x = torch.as_tensor(np.asarray(fc7, dtype=np.float32)).reshape(1, -1).to(model.device)
    clusters = None
    if hasattr(model, "sample_per_cluster"):
        weights = torch.as_tensor(cluster_weights(model), dtype=torch.float32)
        clusters_t = multinomial(weights[None], n, generator)[0]                 # [n]
        per_cluster = model.sample_per_cluster(x, n, generator=generator, noise=True)[0]  # [L, n, 11]
        draws = per_cluster[clusters_t.to(per_cluster.device), torch.arange(n, device=per_cluster.device)]
        clusters = clusters_t.cpu().numpy().astype(np.int32)
    else:
        draws = model.sample(x, n, generator=generator)[0]
    model_space = draws.cpu().numpy().astype(np.float64)
    if not np.all(np.isfinite(model_space)):
        raise ValueError(f"{int(np.sum(~np.isfinite(model_space)))} non-finite slider values in the proposals")
    model_space = np.clip(model_space, -1.0, 1.0)
    lightroom = PROCESS_2003.clip(PROCESS_2003.from_model(model_space))
    return Proposals(model_space, lightroom, clusters)


def lab_errors(renders: np.ndarray, references: np.ndarray, reference_index: Sequence[int] | None = None,
               chunk: int = LAB_CHUNK, device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """(mean, RMS) per-pixel CIE76 ΔE [N] of renders [N, 3, H, W] vs references[reference_index] (linear ProPhoto).

    Both sides go linear ProPhoto -> XYZ -> CIE-LAB with the D50 white in float32 (the renders'
    precision; the per-image means are reduced in float64); each reference [R, 3, H, W] is converted
    once however many renders it is compared with (reference_index [N], default 0..N-1: pairwise).
    Computed on `device` (cpu or cuda).
    """
    index = np.arange(len(renders)) if reference_index is None else np.asarray(reference_index, dtype=np.int64)
    if len(index) != len(renders):
        raise ValueError(f"{len(index)} reference indices for {len(renders)} renders")
    if not len(renders):
        return np.zeros(0), np.zeros(0)

    def lab(images: np.ndarray) -> torch.Tensor:
        return linear_prophoto_to_lab(torch.from_numpy(np.asarray(images, dtype=np.float32)).to(device))

    ref_lab = lab(references)
    means, rms = [], []
    for start in range(0, len(renders), chunk):
        rows = torch.from_numpy(index[start:start + chunk]).to(device)
        de = delta_e76(lab(renders[start:start + chunk]), ref_lab[rows]).flatten(1).to(torch.float64)
        means.append(de.mean(dim=1).cpu().numpy())
        rms.append(torch.sqrt((de ** 2).mean(dim=1)).cpu().numpy())
    return np.concatenate(means), np.concatenate(rms)


def tiff_uri(tiff_root: str, expert: str, file_name: str) -> str:
    """The FiveK export of one expert's rendition: <root>/tiff16_<x>/<file_name>.tif (x = expert, lower case)."""
    return FileSystems.join(tiff_root, f"tiff16_{expert.lower()}", f"{file_name}.tif")


def read_reference_tiff(uri: str, shape: tuple[int, int], size: int) -> np.ndarray:
    """An expert's TIFF as linear ProPhoto [3, H, W] at long side `size`; EvaluateInputError if absent or mis-sized."""
    from rendering.image_io import read_image, resize_long_side

    if not FileSystems.exists(uri):
        raise EvaluateInputError(f"expert rendition not found: {uri}", uri)
    with FileSystems.open(uri) as f:
        image = resize_long_side(read_image(f.read(), name=uri), size)
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


def evaluate_photo(photo_row: Mapping[str, Any], edits: Mapping[str, Mapping[str, Any]], fc7: np.ndarray,
                   models: Mapping[str, torch.nn.Module], renderer: Any, config: EvaluateConfig,
                   timings: dict[str, float] | None = None) -> PhotoResult:
    """EVALUATION and PREDICTIONS rows of one photo (edits: expert -> edits/ row; fc7 [D] of variant 0).

    All renders of the photo (M*E aligned proposals, the neutral render and, with the renderer
    reference, E expert renditions) go through one `renderer.render` call. `timings`, if given,
    accumulates seconds spent in 'sampling', 'decode', 'render' and 'lab'.
    """
    from rendering.raw import load_photo

    clock = time.perf_counter
    photo_id = photo_row["photo_id"]
    experts = list(config.experts)
    num_experts = len(experts)
    experts_lr = expert_sliders(edits, experts, photo_id)
    experts_ms = np.clip(PROCESS_2003.to_model(experts_lr), -1.0, 1.0)

    t = clock()
    drawn: dict[str, Proposals] = {}
    aligned: dict[str, np.ndarray] = {}
    for name, model in models.items():
        drawn[name] = draw_proposals(model, fc7, config.proposals,
                                     proposal_generator(config.seed, photo_id, name))
        aligned[name] = align_proposals(drawn[name].model_space, experts_ms)
    t_sampling = clock() - t

    t = clock()
    uri = photo_row["raw_uri"]
    with FileSystems.open(uri) as f:
        photo = load_photo(f.read(), long_side=config.size, name=uri)
    neutral = PROCESS_2003.neutral(*as_shot_white(photo_row, photo))
    if config.reference == "tiff":  # read before rendering: a missing TIFF fails the photo early
        references = np.stack([read_reference_tiff(tiff_uri(config.tiff_root, e, photo_row["file_name"]),
                                                   photo.shape, config.size) for e in experts])
    t_decode = clock() - t

    names = list(models)
    batch = [drawn[n].lightroom[aligned[n][e]] for n in names for e in range(num_experts)] + [neutral]
    curves: list[Any] = [None] * len(batch)
    if config.reference == "renderer":
        batch += list(experts_lr)
        curves += [edits[e].get("tone_curve") for e in experts]
    t = clock()
    renders = renderer.render(photo, np.stack(batch), tone_curves=curves, spec=PROCESS_2003,
                              batch_size=len(batch))
    t_render = clock() - t

    if config.reference == "renderer":
        references = renders[len(names) * num_experts + 1:]
    t = clock()
    # candidates: M*E aligned proposals then the neutral render once per expert
    candidates = np.concatenate([renders[:len(names) * num_experts],
                                 np.repeat(renders[len(names) * num_experts][None], num_experts, axis=0)])
    mean, rms = lab_errors(candidates, references, np.tile(np.arange(num_experts), len(names) + 1),
                           device=config.device)
    t_lab = clock() - t
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(rms))):
        raise ValueError(f"non-finite LAB error for photo {photo_id}")

    evaluation, predictions = [], []
    base = {"photo_id": photo_id, "reference": config.reference, "size": int(config.size)}
    for i, name in enumerate(names + [NO_ADJUSTMENT]):
        for e, expert in enumerate(experts):
            k = i * num_experts + e
            if name == NO_ADJUSTMENT:
                proposal, sliders = -1, neutral
            else:
                proposal = int(aligned[name][e])
                sliders = drawn[name].lightroom[proposal]
            evaluation.append({**base, "model": name, "expert": expert, "proposal": proposal,
                               "lab_error": float(mean[k]), "lab_rms": float(rms[k]),
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


def summarise(evaluation: pa.Table | list[dict[str, Any]]) -> dict[str, dict[str, float | int]]:
    """Per model (and no_adjustment): lab_mean, lab_se (s.e. over photos), lab_rms_mean, photos.

    Each photo counts once: its LAB error is the mean over the experts of that photo's rows.
    """
    table = evaluation if isinstance(evaluation, pa.Table) else pa.Table.from_pylist(list(evaluation))
    if table.num_rows == 0:
        return {}
    models = np.asarray(table.column("model").to_pylist())
    photos = np.asarray(table.column("photo_id").to_pylist())
    lab = table.column("lab_error").to_numpy()
    rms = table.column("lab_rms").to_numpy()
    out = {}
    for name in sorted(set(models.tolist())):
        sel = models == name
        mean, se, count = grouped_mean_se(lab[sel], photos[sel])
        rms_mean, _, _ = grouped_mean_se(rms[sel], photos[sel])
        out[name] = {"lab_mean": mean, "lab_se": se, "lab_rms_mean": rms_mean, "photos": count}
    return out


def summary_table(models: Mapping[str, Mapping[str, float | int]]) -> str:
    """Markdown table of summarise() output, best (lowest LAB error) first."""
    lines = ["| model | LAB ΔE76 mean ± s.e. | RMS ΔE76 | photos |", "| --- | --- | --- | --- |"]
    for name, m in sorted(models.items(), key=lambda kv: kv[1]["lab_mean"]):
        lines.append(f"| {name} | {m['lab_mean']:.2f} ± {m['lab_se']:.2f} | {m['lab_rms_mean']:.2f} | {m['photos']} |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------ Beam wiring

class EvaluatePhotos(beam.DoFn):
    """(photo_id, {photo, edits, features}) -> EVALUATION rows; PREDICTIONS rows and errors tagged."""

    def __init__(self, config: EvaluateConfig):
        self._config = config

    def setup(self) -> None:
        from rendering.renderer import PhotoRenderer

        self._models = {name: load_model(folder, device=self._config.device)[0]
                        for name, folder in self._config.models}
        self._renderer = PhotoRenderer(device=self._config.device)
        self._photos = beam.metrics.Metrics.counter(STAGE, "photos")
        self._rows = beam.metrics.Metrics.counter(STAGE, "evaluation_rows")
        self._predictions = beam.metrics.Metrics.counter(STAGE, "predictions")
        self._skipped = beam.metrics.Metrics.counter(STAGE, "skipped_not_in_split")
        self._progress = WorkerProgress(log, "evaluate: %d photos done by this worker")

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
            result = evaluate_photo(row, edits, fc7, self._models, self._renderer, self._config)
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


class EvaluateSplit(beam.PTransform):
    """(photos, edits, features) rows -> (evaluation rows, predictions rows, error rows)."""

    def __init__(self, config: EvaluateConfig):
        super().__init__()
        self._config = config

    def expand(self, inputs: tuple[beam.PCollection, beam.PCollection, beam.PCollection]):
        photos, edits, features = inputs
        split, experts = self._config.split, set(self._config.experts)
        joined = ({"photo": photos | "InSplit" >> beam.Filter(lambda r: r["split"] == split)
                   | "KeyPhotos" >> beam.Map(lambda r: (r["photo_id"], r)),
                   "edits": edits | "ChosenExperts" >> beam.Filter(lambda r: r["editor"] in experts)
                   | "KeyEdits" >> beam.Map(lambda r: (r["photo_id"], r)),
                   "features": features | "Variant0" >> beam.Filter(lambda r: int(r["variant"]) == 0)
                   | "KeyFeatures" >> beam.Map(lambda r: (r["photo_id"], r))}
                  | "JoinInputs" >> beam.CoGroupByKey())
        out = joined | "EvaluatePhotos" >> beam.ParDo(EvaluatePhotos(self._config)).with_outputs(
            PREDICTIONS_TAG, ERRORS_TAG, main="evaluation")
        return out.evaluation, out[PREDICTIONS_TAG], out[ERRORS_TAG]


# ------------------------------------------------------------------------------ driver

def model_folders(layout: DatasetLayout, names: Sequence[str]) -> list[tuple[str, str]]:
    """(name, folder) of the requested models that have a config.json; missing ones are warned about."""
    found = []
    for name in names:
        folder = layout.model_dir(name)
        if FileSystems.exists(FileSystems.join(folder, "config.json")):
            found.append((name, folder))
        else:
            log.warning("evaluate: no trained model %s under %s (run `photoedit train --model %s`); skipped",
                        name, folder, name)
    return found


def choose_experts(layout: DatasetLayout, k: int = 3) -> list[str]:
    """The k most diverse experts (modeling.alignment.most_diverse_experts) from the train-split edits."""
    edits = read_table(layout.edits, columns=["photo_id", "editor", "editor_kind", *SLIDER_KEYS])
    photos = read_table(layout.photos, columns=["photo_id", "split"])
    split_of = dict(zip(photos.column("photo_id").to_pylist(), photos.column("split").to_pylist()))
    rows = [r for r in edits.to_pylist() if r["editor_kind"] == "expert"]
    train = [r for r in rows if split_of.get(r["photo_id"]) == "train"]
    if not train:
        log.warning("evaluate: no train-split expert edits; choosing experts from all splits")
        train = rows
    by_photo: dict[str, dict[str, np.ndarray]] = {}
    for r in train:
        sliders = np.array([r[k_] for k_ in SLIDER_KEYS], dtype=np.float64)    # None -> NaN
        by_photo.setdefault(r["photo_id"], {})[r["editor"]] = sliders
    editors = sorted({r["editor"] for r in train})
    shared = sorted(p for p, e in by_photo.items() if len(e) == len(editors))
    if not shared:
        raise SystemExit("photoedit evaluate: no photo was edited by every expert; pass --experts")
    arrays = {e: np.clip(PROCESS_2003.to_model(np.stack([by_photo[p][e] for p in shared])), -1.0, 1.0)
              for e in editors}
    chosen = most_diverse_experts(arrays, k=k)
    log.info("evaluate: experts %s chosen as the %d most diverse of %s over %d train photos",
             ",".join(chosen), len(chosen), ",".join(editors), len(shared))
    return chosen


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="photoedit evaluate",
        description="Per photo of a split and per trained model: draw P proposals, align them one-to-one to\n"
                    "the experts (minimum total mean-squared model-space slider difference, Hungarian),\n"
                    "render them from the raw and measure the mean and RMS per-pixel CIE-LAB dE76 (D50)\n"
                    "against each expert's rendition; no_adjustment rows compare the as-shot render.\n"
                    "Writes evaluation/, predictions/, errors/evaluate/ and evaluation/_summary.json.",
        epilog=BEAM_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, help="dataset root (local path or gs://...)")
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS),
                        help="comma-separated model folders under <dataset>/models (default %(default)s; "
                             "missing ones are skipped with a warning)")
    parser.add_argument("--proposals", type=int, default=20, help="proposals P drawn per photo and model (default 20)")
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
    parser.add_argument("--verbose", action="store_true")
    return parser


def run(argv: list[str] | None = None) -> int:
    """Entry point of `photoedit evaluate`; returns 0 (failed photos are rows in errors/evaluate), 1 if no model."""
    parser = build_parser()
    args, beam_args = split_args(parser, argv)
    configure_logging(args.verbose)
    if args.reference == "tiff" and not args.tiff_root:
        parser.error("--reference tiff needs --tiff-root")
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(sorted(MODELS))}")
    layout = DatasetLayout(args.dataset)
    models = model_folders(layout, names)
    if not models:
        print(f"photoedit evaluate: none of the models {', '.join(names)} is trained under {layout.models}",
              file=sys.stderr)
        return 1
    if args.experts == "auto":
        experts = choose_experts(layout)
    else:
        experts = [e.strip() for e in args.experts.split(",") if e.strip()]
        known = set(read_table(layout.edits, columns=["editor"]).column("editor").to_pylist())
        unknown = ", ".join(sorted(set(experts) - known))
        if not experts or unknown:
            parser.error(f"--experts {args.experts}: unknown editor(s) {unknown or '(none given)'}; "
                         f"edits/ has {', '.join(sorted(known))}")
    if args.proposals < len(experts):
        parser.error(f"--proposals {args.proposals} < {len(experts)} experts: alignment is one-to-one")
    config = EvaluateConfig(models=tuple(models), experts=tuple(experts), proposals=args.proposals,
                            size=args.size, reference=args.reference, tiff_root=args.tiff_root,
                            device=args.device, seed=args.seed, split=args.split)
    log.info("evaluate: %s", config)
    for folder in (layout.evaluation, layout.predictions):
        clear_folder(folder)

    with beam.Pipeline(options=beam_options(beam_args)) as pipeline:
        photos = pipeline | "ReadPhotos" >> beam.io.ReadFromParquet(FileSystems.join(layout.photos, "*.parquet"))
        edits = pipeline | "ReadEdits" >> beam.io.ReadFromParquet(
            FileSystems.join(layout.edits, "*.parquet"), columns=["photo_id", "editor", *SLIDER_KEYS, "tone_curve"])
        features = pipeline | "ReadFeatures" >> beam.io.ReadFromParquet(
            FileSystems.join(layout.features, "*.parquet"), columns=["photo_id", "variant", "fc7"])
        evaluation, predictions, errors = (photos, edits, features) | "Evaluate" >> EvaluateSplit(config)
        write_rows(evaluation, layout.evaluation, EVALUATION, label="WriteEvaluation")
        write_rows(predictions, layout.predictions, PREDICTIONS, label="WritePredictions")
        write_errors(errors, layout, STAGE)
    counters = stage_counters(pipeline.result, STAGE)

    table = read_table(layout.evaluation, required=False)
    summary = summarise(table)
    write_json(FileSystems.join(layout.evaluation, "_summary.json"),
               {"models": summary, "experts": experts, "proposals": args.proposals, "size": args.size,
                "reference": args.reference, "split": args.split, "seed": args.seed})
    if summary:
        log.info("evaluate: LAB error vs experts %s (%s reference, %d px, P=%d)\n%s", ",".join(experts),
                 args.reference, args.size, args.proposals, summary_table(summary))
    photos_done = max((m["photos"] for m in summary.values()), default=0)
    print(f"evaluate: {photos_done} {args.split} photos x {len(models)} models x {len(experts)} experts, "
          f"{counters.get('errors', 0)} errors -> {layout.evaluation}")
    return 0
