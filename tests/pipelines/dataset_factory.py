"""Tiny photos/ + edits/ datasets for pipeline tests: pidng Bayer DNGs and hand-made Parquet rows."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa

from pipelines.core.layout import DatasetLayout
from pipelines.core.parquet_io import write_table
from pipelines.core.schemas import EDITS, PHOTOS, SLIDER_KEYS
from pipelines.fivek.sample.synthetic_raw import write_bayer_dng
from rendering.sliders import PROCESS_2003

AS_SHOT_NEUTRAL = (0.5, 1.0, 0.7)
EXPERTS = ("A", "B", "C")


def write_dng(path: str | Path, size: int = 96, seed: int = 0) -> str:
    """A size x size 12-bit RGGB Bayer DNG with smooth random content; returns its path."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    rgb = np.stack([0.2 + 0.6 * xx, 0.2 + 0.6 * yy, 0.5 + 0.3 * np.sin(6 * xx * yy + seed)], axis=-1)
    rgb = np.clip(rgb * rng.uniform(0.6, 1.0, size=3) + rng.normal(0, 0.01, rgb.shape), 0, 1)
    return write_bayer_dng(path, rgb, AS_SHOT_NEUTRAL, model="Bayer96")


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
