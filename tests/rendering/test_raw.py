"""Raw decoding: the real DNG fixture, a pidng-written DNG, and every bad input raising its error."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from rendering.raw import (
    NoPixelDataError,
    PhotoDecodeError,
    UnsupportedFormatError,
    decode_raw,
    default_crop,
    load_photo,
    read_camera_profile,
)
from rendering.renderer import CameraMatrices, plain_decode


@pytest.fixture(scope="module")
def blackmagic_path(fixtures_dir) -> str:
    return str(fixtures_dir / "raw" / "blackmagic_pocket4k.dng")


@pytest.fixture(scope="module")
def blackmagic(blackmagic_path):
    return decode_raw(blackmagic_path, long_side=192)


def test_real_dng_decodes(blackmagic):
    img = blackmagic.camera_rgb
    assert img.dtype == np.float32 and img.shape[0] == 3
    assert max(img.shape[1:]) == 192 and 80 < min(img.shape[1:]) < 120  # 4128x2176 aspect
    assert 0.0 <= img.min() and img.max() <= 1.0
    assert img.mean() > 0.01 and np.percentile(img, 99) > 0.1  # not black
    temperature, tint = blackmagic.profile.as_shot_white()
    assert 2000.0 < temperature < 12000.0 and abs(tint) < 60.0


def test_real_dng_profile_tags(blackmagic_path):
    profile = read_camera_profile(blackmagic_path)
    np.testing.assert_allclose(profile.color_matrix1[0], [0.94953, -0.45496, 0.02829])
    np.testing.assert_allclose(profile.as_shot_neutral, [0.4533, 1.0, 0.53])
    assert profile.forward_matrix1 is not None and profile.color_matrix2 is not None
    assert (profile.illuminant1, profile.illuminant2) == (17, 21)
    assert profile.baseline_exposure == pytest.approx(2.65412)


def test_default_crop_is_applied(blackmagic_path):
    assert default_crop(blackmagic_path) == (16, 8, 4096, 2160)  # DefaultCropOrigin / Size of the raw IFD
    assert decode_raw(blackmagic_path).camera_rgb.shape == (3, 2160, 4096)  # of the 4128 x 2176 mosaic


def test_decode_from_bytes_matches_path(blackmagic_path, blackmagic):
    with open(blackmagic_path, "rb") as fh:
        photo = decode_raw(fh.read(), long_side=192, name="bm.dng")
    np.testing.assert_array_equal(photo.camera_rgb, blackmagic.camera_rgb)
    assert photo.source == "bm.dng"


def test_stripped_dng_raises_no_pixel_data(fixtures_dir):
    path = str(fixtures_dir / "raw" / "canon350d_stripped.dng")
    with pytest.raises(NoPixelDataError, match="canon350d_stripped.dng"):
        decode_raw(path, long_side=64)
    with pytest.raises(NoPixelDataError):
        load_photo(path)
    # its metadata is still readable
    assert read_camera_profile(path).as_shot_neutral is not None


@pytest.mark.parametrize("keep", [64, 4096, 400_000])
def test_truncated_raw_raises(blackmagic_path, keep):
    with open(blackmagic_path, "rb") as fh:
        data = fh.read(keep)
    with pytest.raises(PhotoDecodeError, match="cut.dng"):
        load_photo(data, long_side=64, name="cut.dng")


def test_text_file_is_unsupported(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not a photo at all\n" * 20)
    with pytest.raises(UnsupportedFormatError, match="notes.txt"):
        load_photo(str(path))
    renamed = tmp_path / "notes.dng"
    renamed.write_text("not a photo at all\n" * 20)
    with pytest.raises(PhotoDecodeError, match="notes.dng"):
        decode_raw(str(renamed))


def test_missing_file(tmp_path):
    with pytest.raises(PhotoDecodeError, match="nope.dng"):
        load_photo(str(tmp_path / "nope.dng"))


# --------------------------------------------------------------------------- pidng DNG

XYZ_TO_CAMERA_D65 = np.array([[0.7, -0.1, -0.05], [-0.3, 1.1, 0.2], [-0.05, 0.15, 0.6]])
XYZ_TO_CAMERA_A = np.array([[0.8, -0.2, 0.0], [-0.35, 1.15, 0.25], [-0.02, 0.2, 0.45]])
NEUTRAL = np.array([0.5, 1.0, 0.7])


def write_pidng(path, size: int = 64) -> np.ndarray:
    """A 12-bit RGGB DNG of a grey ramp in the camera's as-shot neutral (left) + a red patch."""
    from pidng.core import RAW2DNG, DNGTags, Tag
    from pidng.defs import (
        CalibrationIlluminant,
        CFAPattern,
        DNGVersion,
        PhotometricInterpretation,
    )

    def rational(values):
        return [[int(round(v * 10000)), 10000] for v in np.ravel(values)]

    yy, xx = np.mgrid[0:size, 0:size] / size
    rgb = NEUTRAL[None, None, :] * (0.1 + 0.6 * yy)[..., None]
    rgb[:, size // 2:] = np.array([0.6, 0.2, 0.1])
    mosaic = np.empty((size, size))
    mosaic[0::2, 0::2] = rgb[0::2, 0::2, 0]
    mosaic[0::2, 1::2] = rgb[0::2, 1::2, 1]
    mosaic[1::2, 0::2] = rgb[1::2, 0::2, 1]
    mosaic[1::2, 1::2] = rgb[1::2, 1::2, 2]
    t = DNGTags()
    for tag, value in [(Tag.ImageWidth, size), (Tag.ImageLength, size), (Tag.TileWidth, size),
                       (Tag.TileLength, size), (Tag.Orientation, 1),
                       (Tag.PhotometricInterpretation, PhotometricInterpretation.Color_Filter_Array),
                       (Tag.SamplesPerPixel, 1), (Tag.BitsPerSample, 16), (Tag.CFARepeatPatternDim, [2, 2]),
                       (Tag.CFAPattern, CFAPattern.RGGB), (Tag.BlackLevel, 0), (Tag.WhiteLevel, 4095),
                       (Tag.ColorMatrix1, rational(XYZ_TO_CAMERA_D65)),
                       (Tag.CalibrationIlluminant1, CalibrationIlluminant.D65),
                       (Tag.ColorMatrix2, rational(XYZ_TO_CAMERA_A)),
                       (Tag.CalibrationIlluminant2, CalibrationIlluminant.Standard_Light_A),
                       (Tag.AsShotNeutral, rational(NEUTRAL)), (Tag.UniqueCameraModel, "pidng test"),
                       (Tag.DNGVersion, DNGVersion.V1_4), (Tag.DNGBackwardVersion, DNGVersion.V1_2)]:
        t.set(tag, value)
    writer = RAW2DNG()
    writer.options(t, path=str(path.parent), compress=False)
    writer.convert((mosaic * 4095).astype(np.uint16), filename=path.stem)
    return rgb


def test_pidng_dng_decodes_and_renders_neutral_grey(tmp_path):
    truth = write_pidng(tmp_path / "synthetic.dng")
    photo = load_photo(str(tmp_path / "synthetic.dng"))
    profile = photo.profile
    np.testing.assert_allclose(profile.color_matrix1, XYZ_TO_CAMERA_D65, atol=1e-4)
    np.testing.assert_allclose(profile.as_shot_neutral, NEUTRAL, atol=1e-4)
    assert photo.camera_rgb.shape == (3, 64, 64) and default_crop(str(tmp_path / "synthetic.dng")) is None
    # demosaiced linear camera RGB reproduces the scene (away from the patch edge)
    np.testing.assert_allclose(photo.camera_rgb[:, 8:56, 4:24], truth[8:56, 4:24].transpose(2, 0, 1), atol=0.02)
    temperature, tint = profile.as_shot_white()
    assert 2000.0 < temperature < 12000.0
    out = plain_decode(torch.from_numpy(photo.camera_rgb)[None], CameraMatrices.from_profiles([profile]),
                       torch.tensor([temperature]), torch.tensor([tint]))[0].numpy()
    grey = out[:, 8:56, 4:24].reshape(3, -1)
    assert np.abs(grey - grey.mean(0)).max() < 0.02  # the as-shot neutral ramp renders grey
    red = out[:, 8:56, 40:60].reshape(3, -1).mean(1)
    assert red[0] > 2 * red[1] and red[0] > 2 * red[2]


def test_load_photo_reads_images_with_identity_profile(tmp_path):
    from rendering.image_io import write_image
    img = np.random.default_rng(0).uniform(0.05, 0.9, (3, 20, 30)).astype(np.float32)
    write_image(str(tmp_path / "x.tif"), img)
    photo = load_photo(str(tmp_path / "x.tif"), long_side=15)
    assert photo.camera_rgb.shape == (3, 10, 15)
    assert photo.profile.camera_model == "linear ProPhoto RGB"


# ------------------------------------------------------------------ camera-profile tags (issue 20)

SDK_PROFILE = Path(__file__).resolve().parent / "sdk_profile"


def test_profile_tags_are_read_from_a_dng():
    """tests/rendering/sdk_profile/profile.dng carries every camera-profile tag (written by make_inputs.py)."""
    from tests.rendering.sdk_profile import make_inputs as made
    profile = read_camera_profile(str(SDK_PROFILE / "profile.dng"))
    close = dict(rtol=1e-5, atol=1e-6)  # exiftool was given 6 significant digits
    np.testing.assert_allclose(profile.hue_sat_map1, made.hue_sat_table(made.HUE_SAT_DIMS, 0.3, 1.0), **close)
    np.testing.assert_allclose(profile.hue_sat_map2, made.hue_sat_table(made.HUE_SAT_DIMS, 1.4, 1.6), **close)
    np.testing.assert_allclose(profile.look_table, made.hue_sat_table(made.LOOK_DIMS, 2.2, 0.8), **close)
    assert profile.hue_sat_map1.shape == (1, 12, 4, 3) and profile.look_table.shape == (4, 8, 3, 3)
    assert (profile.hue_sat_encoding, profile.look_table_encoding) == (0, 1)
    np.testing.assert_allclose(profile.tone_curve, made.TONE_CURVE, atol=1e-7)
    assert profile.baseline_exposure == pytest.approx(0.5) and profile.baseline_exposure_offset == pytest.approx(-0.25)
    assert profile.default_black_render == 1 and profile.default_blacks() == 0.0
    assert profile.forward_matrix1 is None and profile.forward_matrix2 is not None
    plain = read_camera_profile(str(SDK_PROFILE / "plain.dng"))
    assert plain.hue_sat_map1 is None and plain.look_table is None and plain.tone_curve is None
    assert plain.baseline_exposure_offset == 0.0 and plain.default_blacks() == 5.0


def test_malformed_profile_tags_are_left_out(caplog):
    from rendering.dng_tags import _profile_look
    tags = {50937: (6, 3, 1), 50938: tuple([0.0, 1.0, 1.0] * 17),   # 17 entries for 6 x 3 x 1 = 18
            50981: (4, 2, 1), 50982: tuple([0.0, 1.0, 1.0] * 4),    # 4 x (2 - 1) x 1: saturation 0 left out
            50940: (0.0, 0.0, 0.5, 0.4, 0.4, 1.0)}                   # x not increasing
    with caplog.at_level("WARNING"):
        out = _profile_look(tags, "bad.dng")
    assert "hue_sat_map1" not in out and "tone_curve" not in out and out["look_table"].shape == (1, 4, 2, 3)
    assert "ProfileHueSatMapData" in caplog.text and "ProfileToneCurve" in caplog.text
