"""Raw decoding: rawpy demosaics to linear camera RGB; the DNG's colour tags give the camera profile.

rawpy (LibRaw) demosaics at full resolution with bilinear interpolation (LibRaw's LINEAR, the
kind of interpolation the DNG SDK's reference renderer uses), output_color=raw, gamma (1, 1), no
auto-brightening and unit white-balance multipliers, so its 16-bit output is linear camera RGB with
the black level subtracted and the white level scaled to 65535; we divide by 65535 to get [0, 1].
The DNG default crop (DefaultCropOrigin / DefaultCropSize of the raw IFD, relative to the active
area, read with tifffile) is cut before the image is oriented and resized with antialiased bicubic
resampling (the SDK renders the cropped stage-3 image resampled with dng_resample_bicubic).
rawpy's rgb_xyz_matrix is all zeros for DNGs, so the colour calibration and the camera profile's
look are read from the DNG's first IFD with tifffile (rendering.dng_tags: the tags and
CameraProfile); other raws take LibRaw's built-in matrix."""
from __future__ import annotations

import io
import logging
import os
from dataclasses import dataclass

import numpy as np

from rendering.dng_tags import (
    TAG_DEFAULT_CROP_ORIGIN,
    TAG_DEFAULT_CROP_SIZE,
    TAG_DNG_VERSION,
    CameraProfile,
    numbers,
    profile_from_tags,
)

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
    profile = profile_from_tags(tags, label)
    return profile if profile is not None else _rawpy_profile(src, label)


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
            origin = numbers(page.tags.valueof(TAG_DEFAULT_CROP_ORIGIN), 2)
            size = numbers(page.tags.valueof(TAG_DEFAULT_CROP_SIZE), 2)
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
