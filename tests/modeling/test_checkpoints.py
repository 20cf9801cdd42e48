"""Checkpoint round trip (files as bytes) for every model, and refusal of pickled payloads."""
from __future__ import annotations

import io
import json
import pickle

import pytest
import torch

from modeling.checkpoints import (
    CHECKPOINT,
    CONFIG,
    METRICS,
    CheckpointError,
    model_files,
    model_from_files,
)
from modeling.registry import MODELS, build_model


class Payload:
    """A custom object: loading it would run arbitrary unpickling."""

    def __init__(self):
        self.data = torch.zeros(3)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_round_trip_gives_the_same_outputs(name):
    torch.manual_seed(0)
    kwargs = {"hidden": 8, "projection_dim": 3, "input_dropout": 0.1} | (
        {"num_clusters": 3, "latent_dim": 2} if name in ("cgmvae", "pvae") else {})
    model = build_model(name, feature_dim=5, **kwargs)
    model.set_feature_stats(torch.arange(5.0), torch.full((5,), 2.0))
    model.set_projection(torch.randn(5, 3))                     # the PCA basis travels with the checkpoint
    files = model_files(model, {"slider_process": "2003", "note": "t"}, {"test_ll": 1.5})
    config = json.loads(files[CONFIG])
    loaded = model_from_files(config, files[CHECKPOINT])
    assert type(loaded) is type(model) and config["model"] == name and config["feature_dim"] == 5
    assert config["feature_mean"] == [0.0, 1.0, 2.0, 3.0, 4.0] and config["note"] == "t"
    assert torch.equal(loaded.projection, model.projection) and config["kwargs"]["input_dropout"] == 0.1
    assert json.loads(files[METRICS]) == {"test_ll": 1.5} and not loaded.training
    x, y = torch.randn(4, 5), torch.rand(4, 11) * 2 - 1
    for m in (model.eval(), loaded):
        m.outputs = (m.sample(x, 3, generator=torch.Generator().manual_seed(0)),
                     m.log_likelihood(x, y, num_samples=10, generator=torch.Generator().manual_seed(0)))
    assert torch.equal(model.outputs[0], loaded.outputs[0])
    assert torch.equal(model.outputs[1], loaded.outputs[1])


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_pickled_payload_is_refused():
    model = build_model("mlp", feature_dim=5, hidden=8)
    config = json.loads(model_files(model, {}, {})[CONFIG])
    buf = io.BytesIO()
    torch.save({"net.x_in.weight": Payload()}, buf)                         # pickles a custom class
    with pytest.raises(CheckpointError, match="refusing"):
        model_from_files(config, buf.getvalue())
    with pytest.raises(CheckpointError):                                    # a raw pickle, not even a torch zip
        model_from_files(config, pickle.dumps(Payload()))
    with pytest.raises(CheckpointError, match="lacks"):
        model_from_files({"slider_process": "2003"}, buf.getvalue())
