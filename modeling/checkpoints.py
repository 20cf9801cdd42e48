"""Model checkpoints as bytes: checkpoint.pt (state dict only), config.json (class, kwargs, feature
stats, settings), metrics.json. Where the files live is the caller's business (photoedit's model
folders: pipelines.core.model_store); this module turns a model into those files and back.

Loading uses torch.load(weights_only=True): a checkpoint carrying pickled Python objects is refused.
"""
from __future__ import annotations

import io
import json
import pickle
from typing import Any

import torch

from modeling.networks import SliderModel
from modeling.registry import build_model, model_name

CHECKPOINT = "checkpoint.pt"
CONFIG = "config.json"
METRICS = "metrics.json"


class CheckpointError(ValueError):
    """A checkpoint is missing, malformed or carries a payload other than plain tensors."""


def json_bytes(payload: Any) -> bytes:
    """Indented, key-sorted UTF-8 JSON."""
    return json.dumps(payload, indent=2, sort_keys=True).encode("utf-8")


def tensors_to_bytes(obj: Any) -> bytes:
    """torch.save of a state dict (or nested dict / list of tensors and numbers) as bytes."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def tensors_from_bytes(data: bytes, name: str, device: str | torch.device = "cpu") -> Any:
    """torch.load with weights_only=True; CheckpointError (naming `name`) for pickled objects or garbage."""
    try:
        return torch.load(io.BytesIO(data), map_location=device, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, AttributeError, TypeError) as exc:
        raise CheckpointError(f"refusing to load {name}: not a plain tensor checkpoint "
                              f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]})") from exc


def model_config(model: SliderModel, config: dict) -> dict:
    """config.json of a model: the caller's `config` plus `model` (registry name), `model_class`,
    `kwargs` (constructor arguments, feature_dim included), `feature_dim`, `feature_mean` / `feature_std`."""
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
    return full


def model_files(model: SliderModel, config: dict, metrics: dict) -> dict[str, bytes]:
    """{file name: bytes} of a model folder: checkpoint.pt, config.json (model_config), metrics.json."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return {CHECKPOINT: tensors_to_bytes(state), CONFIG: json_bytes(model_config(model, config)),
            METRICS: json_bytes(metrics)}


def model_from_files(config: dict, checkpoint: bytes, name: str = "model",
                     device: str | torch.device = "cpu") -> SliderModel:
    """Rebuild a model from its config.json value and checkpoint.pt bytes, on `device`, in eval mode."""
    if "model" not in config or "kwargs" not in config:
        raise CheckpointError(f"{name}/{CONFIG} lacks 'model' / 'kwargs'")
    model = build_model(config["model"], **config["kwargs"])
    state = tensors_from_bytes(checkpoint, f"{name}/{CHECKPOINT}", device="cpu")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{name}/{CHECKPOINT} is not a state dict of tensors")
    model.load_state_dict(state)
    return model.to(device).eval()
