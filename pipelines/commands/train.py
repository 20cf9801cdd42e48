"""`photoedit train`: fit one slider model on a dataset's features and edits (one machine, torch on CPU
or CUDA) for each of K training seeds, select each on validation LL, score the test split and write
<dataset>/models/<name>/seed-<s>/."""
from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from dataclasses import dataclass
from typing import Any, Mapping

from modeling.cgmvae import CLUSTER_PRIORS
from modeling.metrics import DEFAULT_BINS, DEFAULT_IS_SAMPLES
from modeling.registry import MODEL_ORDER, MODELS
from modeling.search import DEFAULTS, default_kwargs
from modeling.train_run import TrainingRun, TrainSettings, run_training
from modeling.training import TrainConfig
from pipelines.core.console import configure_logging, local_log_dir
from pipelines.core.layout import DatasetLayout
from pipelines.core.model_store import read_edits, seed_folder, seed_folders, staged_model_folder

log = logging.getLogger(__name__)
DEFAULT_SEEDS = 3   # the issue's >= 3 training seeds behind every Table-1 figure

TRAIN_HELP = """\
Trains one model of Saeedi et al. (AISTATS 2018) on <dataset>/features + <dataset>/variant_edits
(+ photos/ for the split): sliders in model space [-1, 1], features standardised with train-split
statistics (optionally projected onto their top principal components, --projection-dim).
AdamW on minibatches, early stopping and selection on the validation predictive log-likelihood
(exact for MLP/MDN, importance-sampled for the VAEs and the LBN), best epoch kept.
Trains --seeds K models, seeds --seed .. --seed + K - 1 (initialisation, batches, noise), into
<out>/seed-<s>/ each (evaluate-models reports mean +- s.d. over them). Each folder holds
checkpoint.pt (state dict), config.json (class, kwargs, feature stats), metrics.json
(which epoch / setting was kept and why, test LL +- s.e. over photos, JSD +- s.e., slider error),
training_state.pt (for --resume) and, for the P-VAE, personalisation.json.
How the 4096-d features enter is chosen on validation, per seed: the given setting (PCA projection,
--projection-dim), the raw features under an input group lasso (0.1), and the raw coordinates an
input screen kept (an MDN under the group lasso at 0.1 / 0.3 / 1.0, refitted on each kept set and
on none; a feature-blind model when nothing helps), alone and beside the projection. That costs 4
trainings of the model (3 when the screen kept nothing) and up to 7 MDN trainings per seed; --no-input-search trains the given
setting alone (one training). --search trains
--trials settings per seed of the model's space (width, depth, input dropout, projection, weight decay;
MDN: components; VAEs: latent dim {2, 20} x clusters {1, 3, 5, 10}), the same budget for every
model, and keeps the best validation LL."""


@dataclass(frozen=True)
class TrainRequest:
    """One `photoedit train`: the dataset, what to train (modeling.train_run.TrainSettings), where, resume or not."""

    dataset: str
    settings: TrainSettings
    out: str | None = None       # default <dataset>/models/<model>
    resume: bool = False
    seeds: int = 1               # training seeds settings.config.seed, +1, ..., one folder each

    def __post_init__(self) -> None:
        if self.settings.model not in MODELS:
            raise ValueError(f"unknown model {self.settings.model!r}; known: {', '.join(MODEL_ORDER)}")
        if self.seeds < 1:
            raise ValueError(f"--seeds must be at least 1, got {self.seeds}")

    @property
    def folder(self) -> str:
        return self.out or DatasetLayout(self.dataset).model_dir(self.settings.model)

    @property
    def seed_values(self) -> list[int]:
        """The training seeds, first settings.config.seed."""
        return [self.settings.config.seed + k for k in range(self.seeds)]


def result_line(name: str, seed: int, run: TrainingRun, bins: int) -> str:
    """One line per trained seed: how the model was kept and its test LL / JSD (± s.e. over photos)."""
    held = run.metrics
    line = f"{name} seed {seed}: {run.selection}"
    if "test_ll" in held:
        line += (f"; test LL {held['test_ll']:.3f} ± {held['test_ll_se']:.3f} nats/edit "
                 f"(S={held['test_ll_num_samples']}); JSD {held['test_jsd']:.4f} ± {held['test_jsd_se']:.4f} "
                 f"({bins} bins, log2)")
    return line


def train_model(request: TrainRequest) -> tuple[list[TrainingRun], str]:
    """Train (or search), select, score and write one folder per seed: (the runs in seed order, result lines).

    FileNotFoundError / ValueError on a missing or unusable dataset.
    """
    data = read_edits(request.dataset)
    seeds = request.seed_values
    found = seed_folders(request.folder)
    if found and found[0][0] is None:
        log.warning("train: %s holds a model of the layout before seeds; the seed-<s>/ folders written now take "
                    "precedence over it", request.folder)
    others = [s for s, _ in found if s is not None and s not in seeds]
    if others:
        log.warning("train: %s also holds seed(s) %s from an earlier run; evaluate-models compares every seed "
                    "folder, so delete those to leave them out", request.folder, ", ".join(map(str, others)))
    runs, lines = [], []
    for seed in seeds:
        settings = dataclasses.replace(request.settings,
                                       config=dataclasses.replace(request.settings.config, seed=seed))
        folder = seed_folder(request.folder, seed)
        with staged_model_folder(folder, resume=request.resume) as store:   # replaced only when it finished
            run = run_training(data, settings, store=store, resume=request.resume and not settings.trials,
                               provenance={"dataset": request.dataset, "training_seed": seed})
        runs.append(run)
        lines.append(result_line(settings.model, seed, run, settings.jsd_bins))
        log.info("%s", lines[-1])
    where = ", ".join(f"seed-{s}" for s in seeds)
    return runs, "\n".join(lines + [f"model written to {request.folder} ({where})"])


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="photoedit train", description=TRAIN_HELP,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", required=True, help="dataset root (local path or Beam filesystem URI)")
    p.add_argument("--model", required=True, choices=sorted(MODELS), help="which model to train")
    p.add_argument("--search", action="store_true", help="hyper-parameter search (any model, same procedure)")
    p.add_argument("--no-input-search", action="store_true",
                   help="train the given setting alone, without the input candidates and screen (faster)")
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
    p.add_argument("--seed", type=int, default=0, help="first training seed: initialisation, batches and noise "
                                                          "(default 0)")
    p.add_argument("--seeds", type=int, default=DEFAULT_SEEDS,
                   help="training seeds K: seeds --seed .. --seed + K - 1, one folder seed-<s>/ each, for the "
                        "mean +- s.d. over seeds of evaluate-models (default %(default)s)")
    p.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N (default cpu)")
    p.add_argument("--out", default=None, help="model folder (default <dataset>/models/<model>); seeds go "
                                               "into <out>/seed-<s>/")
    p.add_argument("--resume", action="store_true", help="continue each seed from <out>/seed-<s>/training_state.pt")
    for flag, key, text in [("--hidden", "hidden", "hidden units per layer"),
                            ("--layers", "layers", "hidden layers per network"),
                            ("--latent-dim", "latent_dim", "VAEs: latent dimension"),
                            ("--clusters", "num_clusters", "VAEs: number of clusters L"),
                            ("--components", "components", "MDN: mixture components")]:
        p.add_argument(flag, dest=key, type=int, default=DEFAULTS[key], help=f"{text} (default %(default)s)")
    p.add_argument("--cluster-prior", choices=CLUSTER_PRIORS, default="fixed",
                   help="CGM-VAE: p(s) of the style clusters, the paper's fixed pi or pi(x) that follows the photo "
                        "(an ablation, not the paper's model; default fixed)")
    p.add_argument("--is-samples", type=int, default=DEFAULT_IS_SAMPLES,
                   help=f"samples for the importance-sampled / LBN log-likelihood (default {DEFAULT_IS_SAMPLES})")
    p.add_argument("--jsd-bins", type=int, default=DEFAULT_BINS, help=f"histogram bins for JSD (default {DEFAULT_BINS})")
    p.add_argument("--no-progress", action="store_true", help="no progress bar over the epochs")
    p.add_argument("--verbose", action="store_true", help="every log line, one per epoch too")
    return p


def model_kwargs(name: str, values: Mapping[str, Any] = DEFAULTS) -> dict:
    """Constructor arguments of the named model from flag values keyed like modeling.search.DEFAULTS (its defaults)."""
    return {axis: values[axis] for axis in default_kwargs(name)}


def run(argv: list[str] | None = None) -> int:
    """`photoedit train`: 0 when the model was trained and written, 2 on a missing or unusable dataset."""
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose, local_log_dir(args.dataset), "train")
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, patience=args.patience,
                         weight_decay=args.weight_decay, seed=args.seed, device=args.device,
                         val_samples=args.val_samples, progress=not args.no_progress)
    kwargs = model_kwargs(args.model, vars(args))
    if args.cluster_prior != "fixed":
        if args.model != "cgmvae":
            log.error("train: --cluster-prior %s is a CGM-VAE option, not for %s", args.cluster_prior, args.model)
            return 2
        kwargs["cluster_prior"] = args.cluster_prior
    settings = TrainSettings(args.model, kwargs, config,
                             trials=args.trials if args.search else 0, input_search=not args.no_input_search,
                             is_samples=args.is_samples, jsd_bins=args.jsd_bins)
    try:
        _, result = train_model(TrainRequest(dataset=args.dataset, settings=settings, out=args.out,
                                             resume=args.resume, seeds=args.seeds))
    except (FileNotFoundError, ValueError) as exc:
        log.error("train: %s", exc)
        return 2
    sys.stdout.write(result + "\n")
    return 0
