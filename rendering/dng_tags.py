"""The DNG colour tags of a raw's first IFD -> CameraProfile (DNG specification 1.4, chapters 4 and 6).

ColorMatrix1/2, CameraCalibration1/2, ForwardMatrix1/2, AnalogBalance, AsShotNeutral /
AsShotWhiteXY, CalibrationIlluminant1/2, BaselineExposure and ShadowScale, and the camera
profile's look: ProfileHueSatMapDims / Data1 / Data2 / Encoding, ProfileLookTableDims / Data /
Encoding, ProfileToneCurve, BaselineExposureOffset and DefaultBlackRender (applied by
rendering.renderer through rendering.camera_profile). The SDK's normalisation of the matrices
happens where they are used (rendering.white_balance), so a CameraProfile holds the tags as stored.
Reading the file (tifffile) and decoding the pixels are rendering.raw's.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from rendering.colour import XYZ_TO_PROPHOTO

log = logging.getLogger(__name__)

# DNG tag codes (DNG specification 1.4).
TAG_DNG_VERSION = 50706
TAG_UNIQUE_CAMERA_MODEL = 50708
TAG_COLOR_MATRIX1, TAG_COLOR_MATRIX2 = 50721, 50722
TAG_CAMERA_CALIBRATION1, TAG_CAMERA_CALIBRATION2 = 50723, 50724
TAG_ANALOG_BALANCE = 50727
TAG_AS_SHOT_NEUTRAL = 50728
TAG_AS_SHOT_WHITE_XY = 50729
TAG_BASELINE_EXPOSURE = 50730
TAG_SHADOW_SCALE = 50739
TAG_DEFAULT_CROP_ORIGIN, TAG_DEFAULT_CROP_SIZE = 50719, 50720
TAG_CALIBRATION_ILLUMINANT1, TAG_CALIBRATION_ILLUMINANT2 = 50778, 50779
TAG_FORWARD_MATRIX1, TAG_FORWARD_MATRIX2 = 50964, 50965
TAG_PROFILE_HUE_SAT_MAP_DIMS = 50937
TAG_PROFILE_HUE_SAT_MAP_DATA1, TAG_PROFILE_HUE_SAT_MAP_DATA2 = 50938, 50939
TAG_PROFILE_TONE_CURVE = 50940
TAG_PROFILE_LOOK_TABLE_DIMS, TAG_PROFILE_LOOK_TABLE_DATA = 50981, 50982
TAG_PROFILE_HUE_SAT_MAP_ENCODING, TAG_PROFILE_LOOK_TABLE_ENCODING = 51107, 51108
TAG_BASELINE_EXPOSURE_OFFSET = 51109
TAG_DEFAULT_BLACK_RENDER = 51110
DEFAULT_BLACK_RENDER_NONE = 1   # DefaultBlackRender: 0 auto (the SDK's Shadows 5), 1 none (Shadows 0)


@dataclass
class CameraProfile:
    """A camera's DNG colour calibration (matrices 3x3 float64; XYZ -> camera for colour matrices).

    color_matrix2 / forward matrices may be None. illuminant1/2 are EXIF LightSource codes.
    as_shot_neutral [3] is the camera-space neutral of the as-shot white (or as_shot_white_xy).
    baseline_exposure is in EV (Camera Raw adds it to Exposure 0); shadow_scale scales the Blacks
    slider (ShadowScale tag, 1 when absent).
    The camera profile's look (rendering.camera_profile; None when absent): hue_sat_map1/2
    [V,H,S,3] float32 (ProfileHueSatMapData1/2: hue shift in degrees, saturation and value scales),
    look_table [V,H,S,3] (ProfileLookTableData), their value encodings (0 linear, 1 sRGB),
    tone_curve [N,2] (ProfileToneCurve points on linear [0,1]); baseline_exposure_offset in EV
    (BaselineExposureOffset, added to baseline_exposure); default_black_render (DefaultBlackRender:
    1 turns the default Blacks to 0). round_matrices: apply the SDK's 1e-4 rounding of the profile
    matrices (False only for the exact linear-ProPhoto identity profile).
    """

    color_matrix1: np.ndarray
    color_matrix2: np.ndarray | None = None
    forward_matrix1: np.ndarray | None = None
    forward_matrix2: np.ndarray | None = None
    camera_calibration1: np.ndarray = field(default_factory=lambda: np.eye(3))
    camera_calibration2: np.ndarray = field(default_factory=lambda: np.eye(3))
    analog_balance: np.ndarray = field(default_factory=lambda: np.ones(3))
    illuminant1: int = 21
    illuminant2: int = 0
    as_shot_neutral: np.ndarray | None = None
    as_shot_white_xy: np.ndarray | None = None
    baseline_exposure: float = 0.0
    shadow_scale: float = 1.0
    camera_model: str = ""
    hue_sat_map1: np.ndarray | None = None
    hue_sat_map2: np.ndarray | None = None
    hue_sat_encoding: int = 0
    look_table: np.ndarray | None = None
    look_table_encoding: int = 0
    tone_curve: np.ndarray | None = None
    baseline_exposure_offset: float = 0.0
    default_black_render: int = 0
    round_matrices: bool = True

    @classmethod
    def prophoto_identity(cls) -> "CameraProfile":
        """The profile of a 'camera' whose RGB is linear ProPhoto (for JPEG/TIFF inputs).

        XYZ -> camera is XYZ -> ProPhoto, calibrated under D50 and shot at D50, so the as-shot
        decode is the identity and Temperature/Tint act as a Bradford white balance.
        """
        return cls(color_matrix1=XYZ_TO_PROPHOTO.copy(), illuminant1=23,
                   as_shot_neutral=np.ones(3), camera_model="linear ProPhoto RGB", round_matrices=False)

    def default_blacks(self) -> float:
        """The default Blacks slider ('Shadows', 0..100): the SDK's 5, or 0 when DefaultBlackRender is None."""
        from rendering.sliders import DEFAULT_LOOK_2003
        return 0.0 if self.default_black_render == DEFAULT_BLACK_RENDER_NONE else DEFAULT_LOOK_2003["Shadows"]

    def as_shot_white(self) -> tuple[float, float]:
        """As-shot white balance as (Temperature K, Tint), from AsShotWhiteXY or AsShotNeutral."""
        from rendering.white_balance import neutral_to_xy, xy_to_temperature_tint
        if self.as_shot_white_xy is not None:
            xy = np.asarray(self.as_shot_white_xy, dtype=np.float64)
        elif self.as_shot_neutral is not None:
            xy = neutral_to_xy(self, self.as_shot_neutral)
        else:
            return 5000.0, 0.0
        return xy_to_temperature_tint(xy)


def numbers(value: object, count: int) -> np.ndarray | None:
    """A tifffile tag value -> float array [count]; RATIONAL tags come as (num, den) pairs."""
    if value is None:
        return None
    arr = np.asarray(value, dtype=np.float64).ravel()
    if arr.size == 2 * count:
        den = arr[1::2]
        if np.any(den == 0):
            return None
        arr = arr[0::2] / den
    if arr.size != count:
        return None
    return arr


def _matrix(tags: dict, code: int) -> np.ndarray | None:
    values = numbers(tags.get(code), 9)
    return None if values is None or not np.any(values) else values.reshape(3, 3)


def profile_from_tags(tags: dict, label: str) -> CameraProfile | None:
    """A CameraProfile from a DNG's IFD0 tags {code: tifffile value}; None without a ColorMatrix1 (not a DNG)."""
    cm1 = _matrix(tags, TAG_COLOR_MATRIX1)
    if cm1 is None:
        return None
    calib1 = _matrix(tags, TAG_CAMERA_CALIBRATION1)
    calib2 = _matrix(tags, TAG_CAMERA_CALIBRATION2)
    balance = numbers(tags.get(TAG_ANALOG_BALANCE), 3)
    neutral = numbers(tags.get(TAG_AS_SHOT_NEUTRAL), 3)
    white_xy = numbers(tags.get(TAG_AS_SHOT_WHITE_XY), 2)
    baseline = numbers(tags.get(TAG_BASELINE_EXPOSURE), 1)
    shadow_scale = numbers(tags.get(TAG_SHADOW_SCALE), 1)
    model = tags.get(TAG_UNIQUE_CAMERA_MODEL, "")
    return CameraProfile(
        color_matrix1=cm1,
        color_matrix2=_matrix(tags, TAG_COLOR_MATRIX2),
        forward_matrix1=_matrix(tags, TAG_FORWARD_MATRIX1),
        forward_matrix2=_matrix(tags, TAG_FORWARD_MATRIX2),
        camera_calibration1=calib1 if calib1 is not None else np.eye(3),
        camera_calibration2=calib2 if calib2 is not None else np.eye(3),
        analog_balance=balance if balance is not None and np.all(balance > 0) else np.ones(3),
        illuminant1=int(np.ravel(tags.get(TAG_CALIBRATION_ILLUMINANT1, 21))[0]),
        illuminant2=int(np.ravel(tags.get(TAG_CALIBRATION_ILLUMINANT2, 0))[0]),
        as_shot_neutral=neutral if neutral is not None and np.all(neutral > 0) else None,
        as_shot_white_xy=white_xy if white_xy is not None and np.all(white_xy > 0) else None,
        baseline_exposure=float(baseline[0]) if baseline is not None else 0.0,
        shadow_scale=float(shadow_scale[0]) if shadow_scale is not None and shadow_scale[0] > 0 else 1.0,
        camera_model=str(model),
        **_profile_look(tags, label),
    )


def _tag_int(tags: dict, code: int, default: int = 0) -> int:
    value = tags.get(code)
    return default if value is None else int(np.ravel(value)[0])


def _profile_look(tags: dict, label: str) -> dict:
    """HueSatMap, LookTable, tone curve, BaselineExposureOffset, DefaultBlackRender of a DNG's IFD0 tags.

    Tables whose data count does not match their dims, and tone curves the SDK would reject, are
    left out with a warning.
    """
    from rendering.camera_profile import read_hue_sat_table, valid_tone_curve
    out: dict = {}
    dims = numbers(tags.get(TAG_PROFILE_HUE_SAT_MAP_DIMS), 3)
    if dims is not None and tags.get(TAG_PROFILE_HUE_SAT_MAP_DATA1) is not None:
        map1 = read_hue_sat_table(tags[TAG_PROFILE_HUE_SAT_MAP_DATA1], dims)
        data2 = tags.get(TAG_PROFILE_HUE_SAT_MAP_DATA2)
        map2 = None if data2 is None else read_hue_sat_table(data2, dims)
        if map1 is None or (data2 is not None and map2 is None):
            log.warning("%s: ProfileHueSatMapData does not fit dims %s; ignored", label, dims.astype(int).tolist())
        else:
            out.update(hue_sat_map1=map1, hue_sat_map2=map2,
                       hue_sat_encoding=_tag_int(tags, TAG_PROFILE_HUE_SAT_MAP_ENCODING))
    dims = numbers(tags.get(TAG_PROFILE_LOOK_TABLE_DIMS), 3)
    if dims is not None and tags.get(TAG_PROFILE_LOOK_TABLE_DATA) is not None:
        look = read_hue_sat_table(tags[TAG_PROFILE_LOOK_TABLE_DATA], dims)
        if look is None:
            log.warning("%s: ProfileLookTableData does not fit dims %s; ignored", label, dims.astype(int).tolist())
        else:
            out.update(look_table=look, look_table_encoding=_tag_int(tags, TAG_PROFILE_LOOK_TABLE_ENCODING))
    curve = tags.get(TAG_PROFILE_TONE_CURVE)
    if curve is not None:
        points = np.asarray(curve, dtype=np.float64).ravel()
        points = points.reshape(-1, 2) if points.size % 2 == 0 else points[:0].reshape(0, 2)
        if valid_tone_curve(points):
            out["tone_curve"] = points
        else:
            log.warning("%s: ProfileToneCurve is not a valid curve (%d values); ignored", label, np.size(curve))
    offset = numbers(tags.get(TAG_BASELINE_EXPOSURE_OFFSET), 1)
    if offset is not None:
        out["baseline_exposure_offset"] = float(offset[0])
    out["default_black_render"] = _tag_int(tags, TAG_DEFAULT_BLACK_RENDER)
    return out
