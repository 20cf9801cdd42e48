"""Shared test fixtures: the real files in ../shared/fixtures (skipped with a message when absent)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent
FIXTURES = PROJECT.parent / "shared" / "fixtures"

# Keep test processes light on the 2-core machines.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """../shared/fixtures, or skip the test when a checkout has no shared/ beside it."""
    if not FIXTURES.is_dir():
        pytest.skip(f"real-data fixtures not found at {FIXTURES}")
    return FIXTURES


@pytest.fixture(scope="session")
def fc7():
    """The random-weights VGG-16 fc2 model as a function [B, 224, 224, 3] -> [B, 4096], built once (138M parameters)."""
    import numpy as np

    from features.vgg16 import build_fc7_model
    model = build_fc7_model("random")
    return lambda x: np.asarray(model(x, training=False), dtype=np.float32)
