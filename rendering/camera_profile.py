"""The DNG camera profile's colour tables and tone curve as the DNG SDK applies them, in torch.

Read from the DNG SDK 1.6 source (dng_reference.cpp RefBaselineHueSatMap, dng_utils.h
DNG_RGBtoHSV / DNG_HSVtoRGB, dng_hue_sat_map.cpp, dng_camera_profile.cpp, dng_spline.cpp,
dng_render.cpp; our own code):
- A hue/saturation/value table [V, H, S, 3] holds, per (value, hue, saturation) grid node, a hue
  shift in degrees, a saturation scale and a value scale (ProfileHueSatMapData1/2 and
  ProfileLookTableData, stored value-major, then hue, then saturation). A pixel's HSV (hue in
  [0, 6), the hexcone of its linear RGB) is looked up with linear interpolation in hue (wrapping
  round), saturation and, for tables with two or more value divisions, value (sRGB-encoded first
  when the table's encoding is 1); then hue += shift, saturation = min(s x scale, 1), value =
  pin(v x scale, 0, 1) (decoded again for encoded tables) and back to RGB.
  Tables with one value division skip the value encoding but the SDK still decodes the result
  when the encoding is sRGB; we do as it does.
- The profile's HueSatMap is applied to linear ProPhoto before the exposure ramp, its two tables
  interpolated for the white balance with the colour matrices' weight (linear in 1/CCT); the
  LookTable after the ramp.
- ProfileToneCurve: points (x, y) on linear [0, 1], a C2 cubic spline with zero second derivative
  at both ends (a natural spline), flat beyond the end points. It takes the place of the SDK's
  default ACR3 curve.
Images are [B,3,H,W]; everything is batched and differentiable in the pixel values.
"""
from __future__ import annotations

import functools

import numpy as np
import torch

from rendering import tone
from rendering.sliders import DEFAULT_LOOK_2003, PROCESS_2003

HUE_SECTORS = 6.0       # hexcone hue range [0, 6)
ENCODING_LINEAR, ENCODING_SRGB = 0, 1


def rgb_to_hsv(rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Linear RGB [B,3,H,W] -> hue [B,H,W] in [0, 6), saturation and value [B,H,W] (SDK DNG_RGBtoHSV).

    Greys (max == min) get hue 0 and saturation 0; ties in the largest channel go to red, then green.
    """
    r, g, b = rgb.unbind(dim=1)
    v = torch.maximum(r, torch.maximum(g, b))
    gap = v - torch.minimum(r, torch.minimum(g, b))
    safe = torch.where(gap > 0, gap, torch.ones_like(gap))
    h_red = (g - b) / safe
    h_red = torch.where(h_red < 0, h_red + HUE_SECTORS, h_red)
    h = torch.where(r == v, h_red, torch.where(g == v, 2.0 + (b - r) / safe, 4.0 + (r - g) / safe))
    s = gap / torch.where(v > 0, v, torch.ones_like(v))
    grey = gap <= 0
    return torch.where(grey, torch.zeros_like(h), h), torch.where(grey, torch.zeros_like(s), s), v


def hsv_to_rgb(h: torch.Tensor, s: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Hue [B,H,W] (any real, wrapped to [0, 6)), saturation, value -> RGB [B,3,H,W] (SDK DNG_HSVtoRGB)."""
    h = torch.remainder(h, HUE_SECTORS)
    sector = h.detach().floor().clamp(0, 5)
    f = h - sector
    p = v * (1.0 - s)
    q = v * (1.0 - s * f)
    t = v * (1.0 - s * (1.0 - f))
    i = sector.long()
    # Per sector (0..5): r, g, b take these of (v, q, p, t).
    choices = torch.stack([v, q, p, t], dim=-1)
    table = torch.tensor([[0, 3, 2], [1, 0, 2], [2, 0, 3], [2, 1, 0], [3, 2, 0], [0, 2, 1]], device=h.device)
    idx = table[i]  # [B,H,W,3]
    return torch.gather(choices, -1, idx).movedim(-1, 1)


def _corner_weights(pos: torch.Tensor, count: int, wrap: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Grid position [N] -> (lower index, upper index, upper weight) with the SDK's index limits."""
    if count < 2 and not wrap:
        zero = torch.zeros_like(pos, dtype=torch.long)
        return zero, zero, torch.zeros_like(pos)
    if wrap:
        lo = pos.detach().floor().clamp(0, count - 1)
        hi = torch.where(lo >= count - 1, torch.zeros_like(lo), lo + 1)
    else:
        lo = pos.detach().floor().clamp(0, count - 2)
        hi = lo + 1
    return lo.long(), hi.long(), pos - lo


def hue_sat_lookup(rgb: torch.Tensor, table: torch.Tensor, encoding: int = ENCODING_LINEAR) -> torch.Tensor:
    """Tables [B,V,H,S,3] (hue degrees, sat scale, value scale) applied to linear RGB [B,3,H,W] (RefBaselineHueSatMap).

    Values are pinned to [0, 1] by the value scaling (as the SDK does); hue wraps round.
    """
    batch, vals, hues, sats, _ = table.shape
    h, s, v = rgb_to_hsv(rgb)
    shape = h.shape
    h, s, v = h.reshape(batch, -1), s.reshape(batch, -1), v.reshape(batch, -1)
    three_d = vals >= 2
    v_enc = tone.encode(v.clamp(0.0, 1.0)) if three_d and encoding == ENCODING_SRGB else v
    h_lo, h_hi, h_f = _corner_weights(h * (hues / HUE_SECTORS) if hues >= 2 else torch.zeros_like(h), hues, True)
    s_lo, s_hi, s_f = _corner_weights(s * (sats - 1), sats, False)
    flat = table.reshape(batch, -1, 3).to(rgb.dtype)

    def corner(vi: torch.Tensor, hi: torch.Tensor, si: torch.Tensor) -> torch.Tensor:
        idx = (vi * hues + hi) * sats + si
        return torch.gather(flat, 1, idx[..., None].expand(-1, -1, 3))

    def plane(vi: torch.Tensor) -> torch.Tensor:
        hf, sf = h_f[..., None], s_f[..., None]
        low_s = corner(vi, h_lo, s_lo) * (1.0 - hf) + corner(vi, h_hi, s_lo) * hf
        high_s = corner(vi, h_lo, s_hi) * (1.0 - hf) + corner(vi, h_hi, s_hi) * hf
        return low_s * (1.0 - sf) + high_s * sf

    if three_d:
        v_lo, v_hi, v_f = _corner_weights(v_enc * (vals - 1), vals, False)
        mod = plane(v_lo) * (1.0 - v_f[..., None]) + plane(v_hi) * v_f[..., None]
    else:
        mod = plane(torch.zeros_like(h_lo))
    hue_shift, sat_scale, val_scale = mod.unbind(dim=-1)
    h = h + hue_shift * (HUE_SECTORS / 360.0)
    s = torch.clamp(s * sat_scale, max=1.0)
    v_enc = (v_enc * val_scale).clamp(0.0, 1.0)
    v = tone.decode(v_enc) if encoding == ENCODING_SRGB else v_enc
    return hsv_to_rgb(h.reshape(shape), s.reshape(shape), v.reshape(shape))


def interpolate_tables(table1: torch.Tensor, table2: torch.Tensor, weight1: torch.Tensor) -> torch.Tensor:
    """Tables [B,V,H,S,3] of two calibrations mixed with weight [B] of the first (SDK dng_hue_sat_map::Interpolate)."""
    w = weight1.to(table1.dtype).view(-1, 1, 1, 1, 1)
    return w * table1 + (1.0 - w) * table2


def read_hue_sat_table(values: np.ndarray, dims: tuple[int, int, int]) -> np.ndarray | None:
    """Flat tag values -> table [V,H,S,3] float32 (SDK ReadHueSatMap); None when the count does not fit `dims`.

    The data may leave out the saturation-0 column (count H x (S-1) x V x 3): it then copies the
    hue shift and saturation scale of saturation 1 with value scale 1, as does a stored
    saturation-0 value scale other than 1 (the SDK's rule for greys).
    """
    hues, sats, vals = (int(d) for d in dims)
    vals = max(vals, 1)
    values = np.asarray(values, dtype=np.float32).ravel()
    if hues < 1 or sats < 2:
        return None
    if values.size == hues * sats * vals * 3:
        table = values.reshape(vals, hues, sats, 3).copy()
    elif values.size == hues * (sats - 1) * vals * 3:
        table = np.zeros((vals, hues, sats, 3), dtype=np.float32)
        table[:, :, 1:] = values.reshape(vals, hues, sats - 1, 3)
    else:
        return None
    bad_grey = table[:, :, 0, 2] != 1.0
    table[:, :, 0, :2] = np.where(bad_grey[..., None], table[:, :, 1, :2], table[:, :, 0, :2])
    table[:, :, 0, 2] = 1.0
    return table


def valid_tone_curve(points: np.ndarray) -> bool:
    """A ProfileToneCurve [N,2] the SDK uses: at least two points in [0,1]^2 with strictly increasing x."""
    points = np.asarray(points, dtype=np.float64)
    return (points.ndim == 2 and points.shape[1] == 2 and len(points) >= 2
            and bool(np.all((points >= 0.0) & (points <= 1.0))) and bool(np.all(np.diff(points[:, 0]) > 0)))


def spline_tone_lut(points: np.ndarray, size: int = tone.TONE_LUT_SIZE) -> np.ndarray:
    """ProfileToneCurve points [N,2] -> LUT [size] of linear out at linear in x = u^2, u uniform (like tone.tone_lut).

    The SDK's dng_spline_solver: the natural cubic spline through the points, clamped to the end
    values outside them.
    """
    from scipy.interpolate import CubicSpline
    points = np.asarray(points, dtype=np.float64)
    x = np.linspace(0.0, 1.0, size) ** 2
    spline = CubicSpline(points[:, 0], points[:, 1], bc_type="natural")
    return np.where(x <= points[0, 0], points[0, 1],
                    np.where(x >= points[-1, 0], points[-1, 1], spline(np.clip(x, points[0, 0], points[-1, 0]))))


def inverse_lut(lut: torch.Tensor) -> torch.Tensor:
    """The inverse of increasing `tone_lut`-style curves [B,K] (sampled at x = u^2), on the same grid [B,K]."""
    size = lut.shape[-1]
    x = torch.linspace(0.0, 1.0, size, dtype=lut.dtype, device=lut.device) ** 2
    y = torch.cummax(lut.detach(), dim=-1).values.contiguous()
    target = x.expand_as(y).contiguous()
    hi = torch.searchsorted(y, target).clamp(1, size - 1)
    lo = hi - 1
    y_lo, y_hi = torch.gather(y, -1, lo), torch.gather(y, -1, hi)
    f = ((target - y_lo) / (y_hi - y_lo).clamp(min=1e-12)).clamp(0.0, 1.0)
    return x[lo] + f * (x[hi] - x[lo])


def profile_tone(lut: torch.Tensor, profile_curve: torch.Tensor, default_curve: torch.Tensor) -> torch.Tensor:
    """Tone curves [B,K] with the profile's curve [B,K] in place of the default curve [B,K] (all `tone_lut` style).

    Returns profile o default^-1 o lut: at the default sliders (lut = default, after the exposure
    tone) the render gets exactly the profile's curve, as the SDK renders such a DNG; slider changes
    act as they do around the default.
    """
    return tone.apply_tone(profile_curve, tone.apply_tone(inverse_lut(default_curve), lut))


def default_tone_lut(process: str, dtype: torch.dtype = torch.float64,
                     device: str | torch.device = "cpu") -> torch.Tensor:
    """The tone curve [1,K] that a process's default look gives (`tone_lut` style), which a ProfileToneCurve replaces.

    Process 2003: Brightness 50, Contrast 25 and the Medium Contrast point curve, our stand-in for
    the SDK's default ACR3 curve (rendering.tone); process 2012 defaults to a linear curve.
    """
    return torch.as_tensor(_default_tone_lut(process), dtype=dtype, device=device)[None]


@functools.lru_cache(maxsize=4)
def _default_tone_lut(process: str) -> np.ndarray:
    """default_tone_lut as float64 numpy [K], computed once per process (numpy, so inference mode cannot taint it)."""
    one = torch.ones(1, dtype=torch.float64)
    with torch.no_grad():
        if process != PROCESS_2003.process:
            return tone.tone_lut(0.0 * one, 0.0 * one, 0.0 * one, 0.0 * one, one)[0].numpy()
        medium = torch.as_tensor(tone.tone_curve_lut(tone.MEDIUM_CONTRAST), dtype=torch.float64)[None]
        return tone.tone_lut(0.0 * one, DEFAULT_LOOK_2003["Brightness"] / 100.0 * one,
                             DEFAULT_LOOK_2003["Contrast"] / 100.0 * one, 0.0 * one, one, medium)[0].numpy()
