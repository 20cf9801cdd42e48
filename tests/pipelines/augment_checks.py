"""Helpers shared by the augment and portability tests: run the job, read its outputs as rows."""
from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
from PIL import Image

from pipelines.core.parquet_io import read_table

IN_PROCESS = ["--runner=FnApiRunner", "--direct_running_mode=in_memory"]
TWO_WORKERS = ["--runner=FnApiRunner", "--direct_running_mode=multi_processing", "--direct_num_workers=2"]
AUGMENT_ARGS = ["-K", "2", "--seed", "7", "--size", "64"]


def png_pixels(data: bytes) -> np.ndarray:
    """Decoded 8-bit pixels [H, W, 3] of a PNG (file bytes also carry the ICC profile's creation time)."""
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def pixel_hash(path: Path) -> str:
    """SHA-256 of an image's decoded pixels and size."""
    pixels = png_pixels(path.read_bytes())
    return hashlib.sha256(repr(pixels.shape).encode() + pixels.tobytes()).hexdigest()


def augment_outputs(root: Path) -> dict[str, object]:
    """variants/, variant_edits/, errors/augment rows (sorted, image URIs made root-relative) and image hashes."""
    variants = read_table(str(root / "variants"), sort_by=["image_id"]).to_pylist()
    for row in variants:
        row["image_uri"] = str(Path(row["image_uri"]).relative_to(root))
    edits = read_table(str(root / "variant_edits"), sort_by=["image_id", "editor"]).to_pylist()
    errors = read_table(str(root / "errors" / "augment"), sort_by=["id"], required=False).to_pylist()
    images = {p.name: pixel_hash(p) for p in sorted((root / "images").glob("*.png"))}
    return {"variants": variants, "variant_edits": edits, "errors": errors, "images": images}
