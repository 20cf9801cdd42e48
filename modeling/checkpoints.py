"""Model checkpoints: checkpoint.pt (state dict only), config.json (class, kwargs, feature stats),
metrics.json. Folders may be local paths or Beam filesystem URIs (gs://, s3://).

Loading uses torch.load(weights_only=True): a checkpoint carrying pickled Python objects is refused.
"""
from __future__ import annotations

import io
import json
import os
import pickle

import torch

from modeling.networks import SliderModel
from modeling.registry import build_model, model_name

CHECKPOINT = "checkpoint.pt"
CONFIG = "config.json"
METRICS = "metrics.json"


class CheckpointError(ValueError):
    """A checkpoint folder is missing, malformed or carries a payload other than plain tensors."""


def _join(folder: str, name: str) -> str:
    if "://" in folder:
        from apache_beam.io.filesystems import FileSystems
        return FileSystems.join(folder, name)
    return os.path.join(folder, name)


def write_bytes(path: str, data: bytes) -> None:
    """Write bytes to a local path (parents created) or a Beam filesystem URI."""
    if "://" in path:
        from apache_beam.io.filesystems import FileSystems
        with FileSystems.create(path) as f:
            f.write(data)
        return
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def read_bytes(path: str) -> bytes:
    """Read bytes from a local path or a Beam filesystem URI (FileNotFoundError when absent)."""
    if "://" in path:
        from apache_beam.io.filesystems import FileSystems
        if not FileSystems.exists(path):
            raise FileNotFoundError(path)
        with FileSystems.open(path) as f:
            return f.read()
    with open(path, "rb") as f:
        return f.read()


def write_json(path: str, payload: dict) -> None:
    write_bytes(path, json.dumps(payload, indent=2, sort_keys=True).encode("utf-8"))


def read_json(path: str) -> dict:
    return json.loads(read_bytes(path).decode("utf-8"))


def save_tensors(obj, path: str) -> None:
    """torch.save a state dict (or nested dict/list of tensors and numbers) to a path or URI."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    write_bytes(path, buf.getvalue())


def load_tensors(path: str, device: str | torch.device = "cpu"):
    """torch.load with weights_only=True; CheckpointError for pickled objects or garbage."""
    data = read_bytes(path)
    try:
        return torch.load(io.BytesIO(data), map_location=device, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, AttributeError, TypeError) as exc:
        raise CheckpointError(f"refusing to load {path}: not a plain tensor checkpoint "
                              f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]})") from exc


def save_model(model: SliderModel, config: dict, metrics: dict, folder: str) -> None:
    """Write folder/checkpoint.pt (state dict), folder/config.json and folder/metrics.json.

    config.json gets `model` (registry name), `model_class`, `kwargs` (constructor arguments,
    feature_dim included), `feature_dim`, `feature_mean` / `feature_std` (standardisation stats
    [D]) added to the caller's `config` (slider spec process, training settings, ...).
    """
    full = dict(config)
    full.update({
        "model": model_name(model),
        "model_class": type(model).__name__,
        "kwargs": dict(model.init_kwargs),
        "feature_dim": model.feature_dim,
        "feature_mean": [float(v) for v in model.feature_mean.cpu()],
        "feature_std": [float(v) for v in model.feature_std.cpu()],
    })
    full.setdefault("slider_process", "2003")
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    save_tensors(state, _join(folder, CHECKPOINT))
    write_json(_join(folder, CONFIG), full)
    write_json(_join(folder, METRICS), metrics)


def load_model(folder: str, device: str | torch.device = "cpu") -> tuple[SliderModel, dict]:
    """Rebuild the model of a checkpoint folder on `device` in eval mode; returns (model, config)."""
    try:
        config = read_json(_join(folder, CONFIG))
    except FileNotFoundError:
        raise CheckpointError(f"no {CONFIG} under {folder}: not a model folder") from None
    if "model" not in config or "kwargs" not in config:
        raise CheckpointError(f"{folder}/{CONFIG} lacks 'model' / 'kwargs'")
    model = build_model(config["model"], **config["kwargs"])
    state = load_tensors(_join(folder, CHECKPOINT), device="cpu")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{folder}/{CHECKPOINT} is not a state dict of tensors")
    model.load_state_dict(state)
    return model.to(device).eval(), config


def load_metrics(folder: str) -> dict:
    """metrics.json of a model folder."""
    return read_json(_join(folder, METRICS))
