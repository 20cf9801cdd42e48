"""`photoedit train` and `photoedit evaluate-models`: fit a slider model on a dataset's features and
edits (one machine, torch on CPU or CUDA) and tabulate held-out LL and JSD of the trained models."""
from __future__ import annotations

import argparse
import logging
import os
import sys

from modeling.checkpoints import CheckpointError, load_model, write_bytes, write_json
from modeling.comparison import evaluate_models
from modeling.data import load_edits
from modeling.metrics import DEFAULT_BINS, DEFAULT_IS_SAMPLES
from modeling.personalisation import personalisation_curve
from modeling.registry import MODELS
from modeling.search import DEFAULTS
from modeling.train_run import VAES, TrainSettings, run_training, split_edits
from modeling.training import TrainConfig
from pipelines.core.layout import DatasetLayout
from pipelines.core.console import configure_logging

log = logging.getLogger(__name__)

TRAIN_HELP = """\
Trains one model of Saeedi et al. (AISTATS 2018) on <dataset>/features + <dataset>/variant_edits
(+ photos/ for the split): sliders in model space [-1, 1], features standardised with train-split
statistics (optionally projected onto their top principal components, --projection-dim).
AdamW on minibatches, early stopping and selection on the validation predictive log-likelihood
(exact for MLP/MDN, importance-sampled for the VAEs and the LBN), best epoch kept.
Writes <out>/checkpoint.pt (state dict), config.json (class, kwargs, feature stats), metrics.json
(which epoch / setting was kept and why, test LL +- s.e. over photos, JSD +- s.e., slider error),
training_state.pt (for --resume) and, for the P-VAE, personalisation.json. --search trains
--trials settings of the model's space (width, depth, input dropout, projection, weight decay;
MDN: components; VAEs: latent dim {2, 20} x clusters {1, 3, 5, 10}), the same budget for every
model, and keeps the best validation LL."""


def _train_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="photoedit train", description=TRAIN_HELP,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", required=True, help="dataset root (local path or Beam filesystem URI)")
    p.add_argument("--model", required=True, choices=sorted(MODELS), help="which model to train")
    p.add_argument("--search", action="store_true", help="hyper-parameter search (any model, same procedure)")
    p.add_argument("--trials", type=int, default=8, help="settings tried by --search (default 8)")
    p.add_argument("--epochs", type=int, default=100, help="maximum epochs (default 100)")
    p.add_argument("--batch-size", type=int, default=128, help="edits per minibatch (default 128)")
    p.add_argument("--lr", type=float, default=1e-3, help="AdamW learning rate (default 1e-3)")
    p.add_argument("--patience", type=int, default=10, help="early stopping patience in epochs (default 10)")
    p.add_argument("--weight-decay", type=float, default=DEFAULTS["weight_decay"],
                   help="AdamW weight decay (default %(default)s)")
    p.add_argument("--input-dropout", type=float, default=DEFAULTS["input_dropout"],
                   help="dropout on the features (default %(default)s)")
    p.add_argument("--projection-dim", type=int, default=DEFAULTS["projection_dim"],
                   help="project features onto this many principal components, 0 = none (default %(default)s)")
    p.add_argument("--val-samples", type=int, default=TrainConfig.val_samples,
                   help="importance samples of the validation LL for VAEs / LBN (default %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed of initialisation, batches and noise (default 0)")
    p.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N (default cpu)")
    p.add_argument("--out", default=None, help="model folder (default <dataset>/models/<model>)")
    p.add_argument("--resume", action="store_true", help="continue from <out>/training_state.pt")
    for flag, key, text in [("--hidden", "hidden", "hidden units per layer"),
                            ("--layers", "layers", "hidden layers per network"),
                            ("--latent-dim", "latent_dim", "VAEs: latent dimension"),
                            ("--clusters", "num_clusters", "VAEs: number of clusters L"),
                            ("--components", "components", "MDN: mixture components")]:
        p.add_argument(flag, type=int, default=DEFAULTS[key], help=f"{text} (default %(default)s)")
    p.add_argument("--is-samples", type=int, default=DEFAULT_IS_SAMPLES,
                   help=f"samples for the importance-sampled / LBN log-likelihood (default {DEFAULT_IS_SAMPLES})")
    p.add_argument("--jsd-bins", type=int, default=DEFAULT_BINS, help=f"histogram bins for JSD (default {DEFAULT_BINS})")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bar (log lines only)")
    p.add_argument("--verbose", action="store_true")
    return p


def model_kwargs(name: str, args: argparse.Namespace) -> dict:
    """Constructor arguments of the named model from the command-line flags."""
    kwargs = {"hidden": args.hidden, "layers": args.layers, "input_dropout": args.input_dropout,
              "projection_dim": args.projection_dim}
    if name in VAES:
        kwargs.update(latent_dim=args.latent_dim, num_clusters=args.clusters)
    if name == "mdn":
        kwargs["components"] = args.components
    return kwargs


def run(argv: list[str] | None = None) -> int:
    """`photoedit train`: train (or search), select, checkpoint and evaluate one model."""
    args = _train_parser().parse_args(argv)
    configure_logging(args.verbose)
    out = args.out or DatasetLayout(args.dataset).model_dir(args.model)
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, patience=args.patience,
                         weight_decay=args.weight_decay, seed=args.seed, device=args.device,
                         val_samples=args.val_samples, progress=not args.no_progress)
    settings = TrainSettings(args.model, model_kwargs(args.model, args), config,
                             trials=args.trials if args.search else 0, is_samples=args.is_samples,
                             jsd_bins=args.jsd_bins)
    try:
        done = run_training(load_edits(args.dataset), settings, out=out, resume=args.resume and not args.search,
                            provenance={"dataset": args.dataset})
    except ValueError as exc:
        raise SystemExit(f"photoedit train: {exc}") from None
    held = done.metrics
    line = f"{args.model}: {done.selection}"
    if "test_ll" in held:
        line += (f"; test LL {held['test_ll']:.3f} ± {held['test_ll_se']:.3f} nats/edit "
                 f"(S={held['test_ll_num_samples']}); JSD {held['test_jsd']:.4f} ± {held['test_jsd_se']:.4f} "
                 f"({args.jsd_bins} bins, log2)")
    print(line)
    print(f"model written to {out}")
    return 0


def _evaluate_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="photoedit evaluate-models",
        description="Held-out (test split) LL ± s.e. over photos, JSD ± s.e. and slider error of every trained "
                    "model under <dataset>/models/, with a feature-blind mixture floor (EM on the train "
                    "sliders, the same likelihood) and per metric the best model and whether its lead exceeds "
                    "its s.e.; a Markdown table printed and written to <dataset>/models/summary.md and "
                    "summary.json (P-VAE: personalisation.json too, exact and amortised posteriors).")
    p.add_argument("--dataset", required=True, help="dataset root")
    p.add_argument("--models", nargs="*", default=None,
                   help="model folder names under <dataset>/models (default: every registered model present)")
    p.add_argument("--is-samples", type=int, default=DEFAULT_IS_SAMPLES, help="importance samples (default %(default)s)")
    p.add_argument("--jsd-bins", type=int, default=DEFAULT_BINS, help="JSD histogram bins (default %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--verbose", action="store_true")
    return p


def summary_table(summary: dict, is_samples: int, bins: int) -> str:
    """Markdown table of model rows and the floor row (LL, JSD, slider error with s.e.), then the best-model lines."""
    lines = [f"| model | test LL (nats/edit, S={is_samples}) | LL - floor | JSD ({bins} bins, log2) | "
             "slider error | edits | photos |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in [*summary["models"], summary["floor"]]:
        gap = f"{r['ll_minus_floor']:+.3f} ± {r['ll_minus_floor_se']:.3f}" if "ll_minus_floor" in r else "-"
        lines.append(f"| {r['model']} | {r['ll']:.3f} ± {r['ll_se']:.3f} | {gap} | {r['jsd']:.4f} ± {r['jsd_se']:.4f} | "
                     f"{r['slider_error']:.4f} ± {r['slider_error_se']:.4f} | {r['ll_edits']} | {r['ll_photos']} |")
    return "\n".join(lines + [""] + [f"- {b['line']}" for b in summary["best"]]) + "\n"


def run_evaluate_models(argv: list[str] | None = None) -> int:
    """`photoedit evaluate-models`: LL, JSD and slider-error table of trained models on the test split."""
    args = _evaluate_parser().parse_args(argv)
    configure_logging(args.verbose)
    layout = DatasetLayout(args.dataset)
    names = args.models
    if names is None:
        names = [n for n in sorted(MODELS) if "://" in layout.models or os.path.isfile(
            os.path.join(layout.model_dir(n), "config.json"))]
    if not names:
        print(f"photoedit evaluate-models: no trained models under {layout.models}", file=sys.stderr)
        return 1
    train_data, val_data, test_data = split_edits(load_edits(args.dataset))
    if len(test_data) == 0:
        print("photoedit evaluate-models: the test split is empty", file=sys.stderr)
        return 1
    models = {}
    for name in names:
        try:
            models[name], config = load_model(layout.model_dir(name), device=args.device)
        except (CheckpointError, FileNotFoundError) as exc:
            log.error("skipping %s: %s", name, exc)
            continue
        if config["model"] == "pvae":
            curve = personalisation_curve(models[name], test_data, seed=args.seed)
            write_json(layout.path("models", name, "personalisation.json"), curve)
            if curve["history"]:
                log.info("%s personalisation: LL_k - LL_0 %+.3f (exact posterior %+.3f) nats/edit at %d edits",
                         name, curve["amortised"]["gain"][-1], curve["exact"]["gain"][-1], curve["history"][-1])
    summary = evaluate_models(models, train_data, val_data, test_data, args.is_samples, args.jsd_bins, args.seed)
    table = summary_table(summary, args.is_samples, args.jsd_bins)
    write_bytes(layout.path("models", "summary.md"), table.encode("utf-8"))
    write_json(layout.path("models", "summary.json"), {**summary, "is_samples": args.is_samples,
                                                        "jsd_bins": args.jsd_bins, "jsd_log_base": 2,
                                                        "split": "test", "edits": len(test_data)})
    note = ("\nLL: Lightroom step cells, censored at the range ends, the same for every model; importance-sampled "
            "for the VAEs (recognition proposal) and the LBN (learned gate proposal), exact for MLP/MDN and the "
            "floor (a feature-blind mixture fitted by EM); s.e. over photos. P-VAE LL uses the prior pi (no user "
            "history); see personalisation.json. JSD: pooled slider histograms, bins centred on each neutral "
            "value, s.e. by bootstrap over photos. Leads: paired s.e.\n")
    print(table + note, end="")
    print(f"written to {layout.path('models', 'summary.md')} and summary.json")
    return 0 if models else 1


if __name__ == "__main__":
    sys.exit(run())
