"""What a catalog's settings text means: missing keys, white balance modes, process versions, writing it back."""
import numpy as np
import pytest

from pipelines.lightroom.develop_settings import (
    SettingsError,
    parse_settings_text,
    process_of,
    round_sliders,
    settings_sliders,
    slider_entries,
    white_balance,
)
from pipelines.lightroom.lua_table import format_lua_table
from rendering.sliders import PROCESS_2003, SliderError

AS_SHOT = (5150.0, 7.0)
T, TINT = PROCESS_2003.index("Temperature"), PROCESS_2003.index("Tint")


def test_custom_white_balance_without_tint_means_tint_zero_not_as_shot():
    """Lightroom omits a Tint of 0: WhiteBalance "Custom" with only a Temperature is Tint 0."""
    sliders = settings_sliders({"WhiteBalance": "Custom", "Temperature": 6100, "Exposure": 0.5}, AS_SHOT)
    assert sliders[T] == 6100 and sliders[TINT] == 0.0
    assert sliders[PROCESS_2003.index("Exposure")] == 0.5 and sliders[PROCESS_2003.index("Contrast")] == 0.0
    # named presets store a temperature too; no WhiteBalance key behaves like Custom
    assert tuple(white_balance({"WhiteBalance": "Daylight", "Temperature": 5500}, AS_SHOT)) == (5500.0, 0.0)
    assert tuple(white_balance({"Temperature": 4000, "Tint": -3}, AS_SHOT)) == (4000.0, -3.0)


def test_as_shot_white_balance_wins_over_stale_keys_and_needs_the_raw():
    assert white_balance({"WhiteBalance": "As Shot", "Temperature": 9000, "Tint": 40}, AS_SHOT) == AS_SHOT
    assert white_balance({"Exposure": 1.0}, AS_SHOT) == AS_SHOT               # no white-balance keys at all
    with pytest.raises(SettingsError, match="as shot"):
        white_balance({"WhiteBalance": "As Shot"}, None)
    with pytest.raises(SettingsError, match="no Temperature"):
        white_balance({"WhiteBalance": "Custom", "Tint": 5}, AS_SHOT)


def test_process_version_decides_the_process_and_2012_edits_are_refused_by_the_2003_spec():
    assert process_of({}) == "2003" and process_of({"ProcessVersion": "5.7"}) == "2003"
    assert process_of({"ProcessVersion": "6.7"}) == "2012" and process_of({"ProcessVersion": "11.0"}) == "2012"
    with pytest.raises(SettingsError, match="process 2012"):
        settings_sliders({"ProcessVersion": "6.7", "Exposure2012": 0.3}, AS_SHOT)
    with pytest.raises(SettingsError, match="not a version"):
        process_of({"ProcessVersion": "new"})
    with pytest.raises(SettingsError, match="not a number"):
        settings_sliders({"Exposure": "bright"}, AS_SHOT)
    with pytest.raises(SliderError):
        settings_sliders({"Brightness": 400}, AS_SHOT)


def test_written_entries_read_back_as_the_same_sliders():
    rng = np.random.default_rng(3)
    for _ in range(50):
        sliders = round_sliders(PROCESS_2003.from_model(rng.uniform(-1, 1, 11)))
        sliders[rng.integers(2, 11, 3)] = 0.0                                 # some untouched sliders
        if rng.uniform() < 0.3:
            sliders[TINT] = 0.0
        as_shot = bool(rng.uniform() < 0.2)
        entries = slider_entries(sliders, as_shot)
        text = format_lua_table({"WhiteBalance": "As Shot" if as_shot else "Custom", **entries})
        assert "Tint = 0" not in text and all(v != 0 for k, v in entries.items() if k != "Temperature")
        back = settings_sliders(parse_settings_text(text), AS_SHOT)
        want = sliders.copy()
        if as_shot:
            want[T], want[TINT] = AS_SHOT
        np.testing.assert_allclose(back, want, atol=1e-9)
