"""The SDK stages (exposure ramp, exposure tone, camera-white clip), the one tone curve and its
hue-preserving application, and Camera Raw 2003's Brightness / Contrast shapes."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from rendering import tone
from rendering.colour import linear_prophoto_to_lab
from rendering.exposure import camera_white_clip, exposure_ramp, highlight_recovery
from rendering.raw import read_camera_profile
from rendering.renderer import CameraMatrices, render_sliders
from rendering.sliders import PROCESS_2003, default_look

D = torch.float64


def t(*values) -> torch.Tensor:
    return torch.tensor(values, dtype=D)


def ramp_of(x: np.ndarray, total: float, black: float) -> np.ndarray:
    img = torch.from_numpy(x).view(1, 1, 1, -1).expand(1, 3, 1, -1)
    return exposure_ramp(img, t(total), t(black))[0, 0, 0].numpy()


def test_exposure_ramp_is_the_sdk_ramp():
    total, black = 2.0, 0.02                       # white 0.25, Shadows 20
    white = 0.25
    x = np.linspace(0.0, 0.4, 40001)
    y = ramp_of(x, total, black)
    radius = min(0.5 * black, (white - black) / 16)
    line = (x - black) / (white - black)
    assert np.all(y[x <= black - radius] == 0.0)
    np.testing.assert_allclose(y[x >= black + radius], line[x >= black + radius], rtol=1e-12)
    assert np.interp(white, x, y) == pytest.approx(1.0) and y.max() > 1.5   # over-range kept
    assert np.all(np.diff(y) >= 0) and np.abs(np.diff(np.diff(y))).max() < 1e-4   # C1 toe
    # Shadows 0: the plain line from 0, no toe; negative totals keep white at linear 1
    np.testing.assert_allclose(ramp_of(x, 1.0, 0.0), x / 0.5, rtol=1e-12)
    np.testing.assert_allclose(ramp_of(x, -1.0, 0.0), x, rtol=1e-12)


def test_srgb_transfer_is_the_standard_and_lookup_interpolates():
    x = torch.linspace(-0.01, 1.0, 200001, dtype=D)
    standard = torch.where(x <= 0.0031308, 12.92 * x, 1.055 * x.clamp(min=1e-9) ** (1 / 2.4) - 0.055)
    gap = (tone.encode(x) - standard).abs()
    assert float(gap.max()) < 6e-6 and float(gap[(x < 0.00313) | (x > 0.0032)].max()) < 1e-12
    v = torch.linspace(-0.01, 1.0, 200001, dtype=D)
    standard = torch.where(v <= 0.04045, v / 12.92, ((v.clamp(min=0) + 0.055) / 1.055) ** 2.4)
    assert torch.allclose(tone.decode(v), standard, atol=1e-12)
    assert torch.allclose(tone.decode(tone.encode(x.clamp(min=0))), x.clamp(min=0), atol=1e-6)
    lut = torch.rand(2, 33, dtype=D).cumsum(dim=1)
    pos = torch.rand(2, 500, dtype=D)
    expected = torch.stack([torch.from_numpy(np.interp(pos[i].numpy(), np.linspace(0, 1, 33), lut[i].numpy()))
                            for i in range(2)])
    assert torch.allclose(tone.lookup(lut, pos), expected, atol=1e-12)
    assert torch.allclose(tone.lookup(lut, torch.tensor([[0.0, 1.0, 2.0]] * 2, dtype=D)), lut[:, [0, -1, -1]])

def test_srgb_transfer_keeps_its_relative_precision_near_black_in_float32():
    x = torch.logspace(-9, 0, 4001, dtype=torch.float32)
    ref = x.double()
    standard = torch.where(ref <= 0.0031308, 12.92 * ref, 1.055 * ref ** (1 / 2.4) - 0.055)
    enc = tone.encode(x).double()
    assert float(((enc - standard).abs() / standard)[ref < 0.003].max()) < 1e-6      # the line: exact relative
    assert float((enc - standard).abs().max()) < 6e-6
    v = torch.logspace(-9, 0, 4001, dtype=torch.float32)
    ref = v.double()
    standard = torch.where(ref <= 0.04045, ref / 12.92, ((ref + 0.055) / 1.055) ** 2.4)
    assert float(((tone.decode(v).double() - standard).abs() / standard).max()) < 5e-6   # a few float32 ulps


def test_exposure_tone_keeps_white_for_negative_totals():
    x = torch.linspace(0.0, 1.0, 1001, dtype=D)[None].expand(3, -1)
    y = tone.exposure_tone(x, t(-1.0, -2.5, 0.7))
    assert torch.allclose(y[2], x[2])                                   # identity for total >= 0
    assert torch.allclose(y[:2, -1], t(1.0, 1.0))                       # white stays white
    low = x[0] <= 0.25
    assert torch.allclose(y[0, low], x[0, low] * 0.5) and torch.allclose(y[1, low], x[1, low] * 2 ** -2.5)
    assert torch.all(torch.diff(y, dim=1) >= 0)


def test_camera_white_clip_is_exact_below_and_smooth_above():
    white = t(0.5, 1.0, 0.6)[None]
    x = torch.linspace(0.0, 1.2, 12001, dtype=D).view(1, 1, 1, -1).expand(1, 3, 1, -1)
    y = camera_white_clip(x, white)[0, :, 0]
    below = x[0, :, 0] <= white[0][:, None]
    assert torch.equal(y[below], x[0, :, 0][below])
    assert torch.allclose(y[:, -1], white[0] * (1 + 1 / 64))
    assert torch.all(torch.diff(y, dim=1) >= 0) and torch.diff(y, dim=1, n=2).abs().max() < 1e-3


def test_default_look_curve_has_the_acr_shape():
    """Brightness 50 / Contrast 25 / Medium Contrast put 18 % grey (after Shadows 5) at the SDK default's L* 68.0."""
    mc = torch.from_numpy(tone.tone_curve_lut(tone.MEDIUM_CONTRAST))[None]
    zero = t(0.0)
    lut = tone.tone_lut(zero, t(0.5), t(0.25), zero, zero + 1, mc)
    grey = tone.apply_tone(lut, t((0.18 - 0.005) / 0.995)[None])
    assert 116 * float(grey) ** (1 / 3) - 16 == pytest.approx(68.0, abs=0.5)
    assert float(tone.apply_tone(lut, t(0.0)[None])) < 1e-6 and float(tone.apply_tone(lut, t(1.0)[None])) > 1 - 1e-6


@pytest.mark.parametrize("amount", [-0.5, 0.25, 1.0])
def test_contrast_keeps_pivot_and_ends_and_is_monotone(amount):
    v = torch.linspace(0.0, 1.0, 2001, dtype=D)[None]
    y = tone.contrast(v, t(amount))
    assert torch.all(torch.diff(y) > 0)
    assert float(y[0, 0]) == pytest.approx(0.0, abs=1e-12) and float(y[0, -1]) == pytest.approx(1.0)
    assert float(tone.contrast(t(tone.CONTRAST_PIVOT)[None], t(amount))) == pytest.approx(tone.CONTRAST_PIVOT)
    h = 1e-6
    left, right = (tone.contrast(t(tone.CONTRAST_PIVOT + d)[None], t(amount)) for d in (-h, h))
    slope = float(right - left) / (2 * h)
    assert (slope > 1.0) == (amount > 0)
    dark = v < tone.CONTRAST_PIVOT
    lower, higher = y[dark][1:], v[dark][1:]
    assert torch.all(lower < higher) if amount > 0 else torch.all(lower > higher)


def test_zero_brightness_and_contrast_are_the_identity():
    v = torch.linspace(0.0, 1.0, 101, dtype=D)[None]
    assert torch.allclose(tone.brightness(v, t(0.0)), v) and torch.allclose(tone.contrast(v, t(0.0)), v)
    up = tone.brightness(v, t(1.0))
    assert torch.all(up[0, 1:-1] > v[0, 1:-1]) and float(up[0, -1]) == pytest.approx(1.0)


def _hsv_hue(rgb: torch.Tensor) -> torch.Tensor:
    """HSV hue (degrees) of RGB [N,3] with distinct channels."""
    r, g, b = rgb.unbind(-1)
    return torch.rad2deg(torch.atan2(np.sqrt(3.0) * (g - b), 2 * r - g - b))


def _max_hue_shift(before: torch.Tensor, after: torch.Tensor) -> float:
    d = (_hsv_hue(after) - _hsv_hue(before) + 180.0) % 360.0 - 180.0
    return float(d.abs().max())


def test_tone_curve_preserves_hue_and_a_per_channel_curve_does_not():
    rng = np.random.default_rng(0)
    rgb = torch.from_numpy(rng.uniform(0.0, 1.0, (400, 3)))
    rgb = rgb[(rgb.amax(1) - rgb.amin(1)) / rgb.amax(1) > 0.6]          # saturated colours
    img = rgb.T.reshape(1, 3, -1, 1)
    mc = torch.from_numpy(tone.tone_curve_lut(tone.MEDIUM_CONTRAST))[None]
    lut = tone.tone_lut(t(0.0), t(0.5), t(0.25), t(0.0), t(1.0), mc)
    ours = tone.rgb_tone(img, lut).reshape(3, -1).T
    per_channel = tone.apply_tone(lut, img).reshape(3, -1).T
    assert _max_hue_shift(rgb, ours) < 0.01
    assert _max_hue_shift(rgb, per_channel) > 5.0


@pytest.fixture(scope="module")
def canon(fixtures_dir):
    return read_camera_profile(str(fixtures_dir / "raw" / "canon350d_stripped.dng"))


def _render_highlights(profile) -> torch.Tensor:
    """Clipped highlights (all channels at the sensor white; green clipped only) under Recovery 50 and EV -1 -> LAB."""
    img = torch.ones(1, 3, 4, 8)
    img[..., 4:] = torch.tensor([0.95, 1.0, 0.9]).view(1, 3, 1, 1)
    rows = []
    for key, value in (("HighlightRecovery", 50.0), ("Exposure", -1.0)):
        s = PROCESS_2003.neutral(*profile.as_shot_white())
        s[PROCESS_2003.index(key)] = value
        rows.append(s)
    out = render_sliders(img.expand(2, -1, -1, -1), torch.tensor(np.array(rows), dtype=torch.float32),
                         CameraMatrices.from_profiles([profile]))
    return linear_prophoto_to_lab(out.double())


def test_clipped_highlight_stays_neutral_under_recovery_and_negative_exposure(canon, monkeypatch):
    assert canon.baseline_exposure + (-1.0) < 0  # EV -1 takes the SDK's exposure-tone path
    lab = _render_highlights(canon)
    assert lab[:, 1:].abs().max() < 2.0, lab[:, :, 0, [0, 5]]
    assert lab[:, 0].min() > 90.0 and lab[0, 0].max() < 99.5   # Recovery darkens the white a little
    # the same render without the camera-white clip turns these highlights magenta
    white_and_matrix = CameraMatrices.white_and_matrix
    monkeypatch.setattr(CameraMatrices, "white_and_matrix", lambda self, temp, tint: (
        torch.ones(len(temp), 3, dtype=D), white_and_matrix(self, temp, tint)[1]))
    assert _render_highlights(canon)[:, 1].max() > 2.0


def test_recovery_brings_the_over_range_below_white_and_keeps_shadows():
    img = torch.tensor([0.05, 0.5, 1.0, 4.0, 8.0], dtype=D).view(1, 1, 1, -1).expand(1, 3, 1, -1)
    out = highlight_recovery(img, t(1.0))[0, 0, 0]
    assert float(out[0]) == pytest.approx(0.05, rel=1e-3) and torch.all(out[3:] < 1.0)
    assert torch.all(torch.diff(out) > 0)


def test_default_look_sliders():
    s = default_look(5200.0, 3.0)
    assert s[PROCESS_2003.index("Brightness")] == 50 and s[PROCESS_2003.index("Contrast")] == 25
    assert s[PROCESS_2003.index("Shadows")] == 5 and s[PROCESS_2003.index("Temperature")] == 5200.0
