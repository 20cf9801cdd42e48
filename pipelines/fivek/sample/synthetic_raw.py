"""Write real Bayer DNGs (pidng) of generated scenes: rawpy decodes them, tifffile reads their tags."""
from __future__ import annotations

from pathlib import Path

import numpy as np

# A plausible camera: XYZ -> camera RGB under D65 (ColorMatrix1) and Standard light A (ColorMatrix2).
COLOR_MATRIX_D65 = ((0.7, -0.1, -0.05), (-0.3, 1.1, 0.2), (-0.05, 0.15, 0.6))
COLOR_MATRIX_A = ((0.8, -0.2, 0.0), (-0.35, 1.15, 0.25), (-0.02, 0.2, 0.45))


# EXIF LightSource codes of the two calibrations written below.
ILLUMINANT_D65, ILLUMINANT_A = 21, 17


def _camera_white_d65() -> np.ndarray:
    """This camera's raw response [3] to the D65 white (XYZ, Y = 1), through ColorMatrix1."""
    from rendering.colour import WHITE_XYZ
    return np.asarray(COLOR_MATRIX_D65) @ WHITE_XYZ["D65"]


def daylight_neutral() -> np.ndarray:
    """This camera's raw response [3] to a D65 white, green = 1 (the AsShotNeutral of a daylight scene)."""
    white = _camera_white_d65()
    return white / white[1]


def srgb_scene_to_camera(linear_srgb: np.ndarray) -> np.ndarray:
    """Linear sRGB scene [H,W,3] (D65 white = 1) -> this camera's raw RGB [H,W,3] in [0, 1].

    XYZ = sRGB->XYZ(D65) . rgb, camera = ColorMatrix1 (D65 calibration) . XYZ, scaled so the D65
    white peaks at 1 in its largest channel: a render at the daylight neutral shows the sRGB scene.
    """
    from rendering.colour import SRGB_TO_XYZ_D65
    to_camera = np.asarray(COLOR_MATRIX_D65) @ SRGB_TO_XYZ_D65
    return np.clip(linear_srgb @ to_camera.T / _camera_white_d65().max(), 0.0, 1.0)


def synthetic_profile(as_shot_neutral: tuple[float, float, float], model: str = "Synthetic"):
    """The rendering.raw.CameraProfile that read_camera_profile finds in a write_bayer_dng DNG."""
    from rendering.raw import CameraProfile
    return CameraProfile(color_matrix1=np.array(COLOR_MATRIX_D65), color_matrix2=np.array(COLOR_MATRIX_A),
                         illuminant1=ILLUMINANT_D65, illuminant2=ILLUMINANT_A,
                         as_shot_neutral=np.array(as_shot_neutral, dtype=np.float64),
                         camera_model=f"photoedit {model}")


def _rational(x: float) -> list[int]:
    return [int(round(x * 10000)), 10000]


def write_bayer_dng(path: str | Path, camera_rgb: np.ndarray, as_shot_neutral: tuple[float, float, float],
                    model: str = "Synthetic") -> str:
    """Mosaic linear camera RGB [H,W,3] in [0,1] to a 12-bit RGGB DNG with colour-matrix tags."""
    from pidng.core import RAW2DNG, DNGTags, Tag
    from pidng.defs import (
        CalibrationIlluminant,
        CFAPattern,
        DNGVersion,
        PhotometricInterpretation,
    )

    height, width = camera_rgb.shape[:2]
    if height % 2 or width % 2:
        raise ValueError(f"Bayer mosaic needs even sizes, got {width}x{height}")
    mosaic = np.empty((height, width), dtype=np.float64)
    mosaic[0::2, 0::2] = camera_rgb[0::2, 0::2, 0]
    mosaic[0::2, 1::2] = camera_rgb[0::2, 1::2, 1]
    mosaic[1::2, 0::2] = camera_rgb[1::2, 0::2, 1]
    mosaic[1::2, 1::2] = camera_rgb[1::2, 1::2, 2]
    raw = (np.clip(mosaic, 0, 1) * 4095).astype(np.uint16)

    t = DNGTags()
    t.set(Tag.ImageWidth, width)
    t.set(Tag.ImageLength, height)
    t.set(Tag.TileWidth, width)
    t.set(Tag.TileLength, height)
    t.set(Tag.Orientation, 1)
    t.set(Tag.PhotometricInterpretation, PhotometricInterpretation.Color_Filter_Array)
    t.set(Tag.SamplesPerPixel, 1)
    t.set(Tag.BitsPerSample, 16)
    t.set(Tag.CFARepeatPatternDim, [2, 2])
    t.set(Tag.CFAPattern, CFAPattern.RGGB)
    t.set(Tag.BlackLevel, 0)
    t.set(Tag.WhiteLevel, 4095)
    t.set(Tag.ColorMatrix1, [_rational(v) for row in COLOR_MATRIX_D65 for v in row])
    t.set(Tag.CalibrationIlluminant1, CalibrationIlluminant.D65)
    t.set(Tag.ColorMatrix2, [_rational(v) for row in COLOR_MATRIX_A for v in row])
    t.set(Tag.CalibrationIlluminant2, CalibrationIlluminant.Standard_Light_A)
    t.set(Tag.AsShotNeutral, [_rational(v) for v in as_shot_neutral])
    t.set(Tag.Make, "photoedit")
    t.set(Tag.Model, model)
    t.set(Tag.UniqueCameraModel, f"photoedit {model}")
    t.set(Tag.DNGVersion, DNGVersion.V1_4)
    t.set(Tag.DNGBackwardVersion, DNGVersion.V1_2)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = RAW2DNG()
    writer.options(t, path=str(path.parent), compress=False)
    writer.convert(raw, filename=path.name)
    return str(path)
