"""Slider fitting with the differentiable renderer: known sliders are recovered from generated pairs.

Well-identified sliders and tolerances (64 x 96 px synthetic image with a full hue x value sweep):
Temperature within 2 % in mired, Tint ±3, Exposure ±0.05 EV, Contrast ±5, Saturation ±5,
Vibrance ±8 (Lightroom units); final mean ΔE76 < 1. Recovery / Fill Light / Blacks / Brightness /
Clarity are left at neutral in the truth and only the render error is checked for them, because
several tone sliders can trade against each other on one image.
"""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from modeling.slider_fit import (CURVE_KNOTS, FitConfig, curve_from_logits, fit_sliders, model_to_lightroom,
                                 starting_points)
from rendering.raw import load_photo
from rendering.renderer import CameraMatrices, render_sliders
from rendering.sliders import PROCESS_2003, PROCESS_2012
from rendering.tone import tone_curve_lut

TOLERANCE = {"Tint": 3.0, "Exposure": 0.05, "Contrast": 5.0, "Saturation": 5.0, "Vibrance": 8.0}
MIRED_TOLERANCE = 0.02


def sweep_png(width: int = 96, height: int = 64) -> bytes:
    """8-bit sRGB PNG: hue across, value down, saturation in bands; plus a grey ramp row block."""
    import colorsys
    img = np.zeros((height, width, 3))
    for j in range(width):
        for i in range(height):
            h = j / width
            v = 0.05 + 0.95 * (1 - i / height)
            s = 0.25 + 0.7 * ((i // 8) % 2)
            img[i, j] = colorsys.hsv_to_rgb(h, s, v)
    img[-8:] = np.linspace(0.0, 1.0, width)[None, :, None]
    buf = io.BytesIO()
    Image.fromarray((img * 255).round().astype(np.uint8)).save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize("spec", [PROCESS_2003, PROCESS_2012])
def test_model_to_lightroom_matches_the_slider_spec(spec):
    y = np.random.default_rng(0).uniform(-1, 1, size=(7, 11))
    got = model_to_lightroom(torch.tensor(y, dtype=torch.float64), spec).numpy()
    np.testing.assert_allclose(got, spec.from_model(y), rtol=1e-10, atol=1e-9)


def test_curve_parameterisation_is_monotone_and_linear_at_zero():
    linear = curve_from_logits(torch.zeros(1, CURVE_KNOTS + 1))[0].reshape(-1, 2)
    np.testing.assert_allclose(linear[:, 0].numpy(), linear[:, 1].numpy(), atol=1e-4)
    assert linear[0].tolist() == [0.0, 0.0] and linear[-1].tolist() == pytest.approx([255.0, 255.0])
    curve = curve_from_logits(torch.randn(3, CURVE_KNOTS + 1) * 2).reshape(3, -1, 2)
    assert torch.all(curve[:, 1:, 1] >= curve[:, :-1, 1])
    assert torch.allclose(curve[:, -1, 1], torch.full((3,), 255.0))


def test_starting_points_start_at_neutral_and_are_reproducible():
    neutral = PROCESS_2003.to_model(PROCESS_2003.neutral(5500.0, 4.0))
    a = starting_points(neutral, 4, 0.5, np.random.default_rng(3))
    b = starting_points(neutral, 4, 0.5, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a[0], np.clip(neutral, -0.999, 0.999))
    assert a.shape == (4, 11) and np.all(np.abs(a) < 1)
    assert np.abs(a[1:] - a[0]).max() > 0.1


def true_sliders(spec, neutral: np.ndarray) -> np.ndarray:
    truth = neutral.copy()
    t = spec.index("Temperature")
    truth[t] = 1e6 / (1e6 / neutral[t] - 25.0)  # 25 mired warmer than as shot
    for key, value in {"Tint": 12.0, "Exposure": 0.4, "Contrast": 30.0, "Saturation": -20.0,
                       "Vibrance": 25.0}.items():
        truth[spec.index(key)] = value
    return truth


def sweep_before(spec) -> tuple[torch.Tensor, CameraMatrices, np.ndarray]:
    """The sweep image decoded as BEFORE [3,H,W], its camera matrices and the spec's neutral sliders."""
    photo = load_photo(sweep_png(), long_side=96, name="sweep.png")
    camera = CameraMatrices.from_profiles([photo.profile], "cpu")
    before = torch.from_numpy(np.ascontiguousarray(photo.camera_rgb, dtype=np.float32))
    return before, camera, spec.neutral(*photo.profile.as_shot_white())


def test_fit_recovers_known_sliders_on_a_generated_pair():
    spec = PROCESS_2003
    before, camera, neutral = sweep_before(spec)
    truth = true_sliders(spec, neutral)
    with torch.no_grad():
        after = render_sliders(before[None], torch.tensor(truth[None], dtype=torch.float32), camera, spec=spec)[0]
    result = fit_sliders(before, camera, after, neutral, FitConfig(restarts=3, adam_steps=150), spec,
                         rng=np.random.default_rng(0))
    assert result.delta_e < 1.0, result
    assert result.delta_e < result.delta_e_start
    fitted = result.to_mapping()
    for key, tol in TOLERANCE.items():
        assert abs(fitted[key] - truth[spec.index(key)]) <= tol, (key, fitted[key], truth[spec.index(key)])
    t_true, t_fit = truth[spec.index("Temperature")], fitted["Temperature"]
    assert abs(1e6 / t_fit - 1e6 / t_true) <= MIRED_TOLERANCE * 1e6 / t_true, (t_fit, t_true)


def test_tone_curve_fit_recovers_an_s_curve():
    spec = PROCESS_2003
    before, camera, neutral = sweep_before(spec)
    medium_contrast = [0, 0, 32, 22, 64, 56, 128, 128, 192, 196, 255, 255]  # FiveK's "Medium Contrast"
    lut = torch.from_numpy(tone_curve_lut(medium_contrast).astype(np.float32))
    with torch.no_grad():
        after = render_sliders(before[None], torch.tensor(neutral[None], dtype=torch.float32), camera, lut, spec)[0]
    plain = fit_sliders(before, camera, after, neutral, FitConfig(restarts=2), spec, rng=np.random.default_rng(0))
    curved = fit_sliders(before, camera, after, neutral, FitConfig(restarts=2, tone_curve=True), spec,
                         rng=np.random.default_rng(0))
    assert curved.delta_e < 1.0 and curved.delta_e < plain.delta_e
    points = np.asarray(curved.tone_curve).reshape(-1, 2)
    assert points[0].tolist() == [0.0, 0.0] and points[-1].tolist() == [255.0, 255.0]
    assert np.all(np.diff(points[:, 1]) >= 0)
    # the curve takes the shadow darkening (Contrast can share the rest of the S: they trade off)
    assert np.interp(32.0, points[:, 0], points[:, 1]) < 32.0 - 4, (points, curved)
