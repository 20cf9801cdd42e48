"""The batched, differentiable slider renderer: camera RGB + Lightroom sliders -> linear ProPhoto.

Order of operations (one torch function, CPU or CUDA, differentiable in the sliders):
  camera RGB --(Temperature, Tint: DNG SDK white balance, rendering.white_balance)--> linear ProPhoto
  -> Exposure -> HighlightRecovery -> local tone gains (Fill Light / 2012 Shadows, Highlights) and
  Clarity from one edge-aware base (guided filter on encoded luminance)
  -> encode (ProPhoto primaries, sRGB tone response) -> black/white point -> Brightness -> Contrast
  -> Vibrance, Saturation -> point ToneCurve -> decode -> linear ProPhoto clamped to [0, 1].

Camera Raw 2003 sliders (FiveK) and 2012 sliders run on the same operators; see `operator_amounts`
for the mapping. Neutral sliders at the as-shot white reproduce `plain_decode` exactly.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

from rendering import tone
from rendering.colour import apply_matrix
from rendering.raw import Photo
from rendering.sliders import PROCESS_2003, PROCESS_2012, SliderSpec
from rendering.white_balance import CameraMatrices

log = logging.getLogger(__name__)

__all__ = ["CameraMatrices", "OperatorAmounts", "operator_amounts", "render_sliders", "plain_decode",
           "PhotoRenderer", "tone_curve_luts"]


@dataclass
class OperatorAmounts:
    """Per-image amounts [B] of the renderer's operators (not Lightroom units)."""

    temperature: torch.Tensor   # K
    tint: torch.Tensor
    exposure_ev: torch.Tensor
    recovery: torch.Tensor      # >= 0
    shadows_ev: torch.Tensor    # local lift of dark regions, EV at a black base
    highlights_ev: torch.Tensor  # local gain of bright regions, EV at a white base
    black: torch.Tensor         # encoded black point
    white: torch.Tensor         # encoded white point
    brightness: torch.Tensor    # >= 0
    contrast: torch.Tensor      # [-1, 1]
    clarity: torch.Tensor       # [-1, 1]
    vibrance: torch.Tensor      # [-1, 1]
    saturation: torch.Tensor    # [-1, 1]


def operator_amounts(sliders: torch.Tensor, spec: SliderSpec = PROCESS_2003) -> OperatorAmounts:
    """Lightroom-unit sliders [B,11] of a process version -> operator amounts.

    Camera Raw 2003 (FiveK): Exposure EV; Recovery/100; Fill Light -> +2 EV local lift of the
    darkest regions at 100; Blacks ('Shadows' key) -> encoded black point 0.2 at 100 (5, Lightroom's
    default, clips about 1 % of the encoded range); Brightness/100 (midtone curve); Contrast/100;
    Clarity, Vibrance, Saturation /100.
    Camera Raw 2012: Exposure2012 EV; Contrast2012/100; Highlights2012 -> local gain of bright
    regions (+-0.75 EV at +-100, negative recovers highlights); Shadows2012 -> local gain of dark
    regions (+-1.5 EV); Whites2012 -> encoded white point 1 - 0.2 W/100 (positive brightens and
    clips whites); Blacks2012 -> encoded black point -0.1 B/100 (positive lifts blacks); no
    Brightness, Recovery or Fill Light (zero); Clarity, Vibrance, Saturation as in 2003.
    """
    s = lambda key: sliders[:, spec.index(key)]  # noqa: E731
    zero = torch.zeros_like(sliders[:, 0])
    common = dict(temperature=s("Temperature"), tint=s("Tint"), clarity=None,
                  vibrance=s("Vibrance") / 100.0, saturation=s("Saturation") / 100.0)
    if spec.process == PROCESS_2003.process:
        common["clarity"] = s("Clarity") / 100.0
        return OperatorAmounts(
            exposure_ev=s("Exposure"), recovery=s("HighlightRecovery") / 100.0,
            shadows_ev=2.0 * s("FillLight") / 100.0, highlights_ev=zero,
            black=0.2 * s("Shadows") / 100.0, white=zero + 1.0,
            brightness=s("Brightness") / 100.0, contrast=s("Contrast") / 100.0, **common)
    if spec.process == PROCESS_2012.process:
        common["clarity"] = s("Clarity2012") / 100.0
        return OperatorAmounts(
            exposure_ev=s("Exposure2012"), recovery=zero,
            shadows_ev=1.5 * s("Shadows2012") / 100.0, highlights_ev=0.75 * s("Highlights2012") / 100.0,
            black=-0.1 * s("Blacks2012") / 100.0, white=1.0 - 0.2 * s("Whites2012") / 100.0,
            brightness=zero, contrast=s("Contrast2012") / 100.0, **common)
    raise ValueError(f"no operator mapping for process {spec.process!r}")


def _broadcast_camera(camera: CameraMatrices, batch: int) -> CameraMatrices:
    if len(camera) == batch:
        return camera
    if len(camera) == 1:
        return camera.index([0] * batch)
    raise ValueError(f"camera matrices for {len(camera)} images, batch of {batch}")


def white_balance_matrices(camera: CameraMatrices, temperature: torch.Tensor, tint: torch.Tensor,
                           dtype: torch.dtype) -> torch.Tensor:
    """Camera -> linear ProPhoto matrices [B,3,3] (computed in float64, cast to `dtype`)."""
    m = camera.camera_to_prophoto(temperature.to(torch.float64), tint.to(torch.float64))
    return m.to(dtype)


def plain_decode(camera_rgb: torch.Tensor, camera: CameraMatrices, temperature: torch.Tensor,
                 tint: torch.Tensor) -> torch.Tensor:
    """Camera RGB [B,3,H,W] -> linear ProPhoto in [0,1] at a white balance, no other edits."""
    camera = _broadcast_camera(camera, camera_rgb.shape[0])
    m = white_balance_matrices(camera, temperature, tint, camera_rgb.dtype)
    return apply_matrix(camera_rgb, m).clamp(0.0, 1.0)


def render_sliders(camera_rgb: torch.Tensor, sliders: torch.Tensor, camera: CameraMatrices,
                   tone_curve: torch.Tensor | None = None, spec: SliderSpec = PROCESS_2003) -> torch.Tensor:
    """Render sliders [B,11] (Lightroom units) on camera RGB [B,3,H,W] -> linear ProPhoto [B,3,H,W].

    camera: CameraMatrices for B images (or 1, broadcast). tone_curve: per-image LUTs [B,K] on
    [0,1] from `tone_curve_luts` (or one [K] for all), applied in the encoded domain; None = linear.
    Output in [0, 1]; differentiable in `sliders` (and in the image).
    """
    batch = camera_rgb.shape[0]
    if sliders.shape != (batch, len(spec)):
        raise ValueError(f"sliders must be [{batch},{len(spec)}], got {tuple(sliders.shape)}")
    dtype = camera_rgb.dtype
    sliders = sliders.to(device=camera_rgb.device)
    amt = operator_amounts(sliders.to(dtype), spec)
    camera = _broadcast_camera(camera, batch)
    m = white_balance_matrices(camera, sliders[:, spec.index("Temperature")],
                               sliders[:, spec.index("Tint")], dtype)
    img = apply_matrix(camera_rgb, m)
    img = tone.exposure(img, amt.exposure_ev)
    img = tone.highlight_recovery(img, amt.recovery)
    # One edge-aware base of encoded luminance drives the local operators.
    lum_enc = tone.encode(tone.luminance(img).clamp(min=0.0))
    base = tone.guided_base(lum_enc.clamp(max=1.5))
    gain = tone.local_tone_gain(base, amt.shadows_ev, amt.highlights_ev)
    gain = gain * tone.clarity_gain(lum_enc, base, amt.clarity)
    img = img * gain
    enc = tone.encode(img.clamp(min=0.0))
    enc = tone.levels(enc, amt.black, amt.white).clamp(0.0, 1.0)
    enc = tone.brightness(enc, amt.brightness)
    enc = tone.contrast(enc, amt.contrast)
    enc = tone.vibrance_saturation(enc, amt.vibrance, amt.saturation).clamp(0.0, 1.0)
    if tone_curve is not None:
        lut = tone_curve.to(device=enc.device, dtype=dtype)
        if lut.dim() == 1:
            lut = lut.expand(batch, -1)
        enc = tone.apply_tone_curve(enc, lut)
    return tone.decode(enc).clamp(0.0, 1.0)


def tone_curve_luts(tone_curves: list | None, count: int) -> np.ndarray | None:
    """Catalog ToneCurve lists (flat 0..255 pairs, or None) -> LUTs [count, K]; None if all linear."""
    if tone_curves is None or all(c is None for c in tone_curves):
        return None
    if len(tone_curves) != count:
        raise ValueError(f"{len(tone_curves)} tone curves for {count} slider sets")
    return np.stack([tone.tone_curve_lut(c) for c in tone_curves]).astype(np.float32)


class PhotoRenderer:
    """Renders many slider sets on one decoded photo, batched on a torch device (CPU or CUDA)."""

    def __init__(self, device: str | torch.device = "cpu"):
        self.device = torch.device(device)

    def render(self, photo: Photo, sliders: np.ndarray, tone_curves: list | None = None,
               spec: SliderSpec = PROCESS_2003, batch_size: int = 16) -> np.ndarray:
        """Sliders [N,11] Lightroom units (+ optional catalog ToneCurves) -> float32 [N,3,H,W] linear ProPhoto.

        Validates the sliders first (SliderError names the slider). The photo is moved to the
        device once; the N variants are rendered in batches of `batch_size`.
        """
        sliders = np.atleast_2d(np.asarray(sliders, dtype=np.float64))
        spec.validate(sliders)
        n = sliders.shape[0]
        luts = tone_curve_luts(tone_curves, n)
        image = torch.from_numpy(np.ascontiguousarray(photo.camera_rgb, dtype=np.float32))
        image = image.to(self.device)[None]
        camera = CameraMatrices.from_profiles([photo.profile], self.device)
        h, w = image.shape[-2:]
        out = np.empty((n, 3, h, w), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, n, batch_size):
                stop = min(n, start + batch_size)
                b = stop - start
                s = torch.as_tensor(sliders[start:stop], dtype=torch.float32, device=self.device)
                lut = None if luts is None else torch.from_numpy(luts[start:stop]).to(self.device)
                rendered = render_sliders(image.expand(b, -1, -1, -1), s, camera, lut, spec)
                out[start:stop] = rendered.cpu().numpy()
        log.debug("rendered %d variants of %s at %dx%d on %s", n, photo.source, w, h, self.device)
        return out
