"""`photoedit demo`: the whole pipeline on a sample it generates itself, on Beam's in-process runner.

sample (FiveK-shaped tree: DNGs, Lightroom catalog, expert TIFFs) -> ingest -> augment -> features
(VGG-16 with RANDOM weights) -> train the five models (--seeds training seeds each) -> evaluate-models
(LL, JSD: mean ± s.d. over seeds) -> evaluate (LAB error of re-rendered proposals, P = 20 and 3, and the
feature-blind floor) -> report. Restartable: a rerun skips stages already done with the
same settings (markers in OUT/_stages/) unless --force.
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import time
from dataclasses import dataclass
from typing import Callable, Sequence

from modeling.registry import MODEL_ORDER
from pipelines.core import storage
from pipelines.core.console import configure_logging
from pipelines.core.layout import DatasetLayout

log = logging.getLogger(__name__)
DEFAULT_DEMO_SEEDS = 3   # Table 1 over >= 3 training seeds


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="photoedit demo",
        description="The whole pipeline end to end on a sample it generates: photoedit sample (FiveK-shaped "
                    "tree under OUT/fivek: DNGs, Lightroom catalog, expert TIFFs) -> ingest -> augment -> "
                    "features (VGG-16 with RANDOM weights: the features are meaningless, the plumbing is real) "
                    "-> train MLP, MDN, LBN, CGM-VAE, P-VAE (--seeds training seeds each) -> evaluate-models (LL, "
                    "JSD, mean ± s.d. over seeds) -> evaluate (LAB error of re-rendered proposals vs the experts, "
                    "P = 20 and P = 3, and the feature-blind floor) -> report (OUT/report/index.html). A rerun "
                    "skips stages already done with the same settings (markers in OUT/_stages/) unless --force.",
        epilog="Real data: see README, 'Real data' -- photoedit ingest --fivek <folder holding raw_photos/> "
               "then augment, features --weights <vgg16_weights_tf_dim_ordering_tf_kernels.h5>, train, "
               "evaluate, report. Unknown flags are Beam pipeline options for every Beam stage.")
    p.add_argument("--out", default="photoedit-demo", help="dataset root to create (default ./photoedit-demo)")
    p.add_argument("--photos", type=int, default=250, help="photos to generate (default 250, 5 experts each)")
    p.add_argument("--users", type=int, default=8, help="casual users with their own edits (default 8)")
    p.add_argument("--size", type=int, default=128, help="long side of rendered images in px (default 128)")
    p.add_argument("--epochs", type=int, default=30, help="training epochs per model (default 30)")
    p.add_argument("--seeds", type=int, default=DEFAULT_DEMO_SEEDS,
                   help="training seeds per model, for Table 1's mean ± s.d. over seeds (default %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force", action="store_true", help="rerun every stage even if done")
    p.add_argument("--verbose", action="store_true", help="every log line, Beam's, TensorFlow's and the workers' too")
    return p


@dataclass(frozen=True)
class DemoConfig:
    """The demo's settings: output root, sample size (photos, users), image long side (px), epochs, seed."""

    out: str
    photos: int = 250
    users: int = 8
    size: int = 128
    epochs: int = 30
    seed: int = 0
    force: bool = False
    seeds: int = DEFAULT_DEMO_SEEDS

    def __post_init__(self) -> None:
        if self.photos < 10:
            raise ValueError(f"--photos must be at least 10 (train, validation and test splits), got {self.photos}")
        if self.size < 16 or self.epochs < 1 or self.users < 0 or self.seeds < 1:
            raise ValueError("--size must be >= 16, --epochs >= 1, --users >= 0, --seeds >= 1")

    @property
    def root(self) -> str:
        return os.path.abspath(self.out)

    @property
    def fivek(self) -> str:
        return os.path.join(self.root, "fivek")


@dataclass(frozen=True)
class Stage:
    """One demo stage: name, the settings its marker records, and the work (raises on failure)."""

    name: str
    settings: dict
    work: Callable[[], object]


def demo_stages(config: DemoConfig, beam_args: Sequence[str]) -> list[Stage]:
    """The demo's stages in order, each calling a stage's config and function."""
    from modeling.train_run import TrainSettings
    from modeling.training import TrainConfig
    from pipelines.commands import evaluate_models
    from pipelines.commands import train as train_command
    from pipelines.fivek.sample.generator import generate_sample
    from pipelines.jobs import augment, evaluate, features, ingest
    from pipelines.report import build as report

    root, seed = config.root, config.seed
    layout = DatasetLayout(root)

    def sample() -> None:
        shutil.rmtree(config.fivek, ignore_errors=True)         # a half-written sample from an interrupted run
        generate_sample(config.fivek, photos=config.photos, seed=seed, users=config.users)

    def train(name: str) -> None:
        settings = TrainSettings(name, train_command.model_kwargs(name),
                                 TrainConfig(epochs=config.epochs, patience=8, seed=seed, progress=False))
        _, result = train_command.train_model(train_command.TrainRequest(dataset=root, settings=settings,
                                                                         seeds=config.seeds))
        log.info("%s", result.splitlines()[-1])

    def compare() -> None:
        _, table = evaluate_models.compare_models(evaluate_models.EvaluateModelsConfig(dataset=root, seed=seed))
        log.info("%s", table)

    def evaluate_lab() -> None:
        experts = evaluate.resolve_experts(layout, "auto")
        measure = evaluate.EvaluateConfig(experts=tuple(experts), size=config.size, seed=seed,
                                          few_proposals=evaluate.few_proposals(None, len(experts), 20))
        evaluate.run_job(evaluate.EvaluateJobConfig(
            dataset=root, models=tuple(evaluate.model_folders(layout, MODEL_ORDER)), measure=measure,
            floor=evaluate.fit_floor_spec(root, seed)), beam_args)

    epochs = {"epochs": config.epochs, "seed": seed, "seeds": config.seeds}
    return [
        Stage("sample", {"photos": config.photos, "users": config.users, "seed": seed}, sample),
        Stage("ingest", {}, lambda: ingest.run_job(ingest.IngestJobConfig(fivek=config.fivek, out=root), beam_args)),
        Stage("augment", {"size": config.size, "seed": seed}, lambda: augment.run_job(
            augment.AugmentConfig(dataset=root, size=config.size, seed=seed), beam_args)),
        Stage("features", {"weights": "random"}, lambda: features.run_job(
            features.FeaturesJobConfig(dataset=root), beam_args)),
        *[Stage(f"train-{name}", epochs, lambda name=name: train(name)) for name in MODEL_ORDER],
        Stage("evaluate-models", epochs, compare),
        Stage("evaluate", {"size": config.size, **epochs}, evaluate_lab),
        Stage("report", {"size": config.size, **epochs}, lambda: report.report(
            report.ReportConfig(dataset=root, out=layout.report))),
    ]


def run_stage(layout: DatasetLayout, stage: Stage, number: int, count: int, force: bool) -> bool:
    """Run one stage unless its marker says it finished with the same settings; True when it ran."""
    marker = layout.stage_marker(stage.name)
    if not force and storage.exists(marker):
        try:
            done = storage.read_json(marker)
        except ValueError:
            done = {}
        if done.get("config") == stage.settings:
            log.info("[%d/%d] %s: done before, skipped (--force reruns it)", number, count, stage.name)
            return False
    log.info("[%d/%d] %s", number, count, stage.name)
    started = time.monotonic()
    stage.work()
    storage.write_json(marker, {"config": stage.settings, "seconds": round(time.monotonic() - started, 1)})
    return True


def run_demo(config: DemoConfig, beam_args: Sequence[str] = ()) -> float:
    """Every stage of the demo (markers make a rerun skip finished ones); returns the seconds it took."""
    layout = DatasetLayout(config.root)
    started = time.monotonic()
    stages = demo_stages(config, beam_args)
    for number, stage in enumerate(stages, 1):
        run_stage(layout, stage, number, len(stages), config.force)
    return time.monotonic() - started


def where_it_went(config: DemoConfig, seconds: float) -> str:
    """The demo's closing lines: the report, the data, the sample and the logs."""
    layout = DatasetLayout(config.root)
    return (f"photoedit demo finished in {seconds:.0f} s.\n"
            f"  report:  {storage.join(layout.report, 'index.html')}  (and report.md)\n"
            f"  data:    {layout.root}/{{photos,edits,variants,variant_edits,features,models,evaluation,"
            f"predictions,errors}}/\n"
            f"  sample:  {config.fivek}/ (FiveK-shaped: raw_photos/, fivek.lrcat, tiff16_a..e/)\n"
            f"  logs:    {layout.logs}/\n")


def run(argv: list[str] | None = None) -> int:
    """`photoedit demo`: 0 on success, 1 when a stage fails (its error is logged), 2 on bad flags."""
    parser = _parser()
    args, beam_args = parser.parse_known_args(argv)
    try:
        config = DemoConfig(out=args.out, photos=args.photos, users=args.users, size=args.size,
                            epochs=args.epochs, seed=args.seed, force=args.force, seeds=args.seeds)
    except ValueError as exc:
        parser.error(str(exc))
    configure_logging(args.verbose, DatasetLayout(config.root).logs, "demo")
    try:
        seconds = run_demo(config, beam_args)
    except Exception as exc:   # a failed stage: one line, the traceback is in the log file
        log.debug("demo failed", exc_info=True)
        log.error("photoedit demo: %s: %s", type(exc).__name__, exc)
        return 1
    sys.stdout.write(where_it_went(config, seconds))
    return 0
