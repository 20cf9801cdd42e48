"""Slider fitting with the differentiable renderer: known sliders are recovered from generated pairs,
plausible ones from the DNG SDK's renders, and the prior holds the sliders a pair does not determine.

Generated sweep (64 x 96 px synthetic image with a full hue x value sweep): Temperature within 2 %
in mired, Tint ±3, Exposure ±0.05 EV, Contrast ±5, Saturation ±5, Vibrance ±8 (Lightroom units);
final mean ΔE76 < 1. Realistic pair (the Blackmagic DNG at 96 px, AFTER rendered with a moderate
expert-like edit of all 11 sliders): every slider within `REALISTIC_TOLERANCE`, none pinned, ΔE < 1.
"""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from modeling.levenberg_marquardt import levenberg_marquardt
from modeling.slider_fit import (
    CURVE_KNOTS,
    FIVEK_LIKE,
    FitConfig,
    GaussianPrior,
    ModelPrior,
    builtin_prior,
    curve_from_logits,
    fit_sliders,
    model_to_lightroom,
    pinned_sliders,
    refine_sides,
    starting_points,
)
from rendering.raw import CameraProfile, decode_raw, load_photo
from rendering.renderer import CameraMatrices, render_sliders
from rendering.sliders import PROCESS_2003, PROCESS_2012, default_look
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


def test_starting_points_are_the_prior_centre_the_neutral_and_prior_draws():
    neutral = PROCESS_2003.to_model(PROCESS_2003.neutral(5500.0, 4.0))
    prior = builtin_prior(PROCESS_2003)
    a = starting_points(neutral, 5, prior, np.random.default_rng(3))
    np.testing.assert_array_equal(a, starting_points(neutral, 5, prior, np.random.default_rng(3)))
    np.testing.assert_allclose(a[0], np.clip(prior.centre(neutral), -0.999, 0.999))
    np.testing.assert_allclose(a[1], np.clip(neutral, -0.999, 0.999))
    assert a.shape == (5, 11) and np.all(np.abs(a) < 1) and np.abs(a[2:] - a[0]).max() > 0.1
    plain = starting_points(neutral, 3, None, np.random.default_rng(3))   # no prior: neutral + noise
    np.testing.assert_allclose(plain[0], np.clip(neutral, -0.999, 0.999))


def test_builtin_prior_is_centred_on_camera_raw_defaults_at_the_as_shot_white():
    spec = PROCESS_2003
    neutral = spec.to_model(spec.neutral(4300.0, 6.0))
    centre = spec.from_model(builtin_prior(spec).centre(neutral))
    look = default_look(4300.0, 6.0)
    for key in ("Temperature", "Tint", "Exposure", "Brightness", "Contrast", "Shadows", "Clarity"):
        assert centre[spec.index(key)] == pytest.approx(look[spec.index(key)], abs=1e-6), key
    assert centre[spec.index("FillLight")] == pytest.approx(FIVEK_LIKE["FillLight"][0])


def test_prior_from_edits_fits_their_spread_with_white_balance_relative_to_as_shot():
    spec, rng = PROCESS_2003, np.random.default_rng(0)
    as_shot = np.stack([rng.uniform(3000, 7000, 400), rng.uniform(-5, 5, 400)], axis=1)
    edits = np.stack([default_look(t, tint) for t, tint in as_shot])
    edits[:, spec.index("Exposure")] = rng.normal(0.3, 0.5, 400).clip(-4, 4)
    edits[:, spec.index("Tint")] += 3.0                       # every editor adds +3 tint to the as-shot
    prior = GaussianPrior.from_edits(edits, as_shot, spec)
    exposure = spec.sliders[spec.index("Exposure")]
    assert exposure.from_model(prior.mean[spec.index("Exposure")]) == pytest.approx(0.3, abs=0.08)
    assert prior.std[spec.index("Exposure")] * 4.0 == pytest.approx(0.5, abs=0.06)   # 8 EV span = 2 units
    assert prior.mean[spec.index("Tint")] * 150.0 == pytest.approx(3.0, abs=1e-6)   # an offset, not absolute
    assert prior.std[spec.index("Brightness")] == pytest.approx(0.02)                # floored, not zero
    assert "n=400" in prior.name


def test_pinned_sliders_reports_range_ends_but_not_unused_sliders():
    s = default_look(5000.0, 0.0)
    assert pinned_sliders(s) == []                             # Recovery / Fill Light at 0 are unused
    s[PROCESS_2003.index("Brightness")] = 149.5
    s[PROCESS_2003.index("Shadows")] = 100.0
    s[PROCESS_2003.index("Exposure")] = -3.99
    assert pinned_sliders(s) == ["Exposure=-3.99 (min)", "Shadows=100 (max)", "Brightness=149.5 (max)"]


def test_model_prior_is_the_models_density():
    from modeling.baselines import GaussianMLP
    torch.manual_seed(0)
    model = GaussianMLP(5, hidden=8)
    features = np.linspace(-1, 1, 5)
    prior = ModelPrior(model, features)
    y = (torch.rand(3, 11) * 2 - 1).requires_grad_(True)
    params = model.predict(torch.tensor(features, dtype=torch.float32)[None].expand(3, -1))
    normal = torch.distributions.Normal(params.mean, torch.exp(0.5 * params.logvar))
    expected = (normal.log_prob(y) + torch.log1p(-torch.sigmoid(params.atom_logit))).sum(-1)
    density = prior.log_density(y, torch.zeros(11))
    assert torch.allclose(density, expected)
    density.sum().backward()
    assert y.grad is not None and torch.count_nonzero(y.grad) == 33
    starts = prior.starts(4, np.zeros(11), np.random.default_rng(0))
    assert starts.shape == (4, 11) and np.all(np.abs(starts) < 1)


def test_refine_sides_double_from_refine_side_to_full_size():
    assert refine_sides(512, FitConfig(refine_side=128)) == [128, 256, 0]
    assert refine_sides(300, FitConfig(refine_side=128)) == [128, 256, 0]
    assert refine_sides(100, FitConfig(refine_side=128)) == [0]          # already below: full size only
    assert refine_sides(512, FitConfig(refine_side=0)) == [0]
    assert refine_sides(512, FitConfig(refine_iterations=0)) == []


def _toy_problem(seed: int = 0):
    """A smooth nonlinear 'render' of 4 parameters to [K,3,6,5] LAB-like images, its renders counted."""
    gen = torch.Generator().manual_seed(seed)
    basis = torch.randn(4, 3, 6, 5, generator=gen)
    calls = []

    def lab_of(theta: torch.Tensor) -> torch.Tensor:
        calls.append(len(theta))
        return 50.0 + 20.0 * torch.tanh(torch.einsum("kp,pchw->kchw", theta, basis) / 3.0)
    return lab_of, calls


@pytest.mark.parametrize("secant", [False, True])
def test_levenberg_marquardt_finds_the_optimum_of_restarts_and_the_prior(secant):
    lab_of, calls = _toy_problem()
    truth = torch.tensor([[0.8, -0.5, 0.3, 1.2]])
    target = lab_of(truth)
    starts = torch.tensor([[0.0, 0.0, 0.0, 0.0], [-1.0, 1.0, 0.5, 0.0]])
    no_prior = lambda t: torch.zeros(len(t), dtype=t.dtype)  # noqa: E731
    theta, value = levenberg_marquardt(starts, lab_of, target, no_prior, 40, 1e-9, secant=secant)
    assert torch.allclose(theta, truth.expand(2, -1), atol=1e-3), theta
    assert torch.allclose(value, torch.full((2,), 1e-3 ** 0.5), atol=1e-4)     # sqrt(eps): no residual left
    # with a prior the optimum is the MAP point, found here by autograd on the same objective
    prior = lambda t: 50.0 * ((t - torch.tensor([0.0, 0.0, 0.0, 2.0], dtype=t.dtype)) ** 2).sum(dim=1)  # noqa: E731
    theta, _ = levenberg_marquardt(starts[:1], lab_of, target, prior, 60, 1e-10, secant=secant)
    u = starts[:1].clone().requires_grad_(True)
    optimiser = torch.optim.LBFGS([u], max_iter=500, tolerance_grad=1e-9, tolerance_change=1e-12,
                                  line_search_fn="strong_wolfe")

    def closure():
        optimiser.zero_grad()
        loss = (torch.sqrt(((lab_of(u) - target) ** 2).sum(dim=1) + 1e-3).mean() + prior(u)).sum()
        loss.backward()
        return loss
    optimiser.step(closure)
    assert torch.allclose(theta, u.detach(), atol=2e-3), (theta, u)
    assert (theta - truth).abs().max() > 0.05          # the prior moved it


def test_secant_updates_save_renders():
    counts = {}
    for secant in (False, True):
        lab_of, calls = _toy_problem(1)
        target = lab_of(torch.tensor([[0.4, 0.2, -0.6, 0.1]]))
        calls.clear()
        theta, _ = levenberg_marquardt(torch.zeros(1, 4), lab_of, target, lambda t: torch.zeros(len(t)), 8, 0.0,
                                       secant=secant)
        counts[secant] = sum(calls)
        assert torch.allclose(theta, torch.tensor([[0.4, 0.2, -0.6, 0.1]]), atol=1e-2)
    assert counts[True] < 0.75 * counts[False], counts


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
    result = fit_sliders(before, camera, after, neutral, FitConfig(restarts=3), spec,
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


@pytest.fixture(scope="module")
def blackmagic_96(fixtures_dir):
    photo = decode_raw(str(fixtures_dir / "raw" / "blackmagic_pocket4k.dng"), long_side=96)
    camera = CameraMatrices.from_profiles([photo.profile])
    return torch.from_numpy(photo.camera_rgb), camera, PROCESS_2003.neutral(*photo.profile.as_shot_white())


# A moderate expert-like edit (inside the built-in prior's 1.5 sigma) and the tolerance it is recovered to.
REALISTIC_EDIT = {"Tint": 4.0, "Exposure": -0.35, "HighlightRecovery": 25.0, "FillLight": 15.0, "Shadows": 8.0,
                  "Brightness": 62.0, "Contrast": 38.0, "Clarity": 20.0, "Vibrance": 18.0, "Saturation": 6.0}
REALISTIC_TOLERANCE = {"Tint": 1.0, "Exposure": 0.05, "HighlightRecovery": 4.0, "FillLight": 4.0, "Shadows": 1.0,
                       "Brightness": 3.0, "Contrast": 3.0, "Clarity": 3.0, "Vibrance": 3.0, "Saturation": 2.0}


def test_fit_recovers_a_realistic_pair_from_the_dng_with_none_pinned(blackmagic_96):
    spec = PROCESS_2003
    before, camera, neutral = blackmagic_96
    truth = neutral.copy()
    t = spec.index("Temperature")
    truth[t] = 1e6 / (1e6 / neutral[t] - 15.0)                   # 15 mired warmer
    for key, value in REALISTIC_EDIT.items():
        truth[spec.index(key)] = value + (neutral[spec.index(key)] if key == "Tint" else 0.0)
    with torch.no_grad():
        after = render_sliders(before[None], torch.tensor(truth[None], dtype=torch.float32), camera, spec=spec)[0]
    result = fit_sliders(before, camera, after, neutral, FitConfig(restarts=8), spec, rng=np.random.default_rng(0))
    assert result.delta_e < 1.0 and result.pinned == [], result
    assert result.prior == "built-in FiveK-like" and result.prior_weight > 0 and result.prior_cost > 0
    fitted = result.to_mapping()
    for key, tol in REALISTIC_TOLERANCE.items():
        assert abs(fitted[key] - truth[spec.index(key)]) <= tol, (key, fitted[key], truth[spec.index(key)])
    assert abs(1e6 / fitted["Temperature"] - 1e6 / truth[t]) < 2.0    # mired


@pytest.mark.parametrize("reference,exposure,shadows", [("blackmagic_ev-1_shadows5.tif", -1.0, 5.0),
                                                          ("blackmagic_ev0_shadows5.tif", 0.0, 5.0)])
def test_fit_of_an_sdk_render_finds_its_exposure_and_blacks(blackmagic_96, fixtures_dir, reference, exposure, shadows):
    """AFTER from another renderer (the DNG SDK, Medium Contrast curve not fitted): plausible sliders, none pinned."""
    from benchmarks.render_fidelity import read_reference
    before, camera, neutral = blackmagic_96
    after = torch.from_numpy(read_reference(fixtures_dir / "dng_sdk_reference" / reference, tuple(before.shape[1:])))
    result = fit_sliders(before, camera, after, neutral, FitConfig(restarts=3), PROCESS_2003,
                         rng=np.random.default_rng(0))
    fitted = result.to_mapping()
    assert result.delta_e < 1.5 and result.pinned == [], result
    assert abs(fitted["Exposure"] - exposure) < 0.25 and abs(fitted["Shadows"] - shadows) < 2.5, fitted
    assert 35.0 < fitted["Brightness"] < 65.0 and 15.0 < fitted["Contrast"] < 50.0, fitted


def test_prior_holds_the_sliders_a_grey_pair_cannot_determine():
    """On a grey ramp Vibrance and Saturation do nothing: the MAP fit keeps them near the prior, ML lets them drift."""
    spec = PROCESS_2003
    camera = CameraMatrices.from_profiles([CameraProfile.prophoto_identity()])
    neutral = spec.neutral(*CameraProfile.prophoto_identity().as_shot_white())
    before = torch.linspace(0.02, 0.6, 48).view(1, 1, -1).expand(3, 32, -1).contiguous()
    truth = default_look(*neutral[:2])
    truth[spec.index("Exposure")] = 0.3
    with torch.no_grad():
        after = render_sliders(before[None], torch.tensor(truth[None], dtype=torch.float32), camera, spec=spec)[0]
    fits = {w: fit_sliders(before, camera, after, neutral, FitConfig(restarts=4, prior_weight=w), spec,
                           rng=np.random.default_rng(1)).to_mapping() for w in (0.0, 0.02)}
    colour = ("Vibrance", "Saturation")
    assert all(abs(fits[0.02][k]) < FIVEK_LIKE[k][1] for k in colour), fits[0.02]
    assert max(abs(fits[0.0][k]) for k in colour) > 2 * FIVEK_LIKE["Vibrance"][1], fits[0.0]
