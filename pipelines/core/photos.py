"""A photos/ row opened for rendering: its raw file decoded through the storage layer, and its as-shot white."""
from __future__ import annotations

import math
from typing import Any, Mapping

from pipelines.core import storage


def as_shot_white(photo_row: Mapping[str, Any], photo: Any) -> tuple[float, float]:
    """(temperature K, tint) as shot: from photos/ when ingest filled both, else from the raw file's profile."""
    temperature, tint = photo_row.get("as_shot_temperature"), photo_row.get("as_shot_tint")
    if temperature is None or tint is None or not (math.isfinite(temperature) and math.isfinite(tint)):
        return photo.profile.as_shot_white()
    return float(temperature), float(tint)


def open_photo(photo_row: Mapping[str, Any], long_side: int | None) -> Any:
    """The row's `raw_uri` (local path or any Beam URI) decoded at `long_side` px (rendering.raw.Photo)."""
    from rendering.raw import load_photo

    uri = photo_row["raw_uri"]
    return load_photo(storage.read_bytes(uri), long_side=long_side, name=uri)
