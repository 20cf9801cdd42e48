"""DNG-SDK white balance: Temperature/Tint <-> xy, matrix interpolation, neutral -> xy, gradients."""
from __future__ import annotations

import colour
import numpy as np
import pytest
import torch

from rendering.colour import BRADFORD, WHITE_XY
from rendering.raw import CameraProfile, read_camera_profile
from rendering.white_balance import (
    CameraMatrices,
    interpolation_weight,
    neutral_to_xy,
    temperature_tint_to_xy,
    temperature_tint_to_xy_np,
    xy_to_temperature_tint,
)


@pytest.mark.parametrize("temperature", [2000.0, 2850.0, 4000.0, 5000.0, 6500.0, 9000.0, 20000.0, 50000.0])
@pytest.mark.parametrize("tint", [-150.0, -20.0, 0.0, 35.0, 150.0])
def test_temperature_tint_round_trip(temperature, tint):
    xy = temperature_tint_to_xy_np(temperature, tint)
    t2, tint2 = xy_to_temperature_tint(xy)
    # Robertson interpolates line directions, so the inverse is not exact: < 0.01 % (max seen 8e-5)
    assert abs(t2 - temperature) / temperature < 2e-4
    assert abs(tint2 - tint) < 2e-3


@pytest.mark.parametrize("temperature", [2500.0, 3500.0, 5000.0, 6500.0, 10000.0])
def test_zero_tint_is_on_the_planckian_locus_like_colour_science(temperature):
    uv = colour.temperature.CCT_to_uv_Robertson1968(np.array([temperature, 0.0]))
    ref = colour.UCS_uv_to_xy(uv)
    np.testing.assert_allclose(temperature_tint_to_xy_np(temperature, 0.0), ref, atol=2e-4)


def test_5000k_is_close_to_d50():
    xy = temperature_tint_to_xy_np(5000.0, 0.0)
    reference = colour.CCT_to_xy(5000.0)  # CIE daylight at 5000 K, i.e. ~D50
    assert np.hypot(*(xy - reference)) < 0.01
    assert np.hypot(*(xy - np.array(WHITE_XY["D50"]))) < 0.01
    t, tint = xy_to_temperature_tint(WHITE_XY["D50"])
    assert abs(t - 5000.0) < 10.0 and 0.0 < tint < 15.0  # D50 lies on the green side of the locus


def test_higher_temperature_white_is_bluer_and_positive_tint_white_is_greener():
    xy_warm = temperature_tint_to_xy_np(3000.0, 0.0)
    xy_cool = temperature_tint_to_xy_np(8000.0, 0.0)
    assert xy_cool[0] < xy_warm[0] and xy_cool[1] < xy_warm[1]
    # positive tint names a greener white (higher y), which the correction turns magenta
    assert temperature_tint_to_xy_np(5000.0, 50.0)[1] > temperature_tint_to_xy_np(5000.0, 0.0)[1]


def test_interpolation_weight_is_linear_in_inverse_cct():
    t1 = torch.tensor([2850.0] * 4, dtype=torch.float64)
    t2 = torch.tensor([6500.0] * 4, dtype=torch.float64)
    mid = 2.0 / (1 / 2850.0 + 1 / 6500.0)
    g = interpolation_weight(torch.tensor([2000.0, 2850.0, mid, 9000.0], dtype=torch.float64), t1, t2)
    np.testing.assert_allclose(g.numpy(), [1.0, 1.0, 0.5, 0.0], atol=1e-12)
    # swapped calibrations: weight of the first (now the D65 one) flips
    g2 = interpolation_weight(torch.tensor([mid, 9000.0], dtype=torch.float64), t2[:2], t1[:2])
    np.testing.assert_allclose(g2.numpy(), [0.5, 1.0], atol=1e-12)


@pytest.fixture(scope="module")
def blackmagic(fixtures_dir) -> CameraProfile:
    return read_camera_profile(str(fixtures_dir / "raw" / "blackmagic_pocket4k.dng"))


def _without_forward(profile: CameraProfile) -> CameraProfile:
    from dataclasses import replace
    return replace(profile, forward_matrix1=None, forward_matrix2=None)


def _single_matrix(profile: CameraProfile) -> CameraProfile:
    from dataclasses import replace
    return replace(profile, color_matrix2=None, forward_matrix2=None)


@pytest.mark.parametrize("variant", ["forward", "no_forward", "single_matrix"])
def test_as_shot_neutral_maps_to_prophoto_grey(blackmagic, variant):
    """Two calibrations with and without forward matrices, and a DNG with one ColorMatrix only."""
    profile = {"forward": blackmagic, "no_forward": _without_forward(blackmagic),
               "single_matrix": _single_matrix(blackmagic)}[variant]
    temperature, tint = profile.as_shot_white()
    assert 2000.0 < temperature < 12000.0
    cam = CameraMatrices.from_profiles([profile])
    m = cam.camera_to_prophoto(torch.tensor([temperature], dtype=torch.float64),
                               torch.tensor([tint], dtype=torch.float64))[0].numpy()
    grey = m @ (np.asarray(profile.as_shot_neutral) * 0.1)
    assert np.ptp(grey) / grey.mean() < 1e-4, grey  # the as-shot neutral renders neutral


def test_neutral_to_xy_inverts_the_colour_matrix(blackmagic):
    xy = temperature_tint_to_xy_np(4300.0, 12.0)
    from rendering.white_balance import profile_color_matrix
    neutral = profile_color_matrix(blackmagic, xy) @ colour.xy_to_XYZ(xy)
    np.testing.assert_allclose(neutral_to_xy(blackmagic, neutral), xy, atol=1e-6)


def test_warmer_setting_gives_a_warmer_render_of_the_same_grey(blackmagic):
    cam = CameraMatrices.from_profiles([blackmagic] * 2)
    t0, tint = blackmagic.as_shot_white()
    m = cam.camera_to_prophoto(torch.tensor([t0, t0 * 1.5], dtype=torch.float64),
                               torch.tensor([tint, tint], dtype=torch.float64)).numpy()
    grey = np.asarray(blackmagic.as_shot_neutral) * 0.1
    as_shot, warmer = m[0] @ grey, m[1] @ grey
    assert warmer[0] / warmer[2] > as_shot[0] / as_shot[2] * 1.05


def test_identity_profile_is_identity_at_as_shot():
    profile = CameraProfile.prophoto_identity()
    temperature, tint = profile.as_shot_white()
    m = CameraMatrices.from_profiles([profile]).camera_to_prophoto(
        torch.tensor([temperature], dtype=torch.float64), torch.tensor([tint], dtype=torch.float64))[0]
    assert torch.allclose(m, torch.eye(3, dtype=torch.float64), atol=1e-6)


def test_white_and_matrix_is_camera_white_and_camera_to_prophoto(blackmagic):
    cam = CameraMatrices.from_profiles([blackmagic, _without_forward(blackmagic)])
    t = torch.tensor([3300.0, 7100.0], dtype=torch.float64)
    tint = torch.tensor([-8.0, 14.0], dtype=torch.float64)
    white, matrix = cam.white_and_matrix(t, tint)
    assert torch.equal(white, cam.camera_white(t, tint))
    assert torch.equal(matrix, cam.camera_to_prophoto(t, tint))
    assert not torch.allclose(matrix[0], matrix[1])


def test_matrices_are_differentiable_in_temperature_and_tint(blackmagic):
    cam = CameraMatrices.from_profiles([blackmagic, _without_forward(blackmagic)])

    def fn(t, tint):
        return cam.camera_to_prophoto(t, tint)

    t = torch.tensor([4300.0, 6100.0], dtype=torch.float64, requires_grad=True)
    tint = torch.tensor([5.0, -12.0], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(fn, (t, tint), eps=1e-3, atol=1e-5, rtol=1e-3)
    xy = temperature_tint_to_xy(t, tint)
    xy.sum().backward()
    assert torch.all(t.grad != 0) and torch.all(tint.grad != 0)


# ------------------------------------------------------------- the SDK's profile matrices (issue 20)

def test_normalize_color_matrix_scales_to_d50_and_rounds_like_the_sdk():
    from rendering.colour import WHITE_XYZ
    from rendering.white_balance import normalize_color_matrix
    cm = np.array([[0.7, -0.1, -0.05], [-0.3, 1.1, 0.2], [-0.05, 0.15, 0.6]])
    out = normalize_color_matrix(cm)
    peak = (cm @ WHITE_XYZ["D50"]).max()
    np.testing.assert_allclose(out, np.round(cm / peak, 4), atol=1e-12)
    assert (out @ WHITE_XYZ["D50"]).max() == pytest.approx(1.0, abs=2e-4)
    within = cm / peak * 1.005  # within 1 % of 1: the SDK only rounds
    np.testing.assert_allclose(normalize_color_matrix(within), np.round(within, 4), atol=1e-12)


def test_bradford_gains_are_limited_to_a_tenth_and_ten():
    from rendering.white_balance import _bradford
    src = torch.tensor([[0.9642, 1.0, 0.8251]], dtype=torch.float64)
    dst = torch.tensor([[0.9642, 1.0, 80.0]], dtype=torch.float64)  # S cone x100, L cone negative (-> 0)
    cone = torch.as_tensor(BRADFORD, dtype=torch.float64)
    gains = torch.diagonal(cone @ _bradford(src, dst)[0] @ torch.linalg.inv(cone))
    m_gain = float((cone @ dst[0])[1] / (cone @ src[0])[1])
    np.testing.assert_allclose(gains.numpy(), [0.1, m_gain, 10.0], rtol=1e-9)
    assert 1.0 < m_gain < 10.0


def test_forward_matrix2_only_uses_the_forward_path(blackmagic):
    """Two calibrations but only ForwardMatrix2: the SDK uses FM2 at every white, never the ColorMatrix path."""
    from dataclasses import replace
    fm2_only = replace(blackmagic, forward_matrix1=None)
    both = replace(blackmagic, forward_matrix1=blackmagic.forward_matrix2)  # FM2 in both slots
    t, tint = torch.tensor([3300.0, 6000.0], dtype=torch.float64), torch.tensor([4.0, -8.0], dtype=torch.float64)
    ours = CameraMatrices.from_profiles([fm2_only] * 2).camera_to_xyz_d50(t, tint)
    want = CameraMatrices.from_profiles([both] * 2).camera_to_xyz_d50(t, tint)
    cm_path = CameraMatrices.from_profiles([_without_forward(blackmagic)] * 2).camera_to_xyz_d50(t, tint)
    torch.testing.assert_close(ours, want)
    assert float((ours - cm_path).abs().max()) > 0.01
    # with one calibration the SDK never reads ForwardMatrix2: the ColorMatrix path
    single = replace(blackmagic, color_matrix2=None, forward_matrix1=None)
    assert not bool(CameraMatrices.from_profiles([single]).has_forward[0])


def test_profile_matrices_are_rounded_but_the_identity_profile_stays_exact(blackmagic):
    cam = CameraMatrices.from_profiles([blackmagic])
    cm1 = cam.color_matrix1[0].numpy()
    np.testing.assert_allclose(cm1, np.round(cm1, 4), atol=1e-12)
    assert not np.allclose(cm1, blackmagic.color_matrix1, atol=1e-3)  # scaled: max(CM1 . D50) was 1.14
    from rendering.colour import XYZ_TO_PROPHOTO
    identity = CameraMatrices.from_profiles([CameraProfile.prophoto_identity()])
    np.testing.assert_array_equal(identity.color_matrix1[0].numpy(), XYZ_TO_PROPHOTO)
