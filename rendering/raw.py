"""Raw decoding: rawpy demosaics to linear camera RGB; the DNG's colour tags give the camera profile.

rawpy (LibRaw) demosaics at full resolution with bilinear interpolation (LibRaw's LINEAR, the
kind of interpolation the DNG SDK's reference renderer uses), output_color=raw, gamma (1, 1), no
auto-brightening and unit white-balance multipliers, so its 16-bit output is linear camera RGB with
the black level subtracted and the white level scaled to 65535; we divide by 65535 to get [0, 1].
The DNG default crop (DefaultCropOrigin / DefaultCropSize of the raw IFD, relative to the active
area, read with tifffile) is cut before the image is oriented and resized with antialiased bicubic
resampling (the SDK renders the cropped stage-3 image resampled with dng_resample_bicubic).
rawpy's rgb_xyz_matrix is all zeros for DNGs, so ColorMatrix1/2, CameraCalibration1/2,
ForwardMatrix1/2, AnalogBalance, AsShotNeutral / AsShotWhiteXY, CalibrationIlluminant1/2,
BaselineExposure and ShadowScale are read from the DNG's first IFD with tifffile (DNG
specification 1.4, chapter 4 "Tags" and chapter 6), and so is the camera profile's look:
ProfileHueSatMapDims / Data1 / Data2 / Encoding, ProfileLookTableDims / Data / Encoding,
ProfileToneCurve, BaselineExposureOffset and DefaultBlackRender (applied by rendering.renderer
through rendering.camera_profile). The SDK's normalisation of the matrices happens where they are
used (rendering.white_balance), so a CameraProfile holds the tags as stored.
"""
from __future__ import annotations

import io
import logging
import os
from dataclasses import dataclass, field

import numpy as np

from rendering.colour import XYZ_TO_PROPHOTO

log = logging.getLogger(__name__)

RAW_EXTENSIONS = {".dng", ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".raf",
                  ".orf", ".rw2", ".pef", ".srw", ".x3f", ".3fr", ".erf", ".kdc", ".mrw", ".mos",
                  ".iiq", ".rwl", ".raw"}
IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".tif", ".tiff"}


class PhotoDecodeError(ValueError):
    """A photo could not be decoded; the message names the file."""


class UnsupportedFormatError(PhotoDecodeError):
    """The file is not a raw or image format we can read."""


class NoPixelDataError(PhotoDecodeError):
    """The file parses but carries no (or all-zero) pixel data."""


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


@dataclass
class Photo:
    """A decoded photo: linear camera RGB [3,H,W] float32 in [0,1], its profile and source name."""

    camera_rgb: np.ndarray
    profile: CameraProfile
    source: str = ""

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.camera_rgb.shape[1]), int(self.camera_rgb.shape[2])


def _describe(src: str | bytes, name: str) -> str:
    if name:
        return name
    return src if isinstance(src, str) else f"<{len(src)} bytes>"


def _open(src: str | bytes):
    return io.BytesIO(src) if isinstance(src, (bytes, bytearray, memoryview)) else src


def _numbers(value, count: int) -> np.ndarray | None:
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
    values = _numbers(tags.get(code), 9)
    return None if values is None or not np.any(values) else values.reshape(3, 3)


def read_camera_profile(src: str | bytes, name: str = "") -> CameraProfile:
    """Read the DNG colour tags of a raw's first IFD (tifffile); non-DNG raws fall back to rawpy."""
    import tifffile
    label = _describe(src, name)
    tags: dict = {}
    try:
        with tifffile.TiffFile(_open(src)) as tif:
            tags = {t.code: t.value for t in tif.pages[0].tags.values()}
    except Exception as exc:  # not a TIFF-based raw: try rawpy's own matrices below
        log.debug("no TIFF IFD in %s: %s", label, exc)
    cm1 = _matrix(tags, TAG_COLOR_MATRIX1)
    if cm1 is None:
        return _rawpy_profile(src, label)
    calib1 = _matrix(tags, TAG_CAMERA_CALIBRATION1)
    calib2 = _matrix(tags, TAG_CAMERA_CALIBRATION2)
    balance = _numbers(tags.get(TAG_ANALOG_BALANCE), 3)
    neutral = _numbers(tags.get(TAG_AS_SHOT_NEUTRAL), 3)
    white_xy = _numbers(tags.get(TAG_AS_SHOT_WHITE_XY), 2)
    baseline = _numbers(tags.get(TAG_BASELINE_EXPOSURE), 1)
    shadow_scale = _numbers(tags.get(TAG_SHADOW_SCALE), 1)
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
    dims = _numbers(tags.get(TAG_PROFILE_HUE_SAT_MAP_DIMS), 3)
    if dims is not None and tags.get(TAG_PROFILE_HUE_SAT_MAP_DATA1) is not None:
        map1 = read_hue_sat_table(tags[TAG_PROFILE_HUE_SAT_MAP_DATA1], dims)
        data2 = tags.get(TAG_PROFILE_HUE_SAT_MAP_DATA2)
        map2 = None if data2 is None else read_hue_sat_table(data2, dims)
        if map1 is None or (data2 is not None and map2 is None):
            log.warning("%s: ProfileHueSatMapData does not fit dims %s; ignored", label, dims.astype(int).tolist())
        else:
            out.update(hue_sat_map1=map1, hue_sat_map2=map2,
                       hue_sat_encoding=_tag_int(tags, TAG_PROFILE_HUE_SAT_MAP_ENCODING))
    dims = _numbers(tags.get(TAG_PROFILE_LOOK_TABLE_DIMS), 3)
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
    offset = _numbers(tags.get(TAG_BASELINE_EXPOSURE_OFFSET), 1)
    if offset is not None:
        out["baseline_exposure_offset"] = float(offset[0])
    out["default_black_render"] = _tag_int(tags, TAG_DEFAULT_BLACK_RENDER)
    return out


def _rawpy_profile(src: str | bytes, label: str) -> CameraProfile:
    """Profile of a non-DNG raw from LibRaw's built-in matrix (D65) and as-shot multipliers."""
    import rawpy
    try:
        with rawpy.imread(_open(src)) as raw:
            xyz_to_cam = np.asarray(raw.rgb_xyz_matrix, dtype=np.float64)[:3]
            wb = np.asarray(raw.camera_whitebalance, dtype=np.float64)[:3]
    except Exception as exc:
        raise _decode_error(exc, label) from exc
    if not np.any(xyz_to_cam):
        raise PhotoDecodeError(f"{label}: no colour matrix (neither DNG tags nor LibRaw's table)")
    neutral = 1.0 / wb if np.all(wb > 0) else None
    return CameraProfile(color_matrix1=xyz_to_cam, illuminant1=21,
                         as_shot_neutral=None if neutral is None else neutral / neutral.max())


def _decode_error(exc: Exception, label: str) -> PhotoDecodeError:
    import rawpy
    if isinstance(exc, PhotoDecodeError):
        return exc
    if isinstance(exc, rawpy.LibRawFileUnsupportedError):
        return UnsupportedFormatError(f"{label}: not a raw format LibRaw can read ({exc})")
    return PhotoDecodeError(f"{label}: raw decode failed: {type(exc).__name__}: {exc}")


def decode_raw(src: str | bytes, long_side: int | None = None, name: str = "") -> Photo:
    """Demosaic a raw (path or bytes) to a Photo: linear camera RGB [3,H,W] in [0,1], cropped, resized.

    The DNG default crop is applied (see the module docstring). Raises NoPixelDataError for an
    empty or all-zero mosaic, UnsupportedFormatError for a file LibRaw does not recognise,
    PhotoDecodeError for anything else (truncated, corrupt).
    """
    import rawpy

    from rendering.image_io import resize_long_side
    label = _describe(src, name)
    if isinstance(src, str) and not os.path.exists(src):
        raise PhotoDecodeError(f"{label}: file not found")
    profile = read_camera_profile(src, name=label)
    check_dng_pixel_data(src, label)
    crop = default_crop(src)
    try:
        with rawpy.imread(_open(src)) as raw:
            mosaic = raw.raw_image_visible
            if mosaic.size == 0 or not np.any(mosaic):
                raise NoPixelDataError(f"{label}: the raw has no pixel data (empty or all zero)")
            flip = raw.sizes.flip
            rgb = raw.postprocess(demosaic_algorithm=rawpy.DemosaicAlgorithm.LINEAR,
                                  output_color=rawpy.ColorSpace.raw, gamma=(1, 1), no_auto_bright=True,
                                  user_wb=[1.0, 1.0, 1.0, 1.0], output_bps=16, user_flip=0,
                                  use_camera_wb=False, use_auto_wb=False, user_sat=None)
    except Exception as exc:
        raise _decode_error(exc, label) from exc
    if rgb.ndim != 3 or rgb.shape[2] < 3 or rgb.size == 0:
        raise NoPixelDataError(f"{label}: decode produced no RGB pixels (shape {rgb.shape})")
    if crop is not None:
        x, y, w, h = crop
        rgb = rgb[y:y + h, x:x + w]
    img = np.ascontiguousarray(_orient(rgb[..., :3], flip).transpose(2, 0, 1), dtype=np.float32) / 65535.0
    if not np.any(img):
        raise NoPixelDataError(f"{label}: decoded image is all black (no pixel data)")
    if long_side:
        img = resize_long_side(img, long_side, method="bicubic")
    log.debug("decoded %s -> %s (default crop %s)", label, img.shape, crop)
    return Photo(camera_rgb=img, profile=profile, source=label)


def _orient(rgb: np.ndarray, flip: int) -> np.ndarray:
    """Apply LibRaw's orientation code (0 none, 3 180 degrees, 5 90 CCW, 6 90 CW) to an [H,W,C] image."""
    return {3: lambda a: a[::-1, ::-1], 5: lambda a: np.rot90(a, 1), 6: lambda a: np.rot90(a, -1)}.get(
        int(flip), lambda a: a)(rgb)


def default_crop(src: str | bytes) -> tuple[int, int, int, int] | None:
    """The DNG default crop (x, y, width, height) in active-area pixels, from the raw IFD; None if absent."""
    import tifffile
    try:
        with tifffile.TiffFile(_open(src)) as tif:
            page = _raw_page(tif)
            if page is None:
                return None
            origin = _numbers(page.tags.valueof(TAG_DEFAULT_CROP_ORIGIN), 2)
            size = _numbers(page.tags.valueof(TAG_DEFAULT_CROP_SIZE), 2)
    except Exception as exc:  # not a TIFF container: no DNG crop
        log.debug("no default crop readable: %s", exc)
        return None
    if origin is None or size is None or np.any(size <= 0):
        return None
    x, y = (int(round(v)) for v in origin)
    w, h = (int(round(v)) for v in size)
    return x, y, w, h


PHOTOMETRIC_CFA, PHOTOMETRIC_LINEAR_RAW = 32803, 34892


def _raw_page(tif):
    """The raw IFD of a DNG (the largest CFA / LinearRaw page among IFD0 and its SubIFDs), or None."""
    first = tif.pages[0]
    raws = [p for p in [first] + list(first.pages or []) if p.photometric in (PHOTOMETRIC_CFA, PHOTOMETRIC_LINEAR_RAW)]
    return max(raws, key=lambda p: p.shape[0] * p.shape[1] if p.shape else 0) if raws else None


def check_dng_pixel_data(src: str | bytes, label: str) -> None:
    """Raise NoPixelDataError if a DNG's raw IFD has no strips/tiles, data past EOF or all zeros.

    Checked with tifffile before LibRaw runs: for a DNG whose raw data is missing LibRaw may hand
    back an uninitialised buffer (stale pixels of a previous decode) instead of failing.
    Non-TIFF raws are left to LibRaw.
    """
    import tifffile
    stream = _open(src)
    try:
        with tifffile.TiffFile(stream) as tif:
            size = tif.filehandle.size
            page = _raw_page(tif)
            if page is None:
                return
            offsets, counts = page.dataoffsets, page.databytecounts
            if not counts or sum(counts) == 0:
                raise NoPixelDataError(f"{label}: the raw IFD has no pixel data (no strips or tiles)")
            if any(o + c > size for o, c in zip(offsets, counts)):
                raise NoPixelDataError(f"{label}: the raw pixel data lies past the end of the file "
                                       f"(truncated or stripped: {size} bytes)")
            pixels = int(np.prod(page.shaped[1:4])) if page.shaped else 0
            # Uncompressed data must hold every sample; lossless JPEG spends >= 1 bit per sample.
            needed = {1: pixels * page.bitspersample / 8.0, 7: pixels / 8.0}.get(int(page.compression), 0)
            if sum(counts) < 0.99 * needed:
                raise NoPixelDataError(f"{label}: the raw pixel data is stripped ({sum(counts)} bytes "
                                       f"for {pixels} samples)")
            fh = tif.filehandle
            for o, c in zip(offsets, counts):
                fh.seek(o)
                if np.any(np.frombuffer(fh.read(c), dtype=np.uint8)):
                    return
            raise NoPixelDataError(f"{label}: the raw pixel data is all zero")
    except PhotoDecodeError:
        raise
    except Exception as exc:  # not a TIFF container: LibRaw decides
        log.debug("%s: no TIFF pixel-data check (%s)", label, exc)


def sniff_format(src: str | bytes, name: str = "") -> str:
    """'raw', 'image' or 'unknown' from the extension, then the magic bytes (DNGs are TIFFs)."""
    label = name or (src if isinstance(src, str) else "")
    ext = os.path.splitext(label)[1].lower()
    if ext in RAW_EXTENSIONS:
        return "raw"
    if isinstance(src, str):
        with open(src, "rb") as fh:
            head = fh.read(16)
    else:
        head = bytes(src[:16])
    if head[:2] in (b"II", b"MM"):
        import tifffile
        try:
            with tifffile.TiffFile(_open(src)) as tif:
                tags = tif.pages[0].tags
                if TAG_DNG_VERSION in tags or 33422 in tags:  # DNGVersion or CFAPattern
                    return "raw"
        except Exception:
            return "raw"  # let LibRaw judge (e.g. a truncated DNG)
        return "image"
    if head[:3] == b"\xff\xd8\xff" or head[:8] == b"\x89PNG\r\n\x1a\n":
        return "image"
    if ext in IMAGE_EXTENSIONS:
        return "image"
    return "unknown"


def load_photo(src: str | bytes, long_side: int | None = None, name: str = "") -> Photo:
    """Any supported input -> Photo: raws via rawpy, JPEG/PNG/TIFF via read_image as ProPhoto.

    Images get CameraProfile.prophoto_identity(), so one renderer serves both kinds.
    """
    from rendering.image_io import read_image, resize_long_side
    label = _describe(src, name)
    if isinstance(src, str) and not os.path.exists(src):
        raise PhotoDecodeError(f"{label}: file not found")
    kind = sniff_format(src, name)
    if kind == "raw":
        return decode_raw(src, long_side=long_side, name=label)
    if kind == "unknown":
        raise UnsupportedFormatError(f"{label}: unsupported format (not a raw, JPEG, PNG or TIFF)")
    img = read_image(src, name=label)
    if long_side:
        img = resize_long_side(img, long_side)
    return Photo(camera_rgb=np.clip(img, 0.0, None).astype(np.float32),
                 profile=CameraProfile.prophoto_identity(), source=label)
