"""A small generated dataset in the ingested shape (photos/ + edits/ Parquet over real Bayer DNGs).

Scenes have structure (sky/ground gradient, coloured discs, texture) and vary in exposure and
light colour. Five experts have two style modes each; which mode an expert picks, and how much
exposure they add, depends on the scene's brightness and colour, so a conditional mixture model
has something to find and the image features can see it.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from modeling.splits import split_for
from pipelines.layout import DatasetLayout
from pipelines.parquet_io import write_table
from pipelines.schemas import EDITS, PHOTOS, SLIDER_KEYS
from pipelines.seeding import keyed_rng
from pipelines.synthetic_raw import write_bayer_dng
from rendering.raw import read_camera_profile
from rendering.sliders import PROCESS_2003

EXPERTS = ("A", "B", "C", "D", "E")

# Two style modes per expert in model space, as offsets from the neutral (0 = range centre for
# signed sliders): (Exposure, Recovery, FillLight, Blacks, Brightness, Contrast, Clarity, Vibrance, Saturation).
_MODES = {
    "A": ((0.10, -0.9, -0.8, -0.9, -0.3, 0.10, 0.1, 0.2, 0.0), (0.25, -0.6, -0.4, -0.95, 0.0, -0.1, 0.0, 0.4, 0.2)),
    "B": ((0.05, -0.5, -0.9, -0.7, -0.6, 0.50, 0.4, 0.0, -0.3), (0.15, -0.9, -0.6, -0.8, -0.2, 0.30, 0.5, 0.1, -0.6)),
    "C": ((0.20, -0.9, -0.5, -0.9, -0.1, -0.2, -0.2, 0.5, 0.4), (0.00, -0.3, -0.9, -0.6, -0.5, 0.40, 0.2, -0.3, -0.2)),
    "D": ((0.12, -0.7, -0.7, -0.8, -0.4, 0.20, 0.0, 0.1, 0.1), (0.30, -0.8, -0.2, -0.95, 0.2, 0.00, 0.3, 0.3, 0.0)),
    "E": ((-0.05, -0.2, -0.9, -0.5, -0.7, 0.60, 0.6, -0.2, -0.5), (0.18, -0.9, -0.7, -0.9, -0.2, 0.10, -0.1, 0.6, 0.5)),
}
_WARMTH = {"A": 0.02, "B": -0.04, "C": 0.06, "D": 0.0, "E": -0.02}  # model-space Temperature offsets


@dataclass(frozen=True)
class DemoDatasetSummary:
    """What was generated."""

    root: str
    photos: int
    edits: int


def scene(rng: np.random.Generator, height: int, width: int) -> tuple[np.ndarray, float, float]:
    """Linear camera RGB [H,W,3] of a generated scene, with its brightness gain and warmth in [0, 1]."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    yy /= height
    xx /= width
    horizon = rng.uniform(0.35, 0.65)
    sky = np.array([0.35, 0.55, 0.9]) * rng.uniform(0.7, 1.1, 3)
    ground = np.array(rng.choice([(0.35, 0.45, 0.15), (0.55, 0.4, 0.25), (0.3, 0.3, 0.32)])) * rng.uniform(0.8, 1.2, 3)
    t_sky = (yy / horizon)[..., None]
    img = np.where((yy < horizon)[..., None], sky * (0.6 + 0.4 * t_sky), ground * (1.0 - 0.5 * (yy - horizon)[..., None]))
    texture = 0.08 * np.sin(40 * xx + 7 * np.sin(9 * yy)) * (yy > horizon)
    img = img * (1.0 + texture[..., None])
    for _ in range(rng.integers(2, 6)):
        cy, cx, r = rng.uniform(0.2, 0.9), rng.uniform(0.1, 0.9), rng.uniform(0.05, 0.18)
        colour = rng.uniform(0.05, 1.0, 3)
        mask = ((yy - cy) ** 2 + (xx - cx) ** 2) < r * r
        img[mask] = colour * (0.7 + 0.3 * (1 - (yy[mask] - cy + r) / (2 * r)))[:, None]
    gain = float(np.exp(rng.uniform(np.log(0.15), np.log(1.0))))           # under- to well-exposed
    warmth = float(rng.uniform(0.0, 1.0))                                      # light colour
    light = np.array([1.0 + 0.5 * warmth, 1.0, 1.0 + 0.5 * (1 - warmth)]) / (1.0 + 0.5 * max(warmth, 1 - warmth))
    return np.clip(img * gain * light, 0.0, 1.0), gain, warmth


def expert_edit(expert: str, gain: float, warmth: float, as_shot_temperature: float,
                rng: np.random.Generator) -> np.ndarray:
    """One expert's sliders [11] (Lightroom units) for a scene of the given gain and warmth."""
    spec = PROCESS_2003
    darkness = float(np.clip(-np.log2(gain) / np.log2(1 / 0.15), 0.0, 1.0))   # 0 bright .. 1 dark
    sign = 1.0 if expert in ("A", "C", "E") else -1.0
    p_mode1 = 1.0 / (1.0 + np.exp(-6.0 * sign * (darkness - 0.5) - 2.0 * (warmth - 0.5)))
    mode = _MODES[expert][int(rng.uniform() < p_mode1)]
    model = np.zeros(len(spec))
    model[0] = spec.sliders[0].to_model(as_shot_temperature) + _WARMTH[expert] - 0.08 * (warmth - 0.5)
    model[1] = rng.normal(0.0, 0.02)
    model[2:] = np.asarray(mode) + rng.normal(0.0, 0.03, len(spec) - 2)
    model[2] += 0.45 * darkness                                                # lift dark scenes
    return spec.clip(spec.from_model(np.clip(model, -1.0, 1.0)))


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
