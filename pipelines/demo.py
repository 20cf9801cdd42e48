"""`photoedit demo`: the whole pipeline on a sample it generates itself, on Beam's in-process runner.

sample (FiveK-shaped tree: DNGs, Lightroom catalog, expert TIFFs) -> ingest -> augment -> features
(VGG-16 with RANDOM weights) -> train the five models -> evaluate-models (LL, JSD) -> evaluate (LAB
error of re-rendered proposals) -> report. Restartable: a rerun skips stages already done with the
same settings (markers in OUT/_stages/) unless --force.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import time
from typing import Callable

from pipelines.layout import DatasetLayout
from pipelines.options import configure_logging

log = logging.getLogger(__name__)
MODELS = ("mlp", "mdn", "lbn", "cgmvae", "pvae")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="photoedit demo",
        description="The whole pipeline end to end on a sample it generates: photoedit sample (FiveK-shaped "
                    "tree under OUT/fivek: DNGs, Lightroom catalog, expert TIFFs) -> ingest -> augment -> "
                    "features (VGG-16 with RANDOM weights: the features are meaningless, the plumbing is real) "
                    "-> train MLP, MDN, LBN, CGM-VAE, P-VAE -> evaluate-models (LL, JSD) -> evaluate (LAB error "
                    "of re-rendered proposals vs the experts) -> report (OUT/report/index.html). A rerun "
                    "skips stages already done with the same settings (markers in OUT/_stages/) unless --force.",
        epilog="Real data: see README, 'Real data' -- photoedit ingest --fivek <folder holding raw_photos/> "
               "then augment, features --weights <vgg16_weights_tf_dim_ordering_tf_kernels.h5>, train, "
               "evaluate, report. Unknown flags are Beam pipeline options for every Beam stage.")
    p.add_argument("--out", default="photoedit-demo", help="dataset root to create (default ./photoedit-demo)")
    p.add_argument("--photos", type=int, default=250, help="photos to generate (default 250, 5 experts each)")
    p.add_argument("--users", type=int, default=8, help="casual users with their own edits (default 8)")
    p.add_argument("--size", type=int, default=128, help="long side of rendered images in px (default 128)")
    p.add_argument("--epochs", type=int, default=30, help="training epochs per model (default 30)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force", action="store_true", help="rerun every stage even if done")
    p.add_argument("--verbose", action="store_true")
    return p


def _stage(layout: DatasetLayout, name: str, config: dict, force: bool, work: Callable[[], int]) -> None:
    """Run one stage unless its marker says it finished with the same config."""
    marker = os.path.join(layout.root, "_stages", f"{name}.json")
    if not force and os.path.isfile(marker):
        with open(marker) as f:
            if json.load(f).get("config") == config:
                log.info("stage %s already done, skipping (use --force to rerun)", name)
                return
    started = time.time()
    log.info("stage %s ...", name)
    rc = work()
    if rc:
        raise SystemExit(f"photoedit demo: stage {name} failed with exit code {rc}")
    os.makedirs(os.path.dirname(marker), exist_ok=True)
    with open(marker, "w") as f:
        json.dump({"config": config, "seconds": round(time.time() - started, 1)}, f)
    log.info("stage %s done in %.1f s", name, time.time() - started)


def run(argv: list[str] | None = None) -> int:
    """Run the demo; returns 0 on success."""
    args, beam_args = _parser().parse_known_args(argv)
    configure_logging(args.verbose)
    from pipelines import augment, evaluate, features_job, ingest, report, sample, train_cli

    root = os.path.abspath(args.out)
    fivek = os.path.join(root, "fivek")
    layout = DatasetLayout(root)
    started = time.time()
    seed = ["--seed", str(args.seed)]

    def generate() -> int:
        shutil.rmtree(fivek, ignore_errors=True)         # a half-written sample from an interrupted run
        return sample.run(["--photos", str(args.photos), "--users", str(args.users), "--out", fivek, *seed])

    _stage(layout, "sample", {"photos": args.photos, "users": args.users, "seed": args.seed}, args.force, generate)
    _stage(layout, "ingest", {}, args.force, lambda: ingest.run(["--fivek", fivek, "--out", root, *beam_args]))
    _stage(layout, "augment", {"size": args.size, "seed": args.seed}, args.force, lambda: augment.run(
        ["--dataset", root, "--size", str(args.size), *seed, *beam_args]))
    _stage(layout, "features", {"weights": "random"}, args.force, lambda: features_job.run(
        ["--dataset", root, "--weights", "random", *beam_args]))
    for name in MODELS:
        _stage(layout, f"train-{name}", {"epochs": args.epochs, "seed": args.seed}, args.force,
               lambda name=name: train_cli.run(["--dataset", root, "--model", name, "--epochs", str(args.epochs),
                                                "--patience", "8", *seed, "--no-progress"]))
    _stage(layout, "evaluate-models", {"epochs": args.epochs, "seed": args.seed}, args.force,
           lambda: train_cli.run_evaluate_models(["--dataset", root, *seed]))
    _stage(layout, "evaluate", {"size": args.size, "seed": args.seed, "epochs": args.epochs}, args.force,
           lambda: evaluate.run(["--dataset", root, "--size", str(args.size), *seed, *beam_args]))
    _stage(layout, "report", {"size": args.size, "seed": args.seed, "epochs": args.epochs}, args.force,
           lambda: report.run(["--dataset", root]))
    print(f"\nphotoedit demo finished in {time.time() - started:.0f} s.\n"
          f"  report:  {layout.path('report', 'index.html')}  (and report.md)\n"
          f"  data:    {root}/{{photos,edits,variants,variant_edits,features,models,evaluation,predictions,errors}}/\n"
          f"  sample:  {fivek}/ (FiveK-shaped: raw_photos/, fivek.lrcat, tiff16_a..e/)")
    return 0


if __name__ == "__main__":
    sys.exit(run())
