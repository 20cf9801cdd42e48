"""Any TF-Hub image feature-vector module (a SavedModel directory) as a feature extractor.

The module takes float32 [B, H, W, 3] RGB in [0, 1] (the TF-Hub image convention, H = W = the
module's size, 224 unless --hub-image-size says otherwise) and returns [B, D] features.
"""
from __future__ import annotations

import numpy as np


def build_hub_model(module_dir: str):
    """Callable: float32 [B, H, W, 3] in [0, 1] -> np.float32 [B, D], from a hub.KerasLayer."""
    import tensorflow as tf
    import tensorflow_hub as hub

    layer = hub.KerasLayer(module_dir, trainable=False)

    def extract(images: np.ndarray) -> np.ndarray:
        out = layer(tf.convert_to_tensor(images, dtype=tf.float32))
        return np.asarray(out, dtype=np.float32).reshape(len(images), -1)

    return extract


def feature_dim(module_dir: str, image_size: int) -> int:
    """Width D of a module's feature vector, probed with one black image."""
    return int(build_hub_model(module_dir)(np.zeros((1, image_size, image_size, 3), np.float32)).shape[1])
