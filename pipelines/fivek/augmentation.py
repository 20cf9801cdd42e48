"""Slider noise for augmentation and the targets it implies (plain numpy, no Beam).

Model space spans [-1, 1] per slider (rendering.sliders), so "uniform within ±10 % of a slider's
full range" is uniform in [-0.2, 0.2] in model space. Temperature is in mired-normalised model
space, like everywhere else in the project.

A variant is the photo rendered at `neutral + noise` (model space). Where the neutral value sits at
a range end (Recovery, Fill Light, Blacks and Brightness are neutral at their lowest value), the
rendered sliders are clipped into range, and the noise recorded for the variant is the noise that
was actually applied: `applied = to_model(rendered) - to_model(neutral)`. The expert's target for
the variant is then `expert - applied` in model space, mapped back to Lightroom units with the
out-of-range policy below, so "variant + target" always reproduces the expert's edit where the
range allows.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipelines.core.seeding import keyed_rng
from rendering.sliders import NUM_SLIDERS, PROCESS_2003, SliderSpec

NOISE_FRACTION = 0.10                      # of a slider's full range
MODEL_SPAN = 2.0                           # model space is [-1, 1]
NOISE_HALF_WIDTH = NOISE_FRACTION * MODEL_SPAN   # 0.2 in model space
POLICIES = ("clip", "reflect")


@dataclass(frozen=True)
class VariantSliders:
    """Sliders of one variant: what to render (Lightroom units) and the applied noise (model space)."""

    variant: int
    noise: np.ndarray      # [11] model space, as applied (0 for variant 0)
    sliders: np.ndarray    # [11] Lightroom units, what the renderer is given


def draw_noise(seed: int, photo_id: str, variant: int, half_width: float = NOISE_HALF_WIDTH) -> np.ndarray:
    """Noise [11] in model space, uniform in [-half_width, half_width], keyed by (seed, photo, variant)."""
    rng = keyed_rng(seed, photo_id, variant)
    return rng.uniform(-half_width, half_width, size=NUM_SLIDERS)


def model_out_of_range(values: np.ndarray, policy: str) -> np.ndarray:
    """Bring model-space sliders [..., 11] back into [-1, 1]: 'clip' to the ends or 'reflect' off them."""
    values = np.asarray(values, dtype=np.float64)
    if policy == "clip":
        return np.clip(values, -1.0, 1.0)
    if policy == "reflect":
        # mirror at ±1; |noise| <= 0.2 so one reflection is enough, the clip guards the rest
        reflected = np.where(values > 1.0, 2.0 - values, values)
        reflected = np.where(reflected < -1.0, -2.0 - reflected, reflected)
        return np.clip(reflected, -1.0, 1.0)
    raise ValueError(f"unknown out-of-range policy {policy!r}; choose one of {POLICIES}")


def variant_sliders(neutral: np.ndarray, seed: int, photo_id: str, num_variants: int,
                    spec: SliderSpec = PROCESS_2003) -> list[VariantSliders]:
    """Variants 0..K of a photo: 0 is `neutral` itself, 1..K neutral + keyed noise, clipped to range."""
    neutral = np.asarray(neutral, dtype=np.float64)
    neutral_model = spec.to_model(neutral)
    out = [VariantSliders(0, np.zeros(NUM_SLIDERS), neutral.copy())]
    for v in range(1, num_variants + 1):
        rendered_model = np.clip(neutral_model + draw_noise(seed, photo_id, v), -1.0, 1.0)
        applied = rendered_model - neutral_model
        out.append(VariantSliders(v, applied, spec.from_model(rendered_model)))
    return out


def variant_target(expert: np.ndarray, noise: np.ndarray, policy: str = "clip",
                   spec: SliderSpec = PROCESS_2003) -> np.ndarray:
    """Target [11] Lightroom units for a variant: expert − noise in model space, back in range by policy."""
    target_model = spec.to_model(np.asarray(expert, dtype=np.float64)) - np.asarray(noise, dtype=np.float64)
    target = spec.from_model(model_out_of_range(target_model, policy))
    # from_model(±1) can differ from the range ends by rounding; keep Parquet values inside the range
    return spec.clip(target)
