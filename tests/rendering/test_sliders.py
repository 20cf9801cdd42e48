"""Slider spec: ranges, model-space round trips, mired Temperature, validation naming the slider."""
import numpy as np
import pytest

from rendering.sliders import PROCESS_2003, PROCESS_2012, SliderError, spec_for


def test_fivek_catalog_keys_in_order():
    assert PROCESS_2003.keys == ["Temperature", "Tint", "Exposure", "HighlightRecovery", "FillLight",
                                 "Shadows", "Brightness", "Contrast", "Clarity", "Vibrance", "Saturation"]
    assert PROCESS_2012.keys[2:8] == ["Exposure2012", "Contrast2012", "Highlights2012",
                                      "Shadows2012", "Whites2012", "Blacks2012"]


@pytest.mark.parametrize("spec", [PROCESS_2003, PROCESS_2012])
def test_range_ends_map_to_unit_interval_and_round_trip(spec):
    lows = np.array([s.low for s in spec.sliders])
    highs = np.array([s.high for s in spec.sliders])
    np.testing.assert_allclose(spec.to_model(lows), -1.0, atol=1e-12)
    np.testing.assert_allclose(spec.to_model(highs), 1.0, atol=1e-12)
    rng = np.random.default_rng(0)
    values = spec.from_model(rng.uniform(-1, 1, size=(100, 11)))
    np.testing.assert_allclose(spec.from_model(spec.to_model(values)), values, rtol=1e-10)
    spec.validate(values)


def test_temperature_is_linear_in_mired_not_kelvin():
    t = PROCESS_2003.sliders[0]
    # equal mired steps are equal model-space steps
    kelvin = 1e6 / np.array([100.0, 200.0, 300.0])
    steps = np.diff(t.to_model(kelvin))
    assert steps[0] == pytest.approx(steps[1])
    # warmer (higher K) is higher in model space
    assert t.to_model(6500.0) > t.to_model(5000.0) > t.to_model(3000.0)


def test_validate_names_the_slider():
    values = PROCESS_2003.neutral(5500.0, 3.0)
    values[2] = np.nan
    with pytest.raises(SliderError, match="Exposure"):
        PROCESS_2003.validate(values)
    values = PROCESS_2003.neutral()
    values[7] = 250.0
    with pytest.raises(SliderError, match="Contrast=250"):
        PROCESS_2003.validate(values)


def test_missing_keys_mean_zero_or_as_shot():
    sliders = PROCESS_2003.from_mapping({"Exposure": 0.35, "Brightness": 50}, as_shot_temperature=4800,
                                        as_shot_tint=7)
    mapping = PROCESS_2003.to_mapping(sliders)
    assert mapping == {"Temperature": 4800.0, "Tint": 7.0, "Exposure": 0.35, "HighlightRecovery": 0.0,
                       "FillLight": 0.0, "Shadows": 0.0, "Brightness": 50.0, "Contrast": 0.0,
                       "Clarity": 0.0, "Vibrance": 0.0, "Saturation": 0.0}


def test_spec_for_process_versions():
    assert spec_for("2003") is PROCESS_2003
    assert spec_for("5.0") is PROCESS_2003
    assert spec_for("2012") is PROCESS_2012
    assert spec_for("6.7") is PROCESS_2012
    with pytest.raises(SliderError):
        spec_for("banana")
