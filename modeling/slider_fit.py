"""Recover Lightroom sliders from a before/after pair with the differentiable renderer.

Find sliders y (and optionally a point tone curve) such that render(BEFORE, y) matches AFTER in
CIE-LAB (D50): minimise the mean per-pixel smoothed ΔE76, sqrt(|ΔLab|² + eps), over the 11 sliders
parameterised in model space as y = tanh(u) (so every iterate is in range). R restarts (restart 0
at the neutral sliders with the as-shot white balance, the others at neutral + uniform noise of
±`restart_spread` model units from the caller's generator) are optimised together as one batch
with Adam on a copy downsampled to `coarse_side` px (sliders are global, so the coarse optimum is
close to the full-size one); the best is refined with L-BFGS at full size. The reported error is the plain mean ΔE76 of the final
render (the same `rendering.colour.lab_error` the evaluation uses).

Optional tone curve: `CURVE_KNOTS` interior knots at fixed x (0..255) whose y are the cumulative
softmax of free logits (monotone, from (0, 0) to (255, 255)); it is passed to the renderer in the
catalog's flat (x0, y0, x1, y1, ...) format.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from rendering.sliders import PROCESS_2003, SliderSpec

log = logging.getLogger(__name__)

SMOOTH_EPS = 1e-3        # ΔE² offset of the smoothed loss (ΔE units²)
CURVE_KNOTS = 7          # interior tone-curve knots at x = 32, 64, ..., 224
TANH_LIMIT = 0.999       # model-space starting points are clipped to ±this before atanh


@dataclass(frozen=True)
class FitConfig:
    """Optimiser settings: restarts, Adam steps / learning rate, L-BFGS iterations, tone curve on/off."""

    restarts: int = 4
    adam_steps: int = 150
    adam_lr: float = 0.05
    lbfgs_iterations: int = 100
    restart_spread: float = 0.5
    tone_curve: bool = False
    tolerance: float = 1e-6   # stop Adam when the best loss improves less than this over 20 steps
    coarse_side: int = 128    # restarts (Adam) run at this long side; L-BFGS refines at full size (0: off)


@dataclass(frozen=True)
class FitResult:
    """Fitted sliders [11] (Lightroom units), tone curve (flat 0..255 list or None), errors, timing."""

    sliders: np.ndarray
    tone_curve: list[float] | None
    delta_e: float             # mean ΔE76 of the final render vs AFTER
    delta_e_start: float       # mean ΔE76 at the neutral sliders (the plain decode)
    restart_delta_e: list[float]   # smoothed ΔE of each restart after Adam (on the coarse copy)
    seconds: float
    spec: SliderSpec = PROCESS_2003

    def to_mapping(self) -> dict[str, float]:
        """{catalog key: fitted value}."""
        return self.spec.to_mapping(self.sliders)


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


def smoothed_delta_e(render_lab: torch.Tensor, target_lab: torch.Tensor) -> torch.Tensor:
    """Mean smoothed ΔE76 per batch item [B] of LAB images [B, 3, H, W] (differentiable at 0)."""
    d2 = ((render_lab - target_lab) ** 2).sum(dim=1)
    return torch.sqrt(d2 + SMOOTH_EPS).mean(dim=(1, 2))


def starting_points(neutral_model: np.ndarray, restarts: int, spread: float,
                    rng: np.random.Generator) -> np.ndarray:
    """Model-space starts [R, 11]: the neutral sliders, then neutral + U(±spread) noise (clipped)."""
    starts = np.repeat(np.asarray(neutral_model, dtype=np.float64)[None], restarts, axis=0)
    if restarts > 1:
        starts[1:] += rng.uniform(-spread, spread, size=(restarts - 1, starts.shape[1]))
    return np.clip(starts, -TANH_LIMIT, TANH_LIMIT)


def fit_sliders(before: torch.Tensor, camera, after: torch.Tensor, neutral: np.ndarray,
                config: FitConfig = FitConfig(), spec: SliderSpec = PROCESS_2003,
                rng: np.random.Generator | None = None) -> FitResult:
    """Sliders that make render(before) match after.

    before: camera RGB [3, H, W] (linear, as rendering.raw.Photo.camera_rgb); camera: the photo's
    rendering.renderer.CameraMatrices (batch of one); after: linear ProPhoto [3, H, W] in [0, 1];
    neutral: the photo's neutral sliders [11] (Lightroom units, as-shot white balance).
    """
    from rendering.colour import lab_error, linear_prophoto_to_lab
    from rendering.renderer import render_sliders
    from rendering.tone import tone_curve_lut

    t0 = time.perf_counter()
    rng = rng if rng is not None else np.random.default_rng(0)
    device = before.device
    R = max(1, int(config.restarts))
    before_b = before[None].float()
    after_b = after[None].float().to(device)
    target_lab = linear_prophoto_to_lab(after_b)
    # the restarts run on a copy of at most `coarse_side` px long side (area-averaged: linear light)
    h, w = before_b.shape[-2:]
    scale = config.coarse_side / max(h, w) if config.coarse_side else 1.0
    if scale < 1.0:
        size = (max(1, round(h * scale)), max(1, round(w * scale)))
        before_c = torch.nn.functional.interpolate(before_b, size=size, mode="area")
        target_lab_c = linear_prophoto_to_lab(torch.nn.functional.interpolate(after_b, size=size, mode="area"))
    else:
        before_c, target_lab_c = before_b, target_lab

    def render(y: torch.Tensor, curve_logits: torch.Tensor | None, image: torch.Tensor = before_b) -> torch.Tensor:
        sliders = model_to_lightroom(y, spec)
        lut = curve_lut(curve_logits) if curve_logits is not None else None
        return render_sliders(image.expand(y.shape[0], -1, -1, -1), sliders, camera, tone_curve=lut, spec=spec)

    neutral_model = spec.to_model(np.asarray(neutral, dtype=np.float64))
    with torch.no_grad():
        y0 = torch.tensor(np.clip(neutral_model, -1, 1)[None], dtype=torch.float32, device=device)
        start_error = float(lab_error(render(y0, None), after_b)[0])

    starts = starting_points(neutral_model, R, config.restart_spread, rng)
    u = torch.tensor(np.arctanh(starts), dtype=torch.float32, device=device, requires_grad=True)
    params = [u]
    logits = None
    if config.tone_curve:
        logits = torch.zeros(R, CURVE_KNOTS + 1, device=device, requires_grad=True)
        params.append(logits)
    optimiser = torch.optim.Adam(params, lr=config.adam_lr)
    best_history: list[float] = []
    for step in range(config.adam_steps):
        optimiser.zero_grad()
        losses = smoothed_delta_e(linear_prophoto_to_lab(render(torch.tanh(u), logits, before_c)), target_lab_c)
        losses.sum().backward()
        optimiser.step()
        best_history.append(float(losses.detach().min()))
        if step >= 20 and best_history[-21] - best_history[-1] < config.tolerance:
            break
    with torch.no_grad():
        final = smoothed_delta_e(linear_prophoto_to_lab(render(torch.tanh(u), logits, before_c)), target_lab_c)
    restart_losses = [float(v) for v in final]
    best = int(np.argmin(restart_losses))

    u_best = u.detach()[best:best + 1].clone().requires_grad_(True)
    params = [u_best]
    logits_best = None
    if logits is not None:
        logits_best = logits.detach()[best:best + 1].clone().requires_grad_(True)
        params.append(logits_best)
    if config.lbfgs_iterations > 0:
        lbfgs = torch.optim.LBFGS(params, lr=1.0, max_iter=config.lbfgs_iterations,
                                  line_search_fn="strong_wolfe", tolerance_grad=1e-7, tolerance_change=1e-9)

        def closure():
            lbfgs.zero_grad()
            loss = smoothed_delta_e(linear_prophoto_to_lab(render(torch.tanh(u_best), logits_best)),
                                    target_lab)[0]
            loss.backward()
            return loss

        lbfgs.step(closure)
    with torch.no_grad():
        y_best = torch.tanh(u_best)
        sliders = model_to_lightroom(y_best, spec)
        curve = (curve_from_logits(logits_best)[0].double().cpu().numpy().round(3).tolist()
                 if logits_best is not None else None)
        # the reported error renders the exported curve points the way the renderer reads a catalog curve
        lut = (torch.from_numpy(tone_curve_lut(curve).astype(np.float32)).to(device)
               if curve is not None else None)
        image = render_sliders(before_b, sliders, camera, tone_curve=lut, spec=spec)
        delta_e = float(lab_error(image, after[None].float().to(device))[0])
        sliders = sliders[0].double().cpu().numpy()
    if not math.isfinite(delta_e):
        raise FloatingPointError("slider fit diverged (non-finite ΔE)")
    return FitResult(sliders=spec.clip(sliders), tone_curve=curve, delta_e=delta_e,
                     delta_e_start=start_error, restart_delta_e=restart_losses,
                     seconds=time.perf_counter() - t0, spec=spec)
