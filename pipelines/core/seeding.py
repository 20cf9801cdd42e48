"""Random generators keyed by (global seed, photo id, index): same numbers on any worker and rerun."""
from __future__ import annotations

import hashlib

import numpy as np


def keyed_rng(seed: int, *keys: str | int) -> np.random.Generator:
    """A numpy Generator seeded from SHA-256 of the seed and keys (never Python's salted hash())."""
    text = "\x1f".join([str(int(seed))] + [str(k) for k in keys])
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    words = np.frombuffer(digest, dtype=np.uint32)
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(words.tolist())))
