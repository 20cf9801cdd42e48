"""Lightroom develop settings <-> the 11 sliders: what a catalog's settings text means, and how to write one.

A catalog stores an edit as Lua-table text (`pipelines.lightroom.lua_table` parses it as data).
The rules for what the text means, checked against Lightroom's own fields:

- Process (`ProcessVersion`): absent or below 6.7 is the Camera Raw 2003 process (PV2003 "5.0",
  PV2010 "5.7": the same Basic sliders); 6.7 and later is the 2012 process, whose keys differ
  (Exposure2012, ...). `Version` is the Camera Raw version that wrote the text, not the process.
- Tone sliders: Lightroom omits a slider whose value is 0, so a missing key means 0.
- White balance (`WhiteBalance`): "As Shot" means the camera's as-shot temperature and tint,
  whatever Temperature / Tint keys the text also holds. Any other mode ("Custom", "Auto",
  "Daylight", ... or no WhiteBalance key) stores its Temperature, and its Tint unless that is 0:
  so a missing Tint means 0 when a Temperature is present. With neither key the white balance is
  as shot. A mode other than "As Shot" with a Tint but no Temperature is malformed.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from rendering.sliders import PROCESS_2003, SliderSpec

AS_SHOT = "As Shot"
CUSTOM = "Custom"
FIRST_2012_PROCESS_VERSION = 6.7
LINEAR_CURVE: tuple[float, ...] = (0.0, 0.0, 255.0, 255.0)


class SettingsError(ValueError):
    """Develop settings parse as a table but cannot give the sliders; the message names the key."""


@dataclass(frozen=True)
class CameraRawSettings:
    """One edit as Camera Raw sees it: sliders [11] in Lightroom units of `spec`, curve, white balance."""

    sliders: np.ndarray                     # [11] Lightroom units, spec order
    spec: SliderSpec = PROCESS_2003
    tone_curve: tuple[float, ...] = LINEAR_CURVE  # flat (x0, y0, x1, y1, ...), 0..255
    tone_curve_name: str = "Linear"
    white_balance: str = CUSTOM             # "As Shot" | "Custom"
    process_version: str = "5.0"

    def to_mapping(self) -> dict[str, float]:
        """{catalog / crs key: value} of the sliders."""
        return self.spec.to_mapping(self.sliders)


def settings_sha256(text: str) -> str:
    """Hex SHA-256 of the UTF-8 bytes of a settings text (identifies an edit's exact settings)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def parse_settings_text(text: str) -> dict[str, Any]:
    """A catalog settings text -> {key: value}, parsed as data (LuaTableError / SettingsError when not a table)."""
    from pipelines.lightroom.lua_table import parse_lua_table

    settings = parse_lua_table(text)
    if not isinstance(settings, dict):
        raise SettingsError("settings are a list, not a table of keys")
    return settings


def is_number(value: Any) -> bool:
    """A Lua number (bool excluded)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def text_field(value: Any) -> str | None:
    """A settings string field as text (numbers written as their literal), None when absent."""
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        raise SettingsError(f"expected a string, got a table {value!r:.60}")
    return str(value)


def process_of(settings: Mapping[str, Any]) -> str:
    """'2003' or '2012' from the text's ProcessVersion (absent: 2003)."""
    version = settings.get("ProcessVersion")
    if version is None:
        return "2003"
    try:
        return "2012" if float(str(version)) >= FIRST_2012_PROCESS_VERSION else "2003"
    except ValueError:
        raise SettingsError(f"ProcessVersion = {version!r:.40} is not a version number") from None


def white_balance(settings: Mapping[str, Any], as_shot: tuple[float, float] | None) -> tuple[float, float]:
    """(Temperature K, Tint) an edit means, by the rules in the module docstring.

    as_shot is the photo's as-shot (K, tint), or None when unknown (then an as-shot edit raises).
    """
    mode = text_field(settings.get("WhiteBalance"))
    temperature, tint = settings.get("Temperature"), settings.get("Tint")
    for key, value in (("Temperature", temperature), ("Tint", tint)):
        if value is not None and not is_number(value):
            raise SettingsError(f"{key} = {value!r:.60} is not a number")
    if mode == AS_SHOT or (temperature is None and tint is None):
        if as_shot is None:
            raise SettingsError("white balance is as shot and the raw file was not read (--no-raw-check), "
                                "so the as-shot values are unknown")
        return float(as_shot[0]), float(as_shot[1])
    if temperature is None:
        raise SettingsError(f"WhiteBalance {mode or '(absent)'} with a Tint but no Temperature")
    return float(temperature), float(tint if tint is not None else 0.0)


def settings_sliders(settings: Mapping[str, Any], as_shot: tuple[float, float] | None,
                     spec: SliderSpec = PROCESS_2003) -> np.ndarray:
    """The 11 sliders [11] (Lightroom units of `spec`) an edit's parsed settings mean.

    SettingsError for a non-numeric value, a process other than the spec's or an unknowable
    as-shot white balance; SliderError (spec.validate) for NaN or out-of-range values.
    """
    process = process_of(settings)
    if process != spec.process:
        raise SettingsError(f"process {process} edit (ProcessVersion {settings.get('ProcessVersion')}); "
                            f"these sliders are the {spec.process} process")
    for key in spec.keys:
        value = settings.get(key)
        if value is not None and not is_number(value):
            raise SettingsError(f"{key} = {value!r:.60} is not a number")
    temperature, tint = white_balance(settings, as_shot)
    sliders = spec.from_mapping(settings, temperature, tint)
    sliders[spec.index("Temperature")], sliders[spec.index("Tint")] = temperature, tint
    return spec.validate(sliders)


def tone_curve_points(value: Any) -> list[float] | None:
    """A settings ToneCurve (flat x0, y0, x1, y1, ... in 0..255) -> floats, None when absent or empty."""
    if value is None or value == {} or value == []:
        return None
    if not isinstance(value, list) or not all(is_number(v) for v in value):
        raise SettingsError(f"ToneCurve must be a flat list of numbers, got {value!r:.80}")
    points = [float(v) for v in value]
    if len(points) < 4 or len(points) % 2:
        raise SettingsError(f"ToneCurve needs x, y pairs (at least two points), got {len(points)} numbers")
    if not all(math.isfinite(v) and 0.0 <= v <= 255.0 for v in points):
        raise SettingsError("ToneCurve points must lie in 0..255")
    return points


def round_sliders(sliders: np.ndarray, spec: SliderSpec = PROCESS_2003) -> np.ndarray:
    """Sliders [..., 11] rounded as Lightroom stores them: Exposure to 0.01 EV, the others to integers."""
    values = np.asarray(sliders, dtype=np.float64)
    out = np.round(values)
    exposure = [i for i, s in enumerate(spec.sliders) if s.name == "Exposure"]
    out[..., exposure] = np.round(values[..., exposure], 2)
    return out + 0.0  # + 0.0 turns -0.0 into 0.0


def slider_entries(sliders: np.ndarray, as_shot: bool, spec: SliderSpec = PROCESS_2003) -> dict[str, float | int]:
    """The settings-text entries of rounded sliders [11], as Lightroom writes them: zero sliders
    omitted, Temperature / Tint only with a white balance other than as shot (a zero Tint omitted),
    Exposure a float, every other slider an integer."""
    entries: dict[str, float | int] = {}
    for key, value in zip(spec.keys, round_sliders(sliders, spec)):
        if key in ("Temperature", "Tint") and as_shot:
            continue
        if value != 0 or key == "Temperature":
            entries[key] = float(value) if key.startswith("Exposure") else int(value)
    return entries
