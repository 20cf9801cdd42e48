"""Image IO: ICC-honouring reads, sRGB/ProPhoto writes with embedded profiles, resizing."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image, ImageCms

from rendering.colour import lab_error, linear_prophoto_to_srgb, srgb_to_linear_prophoto
from rendering.image_io import (
    build_prophoto_icc,
    encode_image,
    icc_matrix_shaper,
    read_image,
    resize_long_side,
    write_image,
)
from rendering.raw import UnsupportedFormatError


def _image(h: int = 24, w: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.02, 0.8, (3, h, w)).astype(np.float32)


def _err(a: np.ndarray, b: np.ndarray) -> float:
    return float(lab_error(torch.from_numpy(a)[None].double(), torch.from_numpy(b)[None].double())[0])


def test_prophoto_tiff16_round_trip_and_profile():
    img = _image()
    data = encode_image(img, fmt="tiff", space="prophoto", bits=16)
    back = read_image(data)
    assert back.shape == img.shape
    np.testing.assert_allclose(back, img, atol=2e-4)
    import tifffile
    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        assert tif.pages[0].dtype == np.uint16
        icc = bytes(tif.pages[0].tags[34675].value)
    assert icc == build_prophoto_icc()


def test_built_prophoto_profile_is_valid_for_littlecms():
    """LittleCMS converts our ProPhoto profile to sRGB like our own maths does (no cast)."""
    img = _image(8, 8, 1)
    enc8 = Image.open(io.BytesIO(encode_image(img, fmt="png", space="prophoto")))
    profile = ImageCms.ImageCmsProfile(io.BytesIO(enc8.info["icc_profile"]))
    srgb = ImageCms.profileToProfile(enc8, profile, ImageCms.createProfile("sRGB"), outputMode="RGB")
    ours = linear_prophoto_to_srgb(torch.from_numpy(img)[None])[0].numpy().transpose(1, 2, 0) * 255
    assert np.abs(np.asarray(srgb, dtype=np.float64) - ours).mean() < 2.0
    parsed = icc_matrix_shaper(enc8.info["icc_profile"])
    assert parsed is not None


@pytest.mark.parametrize("fmt", ["png", "jpeg"])
def test_srgb_8bit_round_trip(fmt):
    enc = np.random.default_rng(2).uniform(0.05, 0.95, (1, 3, 3, 4))
    enc = enc.repeat(8, axis=2).repeat(8, axis=3)  # flat 8x8 blocks: JPEG-friendly
    img = srgb_to_linear_prophoto(torch.from_numpy(enc))[0].float().numpy()  # inside the sRGB gamut
    data = encode_image(img, fmt=fmt, space="srgb", bits=8)
    pil = Image.open(io.BytesIO(data))
    assert pil.mode == "RGB" and "icc_profile" in pil.info
    limit = 1.0 if fmt == "png" else 3.0
    assert _err(read_image(data), img) < limit


def test_untagged_image_is_srgb():
    enc = np.random.default_rng(3).integers(0, 256, (10, 12, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(enc).save(buf, format="PNG")
    ours = read_image(buf.getvalue())
    ref = srgb_to_linear_prophoto(torch.from_numpy(enc.transpose(2, 0, 1) / 255.0)[None])[0].numpy()
    np.testing.assert_allclose(ours, ref, atol=1e-5)


def test_untagged_16bit_tiff_and_grey(tmp_path):
    import tifffile
    enc = np.random.default_rng(4).integers(0, 65536, (6, 7, 3), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "a.tif", enc, photometric="rgb")
    ours = read_image(str(tmp_path / "a.tif"))
    ref = srgb_to_linear_prophoto(torch.from_numpy(enc.transpose(2, 0, 1) / 65535.0)[None])[0].numpy()
    np.testing.assert_allclose(ours, ref, atol=1e-5)
    grey = np.full((5, 5), 128, dtype=np.uint8)
    tifffile.imwrite(tmp_path / "g.tif", grey)
    g = read_image(str(tmp_path / "g.tif"))
    assert g.shape == (3, 5, 5) and np.ptp(g[:, 0, 0]) < 1e-4


def test_write_image_defaults(tmp_path):
    img = _image()
    write_image(str(tmp_path / "a.tif"), img)
    write_image(str(tmp_path / "a.jpg"), img)
    assert _err(read_image(str(tmp_path / "a.tif")), img) < 0.1
    assert Image.open(tmp_path / "a.jpg").format == "JPEG"
    with pytest.raises(ValueError):
        write_image(str(tmp_path / "a.bmp"), img)
    with pytest.raises(ValueError):
        encode_image(img, fmt="png", bits=16)


def test_not_an_image_raises():
    with pytest.raises(UnsupportedFormatError, match="junk.png"):
        read_image(b"definitely not an image" * 4, name="junk.png")


def test_resize_long_side():
    img = _image(30, 60)
    small = resize_long_side(img, 20)
    assert small.shape == (3, 10, 20)
    np.testing.assert_allclose(small.mean(), img.mean(), atol=1e-3)  # area averaging keeps the mean
    assert resize_long_side(img, 120).shape == (3, 60, 120)


def test_encoding_is_byte_reproducible():
    """Same pixels -> same bytes across time: LittleCMS stamps 'now' into the ICC header, we fix it."""
    import struct
    import time

    from rendering import image_io
    img = _image()
    formats = ("png", "jpeg", "tiff")
    first = [encode_image(img, fmt=fmt) for fmt in formats]
    image_io.srgb_icc.cache_clear()
    time.sleep(1.05)                                  # the header date has one-second resolution
    assert [encode_image(img, fmt=fmt) for fmt in formats] == first
    icc = image_io.srgb_icc()
    assert icc[24:36] == struct.pack(">6H", 2000, 1, 1, 0, 0, 0)
    assert "sRGB" in ImageCms.ImageCmsProfile(io.BytesIO(icc)).profile.profile_description


def test_prophoto_profile_curve_matches_the_encoding_toe():
    """Below 1/512 the ROMM encoding is linear (x 16); the embedded ICC curve decodes the same, not a pure gamma."""
    dark = np.linspace(2e-4, 2.5e-3, 3 * 4 * 6, dtype=np.float32).reshape(3, 4, 6)
    back = read_image(encode_image(dark, fmt="tiff", space="prophoto", bits=16))
    np.testing.assert_allclose(back, dark, atol=1e-5)  # the 16-bit table; a pure gamma decodes 1.2e-3 as 8.1e-4
    # LittleCMS reads the profile the same way: encoded levels 1..7 of 255 lie in the toe
    levels = np.arange(1, 8, dtype=np.uint8)
    enc8 = Image.fromarray(np.repeat(levels[None, :, None], 3, axis=2), "RGB")
    buf = io.BytesIO()
    enc8.save(buf, format="PNG", icc_profile=build_prophoto_icc())
    img = Image.open(io.BytesIO(buf.getvalue()))
    profile = ImageCms.ImageCmsProfile(io.BytesIO(img.info["icc_profile"]))
    lcms = np.asarray(ImageCms.profileToProfile(img, profile, ImageCms.createProfile("sRGB"), outputMode="RGB"),
                      dtype=np.float64)[0, :, 1]
    grey = torch.from_numpy(np.repeat(levels[None, :] / 255.0 / 16.0, 3, axis=0)[:, None, :])[None]
    ours = linear_prophoto_to_srgb(grey)[0, 1, 0].numpy() * 255.0
    assert np.abs(lcms - ours).max() <= 0.6, (lcms, ours)
