"""The batched, differentiable slider renderer: camera RGB + Lightroom sliders -> linear ProPhoto.

One torch function (CPU or CUDA, differentiable in the sliders), in the DNG SDK's order
(dng_render.cpp, dng_render_task) with Camera Raw's sliders in their places:
  camera RGB --(Temperature, Tint: SDK white balance, rendering.white_balance; camera RGB clipped
  at the camera white)--> linear ProPhoto in [0, 1] -> the camera profile's HueSatMap
  (rendering.camera_profile, interpolated for the white like the matrices)
  -> exposure ramp: Exposure + BaselineExposure, Blacks ('Shadows' key) as the ramp's black
     (rendering.exposure)
  -> Recovery (over-range compression) -> Fill Light (2012: Shadows/Highlights) local gains from one
     edge-aware base (guided filter on encoded luminance) -> the camera profile's LookTable
  -> ONE hue-preserving tone curve (rendering.tone): the SDK exposure tone for negative totals,
     Brightness, Contrast and the catalog point curve (2012: Whites/Blacks levels, Contrast2012);
     a ProfileToneCurve takes the place of the default look's curve (the SDK's ACR3 default)
  -> Clarity (the toned luminance's detail against the same colour scaled to the base's luminance
     and toned: flat colour of any hue has none) -> Vibrance, Saturation (encoded domain)
  -> linear ProPhoto clamped to [0, 1] (encoding to files: rendering.image_io).
For speed the per-image quantities (matrices, tone curve, profile tables) are computed once per
batch, every local gain is a one-channel plane, the tone is one per-pixel line, Recovery, Fill Light
(Shadows/Highlights), Clarity and Vibrance/Saturation at zero in a whole batch are skipped when no
gradient is wanted (they are the identity there), intermediates are updated in place where autograd
allows, and on CPU the pixels go a few images at a time (`CHUNK_PIXELS`) so that the intermediates
stay in cache, written straight into the caller's array; `benchmarks/render.py` times each
`render.*` stage.

Neutral sliders (all zero, as-shot white) reproduce `plain_decode` exactly (for a DNG without a
ProfileToneCurve: plain_decode's curve is linear); Camera Raw 2003's
default look is Brightness 50, Contrast 25, Shadows 5 with the Medium Contrast point curve (see
rendering.tone for the calibration against the SDK).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from typing import NamedTuple

import numpy as np
import torch
from torch.profiler import record_function

from rendering import camera_profile, tone
from rendering.colour import luminance
from rendering.exposure import (
    exposure_ramp,
    recovery_gain,
    scene_linear,
    shadows_black,
)
from rendering.local import clarity_gain, guided_base, local_tone_gain
from rendering.raw import Photo
from rendering.sliders import PROCESS_2003, PROCESS_2012, SliderSpec
from rendering.white_balance import CameraMatrices

log = logging.getLogger(__name__)

CHUNK_PIXELS = 1 << 18   # CPU: pixels rendered at once (a few images), so intermediates stay in cache

__all__ = ["CameraMatrices", "OperatorAmounts", "operator_amounts", "render_sliders", "plain_decode",
           "PhotoRenderer", "tone_curve_luts"]


@dataclass
class OperatorAmounts:
    """Per-image amounts [B] of the renderer's operators (not Lightroom units)."""

    temperature: torch.Tensor   # K
    tint: torch.Tensor
    exposure_ev: torch.Tensor   # user EV (BaselineExposure is added by the ramp)
    shadows: torch.Tensor       # the SDK's Shadows (Blacks slider, 0..100): ramp black 0.001 x this
    recovery: torch.Tensor      # [0, 1]
    fill_ev: torch.Tensor       # local lift of dark regions, EV at a black base
    highlights_ev: torch.Tensor  # local gain of bright regions, EV at a white base
    black: torch.Tensor         # encoded black level of the tone curve (0 = none)
    white: torch.Tensor         # encoded white level of the tone curve (1 = none)
    brightness: torch.Tensor    # slider / 100, [0, 1.5]
    contrast: torch.Tensor      # slider / 100
    clarity: torch.Tensor       # [-1, 1]
    vibrance: torch.Tensor      # [-1, 1]
    saturation: torch.Tensor    # [-1, 1]

    def rows(self, start: int, stop: int) -> "OperatorAmounts":
        """The amounts of images start..stop-1."""
        return OperatorAmounts(*(getattr(self, f.name)[start:stop] for f in fields(self)))


def operator_amounts(sliders: torch.Tensor, spec: SliderSpec = PROCESS_2003) -> OperatorAmounts:
    """Lightroom-unit sliders [B,11] of a process version -> operator amounts.

    Camera Raw 2003 (FiveK): Exposure EV; Blacks ('Shadows' key) is the SDK ramp's Shadows;
    Recovery/100; Fill Light -> +2 EV local lift of the darkest regions at 100; Brightness,
    Contrast, Clarity, Vibrance, Saturation /100.
    Camera Raw 2012: Exposure2012 EV; Contrast2012/100; Highlights2012 -> local gain of bright
    regions (+-0.75 EV at +-100, negative recovers highlights); Shadows2012 -> local gain of dark
    regions (+-1.5 EV); Whites2012 -> encoded white level 1 - 0.2 W/100 (positive brightens and
    clips whites); Blacks2012 -> encoded black level -0.1 B/100 (positive lifts blacks); no ramp
    black, Brightness, Recovery or Fill Light (zero); Clarity, Vibrance, Saturation as in 2003.
    """
    s = lambda key: sliders[:, spec.index(key)]  # noqa: E731
    zero = torch.zeros_like(sliders[:, 0])
    common = dict(temperature=s("Temperature"), tint=s("Tint"),
                  vibrance=s("Vibrance") / 100.0, saturation=s("Saturation") / 100.0)
    if spec.process == PROCESS_2003.process:
        return OperatorAmounts(
            exposure_ev=s("Exposure"), shadows=s("Shadows"), recovery=s("HighlightRecovery") / 100.0,
            fill_ev=2.0 * s("FillLight") / 100.0, highlights_ev=zero, black=zero, white=zero + 1.0,
            brightness=s("Brightness") / 100.0, contrast=s("Contrast") / 100.0, clarity=s("Clarity") / 100.0,
            **common)
    if spec.process == PROCESS_2012.process:
        return OperatorAmounts(
            exposure_ev=s("Exposure2012"), shadows=zero, recovery=zero,
            fill_ev=1.5 * s("Shadows2012") / 100.0, highlights_ev=0.75 * s("Highlights2012") / 100.0,
            black=-0.1 * s("Blacks2012") / 100.0, white=1.0 - 0.2 * s("Whites2012") / 100.0,
            brightness=zero, contrast=s("Contrast2012") / 100.0, clarity=s("Clarity2012") / 100.0, **common)
    raise ValueError(f"no operator mapping for process {spec.process!r}")


def _broadcast_camera(camera: CameraMatrices, batch: int) -> CameraMatrices:
    if len(camera) == batch:
        return camera
    if len(camera) == 1:
        return camera.index([0] * batch)
    raise ValueError(f"camera matrices for {len(camera)} images, batch of {batch}")


@dataclass
class SceneParams:
    """Per-image quantities [B,...] of the scene-referred stages, computed once per batch."""

    camera_white: torch.Tensor  # [B,3] camera RGB of the rendering white (the clip level)
    matrix: torch.Tensor        # [B,3,3] camera RGB -> linear ProPhoto
    total_ev: torch.Tensor      # [B] Exposure + BaselineExposure
    black: torch.Tensor         # [B] the exposure ramp's linear black
    hue_sat_map: torch.Tensor | None   # [B,V,H,S,3] the profile's HueSatMap for the images' whites, or None
    look_table: torch.Tensor | None    # [B,V,H,S,3] the profile's LookTable, or None
    hue_sat_encoding: int = 0
    look_table_encoding: int = 0

    def rows(self, start: int, stop: int) -> "SceneParams":
        """The parameters of images start..stop-1 (views)."""
        return SceneParams(*(None if getattr(self, f.name) is None else getattr(self, f.name)[start:stop]
                             for f in fields(self)[:6]), self.hue_sat_encoding, self.look_table_encoding)


def _scene_params(camera: CameraMatrices, temperature: torch.Tensor, tint: torch.Tensor,
                  exposure_ev: torch.Tensor, shadows: torch.Tensor) -> SceneParams:
    """White balance (float64, cast to the amounts' dtype), exposure ramp parameters and profile tables of B images."""
    t, tint = temperature.to(torch.float64), tint.to(torch.float64)
    dtype = exposure_ev.dtype
    camera_white, matrix = camera.white_and_matrix(t, tint)
    return SceneParams(camera_white.to(dtype), matrix.to(dtype), exposure_ev + camera.baseline_exposure.to(dtype),
                       shadows_black(shadows, camera.shadow_scale.to(dtype)), camera.hue_sat_map(t),
                       camera.look_table, camera.hue_sat_encoding, camera.look_table_encoding)


def _scene(camera_rgb: torch.Tensor, scene: SceneParams) -> torch.Tensor:
    """Camera RGB [B,3,H,W] -> exposure-ramped linear ProPhoto [B,3,H,W] (rendered white 1, over-range kept)."""
    img = scene_linear(camera_rgb, scene.camera_white, scene.matrix)
    if scene.hue_sat_map is not None:  # the camera profile's HueSatMap, before the exposure ramp (SDK order)
        img = camera_profile.hue_sat_lookup(img, scene.hue_sat_map, scene.hue_sat_encoding)
    return exposure_ramp(img, scene.total_ev, scene.black)


def plain_decode(camera_rgb: torch.Tensor, camera: CameraMatrices, temperature: torch.Tensor,
                 tint: torch.Tensor) -> torch.Tensor:
    """Camera RGB [B,3,H,W] -> linear ProPhoto in [0,1] at a white balance, no edits.

    The SDK's render at Exposure 0 and Shadows 0 with a linear tone curve: camera-white clip, matrix,
    exposure ramp with BaselineExposure (its exposure tone when negative), pinned to [0, 1].
    """
    camera = _broadcast_camera(camera, camera_rgb.shape[0])
    zero = torch.zeros(camera_rgb.shape[0], dtype=camera_rgb.dtype, device=camera_rgb.device)
    scene = _scene_params(camera, temperature, tint, zero, zero)
    img = _scene(camera_rgb, scene)
    if scene.look_table is not None:  # the camera profile's LookTable, after the ramp (SDK order)
        img = camera_profile.hue_sat_lookup(img.clamp(0.0, 1.0), scene.look_table, scene.look_table_encoding)
    return tone.rgb_tone(img, tone.tone_lut(scene.total_ev, zero, zero, zero, zero + 1.0))


def render_sliders(camera_rgb: torch.Tensor, sliders: torch.Tensor, camera: CameraMatrices,
                   tone_curve: torch.Tensor | None = None, spec: SliderSpec = PROCESS_2003,
                   out: torch.Tensor | None = None) -> torch.Tensor:
    """Render sliders [B,11] (Lightroom units) on camera RGB [B,3,H,W] -> linear ProPhoto [B,3,H,W].

    camera: CameraMatrices for B images (or 1, broadcast). tone_curve: per-image point-curve LUTs
    [B,K] on encoded [0,1] from `tone_curve_luts` (or one [K] for all); None = linear.
    Output in [0, 1]; differentiable in `sliders` (and in the image). The per-image quantities are
    computed once; the pixels go through `_render_pixels` a few images at a time on CPU (see
    CHUNK_PIXELS), all at once on other devices. out: an optional [B,3,H,W] tensor of the image's
    dtype and device the render is written into (and returned), for renders without gradients.
    """
    batch = camera_rgb.shape[0]
    if sliders.shape != (batch, len(spec)):
        raise ValueError(f"sliders must be [{batch},{len(spec)}], got {tuple(sliders.shape)}")
    dtype = camera_rgb.dtype
    sliders = sliders.to(device=camera_rgb.device)
    amt = operator_amounts(sliders.to(dtype), spec)
    camera = _broadcast_camera(camera, batch)
    scene = _scene_params(camera, sliders[:, spec.index("Temperature")], sliders[:, spec.index("Tint")],
                          amt.exposure_ev, amt.shadows)
    point_curve = None
    if tone_curve is not None:
        point_curve = tone_curve.to(device=camera_rgb.device, dtype=dtype)
        point_curve = point_curve.expand(batch, -1) if point_curve.dim() == 1 else point_curve
    lut = tone.tone_lut(scene.total_ev, amt.brightness, amt.contrast, amt.black, amt.white, point_curve)
    if camera.tone_curve is not None:  # the camera profile's tone curve in place of the default ACR3 curve
        lut = camera.profile_tone(lut, spec.process)
    active = _Active(*(_active(getattr(amt, name)) for name in _Active._fields))
    step = _chunk_images(camera_rgb)
    if step >= batch and out is None:
        return _render_pixels(camera_rgb, scene, amt, lut, active)
    chunks = ((i, _render_pixels(camera_rgb[i:i + step], scene.rows(i, i + step), amt.rows(i, i + step),
                                 lut[i:i + step], active)) for i in range(0, batch, step))
    if out is None:
        return torch.cat([chunk for _, chunk in chunks])
    for i, chunk in chunks:
        out[i:i + step].copy_(chunk)
    return out


def _chunk_images(camera_rgb: torch.Tensor) -> int:
    """Images per pixel chunk: about CHUNK_PIXELS pixels on CPU (at least one image), the whole batch elsewhere."""
    if camera_rgb.device.type != "cpu":
        return camera_rgb.shape[0]
    return max(1, CHUNK_PIXELS // (camera_rgb.shape[-2] * camera_rgb.shape[-1]))


def _active(amount: torch.Tensor) -> bool:
    """Whether an operator with these amounts [B] must run: one is non-zero, or autograd wants their gradient."""
    return amount.requires_grad or bool(amount.any())


class _Active(NamedTuple):
    """Which optional operators a batch runs (`_active` of their amounts); the others are the identity."""

    recovery: bool
    fill_ev: bool
    highlights_ev: bool
    clarity: bool
    vibrance: bool
    saturation: bool


def _render_pixels(camera_rgb: torch.Tensor, scene: SceneParams, amt: OperatorAmounts,
                   lut: torch.Tensor, active: _Active) -> torch.Tensor:
    """The per-pixel stages of `render_sliders` on camera RGB [B,3,H,W] -> linear ProPhoto [B,3,H,W] in [0, 1].

    Every gain is a [B,1,H,W] plane applied to all three channels, and the hue-preserving tone is
    the per-pixel line t_lo + slope (x - lo) (rendering.tone.rgb_tone), so the three-channel image
    is touched only by the scene stages, the tone and the colour stage. Operators that `active`
    marks off are skipped (they are the identity); intermediates are updated in place where
    autograd allows.
    """
    with record_function("render.scene"):
        img = _scene(camera_rgb, scene)
    with record_function("render.local"):
        peak = img.amax(dim=1, keepdim=True)
        gain = recovery_gain(peak, amt.recovery) if active.recovery else None
        lum = base = None
        if active.clarity or active.fill_ev or active.highlights_ev:
            # One edge-aware base of encoded luminance drives Fill Light and (through the curve) Clarity.
            lum = luminance(img) if gain is None else luminance(img).mul_(gain)
            base = guided_base(tone.encode(lum.clamp(0.0, 1.5)))
            if active.fill_ev or active.highlights_ev:
                local = local_tone_gain(base, amt.fill_ev, amt.highlights_ev)
                gain = local if gain is None else gain * local
        x = img.clamp(0.0, 1.0) if gain is None else (img * gain).clamp_(0.0, 1.0)
        if scene.look_table is not None:  # the camera profile's LookTable, after the ramp (SDK order)
            x = camera_profile.hue_sat_lookup(x, scene.look_table, scene.look_table_encoding)
            hi = x.amax(dim=1, keepdim=True)
        else:  # a gain >= 0 keeps the largest channel: max of the clipped x = the clipped gained peak
            hi = peak.clamp(0.0, 1.0) if gain is None else (peak * gain).clamp_(0.0, 1.0)
        lo = x.amin(dim=1, keepdim=True)
    with record_function("render.tone"):
        ends = torch.cat([hi, lo], dim=1)
        toned_ends = tone.apply_tone(lut, ends)
        t_hi, t_lo = toned_ends.split(1, dim=1)
        span = (hi - lo).clamp_(min=1e-12)
        slope = (t_hi - t_lo).div_(span)
    with record_function("render.clarity"):
        if active.clarity:
            gain = _clarity_gain(x, ends, toned_ends, span, lum, base, lut, amt.clarity)
            slope, t_lo = slope * gain, t_lo * gain
    with record_function("render.colour"):
        toned = torch.addcmul(torch.addcmul(t_lo, slope, lo, value=-1.0), x, slope).clamp_(0.0, 1.0)
        if not (active.vibrance or active.saturation):
            return toned
        enc = tone.vibrance_saturation(tone.encode(toned), amt.vibrance, amt.saturation)
        return tone.decode(enc.clamp_(0.0, 1.0))


def _clarity_gain(x: torch.Tensor, ends: torch.Tensor, toned_ends: torch.Tensor, span: torch.Tensor,
                  lum: torch.Tensor, base: torch.Tensor, lut: torch.Tensor, amount: torch.Tensor) -> torch.Tensor:
    """Clarity's gain [B,1,H,W] on the toned image: its encoded luminance against the same colour at the base's.

    x [B,3,H,W]: the pixels going into the tone curve; ends [B,2,H,W]: their largest and smallest
    channel (hi, lo), toned_ends their toned values, span = hi - lo (at least 1e-12); lum, base
    [B,1,H,W]: the luminance and the encoded edge-aware base the local stage saw. The hue-preserving
    tone keeps where the luminance sits between a pixel's smallest and largest channel, so both
    luminances come from the toned channel ends: the pixel's, and those of the pixel scaled to the
    base's luminance. A flat patch (base = its luminance) of any colour has no detail, so Clarity
    leaves it alone.
    """
    share = (luminance(x) - ends[:, 1:]).div_(span).clamp_(0.0, 1.0)
    scale = tone.decode(base).div_(lum.clamp(1e-6, 1.5))
    # channels: toned hi, toned lo, base hi, base lo -> the toned luminances of the pixel and of its base
    toned = torch.cat([toned_ends, tone.apply_tone(lut, ends * scale)], dim=1)
    lum_enc = tone.encode(torch.addcmul(toned[:, 1::2], toned[:, 0::2] - toned[:, 1::2], share))
    return clarity_gain(lum_enc[:, :1], lum_enc[:, 1:], amount)


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
                batch = image.expand(b, -1, -1, -1)
                if self.device.type == "cpu":   # straight into the result
                    render_sliders(batch, s, camera, lut, spec, out=torch.from_numpy(out[start:stop]))
                else:
                    out[start:stop] = render_sliders(batch, s, camera, lut, spec).cpu().numpy()
        log.debug("rendered %d variants of %s at %dx%d on %s", n, photo.source, w, h, self.device)
        return out
