"""A prior over known-answer problems (modeling.known_answer.Regime): benchmarks/science.py --family
draws its problems from it at run time, so no model can be tuned to a fixed set of regimes.

Each option is drawn independently, uniformly over its choices or range:

    features     sparse (signal in k raw coordinates, the rest independent noise), low rank (k of
                 F factors mixed densely into D, FC7-like), or both (r raw coordinates, k - r factors)
    D            512 or 4096;  k (informative directions) 2..16;  F (low rank) max(16, k)..64
    styles S     1..5, centres uniform in +-separation, separation 0.2..0.8, noise 0.04..0.12
    weights      fixed, or photo-dependent (strength 1..3)
    means        fixed, or moving with the photo (strength 0.05..0.2)
    atoms        off, or on (touch_p 0.3..0.8);  clipping off, or on (a share of 0.1..0.3 of the
                 centres past a range end);  Lightroom steps off or on
    editors      preference none (a = 0), mild (0.3) or strong (0.8); users who mix styles edit by
                 edit, or keep one style s_e ~ pi_e for all their edits (then the weights are fixed)

With one style the weights and the preference mean nothing and are recorded as 0 / none.
With mixed styles and no preference the true personalisation gain is exactly 0. The ranges are the
prior's, chosen before any model was run on it; nothing is tuned to a model.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from modeling.known_answer import Regime

FEATURE_KINDS = ("sparse", "low-rank", "both")
PREFERENCES = {"none": 0.0, "mild": 0.3, "strong": 0.8}


@dataclass(frozen=True)
class FamilyPrior:
    """The ranges of the family's options (see the module docstring); (lo, hi) ranges are inclusive."""

    feature_dims: tuple[int, ...] = (512, 4096)
    informative: tuple[int, int] = (2, 16)
    factors: tuple[int, int] = (16, 64)
    styles: tuple[int, int] = (1, 5)
    separation: tuple[float, float] = (0.2, 0.8)
    noise: tuple[float, float] = (0.04, 0.12)
    weight_strength: tuple[float, float] = (1.0, 3.0)
    mean_strength: tuple[float, float] = (0.05, 0.2)
    touch_p: tuple[float, float] = (0.3, 0.8)
    clip_share: tuple[float, float] = (0.1, 0.3)


def draw_regime(rng: np.random.Generator, name: str, prior: FamilyPrior = FamilyPrior(),
                max_feature_dim: int | None = None) -> Regime:
    """One problem of the family, drawn with `rng`; `max_feature_dim` caps D (smoke runs only)."""
    def coin() -> bool:
        return bool(rng.random() < 0.5)

    def uniform(lo_hi: tuple[float, float]) -> float:
        return float(rng.uniform(*lo_hi))

    kind = FEATURE_KINDS[rng.integers(len(FEATURE_KINDS))]
    D = int(prior.feature_dims[rng.integers(len(prior.feature_dims))])
    k = int(rng.integers(prior.informative[0], prior.informative[1] + 1))
    raw = {"sparse": k, "low-rank": 0, "both": int(rng.integers(1, k)) if k > 1 else 1}[kind]
    factors = 0 if raw == k else int(rng.integers(max(prior.factors[0], k - raw), max(prior.factors[1], k - raw) + 1))
    S = int(rng.integers(prior.styles[0], prior.styles[1] + 1))
    separation, noise = uniform(prior.separation), uniform(prior.noise)
    weight_strength = uniform(prior.weight_strength) if coin() else 0.0
    mean_strength = uniform(prior.mean_strength) if coin() else 0.0
    atoms = coin()
    touch_p = uniform(prior.touch_p) if atoms else 0.6
    clip_share = uniform(prior.clip_share) if coin() else 0.0
    steps = coin()
    preference = list(PREFERENCES)[rng.integers(len(PREFERENCES))]
    keep = coin()
    if keep or S == 1:   # P(s | x, e) = [s = s_e] (or one style) ignores the photo
        weight_strength = 0.0
    if S == 1:           # one style: nothing for an editor to prefer
        preference = "none"
    seed = int(rng.integers(2 ** 31))
    if max_feature_dim is not None:
        D = min(D, max_feature_dim)
        factors = min(factors, max(D // 2, k - raw)) if factors else 0
    regime = Regime(name, "", feature_dim=D, informative=k, factors=factors, styles=S, separation=separation,
                    weight_strength=weight_strength, mean_strength=mean_strength, noise=noise,
                    editor_preference=PREFERENCES[preference], atoms=atoms, touch_p=touch_p, seed=seed,
                    raw_informative=raw, clip_share=clip_share, steps=steps, keep_style=keep)
    return Regime(**{**regime.__dict__, "description": regime_text(regime)})


def regime_text(regime: Regime) -> str:
    """A problem's settings, compactly: e.g. 'D4096 sparse k8 S3 w2.1 m0.10 atoms clip steps pref:strong keep'."""
    r, k = regime.raw_informative, regime.informative
    if r is None:
        kind = "sparse" if not regime.factors else "low-rank"
    else:
        kind = "sparse" if r == k else ("low-rank" if r == 0 else f"both(raw{r})")
    if regime.factors:
        kind += f" F{regime.factors}"
    preference = {v: n for n, v in PREFERENCES.items()}.get(regime.editor_preference, f"{regime.editor_preference:g}")
    parts = [f"D{regime.feature_dim}", kind, f"k{k}", f"S{regime.styles}",
             f"w{regime.weight_strength:.1f}" if regime.weight_strength else "w-",
             f"m{regime.mean_strength:.2f}" if regime.mean_strength else "m-",
             f"sep{regime.separation:.2f}", f"sd{regime.noise:.3f}"]
    parts += [flag for flag, on in (("atoms", regime.atoms), (f"clip{regime.clip_share:.2f}", regime.clip_share > 0),
                                    ("steps", regime.on_steps)) if on]
    parts += [f"pref:{preference}", "keep" if regime.keep_style else "mix"]
    return " ".join(parts)
