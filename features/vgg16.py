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
