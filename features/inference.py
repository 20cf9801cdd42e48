"""A Beam RunInference ModelHandler for the feature extractors (VGG-16 FC7 or a TF-Hub module).

The model is built in the worker (`load_model`), never pickled. Batches are run in chunks of a
FIXED shape (the last chunk zero-padded): oneDNN picks its matmul/convolution blocking from the
batch size, so the same image in batches of different sizes differs by ~1e-6; with a fixed shape
every image's features are bit-identical whatever batch Beam happened to form, so features/ rows
are the same on any number of workers and on rerun.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Optional, Sequence

import numpy as np
from apache_beam.ml.inference.base import ModelHandler, PredictionResult

from features.preprocess import VGG_SIZE, hub_input, vgg16_input

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeatureConfig:
    """Which extractor: VGG-16 `fc2` (weights file or 'random') or a TF-Hub module dir; batch shape."""

    weights: str = "random"
    hub_module: str | None = None
    hub_image_size: int = VGG_SIZE
    batch_size: int = 8

    @property
    def image_size(self) -> int:
        return self.hub_image_size if self.hub_module else VGG_SIZE

    def preprocess(self, data: bytes, name: str = "") -> np.ndarray:
        """Encoded image -> float32 [S, S, 3] model input for this extractor."""
        if self.hub_module:
            return hub_input(data, self.hub_image_size, name)
        return vgg16_input(data, name)

    def build(self) -> Callable[[np.ndarray], np.ndarray]:
        """The extractor: float32 [B, S, S, 3] -> np.float32 [B, D] (loads weights; call in workers)."""
        if self.hub_module:
            from features.hub import build_hub_model
            return build_hub_model(self.hub_module)
        from features.vgg16 import build_fc7_model
        model = build_fc7_model(self.weights)
        return lambda images: np.asarray(model(images, training=False), dtype=np.float32)


def run_fixed_batches(extract: Callable[[np.ndarray], np.ndarray], images: np.ndarray,
                      batch_size: int) -> np.ndarray:
    """Features [N, D] of images [N, S, S, 3], always calling `extract` on [batch_size, S, S, 3]."""
    out = []
    for start in range(0, len(images), batch_size):
        chunk = images[start:start + batch_size]
        n = len(chunk)
        if n < batch_size:
            chunk = np.concatenate([chunk, np.zeros((batch_size - n,) + chunk.shape[1:], chunk.dtype)])
        out.append(extract(chunk)[:n])
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


class FeatureModelHandler(ModelHandler[np.ndarray, PredictionResult, Any]):
    """RunInference handler: preprocessed images [S, S, 3] -> PredictionResult(image, features [D])."""

    def __init__(self, config: FeatureConfig):
        super().__init__()
        self._config = config

    def load_model(self) -> Callable[[np.ndarray], np.ndarray]:
        log.info("loading feature extractor %s", self._config)
        return self._config.build()

    def run_inference(self, batch: Sequence[np.ndarray], model: Callable[[np.ndarray], np.ndarray],
                      inference_args: Optional[dict[str, Any]] = None) -> Iterable[PredictionResult]:
        images = np.stack([np.asarray(x, dtype=np.float32) for x in batch])
        features = run_fixed_batches(model, images, self._config.batch_size)
        return [PredictionResult(None, f) for f in features]

    def batch_elements_kwargs(self) -> dict[str, int]:
        # full batches (fixed shape anyway); only a bundle's tail is smaller
        return {"min_batch_size": self._config.batch_size, "max_batch_size": self._config.batch_size}

    def get_metrics_namespace(self) -> str:
        return "features"
