"""Recover plausible Lightroom sliders from a before/after pair: MAP fit with the differentiable renderer.

Find sliders y (and optionally a point tone curve) such that render(BEFORE, y) matches AFTER in
CIE-LAB (D50), minimising the MAP objective

    mean per-pixel smoothed ΔE76, sqrt(|ΔLab|² + eps)  +  weight * (-log p(y))        (per restart)

over the 11 sliders parameterised in model space as y = tanh(u) (every iterate is in range). Many
slider settings render alike (Exposure, Brightness, Fill Light, Contrast and Blacks trade against
each other), and without the prior a fit drifts to combinations no editor uses (sliders pinned at
their range ends); the prior p(y) picks the plausible one among them. Priors (`SliderPrior`):
- `GaussianPrior.from_edits`: a diagonal Gaussian in model space fitted to a dataset's edits,
  white balance taken relative to each photo's as-shot white;
- `builtin_prior(spec)`: Camera Raw 2003's defaults with FiveK-like spreads (`FIVEK_LIKE`; assumed
  from how experts edit, not measured), or a broad neutral-centred prior for the 2012 process;
- `ModelPrior`: a trained model's exact log-likelihood log p(y | x) (GaussianMLP, MDN) for the
  photo's features x.
R restarts (restart 0 at the prior's centre, the others drawn from the prior with the caller's
generator) are optimised together as one batch on a copy downsampled to `coarse_side` px (sliders
are global, so the coarse optimum is close to the full-size one); the best is refined coarse to
fine, at `refine_side` px, each doubling of it and full size. The optimiser is Levenberg-Marquardt
on the Gauss-Newton model of the smoothed ΔE (`levenberg_marquardt`): the render's Jacobian is a
forward difference, one batched render of every parameter perturbed, updated by secants between
refreshes at the finer sizes, so most of a fit is gradient-free batched rendering. The reported
error is the plain mean ΔE76 of the final full-size render (the same `rendering.colour.lab_error`
the evaluation uses), with the prior's weight and cost beside it, and the sliders that ended at a
range end (`pinned_sliders`).

Optional tone curve: `CURVE_KNOTS` interior knots at fixed x (0..255) whose y are the cumulative
softmax of free logits (monotone, from (0, 0) to (255, 255)); it is passed to the renderer in the
catalog's flat (x0, y0, x1, y1, ...) format.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import torch

from modeling.levenberg_marquardt import levenberg_marquardt
from rendering.sliders import PROCESS_2003, SliderSpec

log = logging.getLogger(__name__)

SMOOTH_EPS = 1e-3        # ΔE² offset of the smoothed loss (ΔE units²)
CURVE_KNOTS = 7          # interior tone-curve knots at x = 32, 64, ..., 224
TANH_LIMIT = 0.999       # model-space starting points are clipped to ±this before atanh
PIN_TOLERANCE = 0.01     # a slider within this fraction of its range from an end sits at that end
FIT_BATCH = 48           # renders per batch in a fit's Jacobian
STD_FLOOR = 0.02         # smallest model-space spread of a prior fitted to edits
WHITE_BALANCE = ("Temperature", "Tint")
# Built-in Camera Raw 2003 prior: (mean, std) in Lightroom units; white balance as offsets from the
# as-shot white (Temperature in mired). Centred on Camera Raw's defaults; spreads of a moderate
# expert edit (assumed: no FiveK slider statistics are in this repository's fixtures).
FIVEK_LIKE = {"Temperature": (0.0, 25.0), "Tint": (0.0, 10.0), "Exposure": (0.0, 0.6),
              "HighlightRecovery": (5.0, 20.0), "FillLight": (5.0, 15.0), "Shadows": (5.0, 5.0),
              "Brightness": (50.0, 25.0), "Contrast": (25.0, 20.0), "Clarity": (0.0, 25.0),
              "Vibrance": (0.0, 25.0), "Saturation": (0.0, 20.0)}
NEUTRAL_STD = 0.35       # model-space spread of the built-in prior of other processes (2012)


@dataclass(frozen=True)
class FitConfig:
    """Optimiser settings: restarts, iterations (coarse copy, each refining size), sizes, tone curve, prior weight."""

    restarts: int = 4
    coarse_iterations: int = 30   # Levenberg-Marquardt iterations of all restarts on the coarse copy
    refine_iterations: int = 6    # LM iterations of the best restart at each refining size
    tone_curve: bool = False
    tolerance: float = 1e-5   # a stage stops when no row's objective improves by more than this (ΔE units)
    coarse_side: int = 64     # the restarts run at this long side (0: full size)
    refine_side: int = 128    # the best is refined here, at each doubling and at full size (0: full size only)
    prior_weight: float = 0.02  # ΔE units per nat of -log p(y); 0 = maximum likelihood


@dataclass(frozen=True)
class FitResult:
    """Fitted sliders [11] (Lightroom units), tone curve (flat 0..255 list or None), errors, prior, timing."""

    sliders: np.ndarray
    tone_curve: list[float] | None
    delta_e: float             # mean ΔE76 of the final render vs AFTER
    delta_e_start: float       # mean ΔE76 at the neutral sliders (the plain decode)
    restart_objective: list[float]   # MAP objective (smoothed ΔE + prior cost) of each restart on the coarse copy
    seconds: float
    spec: SliderSpec = PROCESS_2003
    prior: str = "none"        # which prior
    prior_weight: float = 0.0
    prior_cost: float = 0.0    # weight * -log p(y) at the fit (ΔE units, up to the prior's constant)
    pinned: list[str] = field(default_factory=list)   # sliders at a range end (`pinned_sliders`)

    def to_mapping(self) -> dict[str, float]:
        """{catalog key: fitted value}."""
        return self.spec.to_mapping(self.sliders)


# ---------------------------------------------------------------------------------------- priors

class SliderPrior:
    """A density over model-space sliders of one photo; `neutral` [11] is its model-space neutral (as-shot WB)."""

    name = "prior"

    def log_density(self, y: torch.Tensor, neutral: torch.Tensor) -> torch.Tensor:
        """log p(y) [R] (nats, up to a constant) of model-space sliders y [R,11]."""
        raise NotImplementedError

    def starts(self, n: int, neutral: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """n model-space starting points [n,11]: the prior's centre first, then draws from it."""
        raise NotImplementedError


class GaussianPrior(SliderPrior):
    """Diagonal Gaussian in model space; white-balance dimensions relative to the photo's as-shot white."""

    def __init__(self, mean: np.ndarray, std: np.ndarray, spec: SliderSpec = PROCESS_2003, name: str = "gaussian"):
        self.mean = np.asarray(mean, dtype=np.float64)
        self.std = np.maximum(np.asarray(std, dtype=np.float64), STD_FLOOR)
        self.relative = np.array([s.key in WHITE_BALANCE for s in spec.sliders])
        self.name = name

    def centre(self, neutral: np.ndarray) -> np.ndarray:
        """The prior mean [11] for a photo of model-space neutral [11]."""
        return self.mean + np.where(self.relative, neutral, 0.0)

    def log_density(self, y: torch.Tensor, neutral: torch.Tensor) -> torch.Tensor:
        mean = torch.as_tensor(self.mean, dtype=y.dtype, device=y.device)
        mean = mean + torch.as_tensor(self.relative, device=y.device) * neutral.to(y.dtype)
        z = (y - mean) / torch.as_tensor(self.std, dtype=y.dtype, device=y.device)
        return -0.5 * (z * z).sum(dim=-1)

    def starts(self, n: int, neutral: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        centre = self.centre(neutral)
        draws = centre + self.std * rng.standard_normal((max(0, n - 1), len(centre)))
        return np.clip(np.vstack([centre[None], draws])[:n], -TANH_LIMIT, TANH_LIMIT)

    @classmethod
    def from_edits(cls, sliders: np.ndarray, as_shot: np.ndarray, spec: SliderSpec = PROCESS_2003) -> "GaussianPrior":
        """Fit to edits [N,11] (Lightroom units) of photos with as-shot white balance [N,2] (K, tint)."""
        sliders = np.atleast_2d(np.asarray(sliders, dtype=np.float64))
        as_shot = np.atleast_2d(np.asarray(as_shot, dtype=np.float64))
        if len(sliders) < 2:
            raise ValueError(f"a prior from edits needs at least 2 edits, got {len(sliders)}")
        neutral = spec.to_model(np.stack([spec.neutral(t, tint) for t, tint in as_shot]))
        model = spec.to_model(spec.clip(sliders))
        relative = np.array([s.key in WHITE_BALANCE for s in spec.sliders])
        model = model - np.where(relative, neutral, 0.0)
        return cls(model.mean(axis=0), model.std(axis=0), spec, name=f"edits (n={len(sliders)})")


def builtin_prior(spec: SliderSpec = PROCESS_2003) -> GaussianPrior:
    """The built-in prior: FIVEK_LIKE for Camera Raw 2003, neutral-centred NEUTRAL_STD for other processes."""
    if spec.process != PROCESS_2003.process:
        mean = np.where(np.isin(spec.keys, WHITE_BALANCE), 0.0, spec.to_model(spec.neutral()))
        return GaussianPrior(mean, np.full(len(spec), NEUTRAL_STD), spec, name=f"neutral-centred ({spec.process})")
    mean, std = np.zeros(len(spec)), np.zeros(len(spec))
    for i, s in enumerate(spec.sliders):
        m, sd = FIVEK_LIKE[s.key]
        if s.key == "Temperature":  # mired offsets: model space is linear in mired
            mean[i], std[i] = 0.0, sd * 2.0 / (1e6 / s.low - 1e6 / s.high)
        elif s.key == "Tint":
            mean[i], std[i] = 0.0, sd * 2.0 / (s.high - s.low)
        else:
            mean[i], std[i] = s.to_model(m), sd * 2.0 / (s.high - s.low)
    return GaussianPrior(mean, std, spec, name="built-in FiveK-like")


class ModelPrior(SliderPrior):
    """A trained model's density p(y | x) for one photo's features x [D] (MLP / MDN: `log_density`)."""

    def __init__(self, model, features: np.ndarray, name: str = "model"):
        self.model = model.eval()
        self.features = torch.as_tensor(np.asarray(features, dtype=np.float32)).reshape(1, -1)
        self.name = name

    def log_density(self, y: torch.Tensor, neutral: torch.Tensor) -> torch.Tensor:
        x = self.features.to(self.model.device).expand(y.shape[0], -1)
        return self.model.log_density(x, y.to(torch.float32)).to(y.dtype)

    def starts(self, n: int, neutral: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        generator = torch.Generator().manual_seed(int(rng.integers(2 ** 31)))
        with torch.no_grad():
            x = self.features.to(self.model.device)
            draws = self.model.sample(x, max(n, 1), generator=generator)[0].double().cpu().numpy()
        return np.clip(draws[:n], -TANH_LIMIT, TANH_LIMIT)


def pinned_sliders(sliders: np.ndarray, spec: SliderSpec = PROCESS_2003, tolerance: float = PIN_TOLERANCE) -> list[str]:
    """Sliders [11] (Lightroom units) within `tolerance` of their range from an end, as 'Key=value (max|min)'.

    An end that is the slider's neutral value (Recovery, Fill Light, Blacks at 0) is where an unused
    slider rests, so it does not count.
    """
    out = []
    for s, v in zip(spec.sliders, np.asarray(sliders, dtype=np.float64)):
        span = tolerance * (s.high - s.low)
        for end, label in ((s.low, "min"), (s.high, "max")):
            if abs(v - end) <= span and end != s.neutral:
                out.append(f"{s.key}={v:.4g} ({label})")
    return out


# ----------------------------------------------------------------------------------------- fitting

def model_to_lightroom(y: torch.Tensor, spec: SliderSpec) -> torch.Tensor:
    """Model space [..., 11] -> Lightroom units [..., 11] in torch (differentiable; mired Temperature)."""
    cols = []
    for i, s in enumerate(spec.sliders):
        v = y[..., i]
        if s.mired:
            lo, hi = 1e6 / s.high, 1e6 / s.low
            cols.append(1e6 / (lo + (1.0 - v) * (hi - lo) / 2.0))
        else:
            cols.append(s.low + (v + 1.0) * (s.high - s.low) / 2.0)
    return torch.stack(cols, dim=-1)


def curve_knots_x(device: torch.device | str = "cpu") -> torch.Tensor:
    """x positions of the curve's points [K + 2] (0, interior knots, 255)."""
    return torch.linspace(0.0, 255.0, CURVE_KNOTS + 2, device=device)


def curve_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Monotone tone curve, flat [B, 2(K+2)] (x0, y0, ...) 0..255, from logits [B, K + 1] (zeros = linear)."""
    steps = torch.softmax(logits, dim=-1) * 255.0                       # [B, K+1], sums to 255
    ys = torch.cat([torch.zeros_like(steps[:, :1]), torch.cumsum(steps, dim=-1)], dim=-1)
    xs = curve_knots_x(logits.device).expand_as(ys)
    return torch.stack([xs, ys], dim=-1).reshape(ys.shape[0], -1)


def curve_lut(logits: torch.Tensor, size: int = 256) -> torch.Tensor:
    """Differentiable LUT [B, size] on [0, 1] of the curve of `logits` (linear between its points)."""
    ys = curve_from_logits(logits).reshape(logits.shape[0], -1, 2)[..., 1] / 255.0   # [B, K+2]
    segments = ys.shape[1] - 1
    pos = torch.linspace(0.0, 1.0, size, device=logits.device) * segments
    i0 = pos.floor().clamp(max=segments - 1).long()
    frac = (pos - i0.to(pos.dtype))[None]
    return ys[:, i0] + frac * (ys[:, i0 + 1] - ys[:, i0])


def starting_points(neutral_model: np.ndarray, restarts: int, prior: SliderPrior | None,
                    rng: np.random.Generator, spread: float = 0.5) -> np.ndarray:
    """Model-space starts [R, 11]: the prior's centre, the neutral sliders, then draws from the prior.

    Without a prior: the neutral sliders, then neutral + U(±spread) noise. Clipped to ±TANH_LIMIT.
    """
    neutral = np.clip(np.asarray(neutral_model, dtype=np.float64), -TANH_LIMIT, TANH_LIMIT)
    if prior is not None:
        drawn = prior.starts(restarts, neutral, rng)
        return np.vstack([drawn[:1], neutral[None], drawn[1:]])[:restarts]
    starts = np.repeat(neutral[None], restarts, axis=0)
    starts[1:] += rng.uniform(-spread, spread, size=(restarts - 1, starts.shape[1]))
    return np.clip(starts, -TANH_LIMIT, TANH_LIMIT)


def _coarse(before_b: torch.Tensor, after_b: torch.Tensor, side: int) -> tuple[torch.Tensor, torch.Tensor]:
    """BEFORE and AFTER [1,3,H,W] area-averaged (linear light) to at most `side` px long side (0: as they are)."""
    h, w = before_b.shape[-2:]
    scale = side / max(h, w) if side else 1.0
    if scale >= 1.0:
        return before_b, after_b
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    area = lambda t: torch.nn.functional.interpolate(t, size=size, mode="area")  # noqa: E731
    return area(before_b), area(after_b)


def refine_sides(long_side: int, config: FitConfig) -> list[int]:
    """Long sides (px, 0 = full size) the best restart is refined at, coarse to fine, for a fit at `long_side` px.

    `refine_side` and each doubling of it below full size, then full size; full size only when
    refine_side is 0 or not below it; none when refine_iterations is 0.
    """
    if config.refine_iterations <= 0:
        return []
    sides, side = [], config.refine_side
    while 0 < side < long_side:
        sides.append(side)
        side *= 2
    return sides + [0]


def fit_sliders(before: torch.Tensor, camera, after: torch.Tensor, neutral: np.ndarray,
                config: FitConfig = FitConfig(), spec: SliderSpec = PROCESS_2003,
                rng: np.random.Generator | None = None, prior: SliderPrior | None = None) -> FitResult:
    """Sliders that make render(before) match after, MAP under `prior` (None: `builtin_prior(spec)`).

    before: camera RGB [3, H, W] (linear, as rendering.raw.Photo.camera_rgb); camera: the photo's
    rendering.renderer.CameraMatrices (batch of one); after: linear ProPhoto [3, H, W] in [0, 1];
    neutral: the photo's neutral sliders [11] (Lightroom units, as-shot white balance). A prior
    weight of 0 in `config` fits by maximum likelihood from neutral-centred starts.
    """
    from rendering.colour import lab_error, linear_prophoto_to_lab
    from rendering.renderer import render_sliders
    from rendering.tone import tone_curve_lut

    t0 = time.perf_counter()
    rng = rng if rng is not None else np.random.default_rng(0)
    weight = float(config.prior_weight)
    prior = (prior or builtin_prior(spec)) if weight > 0 else None
    device = before.device
    before_b = before[None].float()
    after_b = after[None].float().to(device)
    before_c, after_c = _coarse(before_b, after_b, config.coarse_side)
    target_lab_c = linear_prophoto_to_lab(after_c)
    neutral_model = spec.to_model(np.asarray(neutral, dtype=np.float64))
    neutral_t = torch.tensor(neutral_model, dtype=torch.float32, device=device)

    def render(y: torch.Tensor, curve_logits: torch.Tensor | None, image: torch.Tensor = before_b) -> torch.Tensor:
        lut = curve_lut(curve_logits) if curve_logits is not None else None
        return render_sliders(image.expand(y.shape[0], -1, -1, -1), model_to_lightroom(y, spec), camera,
                              tone_curve=lut, spec=spec)

    def prior_cost(y: torch.Tensor) -> torch.Tensor:
        return -weight * prior.log_density(y, neutral_t) if prior is not None else torch.zeros_like(y[:, 0])

    with torch.no_grad():
        y0 = torch.tensor(np.clip(neutral_model, -1, 1)[None], dtype=torch.float32, device=device)
        start_error = float(lab_error(render(y0, None), after_b)[0])

    sliders_of = lambda theta: theta[:, :len(spec)]  # noqa: E731
    logits_of = lambda theta: theta[:, len(spec):] if config.tone_curve else None  # noqa: E731

    def data_lab(theta: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        """LAB renders [M,3,h,w] of parameter rows theta [M,P] (no gradient), FIT_BATCH at a time."""
        return torch.cat([linear_prophoto_to_lab(render(torch.tanh(sliders_of(part)), logits_of(part), image))
                          for part in theta.split(FIT_BATCH)])

    def prior_cost_of(theta: torch.Tensor) -> torch.Tensor:
        return prior_cost(torch.tanh(sliders_of(theta)))

    starts = starting_points(neutral_model, max(1, int(config.restarts)), prior, rng)
    theta = torch.tensor(np.arctanh(starts), dtype=torch.float32, device=device)
    if config.tone_curve:
        theta = torch.cat([theta, torch.zeros(len(theta), CURVE_KNOTS + 1, device=device)], dim=1)
    with torch.no_grad():
        theta, objective = levenberg_marquardt(theta, partial(data_lab, image=before_c), target_lab_c, prior_cost_of,
                                               config.coarse_iterations, config.tolerance, secant=False, eps=SMOOTH_EPS)
        restart_losses = [float(v) for v in objective]
        theta = theta[int(np.argmin(restart_losses))][None]
        for side in refine_sides(max(before_b.shape[-2:]), config):
            before_r, after_r = _coarse(before_b, after_b, side)
            theta, _ = levenberg_marquardt(theta, partial(data_lab, image=before_r), linear_prophoto_to_lab(after_r),
                                           prior_cost_of, config.refine_iterations, config.tolerance, eps=SMOOTH_EPS)
    u_best, logits_best = sliders_of(theta), logits_of(theta)
    with torch.no_grad():
        y_best = torch.tanh(u_best)
        sliders = model_to_lightroom(y_best, spec)
        curve = (curve_from_logits(logits_best)[0].double().cpu().numpy().round(3).tolist()
                 if logits_best is not None else None)
        # the reported error renders the exported curve points the way the renderer reads a catalog curve
        lut = (torch.from_numpy(tone_curve_lut(curve).astype(np.float32)).to(device)
               if curve is not None else None)
        image = render_sliders(before_b, sliders, camera, tone_curve=lut, spec=spec)
        delta_e = float(lab_error(image, after_b)[0])
        cost = float(prior_cost(y_best)[0])
        sliders = spec.clip(sliders[0].double().cpu().numpy())
    if not math.isfinite(delta_e):
        raise FloatingPointError("slider fit diverged (non-finite ΔE)")
    return FitResult(sliders=sliders, tone_curve=curve, delta_e=delta_e, delta_e_start=start_error,
                     restart_objective=restart_losses, seconds=time.perf_counter() - t0, spec=spec,
                     prior=prior.name if prior is not None else "none", prior_weight=weight if prior else 0.0,
                     prior_cost=cost, pinned=pinned_sliders(sliders, spec))
