"""Explicit pyarrow schemas of every Parquet output (the contracts between stages).

Sliders are stored in Lightroom units, one float64 column per catalog key of the Camera Raw 2003
spec (`rendering.sliders.PROCESS_2003.keys`), so Parquet readers see the catalog's own names.
"""
from __future__ import annotations

import pyarrow as pa

from rendering.sliders import NUM_SLIDERS, PROCESS_2003

SLIDER_KEYS: list[str] = PROCESS_2003.keys
NO_ADJUSTMENT = "no_adjustment"   # evaluation/ `model` of the as-shot render, the reference row
FC7_DIM = 4096

_slider_fields = [pa.field(k, pa.float64(), nullable=False) for k in SLIDER_KEYS]

PHOTOS = pa.schema([
    pa.field("photo_id", pa.string(), nullable=False),       # "a0001"
    pa.field("file_name", pa.string(), nullable=False),      # "a0001-jmac_DSC1459"
    pa.field("raw_uri", pa.string(), nullable=False),
    pa.field("camera_make", pa.string()),
    pa.field("camera_model", pa.string()),
    pa.field("location", pa.string()),
    pa.field("time", pa.string()),
    pa.field("light", pa.string()),
    pa.field("subject", pa.string()),
    pa.field("split", pa.string(), nullable=False),          # train | validation | test
    pa.field("as_shot_temperature", pa.float64()),           # K, from the DNG's AsShotNeutral
    pa.field("as_shot_tint", pa.float64()),
])

EDITS = pa.schema([
    pa.field("photo_id", pa.string(), nullable=False),
    pa.field("editor", pa.string(), nullable=False),         # expert "A".."E" or a user id
    pa.field("editor_kind", pa.string(), nullable=False),    # "expert" | "user"
    *_slider_fields,                                         # Lightroom units
    pa.field("process_version", pa.string()),                # catalog ProcessVersion / Version
    pa.field("tone_curve", pa.list_(pa.float64())),          # flat (x0, y0, x1, y1, ...), 0..255
    pa.field("white_balance", pa.string()),                  # "As Shot" | "Custom" | ...
    pa.field("settings_sha256", pa.string(), nullable=False),
])

VARIANTS = pa.schema([
    pa.field("image_id", pa.string(), nullable=False),       # "<photo_id>_v<variant>"
    pa.field("photo_id", pa.string(), nullable=False),
    pa.field("variant", pa.int32(), nullable=False),         # 0 = the original, 1..K noisy
    pa.field("seed", pa.int64(), nullable=False),
    pa.field("noise", pa.list_(pa.float64(), NUM_SLIDERS), nullable=False),     # model space
    pa.field("sliders", pa.list_(pa.float64(), NUM_SLIDERS), nullable=False),   # Lightroom units rendered
    pa.field("image_uri", pa.string(), nullable=False),
    pa.field("width", pa.int32(), nullable=False),
    pa.field("height", pa.int32(), nullable=False),
])

VARIANT_EDITS = pa.schema([
    pa.field("image_id", pa.string(), nullable=False),
    pa.field("photo_id", pa.string(), nullable=False),
    pa.field("variant", pa.int32(), nullable=False),
    pa.field("editor", pa.string(), nullable=False),
    pa.field("editor_kind", pa.string(), nullable=False),
    *_slider_fields,                                         # target: expert - noise, clipped
    pa.field("tone_curve", pa.list_(pa.float64())),
])

FEATURES = pa.schema([
    pa.field("image_id", pa.string(), nullable=False),
    pa.field("photo_id", pa.string(), nullable=False),
    pa.field("variant", pa.int32(), nullable=False),
    pa.field("fc7", pa.list_(pa.float32(), FC7_DIM), nullable=False),
])

PREDICTIONS = pa.schema([                                     # written by `photoedit evaluate`
    pa.field("photo_id", pa.string(), nullable=False),
    pa.field("model", pa.string(), nullable=False),           # mlp | mdn | lbn | cgmvae | pvae
    pa.field("proposal", pa.int32(), nullable=False),         # 0..P-1 (P = 20 by default)
    pa.field("cluster", pa.int32()),                          # mixture component drawn from, if any
    *_slider_fields,                                          # Lightroom units
])

EVALUATION = pa.schema([                                      # one row per test photo x model x P x expert
    pa.field("photo_id", pa.string(), nullable=False),
    pa.field("model", pa.string(), nullable=False),           # a model name, or "no_adjustment"
    pa.field("expert", pa.string(), nullable=False),          # "A".."E"
    pa.field("proposals", pa.int32(), nullable=False),        # P the alignment chose from (20, 3); 0 for no_adjustment
    pa.field("proposal", pa.int32(), nullable=False),         # aligned proposal index; -1 for no_adjustment
    pa.field("lab_error", pa.float64(), nullable=False),      # mean per-pixel CIE-LAB dE76 (D50)
    pa.field("lab_rms", pa.float64(), nullable=False),        # RMS of the per-pixel dE76
    pa.field("reference", pa.string(), nullable=False),       # "renderer" | "tiff"
    pa.field("size", pa.int32(), nullable=False),             # long side (px) the error was measured at
    *_slider_fields,                                          # the rendered sliders, Lightroom units
])

FITS = pa.schema([                                            # written by `photoedit fit --pairs`
    pa.field("photo_id", pa.string(), nullable=False),
    pa.field("delta_e", pa.float64(), nullable=False),        # mean ΔE76 (D50) of the fitted render vs AFTER
    pa.field("delta_e_start", pa.float64(), nullable=False),  # the same for the neutral sliders
    pa.field("prior", pa.string(), nullable=False),           # which prior the MAP fit used ("none": ML)
    pa.field("prior_weight", pa.float64(), nullable=False),   # its weight (ΔE per nat)
    pa.field("pinned", pa.list_(pa.string()), nullable=False),  # sliders at a range end ("Key=value (max)")
    pa.field("seconds", pa.float64(), nullable=False),
    pa.field("before_uri", pa.string(), nullable=False),
    pa.field("after_uri", pa.string(), nullable=False),
])

ERRORS = pa.schema([
    pa.field("id", pa.string(), nullable=False),             # photo id, image id or file name
    pa.field("stage", pa.string(), nullable=False),
    pa.field("reason", pa.string(), nullable=False),         # exception class: message
    pa.field("uri", pa.string()),
])


def image_id(photo_id: str, variant: int) -> str:
    """`<photo_id>_v<variant>`, the key of variants/, variant_edits/, features/ and images/."""
    return f"{photo_id}_v{variant}"


def features_schema(dim: int) -> pa.Schema:
    """FEATURES with a feature width other than 4096 (TF-Hub modules)."""
    if dim == FC7_DIM:
        return FEATURES
    return FEATURES.set(FEATURES.get_field_index("fc7"),
                        pa.field("fc7", pa.list_(pa.float32(), dim), nullable=False))
