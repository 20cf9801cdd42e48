"""`photoedit train` and `photoedit evaluate-models`: fit a slider model on a dataset's features and
edits (one machine, torch on CPU or CUDA) and tabulate held-out LL and JSD of the trained models."""
from __future__ import annotations

import argparse
import logging
import os
import sys

from modeling.checkpoints import CheckpointError, load_model, save_model, write_bytes, write_json
from modeling.data import EditsData, load_edits
from modeling.metrics import DEFAULT_BINS, DEFAULT_IS_SAMPLES, evaluate, personalisation_curve
from modeling.registry import MODELS
from modeling.training import SEARCH_GRID, TrainConfig, config_dict, new_model, search, train
from pipelines.core.layout import DatasetLayout
from pipelines.core.console import configure_logging

log = logging.getLogger(__name__)

VAES = ("cgmvae", "pvae")

TRAIN_HELP = """\
Trains one model of Saeedi et al. (AISTATS 2018) on <dataset>/features + <dataset>/variant_edits
(+ photos/ for the split): sliders in model space [-1, 1], features standardised with train-split
statistics. Adam on minibatches, early stopping on the validation objective (VLB for the VAEs,
log-likelihood for MLP/MDN, the multi-sample bound for the LBN), best epoch kept.
Writes <out>/checkpoint.pt (state dict), config.json (class, kwargs, feature stats), metrics.json
(validation objective, test LL +- s.e. over photos, JSD +- s.e.), training_state.pt (for --resume)
and, for the P-VAE, personalisation.json. --search tries latent dim {2, 20} x clusters
{1, 3, 5, 10} (the paper's grid) and keeps the best validation VLB."""


def _train_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="photoedit train", description=TRAIN_HELP,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", required=True, help="dataset root (local path or Beam filesystem URI)")
    p.add_argument("--model", required=True, choices=sorted(MODELS), help="which model to train")
    p.add_argument("--search", action="store_true", help="VAEs: hyper-parameter search on the paper's grid")
    p.add_argument("--epochs", type=int, default=100, help="maximum epochs (default 100)")
    p.add_argument("--batch-size", type=int, default=128, help="edits per minibatch (default 128)")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    p.add_argument("--patience", type=int, default=10, help="early stopping patience in epochs (default 10)")
    p.add_argument("--seed", type=int, default=0, help="seed of initialisation, batches and noise (default 0)")
    p.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N (default cpu)")
    p.add_argument("--out", default=None, help="model folder (default <dataset>/models/<model>)")
    p.add_argument("--resume", action="store_true", help="continue from <out>/training_state.pt")
    p.add_argument("--hidden", type=int, default=128, help="hidden units per layer (default 128)")
    p.add_argument("--layers", type=int, default=2, help="hidden layers per network (default 2)")
    p.add_argument("--latent-dim", type=int, default=2, help="VAEs: latent dimension (default 2)")
    p.add_argument("--clusters", type=int, default=3, help="VAEs: number of clusters L (default 3)")
    p.add_argument("--components", type=int, default=5, help="MDN: mixture components (default 5)")
    p.add_argument("--is-samples", type=int, default=DEFAULT_IS_SAMPLES,
                   help=f"samples for the importance-sampled / LBN log-likelihood (default {DEFAULT_IS_SAMPLES})")
    p.add_argument("--jsd-bins", type=int, default=DEFAULT_BINS, help=f"histogram bins for JSD (default {DEFAULT_BINS})")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bar (log lines only)")
    p.add_argument("--verbose", action="store_true")
    return p


def model_kwargs(name: str, args: argparse.Namespace) -> dict:
    """Constructor arguments of the named model from the command-line flags."""
    kwargs = {"hidden": args.hidden, "layers": args.layers}
    if name in VAES:
        kwargs.update(latent_dim=args.latent_dim, num_clusters=args.clusters)
    if name == "mdn":
        kwargs["components"] = args.components
    return kwargs


def _splits(data: EditsData) -> tuple[EditsData, EditsData, EditsData]:
    train_data, val_data, test_data = data.split("train"), data.split("validation"), data.split("test")
    if len(train_data) == 0:
        raise SystemExit("photoedit train: the train split is empty")
    if len(val_data) == 0:
        log.warning("validation split is empty: early stopping on the train objective")
        val_data = train_data
    return train_data, val_data, test_data


def held_out_metrics(model, name: str, test_data: EditsData, is_samples: int, bins: int, seed: int) -> tuple[dict, dict | None]:
    """Test-split metrics (and the P-VAE personalisation curve) of a trained model."""
    if len(test_data) == 0:
        log.warning("test split is empty: no held-out metrics")
        return {}, None
    metrics = {f"test_{k}": v for k, v in evaluate(model, test_data, num_samples=is_samples, bins=bins,
                                                    seed=seed).items()}
    curve = personalisation_curve(model, test_data, seed=seed) if name == "pvae" else None
    return metrics, curve


def run(argv: list[str] | None = None) -> int:
    """`photoedit train`: train, select, checkpoint and evaluate one model."""
    args = _train_parser().parse_args(argv)
    configure_logging(args.verbose)
    layout = DatasetLayout(args.dataset)
    out = args.out or layout.model_dir(args.model)
    data = load_edits(args.dataset)
    train_data, val_data, test_data = _splits(data)
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, patience=args.patience,
                         seed=args.seed, device=args.device, progress=not args.no_progress)
    base = {"dataset": args.dataset, "slider_process": "2003", "train": config_dict(config),
            "feature_normalisation": "standardise with train-split mean/std (feature_mean, feature_std)",
            "splits": {"train": len(train_data), "validation": len(val_data), "test": len(test_data)}}
    kwargs = model_kwargs(args.model, args)
    search_rows = None
    if args.search and args.model in VAES:
        model, kwargs, result, search_rows = search(args.model, train_data, val_data, config,
                                                    SEARCH_GRID, base_kwargs=kwargs)
    else:
        if args.search:
            log.warning("--search applies to the VAEs only; training %s with the given settings", args.model)
        model = new_model(args.model, train_data, args.seed, **kwargs)

        def save_best(m, epoch, val):
            save_model(m, base, {"validation_objective": val, "best_epoch": epoch}, out)

        result = train(model, train_data, val_data, config, state_folder=out, resume=args.resume,
                       on_improve=save_best)
    metrics = {"validation_objective": result.best_validation, "best_epoch": result.best_epoch,
               "epochs_run": result.epochs_run, "stopped_early": result.stopped_early,
               "train_seconds": result.seconds, "data_loading_share": result.data_seconds / max(result.seconds, 1e-9),
               "objective": "VLB" if args.model in VAES else ("multi-sample bound" if args.model == "lbn" else "log-likelihood"),
               "history": result.history}
    if search_rows is not None:
        metrics["search"] = search_rows
    held, curve = held_out_metrics(model, args.model, test_data, args.is_samples, args.jsd_bins, args.seed)
    metrics.update(held)
    save_model(model, {**base, "search": search_rows is not None}, metrics, out)
    if curve is not None:
        write_json(os.path.join(out, "personalisation.json") if "://" not in out else out.rstrip("/") + "/personalisation.json", curve)
    line = (f"{args.model}: validation objective {result.best_validation:.3f} nats/edit (epoch {result.best_epoch})")
    if held:
        line += (f"; test LL {held['test_ll']:.3f} ± {held['test_ll_se']:.3f} nats/edit "
                 f"(S={args.is_samples}); JSD {held['test_jsd']:.4f} ± {held['test_jsd_se']:.4f} "
                 f"({args.jsd_bins} bins, log2)")
    print(line)
    print(f"model written to {out}")
    return 0


def _evaluate_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="photoedit evaluate-models",
        description="Held-out (test split) LL ± s.e. over photos and JSD ± s.e. of every trained model "
                    "under <dataset>/models/, as a Markdown table printed and written to "
                    "<dataset>/models/summary.md and summary.json (P-VAE: personalisation.json too).")
    p.add_argument("--dataset", required=True, help="dataset root")
    p.add_argument("--models", nargs="*", default=None,
                   help="model folder names under <dataset>/models (default: every registered model present)")
    p.add_argument("--is-samples", type=int, default=DEFAULT_IS_SAMPLES, help="importance samples (default %(default)s)")
    p.add_argument("--jsd-bins", type=int, default=DEFAULT_BINS, help="JSD histogram bins (default %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--verbose", action="store_true")
    return p


def summary_table(rows: list[dict], is_samples: int, bins: int) -> str:
    """Markdown table of model rows (name, LL, JSD with standard errors)."""
    lines = [f"| model | test LL (nats/edit, S={is_samples}) | JSD ({bins} bins, log2) | JSD per image | edits | photos |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['ll']:.3f} ± {r['ll_se']:.3f} | {r['jsd']:.4f} ± {r['jsd_se']:.4f} | "
                     f"{r['jsd_per_image']:.4f} ± {r['jsd_per_image_se']:.4f} | {r['ll_edits']} | {r['ll_photos']} |")
    return "\n".join(lines) + "\n"


def run_evaluate_models(argv: list[str] | None = None) -> int:
    """`photoedit evaluate-models`: LL and JSD table of trained models on the test split."""
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
    test_data = load_edits(args.dataset).split("test")
    if len(test_data) == 0:
        print("photoedit evaluate-models: the test split is empty", file=sys.stderr)
        return 1
    rows = []
    for name in names:
        try:
            model, config = load_model(layout.model_dir(name), device=args.device)
        except (CheckpointError, FileNotFoundError) as exc:
            log.error("skipping %s: %s", name, exc)
            continue
        m = evaluate(model, test_data, num_samples=args.is_samples, bins=args.jsd_bins, seed=args.seed)
        rows.append({"model": name, **{k: v for k, v in m.items()}})
        if config["model"] == "pvae":
            curve = personalisation_curve(model, test_data, seed=args.seed)
            write_json(layout.path("models", name, "personalisation.json"), curve)
            if curve["history"]:
                log.info("%s personalisation: normalised LL %.3f at 0 edits -> %.3f at %d edits", name,
                         curve["normalised"][0], curve["normalised"][-1], curve["history"][-1])
    table = summary_table(rows, args.is_samples, args.jsd_bins)
    write_bytes(layout.path("models", "summary.md"), table.encode("utf-8"))
    write_json(layout.path("models", "summary.json"), {"models": rows, "is_samples": args.is_samples,
                                                        "jsd_bins": args.jsd_bins, "jsd_log_base": 2,
                                                        "split": "test", "edits": len(test_data)})
    note = ("\nLL: importance-sampled for the VAEs (recognition proposal), log-mean-exp over gate draws "
            "for the LBN, exact for MLP/MDN; s.e. over photos. P-VAE LL uses the prior pi (no user history); "
            "see personalisation.json. JSD: pooled slider histograms, s.e. by bootstrap over photos.\n")
    table += note
    print(table, end="")
    print(f"written to {layout.path('models', 'summary.md')} and summary.json")
    return 0 if rows else 1


if __name__ == "__main__":
    sys.exit(run())
