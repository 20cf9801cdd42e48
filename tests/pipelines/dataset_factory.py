"""Tiny photos/ + edits/ datasets for pipeline tests: pidng Bayer DNGs and hand-made Parquet rows."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa

from pipelines.layout import DatasetLayout
from pipelines.parquet_io import write_table
from pipelines.schemas import EDITS, PHOTOS, SLIDER_KEYS
from rendering.sliders import PROCESS_2003

# A plausible camera: XYZ -> camera RGB (ColorMatrix1, D65) and a daylight-ish as-shot neutral.
COLOR_MATRIX = [[0.7, -0.1, -0.05], [-0.3, 1.1, 0.2], [-0.05, 0.15, 0.6]]        # D65
COLOR_MATRIX_A = [[0.8, -0.2, 0.0], [-0.35, 1.15, 0.25], [-0.02, 0.2, 0.45]]      # Standard light A
AS_SHOT_NEUTRAL = [0.5, 1.0, 0.7]
EXPERTS = ("A", "B", "C")


def _rational(x: float) -> list[int]:
    return [int(round(x * 10000)), 10000]


def write_dng(path: str | Path, size: int = 96, seed: int = 0) -> str:
    """A size x size 12-bit RGGB Bayer DNG with smooth random content; returns its path."""
    from pidng.core import RAW2DNG, DNGTags, Tag
    from pidng.defs import CalibrationIlluminant, CFAPattern, DNGVersion, PhotometricInterpretation

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    rgb = np.stack([0.2 + 0.6 * xx, 0.2 + 0.6 * yy, 0.5 + 0.3 * np.sin(6 * xx * yy + seed)], axis=-1)
    rgb = np.clip(rgb * rng.uniform(0.6, 1.0, size=3) + rng.normal(0, 0.01, rgb.shape), 0, 1)
    mosaic = np.empty((size, size), dtype=np.float64)
    mosaic[0::2, 0::2] = rgb[0::2, 0::2, 0]
    mosaic[0::2, 1::2] = rgb[0::2, 1::2, 1]
    mosaic[1::2, 0::2] = rgb[1::2, 0::2, 1]
    mosaic[1::2, 1::2] = rgb[1::2, 1::2, 2]
    raw = (mosaic * 4095).astype(np.uint16)

    t = DNGTags()
    t.set(Tag.ImageWidth, size)
    t.set(Tag.ImageLength, size)
    t.set(Tag.TileWidth, size)
    t.set(Tag.TileLength, size)
    t.set(Tag.Orientation, 1)
    t.set(Tag.PhotometricInterpretation, PhotometricInterpretation.Color_Filter_Array)
    t.set(Tag.SamplesPerPixel, 1)
    t.set(Tag.BitsPerSample, 16)
    t.set(Tag.CFARepeatPatternDim, [2, 2])
    t.set(Tag.CFAPattern, CFAPattern.RGGB)
    t.set(Tag.BlackLevel, 0)
    t.set(Tag.WhiteLevel, 4095)
    t.set(Tag.ColorMatrix1, [_rational(v) for row in COLOR_MATRIX for v in row])
    t.set(Tag.CalibrationIlluminant1, CalibrationIlluminant.D65)
    t.set(Tag.ColorMatrix2, [_rational(v) for row in COLOR_MATRIX_A for v in row])
    t.set(Tag.CalibrationIlluminant2, CalibrationIlluminant.Standard_Light_A)
    t.set(Tag.AsShotNeutral, [_rational(v) for v in AS_SHOT_NEUTRAL])
    t.set(Tag.Make, "Test")
    t.set(Tag.Model, "Bayer96")
    t.set(Tag.UniqueCameraModel, "Test Bayer96")
    t.set(Tag.DNGVersion, DNGVersion.V1_4)
    t.set(Tag.DNGBackwardVersion, DNGVersion.V1_2)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = RAW2DNG()
    writer.options(t, path=str(path.parent), compress=False)
    writer.convert(raw, filename=path.name)
    return str(path)


def expert_sliders(rng: np.random.Generator, as_shot_temperature: float) -> np.ndarray:
    """Random but plausible expert sliders [11] (Lightroom units), some at their range ends."""
    spec = PROCESS_2003
    model = rng.uniform(-0.6, 0.6, size=len(spec))
    model[spec.index("Temperature")] = spec.sliders[spec.index("Temperature")].to_model(as_shot_temperature) + rng.uniform(-0.1, 0.1)
    model[spec.index("HighlightRecovery")] = -1.0            # at the range end: targets must clip
    model[spec.index("Brightness")] = rng.choice([-1.0, 0.99])
    return spec.from_model(model)


def make_dataset(root: str | Path, num_photos: int = 4, raw_size: int = 96, seed: int = 0,
                 corrupt: tuple[str, ...] = (), missing: tuple[str, ...] = (),
                 experts: tuple[str, ...] = EXPERTS, as_shot: tuple[float, float] = (5200.0, 4.0)) -> DatasetLayout:
    """photos/ and edits/ Parquet for `num_photos` DNGs under root/raw; ids in `corrupt` get junk
    bytes instead of a DNG, ids in `missing` point at a file that does not exist."""
    root = Path(root)
    layout = DatasetLayout(str(root))
    rng = np.random.default_rng(seed)
    photos, edits = [], []
    for i in range(num_photos):
        photo_id = f"a{i + 1:04d}"
        raw_path = root / "raw" / f"{photo_id}-test.dng"
        if photo_id in corrupt:
            raw_path.parent.mkdir(parents=True, exist_ok=True)
            raw_path.write_bytes(b"this is not a raw file" * 10)
        elif photo_id not in missing:
            write_dng(raw_path, size=raw_size, seed=seed * 1000 + i)
        photos.append({
            "photo_id": photo_id, "file_name": f"{photo_id}-test", "raw_uri": str(raw_path),
            "camera_make": "Test", "camera_model": "Bayer96", "location": None, "time": None,
            "light": None, "subject": None, "split": "train",
            "as_shot_temperature": as_shot[0], "as_shot_tint": as_shot[1],
        })
        for editor in experts:
            sliders = expert_sliders(rng, as_shot[0])
            row = {"photo_id": photo_id, "editor": editor, "editor_kind": "expert",
                   **{k: float(v) for k, v in zip(SLIDER_KEYS, sliders)},
                   "process_version": "5.0",
                   "tone_curve": [0.0, 0.0, 64.0, 56.0, 128.0, 128.0, 255.0, 255.0] if editor == "B" else None,
                   "white_balance": "Custom", "settings_sha256": f"{photo_id}{editor}".ljust(64, "0")}
            edits.append(row)
    write_table(pa.Table.from_pylist(photos, schema=PHOTOS), layout.photos)
    write_table(pa.Table.from_pylist(edits, schema=EDITS), layout.edits)
    return layout


if __name__ == "__main__":  # pragma: no cover - manual use
    out = os.environ.get("OUT", "/tmp/photoedit_factory")
    print(make_dataset(out))
