"""Camera-profile maths (rendering.camera_profile): HSV, hue/sat table lookup, table reading, tone curves."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from rendering import camera_profile as cp
from rendering import tone


def _colours(n: int = 400, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).uniform(0.0, 1.0, (2, 3, n // 20, 20)))


def _identity(vals: int, hues: int, sats: int) -> np.ndarray:
    table = np.zeros((vals, hues, sats, 3), dtype=np.float32)
    table[..., 1:] = 1.0
    return table


def _lookup(rgb: torch.Tensor, table: np.ndarray, encoding: int = 0) -> torch.Tensor:
    t = torch.from_numpy(table).double()[None].expand(rgb.shape[0], *table.shape)
    return cp.hue_sat_lookup(rgb, t, encoding)


def test_hsv_round_trip_and_sdk_hue_convention():
    rgb = _colours()
    h, s, v = cp.rgb_to_hsv(rgb)
    assert float(h.min()) >= 0.0 and float(h.max()) < 6.0
    torch.testing.assert_close(cp.hsv_to_rgb(h, s, v), rgb)
    primaries = torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [0.5, 0.5, 0.5]]).T.reshape(1, 3, 1, 4)
    h, s, v = cp.rgb_to_hsv(primaries)
    np.testing.assert_allclose(h.flatten().numpy(), [0.0, 2.0, 4.0, 0.0])
    np.testing.assert_allclose(s.flatten().numpy(), [1.0, 1.0, 1.0, 0.0])


@pytest.mark.parametrize("dims", [(6, 2, 1), (12, 4, 1), (8, 3, 4)])
def test_identity_table_leaves_colours_alone(dims):
    hues, sats, vals = dims
    rgb = _colours()
    for encoding in (0, 1):
        if vals == 1 and encoding == 1:
            continue  # the SDK decodes the unencoded value of 2.5D sRGB tables (see the module docstring)
        torch.testing.assert_close(_lookup(rgb, _identity(vals, hues, sats), encoding), rgb, atol=1e-6, rtol=0)


def test_uniform_hue_shift_saturation_and_value_scales():
    table = _identity(1, 6, 2)
    table[..., 0] = 120.0   # +120 degrees everywhere: red -> green
    out = _lookup(torch.tensor([0.8, 0.2, 0.2]).view(1, 3, 1, 1).double(), table)
    np.testing.assert_allclose(out.flatten().numpy(), [0.2, 0.8, 0.2], atol=1e-6)
    table = _identity(1, 6, 2)
    table[:, :, 1, 1] = 0.5  # saturation scale 0.5 at full saturation, 1 at grey: s -> s (1 - s / 2)
    table[:, :, 1, 2] = 0.8  # value scale 0.8 at full saturation
    h, s, v = cp.rgb_to_hsv(_lookup(torch.tensor([0.8, 0.4, 0.4]).view(1, 3, 1, 1).double(), table))
    assert float(s) == pytest.approx(0.5 * (1 - 0.25)) and float(v) == pytest.approx(0.8 * (1 - 0.1))
    assert float(h) == pytest.approx(0.0)


def test_hue_interpolation_wraps_from_the_last_division_to_the_first():
    table = _identity(1, 6, 2)
    table[:, 5, :, 0] = 30.0  # only the magenta division (hue 5) shifts
    # hue 5.5 sits half-way between division 5 and division 0 (red): half the shift, 15 degrees
    h, s, v = cp.rgb_to_hsv(torch.tensor([1.0, 0.0, 0.5]).view(1, 3, 1, 1).double())
    assert float(h) == pytest.approx(5.5)
    h2, _, _ = cp.rgb_to_hsv(_lookup(torch.tensor([1.0, 0.0, 0.5]).view(1, 3, 1, 1).double(), table))
    assert float(h2) == pytest.approx(5.5 + 15.0 / 60.0)


def test_3d_table_interpolates_value_on_the_srgb_encoded_axis():
    table = _identity(3, 6, 2)
    table[1, :, 1, 2] = 0.5  # middle value division (encoded 0.5) halves the value of saturated colours
    rgb = torch.tensor([float(tone.decode(torch.tensor(0.5))), 0.0, 0.0]).view(1, 3, 1, 1).double()
    linear_axis = float(cp.rgb_to_hsv(_lookup(rgb, table, cp.ENCODING_LINEAR))[2])
    srgb_axis = float(cp.rgb_to_hsv(_lookup(rgb, table, cp.ENCODING_SRGB))[2])
    # sRGB axis: exactly the middle node, the encoded value halves -> decode(0.25); linear axis: 0.21 is
    # 42 % of the way to the middle node, so a smaller cut
    assert srgb_axis == pytest.approx(float(tone.decode(torch.tensor(0.25))), rel=1e-6)
    v = float(rgb[0, 0])
    assert linear_axis == pytest.approx(v * (1 - 0.5 * (2 * v)), rel=1e-6)


def test_read_hue_sat_table_fills_a_skipped_saturation_zero_column():
    full = np.random.default_rng(1).uniform(0.5, 1.5, (2, 5, 3, 3)).astype(np.float32)
    skipped = cp.read_hue_sat_table(full[:, :, 1:].ravel(), (5, 3, 2))
    assert skipped.shape == (2, 5, 3, 3)
    np.testing.assert_array_equal(skipped[:, :, 1:], full[:, :, 1:])
    np.testing.assert_array_equal(skipped[:, :, 0, :2], full[:, :, 1, :2])  # copies saturation 1 ...
    np.testing.assert_array_equal(skipped[:, :, 0, 2], 1.0)                 # ... with value scale 1
    assert cp.read_hue_sat_table(full.ravel()[:-3], (5, 3, 2)) is None      # a count that fits nothing


def _hermite_natural_spline(points: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The SDK's spline written out: slopes from the C2 tridiagonal system with zero end curvature, Hermite segments."""
    px, py = points[:, 0], points[:, 1]
    h, d = np.diff(px), np.diff(py) / np.diff(px)
    n = len(px)
    a, rhs = np.zeros((n, n)), np.zeros(n)
    a[0, :2], rhs[0] = (2.0, 1.0), 3.0 * d[0]
    a[-1, -2:], rhs[-1] = (1.0, 2.0), 3.0 * d[-1]
    for j in range(1, n - 1):
        a[j, j - 1:j + 2] = (h[j], 2.0 * (h[j - 1] + h[j]), h[j - 1])
        rhs[j] = 3.0 * (h[j] * d[j - 1] + h[j - 1] * d[j])
    slope = np.linalg.solve(a, rhs)
    j = np.clip(np.searchsorted(px, x) - 1, 0, n - 2)
    t = (x - px[j]) / h[j]
    h00, h10, h01, h11 = 2 * t**3 - 3 * t**2 + 1, t**3 - 2 * t**2 + t, -2 * t**3 + 3 * t**2, t**3 - t**2
    return h00 * py[j] + h10 * h[j] * slope[j] + h01 * py[j + 1] + h11 * h[j] * slope[j + 1]


def test_spline_tone_lut_is_the_sdk_natural_spline_through_the_points():
    points = np.array([[0.1, 0.05], [0.3, 0.5], [0.6, 0.8], [0.9, 0.97]])
    lut = cp.spline_tone_lut(points, size=4097)
    x = np.linspace(0.0, 1.0, 4097) ** 2
    inside = (x > 0.1) & (x < 0.9)
    np.testing.assert_allclose(lut[inside], _hermite_natural_spline(points, x[inside]), atol=1e-12)
    assert np.all(lut[x <= 0.1] == 0.05) and np.all(lut[x >= 0.9] == 0.97)  # flat beyond the end points
    linear = cp.spline_tone_lut(np.array([[0.0, 0.0], [1.0, 1.0]]), size=33)  # 2 points: the identity
    np.testing.assert_allclose(linear, x[::128])
    assert cp.valid_tone_curve(points) and not cp.valid_tone_curve(points[::-1])
    assert not cp.valid_tone_curve(np.array([[0.0, 0.0], [1.0, 1.2]])) and not cp.valid_tone_curve(points[:1])


@pytest.mark.parametrize("process", ["2003", "2012"])
def test_profile_tone_at_the_default_look_is_the_profile_curve(process):
    default = cp.default_tone_lut(process)
    curve = torch.from_numpy(cp.spline_tone_lut(np.array([[0.0, 0.0], [0.2, 0.45], [1.0, 1.0]])))[None]
    out = cp.profile_tone(default, curve, default)
    assert float((out - curve).abs().max()) < 2e-4
    # a brighter render than the default stays brighter through the profile curve
    x = torch.linspace(0.0, 1.0, default.shape[-1], dtype=torch.float64)[None] ** 2
    brighter = tone.apply_tone(default, (2.0 * x).clamp(max=1.0))
    assert bool(torch.all(cp.profile_tone(brighter, curve, default) >= out - 1e-9))


def test_lookup_is_differentiable_in_the_pixels():
    table = np.random.default_rng(3).uniform(0.8, 1.2, (3, 6, 3, 3)).astype(np.float32)
    table[..., 0] = (table[..., 0] - 1.0) * 50.0
    table[:, :, 0, 2] = 1.0
    rgb = torch.tensor([[0.5, 0.3, 0.2], [0.2, 0.45, 0.3], [0.25, 0.3, 0.6]], dtype=torch.float64)
    rgb = rgb.T.reshape(1, 3, 1, 3)
    rgb.requires_grad_(True)
    t = torch.from_numpy(table).double()[None]
    assert torch.autograd.gradcheck(lambda x: cp.hue_sat_lookup(x, t, cp.ENCODING_SRGB), (rgb,), eps=1e-6, atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_lookup_on_cuda_matches_cpu():
    table = np.random.default_rng(4).uniform(0.8, 1.2, (4, 8, 3, 3)).astype(np.float32)
    rgb = _colours().float()
    t = torch.from_numpy(table)[None].expand(2, *table.shape)
    cpu = cp.hue_sat_lookup(rgb, t, 1)
    gpu = cp.hue_sat_lookup(rgb.cuda(), t.cuda(), 1).cpu()
    torch.testing.assert_close(gpu, cpu, atol=1e-5, rtol=0)


def _profile_photo():
    from pathlib import Path

    from rendering.raw import decode_raw
    return decode_raw(str(Path(__file__).resolve().parent / "sdk_profile" / "profile.dng"), long_side=64)


def _profile_sliders(photo) -> torch.Tensor:
    from rendering.sliders import default_look
    return torch.tensor(np.stack([default_look(*photo.profile.as_shot_white()), default_look(3500.0, 10.0)]))


def test_render_with_a_profile_is_differentiable_in_the_sliders():
    from rendering.renderer import CameraMatrices, render_sliders
    from rendering.sliders import PROCESS_2003
    photo = _profile_photo()
    camera = CameraMatrices.from_profiles([photo.profile])
    assert camera.hue_sat_map1 is not None and camera.look_table is not None and camera.tone_curve is not None
    sliders = _profile_sliders(photo).requires_grad_(True)
    image = torch.from_numpy(photo.camera_rgb)[None].double().expand(2, -1, -1, -1)
    render_sliders(image, sliders, camera).mean().backward()
    for key in ("Temperature", "Tint", "Exposure", "Brightness", "Contrast", "Saturation"):
        grad = sliders.grad[:, PROCESS_2003.index(key)]
        assert bool(torch.all(torch.isfinite(grad))) and bool(torch.all(grad != 0)), key


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_render_with_a_profile_on_cuda_matches_cpu():
    from rendering.renderer import PhotoRenderer
    photo = _profile_photo()
    sliders = _profile_sliders(photo).numpy()
    cpu = PhotoRenderer("cpu").render(photo, sliders)
    gpu = PhotoRenderer("cuda").render(photo, sliders)
    np.testing.assert_allclose(gpu, cpu, atol=2e-4)
