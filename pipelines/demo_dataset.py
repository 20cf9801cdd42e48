"""A small generated dataset in the ingested shape (photos/ + edits/ Parquet over real Bayer DNGs).

Scenes have structure (sky/ground gradient, coloured discs, texture) and vary in exposure and
light colour. Five experts have two style modes each; which mode an expert picks, and how much
exposure they add, depends on the scene's brightness and colour, so a conditional mixture model
has something to find and the image features can see it. Scenes and styles live in
pipelines/sample_styles.py.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from modeling.splits import split_for
from pipelines.layout import DatasetLayout
from pipelines.parquet_io import write_table
from pipelines.schemas import EDITS, PHOTOS, SLIDER_KEYS
from pipelines.sample_styles import EXPERTS, _MODES, _WARMTH, expert_edit, scene  # noqa: F401 (re-exported)
from pipelines.seeding import keyed_rng
from pipelines.synthetic_raw import write_bayer_dng
from rendering.raw import read_camera_profile


@dataclass(frozen=True)
class DemoDatasetSummary:
    """What was generated."""

    root: str
    photos: int
    edits: int


def generate_demo_dataset(root: str, photos: int = 40, seed: int = 0, size: tuple[int, int] = (192, 128)) -> DemoDatasetSummary:
    """Write root/raw_photos/*.dng, root/photos/ and root/edits/ Parquet; deterministic in `seed`."""
    layout = DatasetLayout(root)
    width, height = size
    photo_rows, edit_rows = [], []
    for i in range(1, photos + 1):
        photo_id = f"a{i:04d}"
        rng = keyed_rng(seed, photo_id, "scene")
        rgb, gain, warmth = scene(rng, height, width)
        neutral = (float(rng.uniform(0.45, 0.6)), 1.0, float(rng.uniform(0.6, 0.8)))
        raw_path = str(Path(root) / "raw_photos" / f"{photo_id}-demo.dng")
        write_bayer_dng(raw_path, rgb, neutral, model="Demo")
        temperature, tint = read_camera_profile(raw_path).as_shot_white()
        photo_rows.append({
            "photo_id": photo_id, "file_name": f"{photo_id}-demo", "raw_uri": raw_path,
            "camera_make": "photoedit", "camera_model": "Demo", "location": None, "time": None,
            "light": "warm" if warmth > 0.5 else "cool", "subject": None, "split": split_for(photo_id),
            "as_shot_temperature": float(temperature), "as_shot_tint": float(tint),
        })
        for expert in EXPERTS:
            sliders = expert_edit(expert, gain, warmth, temperature, keyed_rng(seed, photo_id, expert))
            curve = [0.0, 0.0, 64.0, 56.0, 128.0, 128.0, 192.0, 202.0, 255.0, 255.0] if expert == "B" else None
            text = ",".join(f"{k}={v:.6g}" for k, v in zip(SLIDER_KEYS, sliders))
            edit_rows.append({
                "photo_id": photo_id, "editor": expert, "editor_kind": "expert",
                **{k: float(v) for k, v in zip(SLIDER_KEYS, sliders)},
                "process_version": "5.0", "tone_curve": curve, "white_balance": "Custom",
                "settings_sha256": hashlib.sha256(text.encode()).hexdigest(),
            })
    write_table(pa.Table.from_pylist(photo_rows, schema=PHOTOS), layout.photos)
    write_table(pa.Table.from_pylist(edit_rows, schema=EDITS), layout.edits)
    return DemoDatasetSummary(root=root, photos=len(photo_rows), edits=len(edit_rows))
