"""Deterministic train/validation/test splits by photo id (a stable hash, never Python's hash())."""
from __future__ import annotations

import hashlib

SPLITS = ("train", "validation", "test")


def split_for(photo_id: str, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)) -> str:
    """The split of a photo: SHA-256 of its id mapped to [0, 1) and cut at the fractions."""
    if abs(sum(fractions) - 1.0) > 1e-9 or min(fractions) < 0:
        raise ValueError(f"split fractions must be non-negative and sum to 1, got {fractions}")
    digest = hashlib.sha256(photo_id.encode("utf-8")).digest()
    u = int.from_bytes(digest[:8], "big") / 2.0**64
    if u < fractions[0]:
        return SPLITS[0]
    if u < fractions[0] + fractions[1]:
        return SPLITS[1]
    return SPLITS[2]
