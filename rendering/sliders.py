"""The Lightroom slider space: the 11 basic sliders, their ranges and the model space [-1, 1].

Parquet stores Lightroom units; models work in model space. Temperature is mapped on the mired
scale (1e6 / K), which is how Camera Raw spaces its white-balance slider and how perceived colour
shifts with temperature; every other slider is mapped linearly from its range onto [-1, 1].
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np


class SliderError(ValueError):
    """A slider value is missing, NaN or out of range; the message names the slider."""


@dataclass(frozen=True)
class Slider:
    """One slider: Lightroom name, catalog key, range in Lightroom units and neutral value."""

    name: str
    key: str
    low: float
    high: float
    neutral: float
    mired: bool = False  # normalised on 1e6/K instead of linearly

    def to_model(self, value: np.ndarray) -> np.ndarray:
        """Lightroom units -> model space [-1, 1] (warmer / higher is +1)."""
        value = np.asarray(value, dtype=np.float64)
        if self.mired:
            lo, hi = 1e6 / self.high, 1e6 / self.low  # mired of the range ends
            return 1.0 - 2.0 * (1e6 / value - lo) / (hi - lo)
        return 2.0 * (value - self.low) / (self.high - self.low) - 1.0

    def from_model(self, value: np.ndarray) -> np.ndarray:
        """Model space [-1, 1] -> Lightroom units."""
        value = np.asarray(value, dtype=np.float64)
        if self.mired:
            lo, hi = 1e6 / self.high, 1e6 / self.low
            return 1e6 / (lo + (1.0 - value) * (hi - lo) / 2.0)
        return self.low + (value + 1.0) * (self.high - self.low) / 2.0


@dataclass(frozen=True)
class SliderSpec:
    """An ordered set of sliders of one Camera Raw process version."""

    process: str
    sliders: tuple[Slider, ...]

    @property
    def keys(self) -> list[str]:
        return [s.key for s in self.sliders]

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.sliders]

    def __len__(self) -> int:
        return len(self.sliders)

    def index(self, key: str) -> int:
        """Position of a slider given its catalog key or its Lightroom name."""
        for i, s in enumerate(self.sliders):
            if key in (s.key, s.name):
                return i
        raise SliderError(f"unknown slider {key!r} for process {self.process}; known: {self.keys}")

    def neutral(self, as_shot_temperature: float = 5000.0, as_shot_tint: float = 0.0) -> np.ndarray:
        """Neutral sliders [11] in Lightroom units: the plain decode at the as-shot white balance."""
        out = np.array([s.neutral for s in self.sliders], dtype=np.float64)
        out[self.index("Temperature")] = as_shot_temperature
        out[self.index("Tint")] = as_shot_tint
        return out

    def to_model(self, values: np.ndarray) -> np.ndarray:
        """Lightroom units [..., 11] -> model space [..., 11]."""
        values = np.asarray(values, dtype=np.float64)
        return np.stack([s.to_model(values[..., i]) for i, s in enumerate(self.sliders)], axis=-1)

    def from_model(self, values: np.ndarray) -> np.ndarray:
        """Model space [..., 11] -> Lightroom units [..., 11]."""
        values = np.asarray(values, dtype=np.float64)
        return np.stack([s.from_model(values[..., i]) for i, s in enumerate(self.sliders)], axis=-1)

    def clip(self, values: np.ndarray) -> np.ndarray:
        """Clip Lightroom-unit sliders [..., 11] into their ranges."""
        lows = np.array([s.low for s in self.sliders])
        highs = np.array([s.high for s in self.sliders])
        return np.clip(np.asarray(values, dtype=np.float64), lows, highs)

    def validate(self, values: np.ndarray, tolerance: float = 1e-6) -> np.ndarray:
        """Check sliders [..., 11] are finite and in range; raise SliderError naming the slider."""
        values = np.asarray(values, dtype=np.float64)
        if values.shape[-1] != len(self.sliders):
            raise SliderError(f"expected {len(self.sliders)} sliders, got shape {values.shape}")
        for i, s in enumerate(self.sliders):
            col = values[..., i]
            if not np.all(np.isfinite(col)):
                raise SliderError(f"slider {s.key} is NaN or infinite")
            span = tolerance * (s.high - s.low)
            if np.any(col < s.low - span) or np.any(col > s.high + span):
                bad = col[(col < s.low - span) | (col > s.high + span)].ravel()[0]
                raise SliderError(f"slider {s.key}={bad:g} is outside its range [{s.low:g}, {s.high:g}]")
        return values

    def from_mapping(self, settings: Mapping[str, float], as_shot_temperature: float = 5000.0,
                     as_shot_tint: float = 0.0) -> np.ndarray:
        """Sliders [11] from a key -> value mapping; a missing key means 0 (as-shot for WB)."""
        out = np.zeros(len(self.sliders), dtype=np.float64)
        for i, s in enumerate(self.sliders):
            if s.key in settings and settings[s.key] is not None:
                out[i] = float(settings[s.key])
            elif s.key == "Temperature":
                out[i] = as_shot_temperature
            elif s.key == "Tint":
                out[i] = as_shot_tint
        return out

    def to_mapping(self, values: Sequence[float]) -> dict[str, float]:
        """Sliders [11] -> {catalog key: value}."""
        return {s.key: float(v) for s, v in zip(self.sliders, values)}


# Camera Raw 2003 process, as used by the FiveK catalog (see ../shared/fixtures/README.md).
# Neutral values are the identity of our renderer (a plain decode), not Lightroom's defaults
# (Brightness 50, Contrast 25, Blacks 5), which the catalog writes out explicitly when used.
PROCESS_2003 = SliderSpec(
    process="2003",
    sliders=(
        Slider("Temperature", "Temperature", 2000.0, 50000.0, 5000.0, mired=True),
        Slider("Tint", "Tint", -150.0, 150.0, 0.0),
        Slider("Exposure", "Exposure", -4.0, 4.0, 0.0),
        Slider("Recovery", "HighlightRecovery", 0.0, 100.0, 0.0),
        Slider("Fill Light", "FillLight", 0.0, 100.0, 0.0),
        Slider("Blacks", "Shadows", 0.0, 100.0, 0.0),
        Slider("Brightness", "Brightness", 0.0, 150.0, 0.0),
        Slider("Contrast", "Contrast", -50.0, 100.0, 0.0),
        Slider("Clarity", "Clarity", -100.0, 100.0, 0.0),
        Slider("Vibrance", "Vibrance", -100.0, 100.0, 0.0),
        Slider("Saturation", "Saturation", -100.0, 100.0, 0.0),
    ),
)

# Camera Raw 2003's default look (Camera Raw / Lightroom defaults; the point curve's default,
# "Medium Contrast", is rendering.tone.MEDIUM_CONTRAST). The DNG SDK renders this by default.
DEFAULT_LOOK_2003 = {"Brightness": 50.0, "Contrast": 25.0, "Shadows": 5.0}


def default_look(as_shot_temperature: float = 5000.0, as_shot_tint: float = 0.0,
                 spec: SliderSpec = PROCESS_2003) -> np.ndarray:
    """Camera Raw 2003's default sliders [11] (Lightroom units) at the as-shot white balance."""
    out = spec.neutral(as_shot_temperature, as_shot_tint)
    for key, value in DEFAULT_LOOK_2003.items():
        out[spec.index(key)] = value
    return out


# Camera Raw 2012 process (PV2012), for users' own catalogs.
PROCESS_2012 = SliderSpec(
    process="2012",
    sliders=(
        Slider("Temperature", "Temperature", 2000.0, 50000.0, 5000.0, mired=True),
        Slider("Tint", "Tint", -150.0, 150.0, 0.0),
        Slider("Exposure", "Exposure2012", -5.0, 5.0, 0.0),
        Slider("Contrast", "Contrast2012", -100.0, 100.0, 0.0),
        Slider("Highlights", "Highlights2012", -100.0, 100.0, 0.0),
        Slider("Shadows", "Shadows2012", -100.0, 100.0, 0.0),
        Slider("Whites", "Whites2012", -100.0, 100.0, 0.0),
        Slider("Blacks", "Blacks2012", -100.0, 100.0, 0.0),
        Slider("Clarity", "Clarity2012", -100.0, 100.0, 0.0),
        Slider("Vibrance", "Vibrance", -100.0, 100.0, 0.0),
        Slider("Saturation", "Saturation", -100.0, 100.0, 0.0),
    ),
)

SPECS = {"2003": PROCESS_2003, "2012": PROCESS_2012}
NUM_SLIDERS = 11
assert all(len(s) == NUM_SLIDERS for s in SPECS.values())


def spec_for(process: str) -> SliderSpec:
    """The slider spec of a process version ('2003' or '2012'; Camera Raw '5.0'/'6.7' are mapped)."""
    if process in SPECS:
        return SPECS[process]
    try:
        version = float(process)
    except ValueError:
        raise SliderError(f"unknown process version {process!r}; use 2003 or 2012") from None
    return PROCESS_2012 if version >= 6.7 and not math.isclose(version, 2003) else PROCESS_2003
