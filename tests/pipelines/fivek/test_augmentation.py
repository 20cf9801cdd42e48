"""Noise draws, their bounds and distribution, and the expert - noise targets (plain numpy)."""
import numpy as np
import pytest
from scipy import stats

from pipelines.fivek.augmentation import (
    NOISE_HALF_WIDTH,
    draw_noise,
    model_out_of_range,
    variant_sliders,
    variant_target,
)
from rendering.sliders import PROCESS_2003

SPEC = PROCESS_2003
RANGES = np.array([[s.low, s.high] for s in SPEC.sliders])


def test_half_width_is_ten_percent_of_the_model_range():
    assert NOISE_HALF_WIDTH == pytest.approx(0.1 * 2.0)


def test_noise_is_uniform_within_ten_percent_of_each_range():
    draws = np.stack([draw_noise(4, f"a{i:04d}", v) for i in range(800) for v in (1, 2)])  # [1600, 11]
    assert draws.shape == (1600, 11)
    assert np.all(np.abs(draws) <= 0.2)
    for j in range(11):
        # Kolmogorov-Smirnov against U(-0.2, 0.2), per slider
        p = stats.kstest(draws[:, j], stats.uniform(loc=-0.2, scale=0.4).cdf).pvalue
        assert p > 1e-3, (SPEC.keys[j], p)
        assert draws[:, j].min() < -0.18 and draws[:, j].max() > 0.18
    # sliders are drawn independently of each other
    corr = np.corrcoef(draws.T) - np.eye(11)
    assert np.abs(corr).max() < 0.12


def test_noise_in_lightroom_units_is_within_ten_percent_of_the_range():
    # linear sliders: an in-range point plus noise moves by at most 10 % of the full range
    centre = SPEC.from_model(np.zeros(11))
    for i in range(200):
        noisy = SPEC.from_model(draw_noise(1, f"p{i}", 1))
        span = RANGES[:, 1] - RANGES[:, 0]
        linear = [k != "Temperature" for k in SPEC.keys]
        assert np.all(np.abs(noisy - centre)[linear] <= 0.1 * span[linear] + 1e-9)


def test_noise_is_keyed_by_seed_photo_and_variant():
    a = draw_noise(5, "a0001", 1)
    np.testing.assert_array_equal(a, draw_noise(5, "a0001", 1))
    for other in (draw_noise(6, "a0001", 1), draw_noise(5, "a0002", 1), draw_noise(5, "a0001", 2)):
        assert not np.allclose(a, other)


def test_variants_render_neutral_plus_noise_clipped_and_record_the_applied_noise():
    neutral = SPEC.neutral(5200.0, 4.0)
    variants = variant_sliders(neutral, seed=9, photo_id="a0042", num_variants=3)
    assert [v.variant for v in variants] == [0, 1, 2, 3]
    np.testing.assert_array_equal(variants[0].sliders, neutral)
    np.testing.assert_array_equal(variants[0].noise, np.zeros(11))
    for v in variants[1:]:
        drawn = draw_noise(9, "a0042", v.variant)
        expected_model = np.clip(SPEC.to_model(neutral) + drawn, -1, 1)
        np.testing.assert_allclose(SPEC.to_model(v.sliders), expected_model, atol=1e-9)
        np.testing.assert_allclose(v.noise, expected_model - SPEC.to_model(neutral), atol=1e-12)
        assert np.all(np.abs(v.noise) <= 0.2 + 1e-12)
        SPEC.validate(v.sliders)
        # where the neutral value is not at a range end the applied noise is the drawn noise
        interior = np.abs(SPEC.to_model(neutral)) < 0.8
        np.testing.assert_allclose(v.noise[interior], drawn[interior], atol=1e-12)
        # Recovery's neutral is its lowest value: only upward noise can be applied
        rec = SPEC.index("HighlightRecovery")
        assert v.noise[rec] == pytest.approx(max(drawn[rec], 0.0))


def test_target_is_expert_minus_noise_clipped():
    rng = np.random.default_rng(0)
    for _ in range(200):
        expert = SPEC.from_model(rng.uniform(-1, 1, 11))
        noise = rng.uniform(-0.2, 0.2, 11)
        target = variant_target(expert, noise, "clip")
        want = np.clip(SPEC.to_model(expert) - noise, -1, 1)
        np.testing.assert_allclose(SPEC.to_model(target), want, atol=1e-9)
        SPEC.validate(target)
    # explicit corner: an expert at the top of Exposure with negative noise clips to +4 EV
    expert = SPEC.neutral(5000.0, 0.0)
    expert[SPEC.index("Exposure")] = 4.0
    noise = np.zeros(11)
    noise[SPEC.index("Exposure")] = -0.1
    assert variant_target(expert, noise, "clip")[SPEC.index("Exposure")] == 4.0
    assert variant_target(expert, noise, "reflect")[SPEC.index("Exposure")] == pytest.approx(4.0 - 0.4)
    noise[SPEC.index("Exposure")] = 0.1  # inside the range: plain subtraction, 0.1 model = 0.4 EV
    assert variant_target(expert, noise, "clip")[SPEC.index("Exposure")] == pytest.approx(3.6)


def test_out_of_range_policies():
    x = np.array([-1.15, -1.0, 0.3, 1.0, 1.2])
    np.testing.assert_allclose(model_out_of_range(x, "clip"), [-1, -1, 0.3, 1, 1])
    np.testing.assert_allclose(model_out_of_range(x, "reflect"), [-0.85, -1, 0.3, 1, 0.8])
    with pytest.raises(ValueError):
        model_out_of_range(x, "wrap")
