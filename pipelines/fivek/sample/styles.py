"""Generated scenes and editing styles for the sample datasets: five experts and casual users.

Scenes have structure (sky/ground gradient, coloured discs, texture) and vary in exposure and
light colour. Five experts have two style modes each; which mode an expert picks, and how much
exposure they add, depends on the scene's brightness and colour, so a conditional mixture model
has something to find and the image features can see it. Casual users each prefer one of those
ten style clusters (shifted a little) and edit more noisily. Sliders come out rounded the way
Lightroom stores them (Exposure to 0.01 EV, the rest to integers).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipelines.fivek.layout import EXPERTS
from pipelines.lightroom.develop_settings import round_sliders
from rendering.sliders import PROCESS_2003, default_look
from rendering.tone import MEDIUM_CONTRAST

# Two style modes per expert in model space (0 = range centre for signed sliders), used as
# default look + STYLE_SCALE x (mode - default look) (`calibrated`):
# (Exposure, Recovery, FillLight, Blacks, Brightness, Contrast, Clarity, Vibrance, Saturation).
_MODES = {
    "A": ((0.10, -0.9, -0.8, -0.9, -0.3, 0.10, 0.1, 0.2, 0.0), (0.25, -0.6, -0.4, -0.95, 0.0, -0.1, 0.0, 0.4, 0.2)),
    "B": ((0.05, -0.5, -0.9, -0.7, -0.6, 0.50, 0.4, 0.0, -0.3), (0.15, -0.9, -0.6, -0.8, -0.2, 0.30, 0.5, 0.1, -0.6)),
    "C": ((0.20, -0.9, -0.5, -0.9, -0.1, -0.2, -0.2, 0.5, 0.4), (0.00, -0.3, -0.9, -0.6, -0.5, 0.40, 0.2, -0.3, -0.2)),
    "D": ((0.12, -0.7, -0.7, -0.8, -0.4, 0.20, 0.0, 0.1, 0.1), (0.30, -0.8, -0.2, -0.95, 0.2, 0.00, 0.3, 0.3, 0.0)),
    "E": ((-0.05, -0.2, -0.9, -0.5, -0.7, 0.60, 0.6, -0.2, -0.5), (0.18, -0.9, -0.7, -0.9, -0.2, 0.10, -0.1, 0.6, 0.5)),
}
_WARMTH = {"A": 0.02, "B": -0.04, "C": 0.06, "D": 0.0, "E": -0.02}  # model-space Temperature offsets

# Chance that an expert's edit uses the Medium Contrast curve (mean 0.12, as in the real catalog).
_CURVE_P = {"A": 0.04, "B": 0.36, "C": 0.04, "D": 0.12, "E": 0.04}
# Calibration to FiveK's scale (issue 11): the unedited photo (Camera Raw's default look) is 10.2 ΔE76 from
# the experts' renditions in Saeedi et al.; these three give 10.1 ± 0.3 on 100 sample photos at 128 px
# (measured with the unedited render of pipelines.core.photos vs each expert's, all five experts).
DARKEST_GAIN = 0.4      # scene brightness gains are log-uniform in [DARKEST_GAIN, 1]: -1.3 EV .. well exposed
EXPOSURE_LIFT = 0.12    # model-space Exposure an expert adds to the darkest scene (0.12 = +0.48 EV)
STYLE_SCALE = 0.4       # the style modes lie this fraction of their _MODES offsets away from the default look
AS_SHOT_P = 0.06        # chance that an edit keeps the as-shot white balance (no Temperature/Tint)
USER_NOISE = 0.09       # model-space noise of a casual user's edit (experts: 0.03)


@dataclass(frozen=True)
class StyledEdit:
    """One edit: sliders [11] in Lightroom units, whether white balance is as shot, its point curve."""

    sliders: np.ndarray
    as_shot: bool
    tone_curve: tuple[float, ...] | None

    @property
    def tone_curve_name(self) -> str:
        return "Medium Contrast" if self.tone_curve is not None else "Linear"


@dataclass(frozen=True)
class UserStyle:
    """A casual user's preferred style: an expert's mode [9] (model space) plus a personal shift."""

    user: str
    expert: str
    mode: int
    shift: tuple[float, ...]
    warmth: float
    curve_p: float


def scene(rng: np.random.Generator, height: int, width: int) -> tuple[np.ndarray, float, float]:
    """Linear camera RGB [H,W,3] of a generated scene, with its brightness gain and warmth in [0, 1]."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    yy /= height
    xx /= width
    horizon = rng.uniform(0.35, 0.65)
    sky = np.array([0.35, 0.55, 0.9]) * rng.uniform(0.7, 1.1, 3)
    ground = np.array(rng.choice([(0.35, 0.45, 0.15), (0.55, 0.4, 0.25), (0.3, 0.3, 0.32)])) * rng.uniform(0.8, 1.2, 3)
    t_sky = (yy / horizon)[..., None]
    img = np.where((yy < horizon)[..., None], sky * (0.6 + 0.4 * t_sky), ground * (1.0 - 0.5 * (yy - horizon)[..., None]))
    texture = 0.08 * np.sin(40 * xx + 7 * np.sin(9 * yy)) * (yy > horizon)
    img = img * (1.0 + texture[..., None])
    for _ in range(rng.integers(2, 6)):
        cy, cx, r = rng.uniform(0.2, 0.9), rng.uniform(0.1, 0.9), rng.uniform(0.05, 0.18)
        colour = rng.uniform(0.05, 1.0, 3)
        mask = ((yy - cy) ** 2 + (xx - cx) ** 2) < r * r
        img[mask] = colour * (0.7 + 0.3 * (1 - (yy[mask] - cy + r) / (2 * r)))[:, None]
    gain = float(np.exp(rng.uniform(np.log(DARKEST_GAIN), 0.0)))          # under- to well-exposed
    warmth = float(rng.uniform(0.0, 1.0))                                      # light colour
    # Warm light (warmth 1) raises red and lowers blue, cool light (0) the reverse; green stays put.
    shift = 0.3 * (2.0 * warmth - 1.0)
    light = np.array([1.0 + shift, 1.0, 1.0 - shift]) / (1.0 + abs(shift))
    return np.clip(img * gain * light, 0.0, 1.0), gain, warmth


def _darkness(gain: float) -> float:
    """0 for a well-exposed scene .. 1 for the darkest (gain DARKEST_GAIN)."""
    return float(np.clip(-np.log2(gain) / np.log2(1 / DARKEST_GAIN), 0.0, 1.0))


def _mode_probability(expert: str, darkness: float, warmth: float) -> float:
    """Chance that an expert picks their second mode: a logistic in scene darkness and warmth."""
    sign = 1.0 if expert in ("A", "C", "E") else -1.0
    return float(1.0 / (1.0 + np.exp(-6.0 * sign * (darkness - 0.5) - 2.0 * (warmth - 0.5))))


def calibrated(mode: np.ndarray) -> np.ndarray:
    """A style mode [9] (model space) pulled towards Camera Raw's default look by STYLE_SCALE."""
    default = PROCESS_2003.to_model(default_look())[2:]
    return default + STYLE_SCALE * (np.asarray(mode, dtype=np.float64) - default)


def _styled_sliders(mode: np.ndarray, warmth_offset: float, gain: float, warmth: float,
                    as_shot_white: tuple[float, float], noise: float, rng: np.random.Generator) -> np.ndarray:
    """Sliders [11] (Lightroom units, clipped) of a style mode [9] applied to one scene."""
    spec = PROCESS_2003
    model = np.zeros(len(spec))
    model[0] = spec.sliders[0].to_model(as_shot_white[0]) + warmth_offset - 0.08 * (warmth - 0.5)
    model[1] = spec.sliders[1].to_model(as_shot_white[1]) + rng.normal(0.0, 0.02)
    model[2:] = calibrated(mode) + rng.normal(0.0, noise, len(spec) - 2)
    model[2] += EXPOSURE_LIFT * _darkness(gain)                                # lift dark scenes
    return spec.clip(spec.from_model(np.clip(model, -1.0, 1.0)))


def expert_edit(expert: str, gain: float, warmth: float, as_shot_white: tuple[float, float],
                rng: np.random.Generator) -> np.ndarray:
    """One expert's sliders [11] (Lightroom units) for a scene of the given gain and warmth."""
    p_mode1 = _mode_probability(expert, _darkness(gain), warmth)
    mode = _MODES[expert][int(rng.uniform() < p_mode1)]
    return _styled_sliders(np.asarray(mode), _WARMTH[expert], gain, warmth, as_shot_white, 0.03, rng)


def _finish(sliders: np.ndarray, as_shot_white: tuple[float, float], curve_p: float,
            rng: np.random.Generator) -> StyledEdit:
    """Round, maybe keep the as-shot white balance, maybe add the Medium Contrast curve."""
    as_shot = bool(rng.uniform() < AS_SHOT_P)
    curve = MEDIUM_CONTRAST if rng.uniform() < curve_p else None
    sliders = PROCESS_2003.clip(round_sliders(sliders, PROCESS_2003))
    if as_shot:
        sliders[PROCESS_2003.index("Temperature")] = as_shot_white[0]
        sliders[PROCESS_2003.index("Tint")] = as_shot_white[1]
    return StyledEdit(sliders=sliders, as_shot=as_shot, tone_curve=curve)


def expert_styled_edit(expert: str, gain: float, warmth: float, as_shot_white: tuple[float, float],
                       rng: np.random.Generator) -> StyledEdit:
    """An expert's whole edit (catalog-rounded sliders, as-shot WB ~6 %, Medium Contrast ~12 % overall)."""
    sliders = expert_edit(expert, gain, warmth, as_shot_white, rng)
    return _finish(sliders, as_shot_white, _CURVE_P[expert], rng)


def user_style(user: str, rng: np.random.Generator) -> UserStyle:
    """A casual user's preferred style cluster: one of the ten expert modes, shifted a little."""
    expert = EXPERTS[int(rng.integers(len(EXPERTS)))]
    return UserStyle(user=user, expert=expert, mode=int(rng.integers(2)),
                     shift=tuple(float(x) for x in rng.normal(0.0, 0.12, 9)),
                     warmth=float(rng.normal(0.0, 0.05)), curve_p=float(rng.choice([0.0, 0.5])))


def user_styled_edit(style: UserStyle, gain: float, warmth: float, as_shot_white: tuple[float, float],
                     rng: np.random.Generator) -> StyledEdit:
    """A casual user's edit: always their preferred cluster, with three times an expert's noise."""
    mode = np.clip(np.asarray(_MODES[style.expert][style.mode]) + np.asarray(style.shift), -1.0, 1.0)
    sliders = _styled_sliders(mode, style.warmth, gain, warmth, as_shot_white, USER_NOISE, rng)
    return _finish(sliders, as_shot_white, style.curve_p, rng)
