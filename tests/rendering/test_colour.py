"""Colour maths against colour-science: ProPhoto/D50, sRGB/D65 (Bradford), CIE-LAB, the ICC fixture."""
from __future__ import annotations

import colour
import numpy as np
import pytest
import torch

from rendering.colour import (
    PROPHOTO_TO_XYZ,
    delta_e76,
    lab_error,
    lab_error_stats,
    lab_to_linear_prophoto,
    linear_prophoto_to_lab,
    linear_prophoto_to_srgb,
    prophoto_decode,
    prophoto_encode,
    srgb_to_linear_prophoto,
    xyz_to_lab,
    xyz_to_linear_prophoto,
)
from rendering.image_io import read_image

PROPHOTO = colour.RGB_COLOURSPACES["ProPhoto RGB"]
SRGB = colour.RGB_COLOURSPACES["sRGB"]
D50 = colour.CCS_ILLUMINANTS["CIE 1931 2 Degree Standard Observer"]["D50"]


def _random_rgb(n: int = 500, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.0, 1.0, size=(n, 3))


def _as_image(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(rgb.T.copy())[None, :, :, None]  # [1,3,N,1]


def test_prophoto_matrix_matches_colour_science():
    np.testing.assert_allclose(PROPHOTO_TO_XYZ, PROPHOTO.matrix_RGB_to_XYZ, atol=3e-4)


def test_prophoto_to_lab_matches_colour_science():
    rgb = _random_rgb()
    ours = linear_prophoto_to_lab(_as_image(rgb))[0, :, :, 0].numpy().T
    ref = colour.XYZ_to_Lab(colour.RGB_to_XYZ(rgb, PROPHOTO, D50, apply_cctf_decoding=False), D50)
    # colour-science uses the 4-decimal matrix of the ROMM spec; ours is derived from the primaries
    assert np.abs(ours - ref).max() < 0.1
    assert np.abs(ours - ref).mean() < 0.02


def test_lab_round_trip_and_white():
    rgb = _random_rgb(200, 1)
    img = _as_image(rgb)
    back = lab_to_linear_prophoto(linear_prophoto_to_lab(img))
    assert torch.allclose(back, img, atol=1e-6)
    white = linear_prophoto_to_lab(torch.ones(1, 3, 1, 1, dtype=torch.float64))[0, :, 0, 0]
    assert torch.allclose(white, torch.tensor([100.0, 0.0, 0.0], dtype=torch.float64), atol=1e-3)


def test_prophoto_to_srgb_uses_bradford_like_colour_science():
    rgb = _random_rgb(300, 2) * 0.6 + 0.2  # mostly inside the sRGB gamut after conversion
    ours = linear_prophoto_to_srgb(_as_image(rgb))[0, :, :, 0].numpy().T
    ref = colour.RGB_to_RGB(rgb, PROPHOTO, SRGB, chromatic_adaptation_transform="Bradford",
                            apply_cctf_decoding=False, apply_cctf_encoding=True)
    inside = np.all((ref > 0.0) & (ref < 1.0), axis=1)
    assert inside.sum() > 50
    assert np.abs(ours[inside] - ref[inside]).max() < 2e-3
    # a D50 neutral stays neutral in sRGB (D65)
    grey = linear_prophoto_to_srgb(torch.full((1, 3, 1, 1), 0.3, dtype=torch.float64))[0, :, 0, 0]
    assert float(grey.max() - grey.min()) < 1e-3


def test_srgb_round_trip():
    enc = torch.from_numpy(_random_rgb(100, 3).T.copy())[None, :, :, None]
    back = linear_prophoto_to_srgb(srgb_to_linear_prophoto(enc))
    assert torch.allclose(back, enc, atol=1e-6)


def test_romm_encoding_round_trip():
    x = torch.linspace(0, 1, 1001, dtype=torch.float64)
    assert torch.allclose(prophoto_decode(prophoto_encode(x)), x, atol=1e-9)


def test_delta_e_and_lab_errors():
    a = torch.rand(2, 3, 4, 5, dtype=torch.float64)
    b = a.clone()
    b[1] = b[1] * 0.5
    err = lab_error(a, b)
    assert err[0] < 1e-4 and err[1] > 1.0
    d = delta_e76(linear_prophoto_to_lab(a), linear_prophoto_to_lab(b))
    assert d.shape == (2, 4, 5)
    assert torch.allclose(d[1].mean(), err[1])


def test_lab_error_stats_chunked_and_indexed_equals_pairwise_and_colour_science():
    rng = np.random.default_rng(0)
    refs = torch.from_numpy(rng.uniform(0.0, 1.0, (2, 3, 8, 8)))
    mean, rms = lab_error_stats(refs, refs)
    assert torch.all(mean < 1e-4) and torch.all(rms < 1e-4)
    # renders compared with shared references by index, in chunks == pairwise mean and RMS of the ΔE map
    renders = torch.from_numpy(rng.uniform(0.0, 1.0, (3, 3, 8, 8)))
    mean, rms = lab_error_stats(renders, refs, torch.tensor([1, 0, 1]), chunk=2)
    pairs = refs[[1, 0, 1]]
    de = delta_e76(linear_prophoto_to_lab(renders), linear_prophoto_to_lab(pairs)).flatten(1)
    assert torch.allclose(mean, lab_error(renders, pairs), atol=1e-9)
    assert torch.allclose(rms, de.pow(2).mean(dim=1).sqrt(), atol=1e-9)
    assert torch.all(rms >= mean) and torch.all(mean > 1.0)
    with pytest.raises(ValueError, match="reference indices"):
        lab_error_stats(renders, refs, torch.tensor([0, 1]))
    # two uniform colours given as XYZ (D50-relative): our D50 LAB ΔE76 == colour-science's
    xyz_a, xyz_b = np.array([0.30, 0.25, 0.12]), np.array([0.18, 0.20, 0.30])
    a, b = (xyz_to_linear_prophoto(torch.tensor(x, dtype=torch.float64).view(1, 3, 1, 1).expand(1, 3, 4, 4))
            for x in (xyz_a, xyz_b))
    mean, rms = lab_error_stats(a, b)
    d50 = colour.CCS_ILLUMINANTS["CIE 1931 2 Degree Standard Observer"]["D50"]
    expected = colour.delta_E(colour.XYZ_to_Lab(xyz_a, d50), colour.XYZ_to_Lab(xyz_b, d50), method="CIE 1976")
    assert expected > 10
    assert float(mean[0]) == pytest.approx(expected, abs=1e-3) and float(rms[0]) == pytest.approx(expected, abs=1e-3)
    # with the D65 white the same pair would differ: the white point matters here
    d65 = colour.CCS_ILLUMINANTS["CIE 1931 2 Degree Standard Observer"]["D65"]
    wrong = colour.delta_E(colour.XYZ_to_Lab(xyz_a, d65), colour.XYZ_to_Lab(xyz_b, d65), method="CIE 1976")
    assert abs(wrong - float(mean[0])) > 0.5


def _fixture_jpeg(fixtures_dir) -> str:
    return str(fixtures_dir / "fivek_expert_jpegs" / "a0001-jmac_DSC1459_A.jpg")


def _reference_lab(path: str) -> np.ndarray:
    """colour-science reference: 8-bit ProPhoto JPEG -> decode ROMM TRC -> XYZ -> LAB (D50)."""
    from PIL import Image
    rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.float64) / 255.0
    xyz = colour.RGB_to_XYZ(rgb, PROPHOTO, D50, apply_cctf_decoding=True)
    return colour.XYZ_to_Lab(xyz, D50)


def test_prophoto_jpeg_fixture_lab_matches_colour_science(fixtures_dir):
    path = _fixture_jpeg(fixtures_dir)
    ref = _reference_lab(path)
    ours = linear_prophoto_to_lab(torch.from_numpy(read_image(path))[None].double())[0].numpy()
    de = np.sqrt(((ours.transpose(1, 2, 0) - ref) ** 2).sum(-1))
    assert de.mean() < 0.5, de.mean()
    assert np.percentile(de, 99) < 1.0


def test_ignoring_the_icc_profile_gives_a_colour_cast(fixtures_dir):
    from PIL import Image
    path = _fixture_jpeg(fixtures_dir)
    ref = _reference_lab(path)
    rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.float64) / 255.0  # read as sRGB
    naive = srgb_to_linear_prophoto(torch.from_numpy(rgb.transpose(2, 0, 1).copy())[None])
    lab = linear_prophoto_to_lab(naive)[0].numpy().transpose(1, 2, 0)
    de = np.sqrt(((lab - ref) ** 2).sum(-1))
    assert de.mean() > 5.0, de.mean()


def test_xyz_to_lab_other_white():
    xyz = torch.tensor(colour.xy_to_XYZ(colour.CCS_ILLUMINANTS["CIE 1931 2 Degree Standard Observer"]["D65"]))
    lab = xyz_to_lab(xyz.view(1, 3, 1, 1), white="D65")[0, :, 0, 0]
    assert torch.allclose(lab, torch.tensor([100.0, 0.0, 0.0], dtype=lab.dtype), atol=1e-3)
    with pytest.raises(KeyError):
        xyz_to_lab(xyz.view(1, 3, 1, 1), white="E")
