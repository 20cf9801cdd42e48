"""A photos/ row opened for rendering: its raw file decoded through the storage layer, its as-shot white
balance, and what the photo looks like unedited."""
from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

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


def unedited(as_shot: tuple[float, float]) -> tuple[np.ndarray, list[float]]:
    """(sliders [11] in Lightroom units, point curve) of an unedited photo as Lightroom shows it: Camera
    Raw 2003's defaults (Brightness 50, Contrast 25, Shadows 5, the Medium Contrast curve) at the
    as-shot white balance. This is evaluate's `no_adjustment` row and the report's input thumbnail."""
    from rendering.sliders import default_look
    from rendering.tone import MEDIUM_CONTRAST

    return default_look(*as_shot), list(MEDIUM_CONTRAST)
