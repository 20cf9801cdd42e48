"""Write the two test DNGs of tests/rendering/sdk_profile (see README.md there): run once, needs exiftool.

    python3 tests/rendering/sdk_profile/make_inputs.py [OUT_DIR]

plain.dng: a 256 x 160 12-bit RGGB Bayer DNG of a hue / saturation / value sweep, written by the
sample generator's writer (pipelines.fivek.sample.synthetic_raw: ColorMatrix1 D65, ColorMatrix2
standard light A, daylight AsShotNeutral, no ForwardMatrix).
profile.dng: the same mosaic with a camera profile added by exiftool: ForwardMatrix2 only (no
ForwardMatrix1), ProfileHueSatMapDims 12 x 4 x 1 with Data1 (D65) and Data2 (A) that differ,
ProfileLookTableDims 8 x 3 x 4 with sRGB value encoding, a 6-point ProfileToneCurve,
BaselineExposure +0.5, BaselineExposureOffset -0.25 and DefaultBlackRender 1 (None).
Everything is computed from fixed formulas, so a rerun writes the same files.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

WIDTH, HEIGHT = 256, 160
HUE_SAT_DIMS = (12, 4, 1)     # hues, saturations, values (2.5D, value axis unused)
LOOK_DIMS = (8, 3, 4)         # hues, saturations, values (3D, sRGB-encoded value axis)
TONE_CURVE = ((0.0, 0.0), (0.03, 0.09), (0.12, 0.33), (0.3, 0.6), (0.62, 0.87), (1.0, 1.0))
BASELINE_EXPOSURE, BASELINE_EXPOSURE_OFFSET = 0.5, -0.25


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """HSV (hue in [0, 1)) -> RGB [..., 3]."""
    k = lambda n: (n + h * 6.0) % 6.0  # noqa: E731
    f = lambda n: v - v * s * np.clip(np.minimum(k(n), 4.0 - k(n)), 0.0, 1.0)  # noqa: E731
    return np.stack([f(5.0), f(3.0), f(1.0)], axis=-1)


def sweep_scene() -> np.ndarray:
    """Linear sRGB [H, W, 3]: top half hue (x) x saturation (y) at value 0.2, bottom half hue x value 0.004..0.6."""
    hue = np.broadcast_to(np.linspace(0.0, 1.0, WIDTH, endpoint=False), (HEIGHT // 2, WIDTH))
    rows = np.linspace(0.0, 1.0, HEIGHT // 2)[:, None] * np.ones((1, WIDTH))
    top = _hsv_to_rgb(hue, rows, np.full_like(rows, 0.2))
    bottom = _hsv_to_rgb(hue, np.full_like(rows, 0.65), 0.004 * 150.0 ** rows)
    return np.concatenate([top, bottom], axis=0)


def hue_sat_table(dims: tuple[int, int, int], phase: float, strength: float) -> np.ndarray:
    """A smooth table [V, H, S, 3] of (hue shift degrees, saturation scale, value scale); sat 0 has value scale 1."""
    hues, sats, vals = dims
    h = np.arange(hues)[None, :, None] / hues * 2.0 * np.pi
    s = np.arange(sats)[None, None, :] / max(sats - 1, 1)
    v = np.arange(vals)[:, None, None] / max(vals - 1, 1)
    shape = (vals, hues, sats)
    hue_shift = np.broadcast_to(strength * 12.0 * np.sin(h + phase) * (0.5 + s), shape)
    sat_scale = np.broadcast_to(1.0 + strength * 0.25 * np.cos(2.0 * h + phase) * (1.0 - 0.3 * v), shape)
    val_scale = np.broadcast_to(1.0 + strength * 0.12 * np.sin(h - phase) * s * (1.0 - 0.5 * v), shape)
    table = np.stack([hue_shift, sat_scale, val_scale], axis=-1).astype(np.float32)
    table[:, :, 0, 2] = 1.0
    return table


def forward_matrix_a() -> np.ndarray:
    """A ForwardMatrix2 for the A calibration: D50-adapted inverse ColorMatrix2, perturbed, rows scaled so 1 -> D50."""
    from pipelines.fivek.sample.synthetic_raw import COLOR_MATRIX_A
    from rendering.colour import WHITE_XYZ, bradford_matrix_np
    cm = np.asarray(COLOR_MATRIX_A)
    white_a = np.array([1.09850, 1.0, 0.35585])  # CIE standard illuminant A, Y = 1
    neutral = cm @ white_a
    fm = bradford_matrix_np(white_a, WHITE_XYZ["D50"]) @ np.linalg.inv(cm) @ np.diag(neutral / neutral.max())
    fm = fm + np.array([[0.02, -0.01, 0.0], [0.0, 0.015, -0.01], [-0.01, 0.0, 0.02]])
    return np.round(np.diag(WHITE_XYZ["D50"] / fm.sum(axis=1)) @ fm, 4)


def _numbers(values: np.ndarray) -> str:
    return " ".join(f"{v:.6g}" for v in np.asarray(values, dtype=np.float64).ravel())


def write_inputs(out: Path) -> tuple[Path, Path]:
    """Write plain.dng and profile.dng under `out`."""
    from pipelines.fivek.sample.synthetic_raw import daylight_neutral, srgb_scene_to_camera, write_bayer_dng
    out.mkdir(parents=True, exist_ok=True)
    camera = srgb_scene_to_camera(sweep_scene())
    plain = Path(write_bayer_dng(out / "plain.dng", camera, tuple(daylight_neutral()), model="SDK profile test"))
    profile = out / "profile.dng"
    profile.write_bytes(plain.read_bytes())
    hs1 = hue_sat_table(HUE_SAT_DIMS, 0.3, 1.0)
    hs2 = hue_sat_table(HUE_SAT_DIMS, 1.4, 1.6)
    look = hue_sat_table(LOOK_DIMS, 2.2, 0.8)
    args = ["exiftool", "-q", "-overwrite_original",
            f"-ForwardMatrix2={_numbers(forward_matrix_a())}",
            f"-ProfileHueSatMapDims={_numbers(HUE_SAT_DIMS)}",
            f"-ProfileHueSatMapData1={_numbers(hs1)}",
            f"-ProfileHueSatMapData2={_numbers(hs2)}",
            f"-ProfileLookTableDims={_numbers(LOOK_DIMS)}",
            f"-ProfileLookTableData={_numbers(look)}",
            "-ProfileLookTableEncoding#=1",
            f"-ProfileToneCurve={_numbers(TONE_CURVE)}",
            f"-BaselineExposure={BASELINE_EXPOSURE}",
            f"-BaselineExposureOffset={BASELINE_EXPOSURE_OFFSET}",
            "-DefaultBlackRender#=1",
            "-ProfileName=photoedit SDK profile test",
            str(profile)]
    subprocess.run(args, check=True)
    return plain, profile


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
    for path in write_inputs(target):
        print(path)
