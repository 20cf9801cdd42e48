"""Training loop for every slider model: Adam on minibatches, early stopping on the validation
objective, seeds, progress bar, resumable training state, and the paper's hyper-parameter search."""
from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterator

import numpy as np
import torch
from tqdm.auto import tqdm

from modeling.cluster_init import initial_cluster_targets
from modeling.checkpoints import load_tensors, save_tensors
from modeling.data import EditsData, FeatureNormaliser
from modeling.networks import SliderModel
from modeling.registry import build_model

log = logging.getLogger(__name__)

TRAINING_STATE = "training_state.pt"
# Saeedi et al.: latent dimension {2, 20} x number of clusters {1, 3, 5, 10}, chosen by validation VLB.
SEARCH_GRID: list[dict] = [{"latent_dim": d, "num_clusters": L} for d in (2, 20) for L in (1, 3, 5, 10)]


@dataclass
class TrainConfig:
    """Optimisation settings (one record per run; stored in config.json)."""

    epochs: int = 100
    batch_size: int = 128          # edits per minibatch (P-VAE: whole users up to about this many edits)
    lr: float = 1e-3
    weight_decay: float = 0.0
    patience: int = 10             # epochs without validation improvement before stopping
    seed: int = 0
    device: str = "cpu"
    grad_clip: float = 10.0
    warmup_epochs: int = 5         # VAEs: epochs with q(s) held near k-means labels (modeling.cluster_init)
    progress: bool = True          # tqdm bar (log lines are written either way)


@dataclass
class TrainResult:
    """What a run did: best epoch and its validation objective (nats per edit, higher is better)."""

    best_epoch: int
    best_validation: float
    epochs_run: int
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    data_seconds: float = 0.0      # time spent slicing/moving minibatches
    stopped_early: bool = False


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
def mean_objective(model: SliderModel, data: EditsData, batch_size: int = 512, seed: int = 0) -> float:
    """Training objective (VLB / LL / multi-sample bound) averaged per edit over `data` (nats)."""
    was_training = model.training
    model.eval()
    device = model.device
    gen = torch.Generator().manual_seed(seed)
    users = data.users if model.needs_users else None
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        total = 0.0
        for idx in minibatches(len(data), batch_size, gen, users):
            xb, yb = data.x_at(idx).to(device), data.y[idx].to(device)
            ub = torch.from_numpy(data.users[idx.numpy()]).to(device) if users is not None else None
            total += float(model.objective(xb, yb, ub).sum())
    model.train(was_training)
    return total / max(len(data), 1)


def _state_path(folder: str) -> str:
    return folder.rstrip("/") + "/" + TRAINING_STATE if "://" in folder else os.path.join(folder, TRAINING_STATE)


def train(model: SliderModel, train_data: EditsData, val_data: EditsData, config: TrainConfig,
          state_folder: str | None = None, resume: bool = False,
          on_improve: Callable[[SliderModel, int, float], None] | None = None) -> TrainResult:
    """Fit `model` by Adam on minibatches of train_data; keep the epoch with the best validation objective.

    With `state_folder`, training_state.pt (model/optimiser/best state dicts, epoch, history) is
    written after every epoch and `resume=True` continues from it. `on_improve(model, epoch, val)`
    is called with the model at each new best epoch (e.g. to save a checkpoint). On return the
    model holds the best epoch's weights, in eval mode.
    """
    device = torch.device(config.device)
    model.to(device).train()
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    start_epoch, best_val, best_epoch, history = 0, -math.inf, -1, []
    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if resume and state_folder:
        try:
            state = load_tensors(_state_path(state_folder), device=device)
        except FileNotFoundError:
            log.info("no %s under %s: starting afresh", TRAINING_STATE, state_folder)
        else:
            model.load_state_dict(state["model"])
            optimiser.load_state_dict(state["optimiser"])
            best_state = state["best_model"]
            start_epoch, best_val, best_epoch = int(state["epoch"]) + 1, float(state["best_val"]), int(state["best_epoch"])
            history = list(state["history"])
            log.info("resuming at epoch %d (best validation %.4f at epoch %d)", start_epoch, best_val, best_epoch)
    users = train_data.users if model.needs_users else None
    targets = initial_cluster_targets(model, train_data.y.numpy(), train_data.users, seed=config.seed)
    if targets is not None and start_epoch < config.warmup_epochs:
        log.info("k-means start: cluster sizes %s", np.bincount(targets, minlength=model.num_clusters).tolist())
    data_seconds, t0 = 0.0, time.perf_counter()
    stopped = False
    bar = tqdm(range(start_epoch, config.epochs), desc=type(model).__name__, disable=not config.progress,
               initial=start_epoch, total=config.epochs, leave=False)
    for epoch in bar:
        if epoch - best_epoch > config.patience and best_epoch >= 0:
            stopped = True
            break
        model.train()
        torch.manual_seed(config.seed * 100_003 + epoch)  # reparameterisation / gate noise
        gen = torch.Generator().manual_seed(config.seed * 100_003 + epoch)
        total, count, e0 = 0.0, 0, time.perf_counter()
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
            total += float(objective.detach().sum())
            count += len(idx)
        train_obj = total / max(count, 1)
        val_obj = mean_objective(model, val_data, seed=config.seed) if len(val_data) else train_obj
        seconds = time.perf_counter() - e0
        history.append({"epoch": epoch, "train_objective": train_obj, "validation_objective": val_obj,
                        "seconds": seconds})
        improved = val_obj > best_val
        if improved:
            best_val, best_epoch = val_obj, epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if on_improve is not None:
                on_improve(model, epoch, val_obj)
        bar.set_postfix(train=f"{train_obj:.3f}", val=f"{val_obj:.3f}", best=best_epoch)
        log.info("%s epoch %d: train objective %.4f, validation %.4f%s (%.1fs)", type(model).__name__,
                 epoch, train_obj, val_obj, " *" if improved else "", seconds)
        if not math.isfinite(train_obj):
            log.warning("objective is not finite; stopping")
            stopped = True
            break
        if state_folder:
            save_tensors({"model": model.state_dict(), "optimiser": optimiser.state_dict(),
                          "best_model": best_state, "epoch": epoch, "best_val": best_val,
                          "best_epoch": best_epoch, "history": history}, _state_path(state_folder))
    bar.close()
    model.load_state_dict(best_state)
    model.eval()
    return TrainResult(best_epoch, best_val, len(history), history, time.perf_counter() - t0,
                       data_seconds, stopped)


def new_model(name: str, train_data: EditsData, seed: int, **kwargs) -> SliderModel:
    """A freshly initialised (seeded) model with feature stats from the train split."""
    torch.manual_seed(seed)
    model = build_model(name, feature_dim=train_data.feature_dim, **kwargs)
    norm = FeatureNormaliser.fit(train_data.image_features().cpu().numpy())
    model.set_feature_stats(norm.mean, norm.std)
    return model


def search(name: str, train_data: EditsData, val_data: EditsData, config: TrainConfig,
           grid: list[dict] | None = None, base_kwargs: dict | None = None
           ) -> tuple[SliderModel, dict, TrainResult, list[dict]]:
    """Train one model per grid point and keep the best validation objective (VLB for the VAEs).

    Returns (best model, its kwargs, its TrainResult, one summary row per grid point).
    """
    grid = SEARCH_GRID if grid is None else grid
    best = None
    rows = []
    for point in grid:
        kwargs = {**(base_kwargs or {}), **point}
        model = new_model(name, train_data, config.seed, **kwargs)
        result = train(model, train_data, val_data, config)
        rows.append({**point, "validation_objective": result.best_validation, "best_epoch": result.best_epoch})
        log.info("search %s %s: validation objective %.4f", name, point, result.best_validation)
        if best is None or result.best_validation > best[2].best_validation:
            best = (model, kwargs, result)
    return best[0], best[1], best[2], rows


def config_dict(config: TrainConfig) -> dict:
    return asdict(config)
