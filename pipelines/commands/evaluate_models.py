"""`photoedit evaluate-models`: held-out LL, JSD and slider error of a dataset's trained models over
their training seeds (mean ± s.d. over seeds beside the s.e. over photos) beside a feature-blind floor,
the best model per metric where its lead exceeds 2 s.e., and the P-VAE personalisation curve."""
from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass

from modeling.checkpoints import CheckpointError
from modeling.comparison import LEAD_SES, evaluate_models
from modeling.metrics import DEFAULT_BINS, DEFAULT_IS_SAMPLES
from modeling.personalisation import personalisation_curve
from modeling.registry import MODEL_ORDER
from modeling.train_run import PERSONALISATION, split_edits
from pipelines.core import storage
from pipelines.core.console import configure_logging, local_log_dir
from pipelines.core.layout import DatasetLayout
from pipelines.core.model_store import is_trained, load_model, read_edits, read_sliders, seed_folders

log = logging.getLogger(__name__)
NOTE = ("LL: Lightroom step cells, censored at the range ends, the same for every model; importance-sampled "
        "for the VAEs (recognition proposal) and the LBN (learned gate proposal), exact for MLP/MDN and the "
        "floor (a feature-blind mixture fitted by EM). Each figure: mean ± s.d. over the model's training "
        "seeds (models/<name>/seed-<s>/, all scored on the same test edits) and, beside it, the s.e. over "
        "photos of the seed-averaged figure. P-VAE LL uses the prior pi (no user history); see "
        "personalisation.json (its lowest seed). JSD: pooled slider histograms, bins centred on each neutral "
        f"value, s.e. by bootstrap over photos. Leads: paired s.e. over photos and the seed spread of both "
        f"means in quadrature; a model is called best only when its lead exceeds {LEAD_SES:g} s.e.")


@dataclass(frozen=True)
class EvaluateModelsConfig:
    """Which models of a dataset to compare (default: every trained one) and the estimators' settings."""

    dataset: str
    models: tuple[str, ...] | None = None
    is_samples: int = DEFAULT_IS_SAMPLES
    jsd_bins: int = DEFAULT_BINS
    seed: int = 0
    device: str = "cpu"


def over_seeds(row: dict, metric: str, digits: int) -> str:
    """'mean ± s.d.' over a row's training seeds, the mean alone where the spread is unknown (one seed)."""
    sd = row.get(f"{metric}_seed_sd")
    return f"{row[metric]:.{digits}f}" + (f" ± {sd:.{digits}f}" if sd is not None else "")


def summary_table(summary: dict, bins: int) -> str:
    """Markdown table of model rows and the floor row (per metric: mean ± s.d. over seeds, s.e. over photos),
    then the best-model lines."""
    lines = [f"| model | seeds | test LL (nats/edit) | LL s.e. | IS samples (1 = exact) | LL - floor | "
             f"JSD ({bins} bins, log2) | JSD s.e. | slider error | slider s.e. | edits | photos |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in [*summary["models"], summary["floor"]]:
        gap = f"{r['ll_minus_floor']:+.3f} ± {r['ll_minus_floor_se']:.3f}" if "ll_minus_floor" in r else "-"
        seeds = r.get("seeds", "-") if "ll_minus_floor" in r else "-"
        lines.append(f"| {r['model']} | {seeds} | {over_seeds(r, 'll', 3)} | {r['ll_se']:.3f} | "
                     f"{r['ll_num_samples']} | {gap} | {over_seeds(r, 'jsd', 4)} | {r['jsd_se']:.4f} | "
                     f"{over_seeds(r, 'slider_error', 4)} | {r['slider_error_se']:.4f} | "
                     f"{r['ll_edits']} | {r['ll_photos']} |")
    return "\n".join(lines + [""] + [f"- {b['line']}" for b in summary["best"]]) + "\n"


def compare_models(config: EvaluateModelsConfig) -> tuple[dict, str]:
    """Score the models on the test split, write models/summary.{md,json} and the P-VAE's personalisation.json.

    Returns (the summary of modeling.comparison, its Markdown table); FileNotFoundError / ValueError
    when there is nothing to compare.
    """
    layout = DatasetLayout(config.dataset)
    names = list(config.models) if config.models else [n for n in MODEL_ORDER if is_trained(layout.model_dir(n))]
    if not names:
        raise FileNotFoundError(f"no trained models under {layout.models}: run `photoedit train` first")
    # the floor is feature-blind (train / validation sliders); only the test split's features are read
    train_data, val_data, _ = split_edits(read_sliders(config.dataset))
    test_data = read_edits(config.dataset, splits=("test",)).split("test")
    if len(test_data) == 0:
        raise ValueError("the test split is empty")
    models: dict[str, dict[int | None, object]] = {}
    for name in names:
        folders = seed_folders(layout.model_dir(name))
        if not folders:
            log.error("evaluate-models: skipping %s: no trained model under %s", name, layout.model_dir(name))
        for index, (seed, folder) in enumerate(folders):
            try:
                model, model_config = load_model(folder, device=config.device)
            except CheckpointError as exc:
                log.error("evaluate-models: skipping %s seed %s: %s", name, seed, exc)
                continue
            models.setdefault(name, {})[seed] = model
            if model_config["model"] == "pvae" and index == 0:   # the curve of the lowest seed, as the report shows
                curve = personalisation_curve(model, test_data, seed=config.seed)
                storage.write_json(storage.join(folder, PERSONALISATION), curve)
                if curve["history"]:
                    log.info("%s personalisation: LL_k - LL_0 %+.3f (sampled posterior %+.3f) nats/edit at %d edits",
                             name, curve["amortised"]["gain"][-1], curve["sampled"]["gain"][-1],
                             curve["history"][-1])
        if name in models:
            log.info("evaluate-models: %s over %d training seed(s): %s", name, len(models[name]),
                     ", ".join(str(s) for s in models[name]))
    if not models:
        raise ValueError(f"none of {', '.join(names)} could be loaded")
    summary = evaluate_models(models, train_data, val_data, test_data, config.is_samples, config.jsd_bins, config.seed)
    table = summary_table(summary, config.jsd_bins)
    storage.write_bytes(layout.path("models", "summary.md"), (table + "\n" + NOTE + "\n").encode("utf-8"))
    storage.write_json(layout.path("models", "summary.json"),
                       {**summary, "is_samples": config.is_samples, "jsd_bins": config.jsd_bins, "jsd_log_base": 2,
                        "split": "test", "edits": len(test_data)})
    return summary, table


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="photoedit evaluate-models",
        description="Held-out (test split) LL, JSD and slider error of every trained model under "
                    "<dataset>/models/, over every training seed found (models/<name>/seed-<s>/): mean ± s.d. "
                    "over seeds beside the s.e. over photos; with a feature-blind mixture floor (EM on the "
                    "train sliders, the same likelihood) and per metric the best model, called only when its "
                    f"paired lead over the runner-up exceeds {LEAD_SES:g} s.e. ('no clear best' otherwise); a "
                    "Markdown table printed and written to <dataset>/models/summary.md and summary.json "
                    "(P-VAE: personalisation.json of its lowest seed too, exact and amortised posteriors).")
    p.add_argument("--dataset", required=True, help="dataset root")
    p.add_argument("--models", nargs="*", default=None,
                   help="model folder names under <dataset>/models (default: every registered model present)")
    p.add_argument("--is-samples", type=int, default=DEFAULT_IS_SAMPLES, help="importance samples (default %(default)s)")
    p.add_argument("--jsd-bins", type=int, default=DEFAULT_BINS, help="JSD histogram bins (default %(default)s)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the estimators' draws and of the floor's EM start, the same for every training "
                        "seed (default 0)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--verbose", action="store_true", help="every log line")
    return p


def run(argv: list[str] | None = None) -> int:
    """`photoedit evaluate-models`: 0 when the table was written, 2 when there is nothing to compare."""
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose, local_log_dir(args.dataset), "evaluate-models")
    config = EvaluateModelsConfig(dataset=args.dataset, models=tuple(args.models) if args.models else None,
                                  is_samples=args.is_samples, jsd_bins=args.jsd_bins, seed=args.seed,
                                  device=args.device)
    try:
        _, table = compare_models(config)
    except (FileNotFoundError, ValueError) as exc:
        log.error("evaluate-models: %s", exc)
        return 2
    layout = DatasetLayout(args.dataset)
    sys.stdout.write(f"{table}\n{NOTE}\nwritten to {layout.path('models', 'summary.md')} and summary.json\n")
    return 0
