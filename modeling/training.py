"""Training loop for every slider model: AdamW on minibatches (decoupled weight decay), an optional
group-lasso proximal step on the first layers' input columns (modeling.projection), early
stopping and model selection on a validation estimate of the predictive log-likelihood (the
metric the models are compared on: exact for MLP/MDN, importance-sampled for the VAEs and the
LBN), seeds, progress bar and resumable training state."""
from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from modeling.checkpoints import tensors_from_bytes, tensors_to_bytes
from modeling.cluster_init import initial_cluster_targets
from modeling.data import EditsData, FeatureNormaliser
from modeling.input_screening import InputScreening
from modeling.metrics import predictive_log_likelihood
from modeling.networks import SliderModel
from modeling.projection import group_soft_threshold, pca_basis
from modeling.registry import build_model

log = logging.getLogger(__name__)

TRAINING_STATE = "training_state.pt"


@dataclass
class TrainConfig:
    """Optimisation settings (one record per run; stored in config.json)."""

    epochs: int = 100
    batch_size: int = 128          # edits per minibatch (P-VAE: whole users up to about this many edits)
    lr: float = 1e-3
    weight_decay: float = 0.0      # AdamW's decoupled weight decay
    input_penalty: float = 0.0     # group lasso on first-layer input columns, nats/edit per unit column norm
    patience: int = 10             # epochs without validation improvement before stopping
    seed: int = 0
    device: str = "cpu"
    grad_clip: float = 10.0
    warmup_epochs: int = 5         # VAEs: epochs with q(s) held near k-means labels (modeling.cluster_init)
    val_samples: int = 50          # importance samples of the validation LL (sampled models)
    progress: bool = True          # tqdm bar (log lines are written either way)


@dataclass
class TrainResult:
    """What a run did: the kept epoch and its validation LL (nats per edit, higher is better), and why."""

    best_epoch: int
    best_validation: float
    epochs_run: int
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    data_seconds: float = 0.0      # time spent slicing/moving minibatches
    stopped_early: bool = False
    reason: str = ""


def minibatches(num_rows: int, batch_size: int, generator: torch.Generator,
                users: np.ndarray | None = None) -> Iterator[torch.Tensor]:
    """Shuffled row-index batches [<=batch_size]; with `users`, whole users are kept together."""
    if users is None:
        order = torch.randperm(num_rows, generator=generator)
        yield from order.split(batch_size)
        return
    uniq, inv = np.unique(users, return_inverse=True)
    rows_of = [np.flatnonzero(inv == i) for i in range(len(uniq))]
    batch: list[np.ndarray] = []
    size = 0
    for u in torch.randperm(len(uniq), generator=generator).tolist():
        batch.append(rows_of[u])
        size += len(rows_of[u])
        if size >= batch_size:
            yield torch.from_numpy(np.concatenate(batch))
            batch, size = [], 0
    if batch:
        yield torch.from_numpy(np.concatenate(batch))


@torch.no_grad()
def proximal_input_step(model: SliderModel, optimiser: torch.optim.Optimizer, strength: float) -> torch.Tensor:
    """Group soft-threshold of the model's input columns after an Adam(W) step; the kept-input mask [input_dim].

    The threshold of input j is strength times the step Adam takes there: lr / (sqrt(mean over the
    group of the bias-corrected second moment) + eps), so `strength` is a penalty in nats per edit
    per unit column norm whatever the scale of the gradients.
    """
    weights = model.input_weights()
    group = optimiser.param_groups[0]
    lr, (_, beta2), eps = group["lr"], group["betas"], group["eps"]
    second, count = 0.0, 0
    for w in weights:
        state = optimiser.state.get(w, {})
        if "exp_avg_sq" not in state:
            return group_soft_threshold(weights, strength * lr)
        step = float(state["step"])
        second = second + state["exp_avg_sq"].sum(0) / (1.0 - beta2 ** step)
        count += w.shape[0]
    return group_soft_threshold(weights, strength * lr / (torch.sqrt(second / count) + eps))


def validation_ll(model: SliderModel, data: EditsData, config: TrainConfig) -> float:
    """Mean predictive LL per edit on `data` (nats), with the same seeded draws at every epoch."""
    was_training = model.training
    value = float(predictive_log_likelihood(model, data, data.y, num_samples=config.val_samples,
                                            batch_size=512, seed=config.seed).mean())
    model.train(was_training)
    return value


def train(model: SliderModel, train_data: EditsData, val_data: EditsData, config: TrainConfig,
          save_state: Callable[[bytes], None] | None = None, saved_state: bytes | None = None,
          on_improve: Callable[[SliderModel, int, float], None] | None = None) -> TrainResult:
    """Fit `model` by AdamW on minibatches of train_data; keep the epoch with the best validation LL.

    `save_state(bytes)`, if given, receives the training state (TRAINING_STATE: model / optimiser /
    best state dicts, epoch, history) after every epoch; `saved_state` (such bytes) resumes from it.
    `on_improve(model, epoch, val)` is called with the model at each new best epoch (e.g. to save a
    checkpoint). On return the model holds the best epoch's weights, in eval mode; `reason` says
    which epoch was kept and why.
    """
    device = torch.device(config.device)
    model.to(device).train()
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    start_epoch, best_val, best_epoch, history = 0, -math.inf, -1, []
    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if saved_state is not None:
        state = tensors_from_bytes(saved_state, TRAINING_STATE, device=device)
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        best_state = state["best_model"]
        start_epoch, best_val, best_epoch = int(state["epoch"]) + 1, float(state["best_val"]), int(state["best_epoch"])
        history = list(state["history"])
        log.info("resuming at epoch %d (best validation %.4f at epoch %d)", start_epoch, best_val, best_epoch)
    users = train_data.users if model.needs_users else None
    targets = initial_cluster_targets(model, train_data.y.numpy(), train_data.users, seed=config.seed)
    if targets is not None and start_epoch < config.warmup_epochs:
        log.debug("k-means start: cluster sizes %s", np.bincount(targets, minlength=model.num_clusters).tolist())
    data_seconds, t0 = 0.0, time.perf_counter()
    stopped, ended = False, f"ran all {config.epochs} epochs"
    bar = tqdm(range(start_epoch, config.epochs), desc=type(model).__name__, disable=not config.progress,
               initial=start_epoch, total=config.epochs, leave=False)
    for epoch in bar:
        if epoch - best_epoch > config.patience and best_epoch >= 0:
            stopped, ended = True, f"stopped before epoch {epoch}: no gain for {config.patience} epochs"
            break
        model.train()
        torch.manual_seed(config.seed * 100_003 + epoch)  # reparameterisation / gate noise
        gen = torch.Generator().manual_seed(config.seed * 100_003 + epoch)
        total, count, e0, kept = 0.0, 0, time.perf_counter(), None
        for idx in minibatches(len(train_data), config.batch_size, gen, users):
            d0 = time.perf_counter()
            xb = train_data.x_at(idx).to(device, non_blocking=True)
            yb = train_data.y[idx].to(device, non_blocking=True)
            ub = torch.from_numpy(train_data.users[idx.numpy()]).to(device) if users is not None else None
            tb = (torch.from_numpy(targets[idx.numpy()]).to(device)
                  if targets is not None and epoch < config.warmup_epochs else None)
            data_seconds += time.perf_counter() - d0
            objective = model.objective(xb, yb, ub) if tb is None else model.objective(xb, yb, ub, cluster_targets=tb)
            loss = -objective.mean()
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimiser.step()
            if config.input_penalty:
                kept = proximal_input_step(model, optimiser, config.input_penalty)
            total += float(objective.detach().sum())
            count += len(idx)
        train_obj = total / max(count, 1)
        val_obj = validation_ll(model, val_data, config) if len(val_data) else train_obj
        seconds = time.perf_counter() - e0
        history.append({"epoch": epoch, "train_objective": train_obj, "validation_ll": val_obj,
                        "seconds": seconds})
        if kept is not None:
            history[-1]["inputs_kept"] = int(kept.sum())
        improved = val_obj > best_val
        if improved:
            best_val, best_epoch = val_obj, epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if on_improve is not None:
                on_improve(model, epoch, val_obj)
        bar.set_postfix(train=f"{train_obj:.3f}", val=f"{val_obj:.3f}", best=best_epoch)
        log.debug("%s epoch %d: train objective %.4f, validation LL %.4f%s (%.1fs)", type(model).__name__,
                 epoch, train_obj, val_obj, " *" if improved else "", seconds)
        if not math.isfinite(train_obj):
            log.warning("objective is not finite; stopping")
            stopped, ended = True, f"stopped at epoch {epoch}: objective not finite"
            break
        if save_state is not None:
            save_state(tensors_to_bytes({"model": model.state_dict(), "optimiser": optimiser.state_dict(),
                                         "best_model": best_state, "epoch": epoch, "best_val": best_val,
                                         "best_epoch": best_epoch, "history": history}))
    bar.close()
    model.load_state_dict(best_state)
    model.eval()
    estimate = "exact" if model.exact_likelihood else f"{config.val_samples} importance samples"
    reason = (f"kept epoch {best_epoch}: best validation LL {best_val:.4f} nats/edit ({estimate}) "
              f"of {len(history)} epochs; {ended}")
    if config.input_penalty and history:
        kept_inputs = next((h.get("inputs_kept") for h in history if h["epoch"] == best_epoch), None)
        reason += f"; input group lasso {config.input_penalty:g}: {kept_inputs} of {model.input_dim} inputs kept"
    log.debug("%s %s", type(model).__name__, reason)   # `photoedit train` prints it with the test scores
    return TrainResult(best_epoch, best_val, len(history), history, time.perf_counter() - t0,
                       data_seconds, stopped, reason)


def new_model(name: str, train_data: EditsData, seed: int, basis: torch.Tensor | None = None,
              screening: InputScreening | None = None, **kwargs) -> SliderModel:
    """A freshly initialised (seeded) model with feature stats (and, with projection_dim > 0, the
    whitened PCA basis: `basis` [D, >= P] if precomputed) from the train split.

    kwargs["screened"] True (a candidate of modeling.search): the model reads the raw coordinates
    `screening` kept, after the PCA projection's P columns when projection_dim = P > 0.
    """
    torch.manual_seed(seed)
    norm = FeatureNormaliser.fit(train_data.image_features().cpu().numpy())
    screened = bool(kwargs.pop("screened", False))
    if screened and screening is None:
        raise ValueError("a screened-inputs candidate needs the input screening (modeling.input_screening)")
    dim = int(kwargs.get("projection_dim", 0))
    if dim:
        if basis is None:
            basis = standardised_pca(train_data, norm, dim, seed)
        if basis.shape[1] < dim:
            log.warning("projection_dim %d > %d available principal components: using %d", dim, basis.shape[1],
                        basis.shape[1])
            dim = kwargs["projection_dim"] = int(basis.shape[1])
    if screened and (len(screening.columns) or not dim):   # nothing kept beside PCA: PCA alone
        parts = [basis[:, :dim].cpu()] if dim else []
        basis = torch.cat([*parts, screening.basis()], dim=1)
        dim = kwargs["projection_dim"] = int(basis.shape[1])
    model = build_model(name, feature_dim=train_data.feature_dim, **kwargs)
    model.set_feature_stats(norm.mean, norm.std)
    if dim:
        model.set_projection(basis[:, :dim])
    return model


def standardised_pca(train_data: EditsData, norm: FeatureNormaliser, dim: int, seed: int) -> torch.Tensor:
    """Whitened PCA basis [D, <= dim] of the train split's standardised image features."""
    feats = train_data.image_features().cpu()
    standardised = (feats - torch.from_numpy(norm.mean)) / torch.from_numpy(norm.std)
    return pca_basis(standardised, dim, seed)


def config_dict(config: TrainConfig) -> dict:
    return asdict(config)
