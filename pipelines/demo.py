"""`photoedit demo`: generate a small dataset, then augment -> features -> train all five models ->
evaluate them, on Beam's in-process runner; restartable (a rerun skips finished stages)."""
from __future__ import annotations

import argparse
import json
import logging
import os
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
        description="End to end on a generated sample: DNGs + expert edits (generated) -> augment -> "
                    "VGG-16 FC7 features (RANDOM weights: the features are meaningless, the plumbing is "
                    "real) -> train MLP, MDN, LBN, CGM-VAE, P-VAE -> LL / JSD table. A rerun skips stages "
                    "already done (markers in OUT/_stages/) unless --force.",
        epilog="For real data see README, 'Real data': photoedit ingest/augment/features/train with "
               "--weights pointing at Keras' vgg16_weights_tf_dim_ordering_tf_kernels.h5.")
    p.add_argument("--out", default="photoedit-demo", help="dataset root to create (default ./photoedit-demo)")
    p.add_argument("--photos", type=int, default=120, help="photos to generate (default 120, 5 experts each)")
    p.add_argument("--size", type=int, default=128, help="long side of rendered variants in px (default 128)")
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
    from pipelines import augment, features_job, train_cli
    from pipelines.demo_dataset import generate_demo_dataset

    root = os.path.abspath(args.out)
    layout = DatasetLayout(root)
    started = time.time()

    def generate() -> int:
        summary = generate_demo_dataset(root, photos=args.photos, seed=args.seed)
        log.info("generated %d photos, %d expert edits under %s", summary.photos, summary.edits, root)
        return 0

    _stage(layout, "sample", {"photos": args.photos, "seed": args.seed}, args.force, generate)
    _stage(layout, "augment", {"size": args.size, "seed": args.seed}, args.force, lambda: augment.run(
        ["--dataset", root, "--size", str(args.size), "--seed", str(args.seed), *beam_args]))
    _stage(layout, "features", {"weights": "random"}, args.force, lambda: features_job.run(
        ["--dataset", root, "--weights", "random", *beam_args]))
    for name in MODELS:
        _stage(layout, f"train-{name}", {"epochs": args.epochs, "seed": args.seed}, args.force,
               lambda name=name: train_cli.run(["--dataset", root, "--model", name, "--epochs", str(args.epochs),
                                                "--patience", "8", "--seed", str(args.seed), "--no-progress"]))
    rc = train_cli.run_evaluate_models(["--dataset", root, "--seed", str(args.seed)])
    print(f"\nphotoedit demo finished in {time.time() - started:.0f} s. Outputs under {root}: "
          f"photos/ edits/ variants/ variant_edits/ images/ features/ models/ (summary.md), errors/.")
    return rc


if __name__ == "__main__":
    sys.exit(run())
