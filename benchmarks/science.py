"""Known-answer benchmark of the five models: datasets in our Parquet contract whose p(y | x) is known
exactly (modeling.known_answer), every model trained by the code path of `photoedit train`
(modeling.train_run.run_training with the project's defaults; --trials N > 0: the search of
`photoedit train --search`, the same trials for every model), each with several training seeds,
scored against the exact truth and a feature-blind mixture floor with the same likelihood.

Two modes:
  --family N   N problems drawn at run time from the prior of modeling.known_answer_family (the
               seed is drawn from the OS and printed; --family-seed S reproduces a run): one row per
               problem (its settings, LL - truth per model) and a summary (median and worst
               LL - truth, problems within 1 nat, problems below the floor and below floor - 0.2).
  --regimes R  the four named regimes of modeling.known_answer (the default mode), a full table each.
Either way the P-VAE's personalisation curve is printed beside the truth's own curve and its
ceiling E[log p(y | x, editor) - log p(y | x)] (modeling.known_answer.truth_personalisation_curve).

    python benchmarks/science.py --family 20                 # full size: 3000 photos x 5 editors, 3 seeds
    python benchmarks/science.py --family 6 --photos 600 --seeds 1
    python benchmarks/science.py --family 4 --family-seed 1234 --quick
    python benchmarks/science.py --regimes separated --photos 1000 --trials 4

Prints the tables, writes them to --results (Markdown) and <out>/science.json (rewritten after
every problem, so a long run leaves what it has measured).
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
from modeling.input_screening import InputScreening, screen_inputs  # noqa: E402
from modeling.known_answer import EDITORS, REGIMES, KnownAnswer, Regime, truth_personalisation_curve  # noqa: E402
from modeling.known_answer_family import draw_regime  # noqa: E402
from modeling.likelihood import LIGHTROOM_STEPS  # noqa: E402
from modeling.metrics import grouped_mean_se, score_model  # noqa: E402
from modeling.registry import MODEL_ORDER  # noqa: E402
from modeling.search import CONFIG_AXES, DEFAULTS, default_kwargs  # noqa: E402
from modeling.splits import split_for  # noqa: E402
from modeling.train_run import TrainingRun, TrainSettings, run_training, split_edits  # noqa: E402
from modeling.training import TrainConfig  # noqa: E402
from pipelines.core.layout import DatasetLayout  # noqa: E402
from pipelines.core.model_store import ModelFolder, read_edits  # noqa: E402
from pipelines.core.parquet_io import write_table  # noqa: E402
from pipelines.core.schemas import PHOTOS, VARIANT_EDITS, features_schema  # noqa: E402
from rendering.sliders import PROCESS_2003  # noqa: E402

log = logging.getLogger("science")
FIXED_ROW = "truth, fixed p(s)"   # the true styles with photo-independent weights (a reference)
PHOTO_PRIOR_ROW = "cgmvae p(s|x)"  # --photo-prior: the CGM-VAE ablation with a photo-dependent cluster prior
CURVE_KS = (1, 2, 5, 10, 20, 30)   # history sizes shown of each personalisation curve
WITHIN_NATS = 1.0                  # the summary's "within 1 nat of the truth"
FLOOR_MARGIN = 0.2                 # the summary's "below the floor - 0.2"


def write_dataset(root: str, truth: KnownAnswer, photos: int, seed: int) -> None:
    """photos/, features/ and variant_edits/ (one variant per photo, five experts) drawn from `truth`."""
    x = truth.features(photos, seed)
    ids = [f"k{seed}_{i:05d}" for i in range(photos)]
    editors = torch.arange(photos * len(EDITORS)) % len(EDITORS)
    y = truth.sample_edits(x.repeat_interleave(len(EDITORS), 0), editors, torch.Generator().manual_seed(seed + 7))
    lightroom = PROCESS_2003.from_model(y.double().numpy())
    steps = np.array([LIGHTROOM_STEPS[s.key] for s in PROCESS_2003.sliders])
    if truth.regime.on_steps:  # stored as Lightroom stores them (Temperature stays continuous)
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
    editors = torch.tensor([EDITORS.index(e) for e in data.editors], dtype=torch.long)
    gain = (truth.log_prob_given_editor(data.x, data.y, editors) - truth.log_likelihood(data.x, data.y)).double()
    mean, se, _ = grouped_mean_se(gain.numpy(), data.photo_ids)
    return {"gain": mean, "gain_se": se}


def setting_text(run: TrainingRun) -> str:
    """The kept setting of a run, compactly."""
    k = run.kwargs
    parts = [f"h{k.get('hidden')}x{k.get('layers')}", f"proj {k.get('projection_dim') or '-'}",
             f"drop {k.get('input_dropout')}", f"wd {run.config.weight_decay:g}"]
    if getattr(run.config, "input_penalty", 0):
        parts.append(f"input lasso {run.config.input_penalty:g}")
    if k.get("screened"):
        parts.append(f"screened inputs {len(run.metrics['input_screen']['columns'])}")
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


def train_config(args: argparse.Namespace, seed: int) -> TrainConfig:
    """The TrainConfig of `photoedit train` with the benchmark's epochs and patience (defaults of every config axis)."""
    return TrainConfig(epochs=args.epochs, patience=args.patience, seed=seed, progress=False,
                       **{axis: DEFAULTS[axis] for axis in CONFIG_AXES})


def train_models(name: str, data, root: str, args: argparse.Namespace, seeds: list[int]
                 ) -> tuple[dict[str, list[TrainingRun]], dict[str, float], dict[int, InputScreening]]:
    """Every model (row label -> one run per training seed) by run_training, its total seconds, and the
    input screen of each seed (shared by every model of that seed)."""
    entries = [(m, m, m, default_kwargs(m)) for m in args.models]   # (row, model, folder, kwargs)
    if args.photo_prior:  # the same procedure, the CGM-VAE with p(s | x) instead of the paper's pi
        entries.append((PHOTO_PRIOR_ROW, "cgmvae", "cgmvae_photo_prior",
                        {**default_kwargs("cgmvae"), "cluster_prior": "photo"}))
    runs: dict[str, list[TrainingRun]] = {}
    seconds: dict[str, float] = {}
    train_data, val_data, _ = split_edits(data)
    t0 = time.perf_counter()   # the input screen is the same for every model: fitted once per seed, shared
    screens = {seed: screen_inputs(train_data, val_data, train_config(args, seed)) for seed in seeds}
    seconds["input screen"] = time.perf_counter() - t0
    for label, model, folder, kwargs in entries:
        t0 = time.perf_counter()
        for i, seed in enumerate(seeds):
            store = ModelFolder(os.path.join(root, "models", folder if i == 0 else f"{folder}_seed{i}"))
            run = run_training(data, TrainSettings(model, kwargs, train_config(args, seed), trials=args.trials,
                                                   is_samples=args.is_samples, screening=screens[seed]),
                               store=store, provenance={"dataset": root})
            runs.setdefault(label, []).append(run)
            log.info("%s %s (training seed %d): %s", name, label, seed, run.selection)
        seconds[label] = time.perf_counter() - t0
    return runs, seconds, screens


def seed_stats(values: list[float]) -> tuple[float, float | None]:
    """Mean and s.d. over training seeds (s.d. None for one seed)."""
    v = np.asarray(values, dtype=np.float64)
    return float(v.mean()), (float(v.std(ddof=1)) if len(v) > 1 else None)


def score_row(label: str, per_seed: list, exact, test_data, runs: list[TrainingRun] | None,
              seconds: float | None) -> dict:
    """One table row: LL - truth (mean and s.d. over seeds, mean paired s.e. over photos), JSD, slider error."""
    gaps = [paired_difference(s, exact, "ll", test_data.photo_ids) for s in per_seed]
    gap, gap_sd = seed_stats([g.value for g in gaps])
    convs = [s.summary["ll_convergence"] for s in per_seed]
    changes = [c.get("last_doubling_change") for c in convs if c.get("last_doubling_change") is not None]
    return {"model": label, "ll": seed_stats([s.summary["ll"] for s in per_seed])[0],
            "ll_minus_truth": gap, "ll_minus_truth_sd": gap_sd,
            "ll_minus_truth_se": float(np.mean([g.se for g in gaps])),
            "ll_minus_truth_per_seed": [g.value for g in gaps],
            "jsd": seed_stats([s.summary["jsd"] for s in per_seed])[0],
            "jsd_se": float(np.mean([s.summary["jsd_se"] for s in per_seed])),
            "jsd_per_slider": per_seed[0].summary["jsd_per_slider"],
            "slider_error": seed_stats([s.summary["slider_error"] for s in per_seed])[0],
            "slider_error_se": float(np.mean([s.summary["slider_error_se"] for s in per_seed])),
            "ll_samples": per_seed[0].summary["ll_num_samples"],
            "converged": all(c["converged"] for c in convs),
            "last_doubling_change": max(changes, key=abs) if changes else None,
            "setting": ("; ".join(setting_text(r) for r in runs) if runs else reference_text(label, per_seed[0])),
            "seconds": seconds}


def curve_kinds(curve: dict) -> list[str]:
    """The posterior kinds of a P-VAE curve (the blocks that hold a per-k gain)."""
    return [k for k, v in curve.items() if isinstance(v, dict) and "gain" in v]


def summarise_curves(curves: list[dict]) -> dict | None:
    """P-VAE gain LL_k - LL_0 per posterior kind at CURVE_KS: mean and s.d. over seeds, mean s.e. (JSON-ready)."""
    curves = [c for c in curves if c and c.get("history")]
    if not curves:
        return None
    out = {"users": [c.get("users") for c in curves], "kinds": {}}
    for kind in curve_kinds(curves[0]):
        ks = [k for k in CURVE_KS if all(k < len(c[kind]["gain"]) for c in curves)]
        block = {}
        for k in ks:
            mean, sd = seed_stats([c[kind]["gain"][k] for c in curves])
            block[str(k)] = {"gain": mean, "gain_sd": sd,
                             "gain_se": float(np.mean([c[kind]["gain_se"][k] for c in curves]))}
        out["kinds"][kind] = block
    return out


def run_problem(name: str, regime: Regime, args: argparse.Namespace, data_seed: int, seeds: list[int]) -> dict:
    """Generate, write, train every model with every seed, score; returns the problem's JSON-ready results."""
    t_start = time.perf_counter()
    truth = KnownAnswer(regime)
    root = os.path.join(args.out, name)
    write_dataset(root, truth, args.photos, seed=data_seed)
    data = read_edits(root)
    train_data, val_data, test_data = split_edits(data)
    runs, seconds, screens = train_models(name, data, root, args, seeds)
    models = {(label, i): run.model for label, rs in runs.items() for i, run in enumerate(rs)}
    scores, floor = score_all(models, train_data, val_data, test_data, args.is_samples, seed=data_seed)
    exact = score_model(truth, test_data, seed=data_seed)
    fixed = score_model(truth.with_fixed_weights(train_data.image_features()), test_data, seed=data_seed)
    rows = [score_row("truth", [exact], exact, test_data, None, None),
            score_row(FIXED_ROW, [fixed], exact, test_data, None, None)]
    for label, rs in runs.items():
        rows.append(score_row(label, [scores[(label, i)] for i in range(len(rs))], exact, test_data, rs,
                              seconds[label]))
    rows.append(score_row("floor", [floor], exact, test_data, None, None))
    truth_curve = truth_personalisation_curve(truth, users_per_editor=args.truth_users, seed=data_seed + 3)
    pvae = summarise_curves([r.curve for r in runs.get("pvae", [])])
    log.info("%s done in %.0f s", name, time.perf_counter() - t_start)
    return {"regime": name, "description": regime.description, "settings": dataclasses.asdict(regime),
            "feature_dim": regime.feature_dim, "photos": args.photos, "data_seed": data_seed,
            "training_seeds": seeds,
            "edits": {"train": len(train_data), "validation": len(val_data), "test": len(test_data)},
            "rows": rows, "pvae_curve": pvae, "pvae_curves": [r.curve for r in runs.get("pvae", [])],
            "truth_curve": truth_curve, "personalisation_ceiling": personalisation_ceiling(truth, test_data),
            "input_screen": [screen_record(screens[s], truth) for s in seeds],
            "search": {m: [r.search_rows for r in rs] for m, rs in runs.items()}}


def screen_record(screen: InputScreening, truth: KnownAnswer) -> dict:
    """An input screen against the truth: columns kept, and how many of the raw signal coordinates among them."""
    signal = set(truth.raw_positions.tolist())
    kept = set(screen.columns.tolist())
    return {**screen.summary(), "columns_kept": len(kept), "raw_signal": len(signal),
            "raw_signal_kept": len(kept & signal)}


def screen_text(result: dict) -> str:
    """One line: what the input screen kept per training seed, against the truth's raw signal coordinates."""
    return "Input screen (per seed): " + "; ".join(
        f"{r['columns_kept']} of {result['feature_dim']} inputs kept, {r['raw_signal_kept']}/{r['raw_signal']} raw "
        f"signal coordinates" for r in result.get("input_screen", []))


def gap_text(row: dict) -> str:
    """'LL - truth ± s.e. over photos (s.d. over seeds)'."""
    sd = row["ll_minus_truth_sd"]
    return f"{row['ll_minus_truth']:+.3f} ± {row['ll_minus_truth_se']:.3f}" + ("" if sd is None else f" (sd {sd:.3f})")


def curve_text(result: dict) -> str:
    """The P-VAE's gain per k beside the truth's own gain, and the ceiling (Markdown lines)."""
    truth_curve, pvae = result["truth_curve"], result.get("pvae_curve")
    lines = [f"Ceiling (editor known, E[log p(y|x,e) - log p(y|x)]): {truth_curve['ceiling']:+.3f} ± "
             f"{truth_curve['ceiling_se']:.3f} nats/edit on {truth_curve['users']} fresh users; on the test split "
             f"{result['personalisation_ceiling']['gain']:+.3f} ± {result['personalisation_ceiling']['gain_se']:.3f}"]
    lines.append("truth's LL_k - LL_0 (editor unknown, k history edits): " + ", ".join(
        f"k={k}: {truth_curve['gain'][k]:+.3f}" for k in CURVE_KS if k < len(truth_curve["gain"])))
    if pvae:
        for kind, block in pvae["kinds"].items():
            lines.append(f"P-VAE LL_k - LL_0 ({kind}, users {pvae['users']}; mean ± s.e. (sd over seeds)): " + ", ".join(
                f"k={k}: {v['gain']:+.3f} ± {v['gain_se']:.3f}" + ("" if v["gain_sd"] is None else f" ({v['gain_sd']:.3f})")
                for k, v in block.items()) + f"  | ceiling {truth_curve['ceiling']:+.3f}")
    return "\n".join(lines)


def table(result: dict) -> str:
    """Markdown table of one named regime."""
    e = result["edits"]
    lines = [f"### {result['regime']}: {result['description']}", "",
             f"{result['photos']} photos x 5 editors, {result['feature_dim']}-d features; edits train / validation / "
             f"test {e['train']} / {e['validation']} / {e['test']}; training seeds {result['training_seeds']}. "
             f"Truth LL {result['rows'][0]['ll']:.3f} nats/edit.", "",
             "| model | LL - truth ± s.e. over photos (sd over seeds) | JSD (bits) | slider error | IS converged | "
             "kept setting |", "| --- | --- | --- | --- | --- | --- |"]
    for r in result["rows"]:
        conv = "exact" if r["ll_samples"] == 1 else (f"{'yes' if r['converged'] else 'no'} "
                                                    f"(S={r['ll_samples']}, last x2 {r['last_doubling_change']:.3f})")
        lines.append(f"| {r['model']} | {gap_text(r)} | {r['jsd']:.4f} ± {r['jsd_se']:.4f} | "
                     f"{r['slider_error']:.4f} ± {r['slider_error_se']:.4f} | {conv} | {r['setting']} |")
    return "\n".join(lines) + "\n\n" + screen_text(result) + "\n" + curve_text(result) + "\n"


def family_summary(problems: list[dict]) -> dict:
    """Per model over the problems: median and worst LL - truth, and counts within 1 nat / below the floor (- 0.2)."""
    out = {}
    labels = [r["model"] for r in problems[0]["rows"] if r["model"] not in ("truth", "floor")]
    for label in labels + ["floor"]:
        gaps, floors = [], []
        for p in problems:
            by = {r["model"]: r["ll_minus_truth"] for r in p["rows"]}
            gaps.append(by[label])
            floors.append(by["floor"])
        g, f = np.array(gaps), np.array(floors)
        out[label] = {"median": float(np.median(g)), "worst": float(g.min()), "problems": len(g),
                      "within_1_nat": int((g >= -WITHIN_NATS).sum()), "below_floor": int((g < f).sum()),
                      "below_floor_minus_0.2": int((g < f - FLOOR_MARGIN).sum())}
    return out


def family_text(problems: list[dict], summary: dict) -> str:
    """Markdown: one row per problem, the summary table, then each problem's personalisation lines."""
    labels = [r["model"] for r in problems[0]["rows"] if r["model"] != "truth"]
    lines = ["| # | problem | truth LL | " + " | ".join(labels) + " |", "| --- " * (len(labels) + 3) + "|"]
    for i, p in enumerate(problems):
        by = {r["model"]: r for r in p["rows"]}
        lines.append(f"| {p.get('index', i)} | {p['description']} | {by['truth']['ll']:.2f} | "
                     + " | ".join(gap_text(by[label]) for label in labels) + " |")
    lines += ["", "LL - truth (nats/edit), mean over training seeds ± mean s.e. over photos (sd over seeds).", "",
              "| row | median | worst | within 1 nat | below floor | below floor - 0.2 |",
              "| --- | --- | --- | --- | --- | --- |"]
    for label, s in summary.items():
        n = s["problems"]
        lines.append(f"| {label} | {s['median']:+.3f} | {s['worst']:+.3f} | {s['within_1_nat']}/{n} | "
                     f"{s['below_floor']}/{n} | {s['below_floor_minus_0.2']}/{n} |")
    for i, p in enumerate(problems):
        lines += ["", f"#{p.get('index', i)} {p['description']}", screen_text(p), curve_text(p)]
    return "\n".join(lines) + "\n"


def family_seed(args: argparse.Namespace) -> int:
    """--family-seed, else a fresh seed from the OS (printed by the caller)."""
    return args.family_seed if args.family_seed is not None else int(np.random.SeedSequence().entropy)


def run_family(args: argparse.Namespace, seed: int, header: str) -> tuple[dict, str]:
    """N problems of the family drawn from `seed`: results (JSON-ready) and the Markdown text."""
    problems: list[dict] = []
    result: dict = {"family_seed": str(seed), "problems": problems}
    for i, child in enumerate(np.random.SeedSequence(seed).spawn(args.family)):
        rng = np.random.default_rng(child)
        regime = draw_regime(rng, f"family{i:02d}", max_feature_dim=args.max_feature_dim)
        data_seed = int(rng.integers(2 ** 31))
        seeds = [int(s) for s in rng.integers(2 ** 31, size=args.seeds)]
        if args.only is not None and i not in args.only:   # every problem is drawn, so the others stay the same
            continue
        log.info("problem %d/%d: %s", i + 1, args.family, regime.description)
        problems.append({"index": i, **run_problem(regime.name, regime, args, data_seed, seeds)})
        result["summary"] = family_summary(problems)
        write_json(args.out, result)
    return result, header + family_text(problems, result["summary"])


def run_regimes(args: argparse.Namespace, header: str) -> tuple[dict, str]:
    """The named regimes (data seed --seed + 1, training seeds --seed .. --seed + K - 1)."""
    problems = []
    for name in args.regimes:
        regime = REGIMES[name]
        if args.max_feature_dim is not None and regime.feature_dim > args.max_feature_dim:
            regime = dataclasses.replace(regime, feature_dim=args.max_feature_dim)
        if args.weight_strength is not None:
            regime = dataclasses.replace(regime, weight_strength=args.weight_strength, description=(
                regime.description + f" (style-weight strength set to {args.weight_strength:g})"))
        problems.append(run_problem(name, regime, args, args.seed + 1, [args.seed + i for i in range(args.seeds)]))
        write_json(args.out, {"problems": problems})
    return {"problems": problems}, header + "\n".join(table(r) for r in problems)


def write_json(out: str, result: dict) -> None:
    """<out>/science.json."""
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "science.json"), "w") as f:
        json.dump(result, f, indent=1)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--family", type=int, default=0, help="draw this many problems from the family's prior")
    p.add_argument("--family-seed", type=int, default=None, help="reproduce a family run (default: drawn, printed)")
    p.add_argument("--only", type=int, nargs="+", default=None, metavar="I",
                   help="family: run only problems I ... (0-based) of the N drawn, e.g. one problem of a "
                        "--family-seed again with other settings")
    p.add_argument("--regimes", nargs="*", default=list(REGIMES), choices=list(REGIMES))
    p.add_argument("--models", nargs="*", default=list(MODEL_ORDER), choices=list(MODEL_ORDER))
    p.add_argument("--photos", type=int, default=3000, help="photos per problem (5 edits each; default 3000)")
    p.add_argument("--seeds", type=int, default=None, help="training seeds per model (default 3; --quick 1)")
    p.add_argument("--trials", type=int, default=0,
                   help="search trials per model (default 0: `photoedit train`'s defaults; N: its --search)")
    p.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    p.add_argument("--patience", type=int, default=TrainConfig.patience)
    p.add_argument("--is-samples", type=int, default=200)
    p.add_argument("--truth-users", type=int, default=20, help="fresh users per editor of the truth's curve")
    p.add_argument("--max-feature-dim", type=int, default=None, help="cap D (smoke runs; --quick: 256)")
    p.add_argument("--seed", type=int, default=0, help="named regimes: data seed - 1 and first training seed")
    p.add_argument("--weight-strength", type=float, default=None,
                   help="named regimes: override the style-weight strength (0: weights do not depend on the photo)")
    p.add_argument("--photo-prior", action="store_true",
                   help=f"also train the CGM-VAE with a photo-dependent cluster prior p(s | x) (row '{PHOTO_PRIOR_ROW}'; "
                        "not the paper's model) by the same procedure")
    p.add_argument("--quick", action="store_true", help="smoke run: 300 photos, 4 epochs, 1 seed, 256-d features")
    p.add_argument("--out", default="science-benchmark", help="datasets and models (default ./science-benchmark)")
    p.add_argument("--results", default=None, help="also write the tables to this Markdown file")
    args = p.parse_args(argv)
    if args.quick:
        args.photos, args.epochs = 300, 4
        args.max_feature_dim = args.max_feature_dim or 256
    if args.seeds is None:
        args.seeds = 1 if args.quick else 3
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", force=True)
    command = f"`python benchmarks/science.py {' '.join(argv if argv is not None else sys.argv[1:])}`"
    procedure = (f"{'search of ' + str(args.trials) + ' trials' if args.trials else 'photoedit train defaults'} per "
                 f"model, {args.seeds} training seed(s), <= {args.epochs} epochs, patience {args.patience}, "
                 f"IS samples {args.is_samples}, {args.photos} photos x 5 editors per problem")
    if args.family:
        seed = family_seed(args)
        log.info("family seed %d (reproduce with --family-seed %d)", seed, seed)
        print(f"family seed: {seed} (reproduce with --family-seed {seed})", flush=True)
        header = (f"Known-answer family: {command}, family seed {seed}, {args.family} problems ({procedure}).\n\n")
        result, text = run_family(args, seed, header)
    else:
        result, text = run_regimes(args, f"Known-answer benchmark: {command} ({procedure}).\n\n")
    result.update(command=command, procedure=procedure)
    write_json(args.out, result)
    print(text)
    if args.results:
        with open(args.results, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
