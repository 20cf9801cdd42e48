"""Image files <-> linear ProPhoto arrays [3,H,W] float32, honouring embedded ICC profiles.

Reading: JPEG/PNG through Pillow, TIFF (8/16-bit, float) through tifffile (ICC in tag 34675).
Matrix/TRC ICC profiles (ProPhoto, sRGB, Adobe RGB, ...: the usual camera-export profiles) are
applied exactly in float: TRC curves (ICC.1:2010 curveType / parametricCurveType) then the
D50-adapted colorant matrix to PCS XYZ, then XYZ -> linear ProPhoto. Other profiles (LUT based) go
through LittleCMS (Pillow ImageCms) to 8-bit sRGB first. Untagged images are sRGB.
Writing: 8-bit (PNG/JPEG/TIFF) or 16-bit (TIFF) in sRGB or ProPhoto (ROMM gamma 1.8 with its
linear toe below 1/512) with an embedded ICC profile: LittleCMS's sRGB profile, or a ProPhoto v2
matrix/TRC profile built here whose tone curve is a table of that same encoding.
`encode_image` returns bytes (Beam stages write them through FileSystems).
"""
from __future__ import annotations

import functools
import io
import logging
import struct

import numpy as np
import torch
import torch.nn.functional as F

from rendering.colour import (
    PROPHOTO_TO_XYZ,
    WHITE_XYZ,
    XYZ_TO_PROPHOTO,
    linear_prophoto_to_srgb,
    prophoto_decode,
    prophoto_encode,
    srgb_to_linear_prophoto,
)
from rendering.raw import PhotoDecodeError, UnsupportedFormatError

log = logging.getLogger(__name__)

TIFF_ICC_TAG = 34675
ICC_TRC_SIZE = 1024  # entries of the ProPhoto profile's tone-curve table


# ------------------------------------------------------------------------------- ICC parsing

def _s15(b: bytes) -> float:
    return struct.unpack(">i", b)[0] / 65536.0


def _icc_tags(icc: bytes) -> dict[bytes, bytes]:
    count = struct.unpack(">I", icc[128:132])[0]
    tags = {}
    for i in range(count):
        sig, off, size = struct.unpack(">4sII", icc[132 + 12 * i:144 + 12 * i])
        tags[sig] = icc[off:off + size]
    return tags


def _icc_curve(data: bytes):
    """An ICC TRC tag -> function mapping encoded [0,1] numpy values to linear."""
    kind = data[:4]
    if kind == b"curv":
        n = struct.unpack(">I", data[8:12])[0]
        if n == 0:
            return lambda v: v
        if n == 1:
            gamma = struct.unpack(">H", data[12:14])[0] / 256.0
            return lambda v: np.power(np.clip(v, 0.0, None), gamma)
        table = np.frombuffer(data[12:12 + 2 * n], dtype=">u2").astype(np.float64) / 65535.0
        grid = np.linspace(0.0, 1.0, n)
        return lambda v: np.interp(v, grid, table)
    if kind == b"para":
        ftype = struct.unpack(">H", data[8:10])[0]
        nparams = {0: 1, 1: 3, 2: 4, 3: 5, 4: 7}[ftype]
        p = [_s15(data[12 + 4 * i:16 + 4 * i]) for i in range(nparams)]
        g, a, b, c, d, e, f = (p + [1.0, 0.0, 0.0, 0.0, 0.0, 0.0])[:7] if ftype == 0 else (p + [0.0] * 7)[:7]

        def para(v: np.ndarray) -> np.ndarray:
            v = np.clip(v, 0.0, 1.0)
            if ftype == 0:
                return np.power(v, g)
            if ftype == 1:
                return np.where(v >= -b / a, np.power(np.clip(a * v + b, 0, None), g), 0.0)
            if ftype == 2:
                return np.where(v >= -b / a, np.power(np.clip(a * v + b, 0, None), g) + c, c)
            if ftype == 3:
                return np.where(v >= d, np.power(np.clip(a * v + b, 0, None), g), c * v)
            return np.where(v >= d, np.power(np.clip(a * v + b, 0, None), g) + e, c * v + f)
        return para
    raise ValueError(f"unsupported ICC curve type {kind!r}")


def icc_matrix_shaper(icc: bytes):
    """Parse a matrix/TRC RGB ICC profile -> (three TRC functions, RGB->XYZ(D50) 3x3) or None."""
    try:
        if icc[16:20] != b"RGB ":
            return None
        tags = _icc_tags(icc)
        if not all(k in tags for k in (b"rXYZ", b"gXYZ", b"bXYZ", b"rTRC", b"gTRC", b"bTRC")):
            return None
        cols = [[_s15(tags[k][8 + 4 * i:12 + 4 * i]) for i in range(3)] for k in (b"rXYZ", b"gXYZ", b"bXYZ")]
        matrix = np.array(cols).T
        curves = [_icc_curve(tags[k]) for k in (b"rTRC", b"gTRC", b"bTRC")]
        return curves, matrix
    except (ValueError, struct.error, KeyError, IndexError) as exc:
        log.debug("ICC profile not usable as matrix/TRC: %s", exc)
        return None


def _s15_bytes(x: float) -> bytes:
    return struct.pack(">i", int(round(x * 65536.0)))


def _xyz_tag(xyz: np.ndarray) -> bytes:
    return b"XYZ " + b"\0" * 4 + b"".join(_s15_bytes(v) for v in xyz)


def _desc_tag(text: str) -> bytes:
    ascii_ = text.encode("ascii") + b"\0"
    body = b"desc" + b"\0" * 4 + struct.pack(">I", len(ascii_)) + ascii_
    body += b"\0" * 8  # unicode language code + count 0
    body += b"\0" * 3 + b"\0" * 67  # scriptcode code, count, 67 bytes
    return body


def _romm_trc() -> bytes:
    """The ICC curveType of our ProPhoto encoding: ROMM's gamma 1.8 with its linear toe (encoded < 1/32 -> /16).

    A table of ICC_TRC_SIZE entries (encoded uniform on [0, 1] -> linear), so the embedded profile
    decodes exactly what `prophoto_encode` wrote, toe included (a single gamma would not).
    """
    encoded = torch.linspace(0.0, 1.0, ICC_TRC_SIZE, dtype=torch.float64)
    table = np.round(prophoto_decode(encoded).numpy() * 65535.0).astype(">u2")
    return b"curv" + b"\0" * 4 + struct.pack(">I", ICC_TRC_SIZE) + table.tobytes()


def build_prophoto_icc() -> bytes:
    """A minimal ICC v2 display profile for ProPhoto RGB (ROMM primaries, D50, gamma 1.8 with ROMM's linear toe)."""
    pcs = WHITE_XYZ["D50"]
    matrix = PROPHOTO_TO_XYZ  # columns = D50-relative XYZ of the primaries (already PCS-adapted)
    gamma = _romm_trc()
    tags = [
        (b"desc", _desc_tag("ProPhoto RGB (photoedit)")),
        (b"cprt", b"text" + b"\0" * 4 + b"No copyright, use freely\0"),
        (b"wtpt", _xyz_tag(pcs)),
        (b"rXYZ", _xyz_tag(matrix[:, 0])), (b"gXYZ", _xyz_tag(matrix[:, 1])),
        (b"bXYZ", _xyz_tag(matrix[:, 2])),
        (b"rTRC", gamma), (b"gTRC", gamma), (b"bTRC", gamma),
    ]
    table = b""
    data = b""
    offset = 128 + 4 + 12 * len(tags)
    placed: dict[bytes, int] = {}  # identical tag bodies (the three TRCs) share one copy, as ICC allows
    for sig, body in tags:
        if body not in placed:
            while (offset + len(data)) % 4:
                data += b"\0"
            placed[body] = offset + len(data)
            data += body
        table += struct.pack(">4sII", sig, placed[body], len(body))
    body = struct.pack(">I", len(tags)) + table + data
    size = 128 + len(body)
    header = struct.pack(">I4sI4s4s4s", size, b"lcms", 0x02100000, b"mntr", b"RGB ", b"XYZ ")
    header += struct.pack(">6H", 2024, 1, 1, 0, 0, 0) + b"acsp" + b"APPL" + struct.pack(">I", 0)
    header += b"\0" * 8 + b"\0" * 8 + struct.pack(">I", 0)  # manufacturer, model, attributes, intent
    header += b"".join(_s15_bytes(v) for v in np.array([0.9642, 1.0, 0.8249]))  # PCS illuminant
    header += b"\0" * 4 + b"\0" * 16 + b"\0" * 28  # creator, profile id, reserved
    assert len(header) == 128, len(header)
    return header + body


@functools.lru_cache(maxsize=1)
def srgb_icc() -> bytes:
    """LittleCMS's built-in sRGB profile as ICC bytes, with a fixed header date so output is reproducible."""
    from PIL import ImageCms
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    # Header bytes 24..35 hold the creation time (ICC.1 7.2.8); LittleCMS stamps "now" there.
    fixed_date = struct.pack(">6H", 2000, 1, 1, 0, 0, 0)
    return icc[:24] + fixed_date + icc[36:]


# ------------------------------------------------------------------------------------ reading

def _to_float(pixels: np.ndarray) -> np.ndarray:
    if pixels.dtype == np.uint8:
        return pixels.astype(np.float32) / 255.0
    if pixels.dtype == np.uint16:
        return pixels.astype(np.float32) / 65535.0
    if np.issubdtype(pixels.dtype, np.floating):
        return pixels.astype(np.float32)
    if np.issubdtype(pixels.dtype, np.integer):
        return pixels.astype(np.float32) / float(np.iinfo(pixels.dtype).max)
    raise UnsupportedFormatError(f"unsupported pixel type {pixels.dtype}")


def _hwc_rgb(pixels: np.ndarray) -> np.ndarray:
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    if pixels.ndim != 3:
        raise UnsupportedFormatError(f"unsupported image shape {pixels.shape}")
    if pixels.shape[2] in (1, 2):
        pixels = np.repeat(pixels[..., :1], 3, axis=2)
    return pixels[..., :3]


def encoded_to_linear_prophoto(rgb: np.ndarray, icc: bytes | None, label: str = "") -> np.ndarray:
    """Encoded RGB HxWx3 float in [0,1] + optional ICC bytes -> linear ProPhoto [3,H,W] float32."""
    parsed = icc_matrix_shaper(icc) if icc else None
    if parsed is not None:
        curves, to_xyz = parsed
        lin = np.stack([curves[c](rgb[..., c].astype(np.float64)) for c in range(3)], axis=-1)
        m = XYZ_TO_PROPHOTO @ to_xyz
        out = np.einsum("ij,hwj->ihw", m, lin)
        return out.astype(np.float32)
    if icc:
        from PIL import Image, ImageCms
        log.info("%s: LUT-based ICC profile, converting through LittleCMS to sRGB", label)
        img8 = Image.fromarray(np.clip(np.round(rgb * 255.0), 0, 255).astype(np.uint8), "RGB")
        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        img8 = ImageCms.profileToProfile(img8, src, ImageCms.createProfile("sRGB"), outputMode="RGB")
        rgb = np.asarray(img8, dtype=np.float32) / 255.0
    t = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))[None].to(torch.float64)
    return srgb_to_linear_prophoto(t)[0].to(torch.float32).numpy()


def read_image(src: str | bytes, name: str = "") -> np.ndarray:
    """Read JPEG/PNG/TIFF (8/16-bit; path or bytes) -> linear ProPhoto [3,H,W] float32.

    The embedded ICC profile is honoured; untagged images are sRGB. Raises PhotoDecodeError
    (UnsupportedFormatError for non-images) naming the file.
    """
    label = name or (src if isinstance(src, str) else f"<{len(src)} bytes>")
    stream = io.BytesIO(src) if isinstance(src, (bytes, bytearray, memoryview)) else src
    try:
        if isinstance(src, str):
            with open(src, "rb") as fh:
                head = fh.read(4)
        else:
            head = bytes(src[:4])
        if head[:2] in (b"II", b"MM"):
            import tifffile
            with tifffile.TiffFile(stream) as tif:
                page = tif.pages[0]
                pixels = page.asarray()
                icc_tag = page.tags.get(TIFF_ICC_TAG)
                icc = bytes(icc_tag.value) if icc_tag is not None else None
                if page.planarconfig == 2 and pixels.ndim == 3 and pixels.shape[0] in (3, 4):
                    pixels = np.moveaxis(pixels, 0, -1)
        else:
            from PIL import Image, UnidentifiedImageError
            try:
                with Image.open(stream) as im:
                    icc = im.info.get("icc_profile")
                    if im.mode not in ("RGB", "L", "I;16", "I"):
                        im = im.convert("RGB")
                    pixels = np.asarray(im)
                    if im.mode in ("I;16",):
                        pixels = pixels.astype(np.uint16)
                    elif im.mode == "I":
                        pixels = (np.clip(pixels, 0, 65535)).astype(np.uint16)
            except UnidentifiedImageError as exc:
                raise UnsupportedFormatError(f"{label}: not a JPEG, PNG or TIFF image") from exc
    except PhotoDecodeError:
        raise
    except FileNotFoundError as exc:
        raise PhotoDecodeError(f"{label}: file not found") from exc
    except Exception as exc:
        raise PhotoDecodeError(f"{label}: image decode failed: {type(exc).__name__}: {exc}") from exc
    rgb = _hwc_rgb(_to_float(pixels))
    if rgb.size == 0:
        raise PhotoDecodeError(f"{label}: image has no pixels")
    return encoded_to_linear_prophoto(rgb, icc, label)


# ------------------------------------------------------------------------------------ writing

def _quantise(enc: np.ndarray, bits: int) -> np.ndarray:
    top = 255.0 if bits == 8 else 65535.0
    dtype = np.uint8 if bits == 8 else np.uint16
    return np.clip(np.round(enc * top), 0, top).astype(dtype)


def encode_image(img: np.ndarray | torch.Tensor, fmt: str = "png", space: str = "srgb",
                 bits: int = 8, quality: int = 95) -> bytes:
    """Linear ProPhoto [3,H,W] -> encoded file bytes (png|jpeg|tiff, srgb|prophoto, 8|16 bits).

    16 bits needs TIFF. The output carries the matching ICC profile.
    """
    fmt = {"jpg": "jpeg", "tif": "tiff"}.get(fmt.lower(), fmt.lower())
    if fmt not in ("png", "jpeg", "tiff"):
        raise ValueError(f"unsupported output format {fmt!r}; use png, jpeg or tiff")
    if bits not in (8, 16) or (bits == 16 and fmt != "tiff"):
        raise ValueError(f"{bits}-bit output needs tiff (8-bit for png/jpeg)")
    t = torch.as_tensor(np.asarray(img, dtype=np.float32) if not torch.is_tensor(img) else img)
    t = t.detach().to("cpu", torch.float32)[None]
    if space == "srgb":
        enc = linear_prophoto_to_srgb(t)[0]
        icc = srgb_icc()
    elif space == "prophoto":
        enc = prophoto_encode(t.clamp(0.0, 1.0))[0]
        icc = build_prophoto_icc()
    else:
        raise ValueError(f"unsupported colour space {space!r}; use srgb or prophoto")
    pixels = _quantise(enc.numpy().transpose(1, 2, 0), bits)
    buf = io.BytesIO()
    if fmt == "tiff":
        import tifffile
        tifffile.imwrite(buf, pixels, photometric="rgb", compression="zlib",
                         extratags=[(TIFF_ICC_TAG, "B", len(icc), icc, True)])
    else:
        from PIL import Image
        kw = {"quality": quality, "subsampling": 0} if fmt == "jpeg" else {}  # 4:4:4 chroma
        Image.fromarray(pixels, "RGB").save(buf, format=fmt.upper(), icc_profile=icc, **kw)
    return buf.getvalue()


def format_for_path(path: str) -> str:
    """File extension -> encode_image format name."""
    ext = path.rsplit(".", 1)[-1].lower() if "." in path else ""
    fmt = {"jpg": "jpeg", "jpeg": "jpeg", "png": "png", "tif": "tiff", "tiff": "tiff"}.get(ext)
    if fmt is None:
        raise ValueError(f"{path}: unknown output extension; use .jpg, .png or .tif")
    return fmt


def write_image(path: str, img: np.ndarray | torch.Tensor, fmt: str | None = None,
                space: str | None = None, bits: int | None = None) -> str:
    """Write linear ProPhoto [3,H,W] to a local path; defaults: .tif 16-bit ProPhoto, else 8-bit sRGB."""
    fmt = fmt or format_for_path(path)
    if space is None:
        space = "prophoto" if fmt == "tiff" else "srgb"
    if bits is None:
        bits = 16 if fmt == "tiff" else 8
    data = encode_image(img, fmt=fmt, space=space, bits=bits)
    with open(path, "wb") as fh:
        fh.write(data)
    return path


def resize_long_side(img: np.ndarray, long_side: int, method: str = "area") -> np.ndarray:
    """Resize [3,H,W] float so max(H, W) == long_side.

    method "area": area averaging down, bilinear up. "bicubic": antialiased bicubic (the kernel
    widened by the scale when shrinking, like the DNG SDK's dng_resample_bicubic), clipped at 0.
    """
    c, h, w = img.shape
    scale = long_side / max(h, w)
    new_h, new_w = max(1, int(round(h * scale))), max(1, int(round(w * scale)))
    if (new_h, new_w) == (h, w):
        return np.ascontiguousarray(img, dtype=np.float32)
    t = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32))[None]
    if method == "bicubic":
        out = F.interpolate(t, size=(new_h, new_w), mode="bicubic", antialias=True,
                            align_corners=False).clamp(min=0.0)
    elif scale < 1:
        out = F.interpolate(t, size=(new_h, new_w), mode="area")
    else:
        out = F.interpolate(t, size=(new_h, new_w), mode="bilinear", align_corners=False)
    return out[0].numpy()
