"""Known-answer benchmark of the five models: datasets in our Parquet contract whose p(y | x) is known
exactly (modeling.known_answer), every model trained and tuned by the code path of `photoedit
train --search` (modeling.train_run.run_training, the same trials for every model), and a table
per regime: LL - truth (nats/edit, paired s.e. over photos), JSD, LAB-free slider error, against
the exact truth and a feature-blind mixture floor scored with the same likelihood.

    python benchmarks/science.py                       # every regime, full size (hours on 1 core)
    python benchmarks/science.py --quick               # small smoke run (minutes)
    python benchmarks/science.py --regimes separated --photos 1000 --trials 4

Prints the tables and writes them to --results (Markdown) and <out>/science.json.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
import time

import numpy as np
import pyarrow as pa
import torch

sys.path.insert(0, __file__.rsplit("/benchmarks/", 1)[0])

from modeling.comparison import paired_difference, score_all  # noqa: E402
from modeling.known_answer import EDITORS, REGIMES, KnownAnswer  # noqa: E402
from modeling.likelihood import LIGHTROOM_STEPS  # noqa: E402
from modeling.metrics import grouped_mean_se, score_model  # noqa: E402
from modeling.registry import MODEL_ORDER  # noqa: E402
from modeling.search import DEFAULTS, default_kwargs  # noqa: E402
from modeling.splits import split_for  # noqa: E402
from modeling.train_run import TrainSettings, run_training, split_edits  # noqa: E402
from modeling.training import TrainConfig  # noqa: E402
from pipelines.core.layout import DatasetLayout  # noqa: E402
from pipelines.core.model_store import ModelFolder, read_edits  # noqa: E402
from pipelines.core.parquet_io import write_table  # noqa: E402
from pipelines.core.schemas import PHOTOS, VARIANT_EDITS, features_schema  # noqa: E402
from rendering.sliders import PROCESS_2003  # noqa: E402

log = logging.getLogger("science")
FIXED_ROW = "truth, fixed p(s)"   # the true styles with photo-independent weights (a reference)
PHOTO_PRIOR_ROW = "cgmvae p(s|x)"  # --photo-prior: the CGM-VAE ablation with a photo-dependent cluster prior


def write_dataset(root: str, truth: KnownAnswer, photos: int, seed: int) -> None:
    """photos/, features/ and variant_edits/ (one variant per photo, five experts) drawn from `truth`."""
    x = truth.features(photos, seed)
    ids = [f"k{seed}_{i:05d}" for i in range(photos)]
    editors = torch.arange(photos * len(EDITORS)) % len(EDITORS)
    y = truth.sample_edits(x.repeat_interleave(len(EDITORS), 0), editors, torch.Generator().manual_seed(seed + 7))
    lightroom = PROCESS_2003.from_model(y.double().numpy())
    steps = np.array([LIGHTROOM_STEPS[s.key] for s in PROCESS_2003.sliders])
    if truth.regime.atoms:  # stored as Lightroom stores them (Temperature stays continuous)
        lightroom[:, 1:] = np.round(lightroom[:, 1:] / steps[1:]) * steps[1:]
    photo_rows = [{"photo_id": p, "file_name": p, "raw_uri": f"/known/{p}.dng", "camera_make": None,
                   "camera_model": None, "location": None, "time": None, "light": None, "subject": None,
                   "split": split_for(p), "as_shot_temperature": 5000.0, "as_shot_tint": 0.0} for p in ids]
    feature_rows = {"image_id": [f"{p}_v0" for p in ids], "photo_id": ids, "variant": [0] * photos,
                    "fc7": [row.tolist() for row in x.numpy()]}
    edit_rows = [{"image_id": f"{ids[i // 5]}_v0", "photo_id": ids[i // 5], "variant": 0,
                  "editor": EDITORS[i % 5], "editor_kind": "expert", **PROCESS_2003.to_mapping(lightroom[i]),
                  "tone_curve": None} for i in range(len(lightroom))]
    layout = DatasetLayout(root)
    write_table(pa.Table.from_pylist(photo_rows, schema=PHOTOS), layout.photos)
    write_table(pa.Table.from_pydict(feature_rows, schema=features_schema(truth.regime.feature_dim)), layout.features)
    write_table(pa.Table.from_pylist(edit_rows, schema=VARIANT_EDITS), layout.variant_edits)


def personalisation_ceiling(truth: KnownAnswer, data) -> dict:
    """Mean and s.e. over photos of log p(y | x, editor) - log p(y | x) (nats/edit): the most any user model can gain."""
    editors = torch.tensor([EDITORS.index(e) for e in data.editors])
    gain = (truth.log_prob_given_editor(data.x, data.y, editors) - truth.log_likelihood(data.x, data.y)).double()
    mean, se, _ = grouped_mean_se(gain.numpy(), data.photo_ids)
    return {"gain": mean, "gain_se": se}


def setting_text(run) -> str:
    """The kept setting of a run, compactly."""
    k = run.kwargs
    parts = [f"h{k['hidden']}x{k['layers']}", f"proj {k['projection_dim'] or '-'}", f"drop {k['input_dropout']}",
             f"wd {run.config.weight_decay:g}"]
    if "components" in k:
        parts.append(f"K={k['components']}")
    if "num_clusters" in k:
        parts.append(f"L={k['num_clusters']} z={k['latent_dim']}")
    return ", ".join(parts) + f", epoch {run.result.best_epoch}"


def reference_text(label: str, scores) -> str:
    """The 'kept setting' cell of a reference row (truth, fixed-weight truth, floor)."""
    if label == "floor":
        return f"K={scores.summary['components']} (EM)"
    return "true styles, weights averaged over the train photos" if label == FIXED_ROW else "exact p(y|x)"


def run_regime(name: str, args: argparse.Namespace) -> dict:
    """Generate, write, train every model, score; returns the regime's JSON-ready results."""
    regime = REGIMES[name]
    if args.quick and regime.feature_dim > 256:
        regime = dataclasses.replace(regime, feature_dim=256)
    if args.weight_strength is not None:
        regime = dataclasses.replace(regime, weight_strength=args.weight_strength)
    truth = KnownAnswer(regime)
    root = os.path.join(args.out, name)
    write_dataset(root, truth, args.photos, seed=args.seed + 1)
    data = read_edits(root)
    train_data, val_data, test_data = split_edits(data)
    config = TrainConfig(epochs=args.epochs, patience=args.patience, seed=args.seed, progress=False,
                         weight_decay=DEFAULTS["weight_decay"])
    runs, seconds = {}, {}
    entries = [(m, m, m, default_kwargs(m)) for m in args.models]   # (row, model, folder, kwargs)
    if args.photo_prior:  # the same search, the CGM-VAE with p(s | x) instead of the paper's pi
        entries.append((PHOTO_PRIOR_ROW, "cgmvae", "cgmvae_photo_prior",
                        {**default_kwargs("cgmvae"), "cluster_prior": "photo"}))
    for label, model, folder, kwargs in entries:
        t0 = time.perf_counter()
        runs[label] = run_training(data, TrainSettings(model, kwargs, config, trials=args.trials,
                                                       is_samples=args.is_samples),
                                   store=ModelFolder(os.path.join(root, "models", folder)), provenance={"dataset": root})
        seconds[label] = time.perf_counter() - t0
        log.info("%s %s: %s (%.0f s)", name, label, runs[label].selection, seconds[label])
    scores, floor = score_all({m: r.model for m, r in runs.items()}, train_data, val_data, test_data,
                              args.is_samples, seed=args.seed)
    exact = score_model(truth, test_data, seed=args.seed)
    fixed = score_model(truth.with_fixed_weights(train_data.image_features()), test_data, seed=args.seed)
    rows = []
    for label, s in [("truth", exact), (FIXED_ROW, fixed), *scores.items(), ("floor", floor)]:
        gap = paired_difference(s, exact, "ll", test_data.photo_ids)
        conv = s.summary["ll_convergence"]
        rows.append({"model": label, "ll": s.summary["ll"], "ll_minus_truth": gap.value, "ll_minus_truth_se": gap.se,
                     "jsd": s.summary["jsd"], "jsd_se": s.summary["jsd_se"],
                     "jsd_per_slider": s.summary["jsd_per_slider"],
                     "slider_error": s.summary["slider_error"], "slider_error_se": s.summary["slider_error_se"],
                     "ll_samples": s.summary["ll_num_samples"], "converged": conv["converged"],
                     "last_doubling_change": conv.get("last_doubling_change"),
                     "setting": setting_text(runs[label]) if label in runs else reference_text(label, s),
                     "seconds": seconds.get(label)})
    curve = runs["pvae"].curve if "pvae" in runs else None
    override = "" if args.weight_strength is None else f" (style-weight strength set to {args.weight_strength:g})"
    return {"regime": name, "description": regime.description + override, "feature_dim": regime.feature_dim,
            "photos": args.photos, "edits": {"train": len(train_data), "validation": len(val_data),
                                             "test": len(test_data)},
            "rows": rows, "pvae_curve": curve, "personalisation_ceiling": personalisation_ceiling(truth, test_data),
            "search": {m: r.search_rows for m, r in runs.items()}}


def table(result: dict) -> str:
    """Markdown table of one regime."""
    e = result["edits"]
    lines = [f"### {result['regime']}: {result['description']}", "",
             f"{result['photos']} photos x 5 editors, {result['feature_dim']}-d features; edits train / validation / "
             f"test {e['train']} / {e['validation']} / {e['test']}. Truth LL "
             f"{result['rows'][0]['ll']:.3f} nats/edit.", "",
             "| model | LL - truth (nats/edit) | JSD (bits) | slider error | IS converged | kept setting |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in result["rows"]:
        conv = "exact" if r["ll_samples"] == 1 else (f"{'yes' if r['converged'] else 'no'} "
                                                    f"(S={r['ll_samples']}, last x2 {r['last_doubling_change']:.3f})")
        lines.append(f"| {r['model']} | {r['ll_minus_truth']:+.3f} ± {r['ll_minus_truth_se']:.3f} | "
                     f"{r['jsd']:.4f} ± {r['jsd_se']:.4f} | {r['slider_error']:.4f} ± {r['slider_error_se']:.4f} | "
                     f"{conv} | {r['setting']} |")
    curve, ceiling = result.get("pvae_curve"), result.get("personalisation_ceiling")
    if ceiling:
        lines.append(f"\nEditor known (the truth's ceiling on any personalisation gain): "
                     f"{ceiling['gain']:+.3f} ± {ceiling['gain_se']:.3f} nats/edit")
    if curve and curve.get("history"):
        ks = [k for k in (1, 2, 5, 10, 20, 30) if k < len(curve["history"])]
        for kind in ("exact", "amortised"):
            c = curve[kind]
            lines.append(f"\nP-VAE LL_k - LL_0 ({kind} posterior, {curve['users']} test users): " + ", ".join(
                f"k={k}: {c['gain'][k]:+.3f} ± {c['gain_se'][k]:.3f}" for k in ks))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--regimes", nargs="*", default=list(REGIMES), choices=list(REGIMES))
    p.add_argument("--models", nargs="*", default=list(MODEL_ORDER), choices=list(MODEL_ORDER))
    p.add_argument("--photos", type=int, default=3000, help="photos per regime (5 edits each; default 3000)")
    p.add_argument("--trials", type=int, default=6, help="search trials per model (default 6)")
    p.add_argument("--epochs", type=int, default=60, help="maximum epochs per trial (default 60)")
    p.add_argument("--patience", type=int, default=8)
    p.add_argument("--is-samples", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--weight-strength", type=float, default=None,
                   help="override the regimes' style-weight strength (0: style weights do not depend on the photo)")
    p.add_argument("--photo-prior", action="store_true",
                   help=f"also train the CGM-VAE with a photo-dependent cluster prior p(s | x) (row '{PHOTO_PRIOR_ROW}'; "
                        "not the paper's model) by the same search")
    p.add_argument("--quick", action="store_true", help="smoke run: 300 photos, 2 trials, 4 epochs, 256-d features")
    p.add_argument("--out", default="science-benchmark", help="datasets and models (default ./science-benchmark)")
    p.add_argument("--results", default=None, help="also write the tables to this Markdown file")
    args = p.parse_args(argv)
    if args.quick:
        args.photos, args.trials, args.epochs = 300, 2, 4
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", force=True)
    results = [run_regime(name, args) for name in args.regimes]
    text = (f"Known-answer benchmark: `python benchmarks/science.py {' '.join(argv or sys.argv[1:])}` "
            f"({args.trials} search trials per model, <= {args.epochs} epochs, patience {args.patience}, "
            f"IS samples {args.is_samples}).\n\n" + "\n".join(table(r) for r in results))
    print(text)
    with open(os.path.join(args.out, "science.json"), "w") as f:
        json.dump(results, f, indent=1)
    if args.results:
        with open(args.results, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
