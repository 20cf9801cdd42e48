"""Keras VGG-16 up to `fc2` (the paper's FC7): 4096-d features of a [B, 224, 224, 3] preprocessed batch.

Real ImageNet weights come from a local file the user supplies, e.g. Keras' own
`vgg16_weights_tf_dim_ordering_tf_kernels.h5` (the file `keras.applications.VGG16(weights="imagenet")`
downloads into ~/.keras/models/), or a whole saved model (.keras / .h5). `random` builds the same
architecture with a fixed seed: for tests and the demo only, the features mean nothing.
"""
from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

FC7_LAYER = "fc2"
FC7_DIM = 4096
RANDOM_WEIGHTS = "random"
RANDOM_SEED = 1234
WEIGHTS_FILE_NAME = "vgg16_weights_tf_dim_ordering_tf_kernels.h5"


def build_fc7_model(weights: str):
    """keras.Model: [B, 224, 224, 3] (vgg16.preprocess_input applied) -> [B, 4096] `fc2` activations."""
    import keras

    if weights == RANDOM_WEIGHTS:
        log.warning("!" * 78)
        log.warning("VGG-16 with RANDOM weights (seed %d): features are MEANINGLESS, for tests and the "
                    "demo only. Pass --weights /path/%s for real FC7 features.", RANDOM_SEED, WEIGHTS_FILE_NAME)
        log.warning("!" * 78)
        vgg = keras.applications.VGG16(weights=None, include_top=True)
        seed_weights(vgg, RANDOM_SEED)
    else:
        if not os.path.isfile(weights):
            raise FileNotFoundError(
                f"VGG-16 weights file {weights!r} not found; pass Keras' {WEIGHTS_FILE_NAME} "
                "(or a saved .keras model) or 'random'")
        vgg = _load_vgg(weights)
    return keras.Model(vgg.input, vgg.get_layer(FC7_LAYER).output, name="vgg16_fc7")


def seed_weights(model, seed: int) -> None:
    """Overwrite every kernel with Glorot-uniform draws and every bias with zeros from a numpy Generator
    seeded by `seed`: the same weights in any process and thread (Keras' own random initialisers draw
    from Python's global `random`, which a Dask worker's other threads also use)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    for layer in model.layers:
        values = layer.get_weights()
        if not values:
            continue
        kernel = values[0]
        receptive = int(np.prod(kernel.shape[:-2])) if kernel.ndim > 2 else 1
        fan_in, fan_out = receptive * kernel.shape[-2], receptive * kernel.shape[-1]
        limit = float(np.sqrt(6.0 / (fan_in + fan_out)))
        layer.set_weights([rng.uniform(-limit, limit, kernel.shape).astype(np.float32),
                           *[np.zeros_like(v) for v in values[1:]]])


def check_weights(path: str) -> None:
    """Fail fast, in one line, on a weights file the workers could not load: ValueError unless `path` is
    an HDF5 file (Keras weights or a saved model) holding a 4096 x 4096 kernel (fc2), or a .keras
    archive whose config.json has a layer named fc2.

    Reads only the file's structure (a fraction of a second), never the weights.
    """
    import json
    import zipfile

    import h5py

    if path == RANDOM_WEIGHTS:
        return
    if not os.path.isfile(path):
        raise ValueError(f"VGG-16 weights file not found: {path}")
    try:
        if path.endswith(".keras"):
            with zipfile.ZipFile(path) as archive:
                archive.getinfo("model.weights.h5")
                config = json.loads(archive.read("config.json"))
            if FC7_LAYER not in _layer_names(config):
                raise ValueError(f"its config.json has no layer named {FC7_LAYER}: not a VGG-16 with its top layers")
            return
        with h5py.File(path, "r") as f:
            shapes = _kernel_shapes(f)
    except (OSError, KeyError, zipfile.BadZipFile, ValueError) as exc:
        detail = str(exc).splitlines()[0].strip("'\"") if str(exc) else type(exc).__name__
        raise ValueError(f"VGG-16 weights file {path} cannot be used: {detail}") from None
    if (FC7_DIM, FC7_DIM) not in shapes:
        raise ValueError(f"VGG-16 weights file {path} holds no {FC7_DIM} x {FC7_DIM} kernel (the {FC7_LAYER} "
                         "layer): not VGG-16 weights with the top layers (include_top=True)")


def _layer_names(config: object) -> set[str]:
    """Every "name" of a layer in a Keras model config (nested functional / sequential configs too)."""
    names: set[str] = set()
    if isinstance(config, dict):
        if isinstance(config.get("config"), dict) and isinstance(config["config"].get("name"), str):
            names.add(config["config"]["name"])
        for value in config.values():
            names |= _layer_names(value)
    elif isinstance(config, list):
        for value in config:
            names |= _layer_names(value)
    return names


def _kernel_shapes(f) -> set[tuple[int, ...]]:
    """Shapes of every 2-d dataset in an open HDF5 file."""
    import h5py

    shapes: set[tuple[int, ...]] = set()
    f.visititems(lambda _, obj: shapes.add(tuple(obj.shape)) if isinstance(obj, h5py.Dataset) and obj.ndim == 2
                 else None)
    return shapes


def _load_vgg(path: str):
    """A VGG-16 from a weights file (Keras' .h5 / .weights.h5) or a whole saved model (.keras / .h5)."""
    import keras

    if path.endswith(".keras"):
        return keras.models.load_model(path, compile=False)
    try:
        return keras.applications.VGG16(weights=path, include_top=True)
    except Exception as weights_error:  # maybe a whole model saved as .h5
        try:
            return keras.models.load_model(path, compile=False)
        except Exception:
            raise ValueError(f"{path!r} is neither VGG-16 weights nor a saved VGG-16 model: "
                             f"{weights_error}") from weights_error
