"""The one tone curve of a render and its hue-preserving application, in torch (batched, differentiable).

Camera Raw 2003's global tone sliders compose, with the SDK's exposure tone function and the
catalog's point curve, into ONE monotone curve per image on linear ProPhoto [0, 1], applied the DNG
SDK's hue-preserving way (RefBaselineRGBTone in dng_reference.cpp: the largest and the smallest
channel go through the curve, the middle one is interpolated between them so its relative
position, hence the HSV hue, is kept). Composition order (dng_render.cpp concatenates the exposure
tone before the tone curve; the sliders follow Camera Raw's panel order):

  exposure_tone (negative total EV) -> levels (2012 Whites/Blacks) -> brightness -> contrast
  -> point curve -> linear output

The "encoded" domain of levels, contrast and the point curve is ProPhoto primaries with the sRGB
tone response (Lightroom's working space for its histogram and curves, "Melissa RGB"; Jeff Schewe,
"The Digital Negative", ch. 4). Each operator is the identity for a zero amount.

Calibration: the SDK renders without a profile tone curve with `dng_tone_curve_acr3_default`, the
"default ACR3 tone curve" (dng_render.h). It stands for Camera Raw's default tone settings,
Brightness +50, Contrast +25 and the point curve's default "Medium Contrast" (Adobe's Camera Raw
help for Photoshop CS3: "Medium Contrast is the default setting" of the point curve; Shadows 5 is
the SDK's separate ramp default). The constants below were fitted (least squares in L*, inputs
uniform in L*) so that point curve "Medium Contrast" after contrast(+25) after brightness(+50)
reproduces that table: L* rms 0.18, max 0.36 as sampled by `tone_lut`. Both readings, with or
without Medium Contrast, fit these curve families about equally well (L* rms 0.18 vs 0.21), so the
numbers do not decide it; the documentation does.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from rendering.colour import luminance

BRIGHTNESS_EV = 2.724    # Brightness 100: shadow gain 2^this, white kept (rational curve in linear light)
CONTRAST_LOG2 = 2.144    # Contrast 100: 2^this x slope at the pivot
CONTRAST_PIVOT = 0.607   # encoded value Contrast leaves unchanged
CONTRAST_TOE = 0.18      # offset of the power toe: finite slopes at 0 and 1
TONE_LUT_SIZE = 1024     # samples of the per-image curve, at x = u^2 for u uniform on [0, 1]
TONE_CURVE_SIZE = 1024   # samples of a catalog point curve on encoded [0, 1]
# Camera Raw's "Medium Contrast" point curve preset (flat x0, y0, x1, y1, ... in 0..255), its default.
MEDIUM_CONTRAST = (0.0, 0.0, 32.0, 22.0, 64.0, 56.0, 128.0, 128.0, 192.0, 196.0, 255.0, 255.0)
_TINY = 1e-6


def power(x: torch.Tensor, exponent: float) -> torch.Tensor:
    """x ** exponent for x > 0, any shape, as exp2(exponent * log2 x) (twice as fast as torch.pow on CPU)."""
    return torch.exp2(torch.log2(x).mul_(exponent))


_ENCODE_KNEE, _DECODE_KNEE = 0.0031308, 0.04045
_LOG2_1055 = math.log2(1.055)
_DECODE_AT_KNEE = ((_DECODE_KNEE + 0.055) / 1.055) ** 2.4   # the power segment at the knee (0.04045 / 12.92 + 2e-9)


def encode(lin: torch.Tensor) -> torch.Tensor:
    """Linear -> encoded with the sRGB transfer function (IEC 61966-2-1), any shape.

    Taken as the smaller of the line and the power segment, which is the standard's curve except
    just above its knee (linear 0.0031308 to 0.0031553), where the segments do not quite meet: there
    it stays on the line, continuous, at most 5.4e-6 below the standard's value.
    """
    segment = torch.exp2(torch.log2(lin.clamp(min=_ENCODE_KNEE)).mul_(1.0 / 2.4).add_(_LOG2_1055))  # 1.055 x^(1/2.4)
    return torch.minimum(lin * 12.92, segment - 0.055)


def decode(enc: torch.Tensor) -> torch.Tensor:
    """Encoded (sRGB transfer function) -> linear, any shape.

    Without a per-element branch: min(v, 0.04045) / 12.92 plus the power segment's rise above the
    knee, max(0, segment(max(v, 0.04045)) - segment(0.04045)), its knee value taken a few ulps high
    so that the rise is exactly 0 below the knee; above it the result is below the standard's by
    the pieces' gap at the knee (2.3e-9) and those ulps (relative 7.4e-7 at most).
    """
    segment = torch.exp2(torch.log2(enc.clamp(min=_DECODE_KNEE).add_(0.055)).mul_(2.4).sub_(2.4 * _LOG2_1055))
    at_knee = _DECODE_AT_KNEE * (1.0 + 16.0 * torch.finfo(enc.dtype).eps)   # computed: within 4 eps
    rise = (segment - at_knee).clamp_(min=0.0)
    return enc.clamp(max=_DECODE_KNEE).mul_(1.0 / 12.92).add_(rise)


# ------------------------------------------------------------------------- curve components [B, N]

def exposure_tone(x: torch.Tensor, total_ev: torch.Tensor) -> torch.Tensor:
    """The SDK's dng_function_exposure_tone on linear x [B,N] in [0,1] for total EV [B].

    For a negative total, slope 2^total up to x = 1/4, then the quadratic through that point (same
    slope) that maps 1 to 1, so white stays white; the identity for total >= 0.
    """
    slope = torch.pow(2.0, total_ev.clamp(max=0.0))[:, None]
    a = 16.0 / 9.0 * (1.0 - slope)
    b = slope - 0.5 * a
    return torch.where(x <= 0.25, x * slope, (a * x + b) * x + (1.0 - a - b))


def levels(enc: torch.Tensor, black: torch.Tensor, white: torch.Tensor) -> torch.Tensor:
    """Black/white point [B] in the encoded domain on [B,N]: (v - black) / (white - black), clipped to [0, 1].

    The 2012 Whites/Blacks (Adobe: Blacks "specifies which input levels are mapped to black"),
    like darktable's levels module (src/iop/levels.c).
    """
    return ((enc - black[:, None]) / (white - black)[:, None]).clamp(0.0, 1.0)


def brightness(x: torch.Tensor, amount: torch.Tensor) -> torch.Tensor:
    """Brightness (2003), amount [B] = slider / 100 in [0, 1.5], on linear x [B,N]: k x / (1 + (k-1) x).

    Adobe: Brightness "adjusts the brightness or darkness of the image, much as the Exposure
    property does. However, instead of clipping the image in the highlights or shadows, Brightness
    compresses the highlights and expands the shadows". So: an exposure-like gain k = 2^(2.724 a)
    in the shadows that rolls off to keep white at white (slope 1/k there); monotone.
    """
    k = torch.pow(2.0, BRIGHTNESS_EV * amount)[:, None]
    return k * x / (1.0 + (k - 1.0) * x)


def _toe_power(u: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """((u + e)/(1 + e))^k renormalised to map 0 -> 0 and 1 -> 1 (e = CONTRAST_TOE); identity at k = 1."""
    e = CONTRAST_TOE
    floor = (e / (1.0 + e)) ** k
    return (((u.clamp(min=0.0) + e) / (1.0 + e)) ** k - floor) / (1.0 - floor)


def contrast(enc: torch.Tensor, amount: torch.Tensor) -> torch.Tensor:
    """Contrast, amount [B] = slider / 100 in [-0.5, 1], on encoded v [B,N] in [0,1]: an S-curve about a fixed pivot.

    Adobe: Contrast "mainly affects midtones. When you increase contrast, the middle-to-dark image
    areas become darker, and the middle-to-light image areas become lighter"; in process 2003 its
    midpoint is fixed (Martin Evening, Lightroom 4 book, on Process 2003/2010). Like RawTherapee's
    contrast S-curve about a midpoint (CurveFactory::complexCurve) it keeps 0, the pivot and 1:
    p t(v/p) below and 1 - (1-p) t((1-v)/(1-p)) above, t a power k = 2^(2.144 a) with an offset toe
    (`_toe_power`) so the end slopes stay finite; C1 at the pivot, monotone for every amount.
    """
    k = torch.pow(2.0, CONTRAST_LOG2 * amount)[:, None]
    p = CONTRAST_PIVOT
    low = p * _toe_power(enc / p, k)
    high = 1.0 - (1.0 - p) * _toe_power((1.0 - enc) / (1.0 - p), k)
    return torch.where(enc < p, low, high)


# ----------------------------------------------------------------------------------- LUTs

def lookup(lut: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """Per-image LUTs [B,K] sampled at positions [B,...] in [0,1] (uniform grid), linear interpolation."""
    return _lookup_cells(lut, pos.clamp(0.0, 1.0).mul_(lut.shape[1] - 1))


def _lookup_cells(lut: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """LUTs [B,K] at grid positions p [B,...] in [0, K-1] (p = position x (K - 1)), linear interpolation."""
    b, k = lut.shape
    flat = p.reshape(b, -1)
    cell = flat.detach().floor().clamp_(max=k - 2)
    frac = flat - cell
    index = cell.int()   # int32 rows of the flattened LUTs (index_select takes int32; gather wants int64)
    if b > 1:
        index += torch.arange(0, b * k, k, dtype=torch.int32, device=index.device)[:, None]
    index = index.view(-1)
    value = torch.index_select(lut.reshape(-1), 0, index)
    rise = torch.index_select(torch.cat([lut.diff(dim=1), lut[:, -1:] * 0.0], dim=1).reshape(-1), 0, index)
    return torch.addcmul(value, frac.reshape(-1), rise).reshape(p.shape)


def tone_lut(total_ev: torch.Tensor, brightness_amount: torch.Tensor, contrast_amount: torch.Tensor,
             black: torch.Tensor, white: torch.Tensor, point_curve: torch.Tensor | None = None,
             size: int = TONE_LUT_SIZE) -> torch.Tensor:
    """The one tone curve per image: LUT [B,size] of linear out, sampled at linear in x = u^2, u uniform.

    total_ev [B]: Exposure + BaselineExposure (the exposure tone acts below 0); brightness_amount,
    contrast_amount [B]: sliders / 100; black, white [B]: encoded levels (0, 1 = none); point_curve:
    catalog curves as LUTs [B,K] on encoded [0,1] (`tone_curve_lut`), or None. Differentiable in all.
    """
    u = torch.linspace(0.0, 1.0, size, dtype=total_ev.dtype, device=total_ev.device)
    x = exposure_tone((u * u).expand(total_ev.shape[0], -1), total_ev)
    x = brightness(decode(levels(encode(x), black, white)), brightness_amount)
    v = contrast(encode(x), contrast_amount)
    if point_curve is not None:
        v = lookup(point_curve.to(v.dtype), v)
    return decode(v.clamp(0.0, 1.0))


def apply_tone(lut: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A `tone_lut` curve [B,K] applied to linear values [B,...] (clipped to [0, 1])."""
    k = lut.shape[1] - 1
    return _lookup_cells(lut, x.clamp(1e-10, 1.0).mul_(k * k).sqrt())   # sqrt(x) (K - 1): u on the grid


def rgb_tone(img: torch.Tensor, lut: torch.Tensor) -> torch.Tensor:
    """Hue-preserving tone (SDK RefBaselineRGBTone) of linear RGB [B,3,H,W] with `tone_lut` curves [B,K].

    Channels are pinned to [0, 1]; the largest and smallest go through the curve and every channel
    keeps its relative position between them ((c - min) / (max - min)), so HSV hue is unchanged.
    """
    x = img.clamp(0.0, 1.0)
    hi, lo = x.amax(dim=1, keepdim=True), x.amin(dim=1, keepdim=True)
    t_hi, t_lo = apply_tone(lut, torch.cat([hi, lo], dim=1)).split(1, dim=1)
    return t_lo + (t_hi - t_lo) * (x - lo) / (hi - lo).clamp(min=1e-12)


# ------------------------------------------------------------------------- colour (after tone)

def vibrance_saturation(enc: torch.Tensor, vibrance: torch.Tensor, saturation: torch.Tensor) -> torch.Tensor:
    """Vibrance and Saturation, amounts [B] in [-1, 1], on encoded RGB [B,3,H,W] around its luma.

    Saturation scales the distance from grey by (1 + s) (Adobe: -100 gives monochrome).
    Vibrance scales it by 1 + v (1 - c)^2 with c = max - min of the pixel (HSV chroma), so muted
    colours move most and saturated ones barely (Adobe: "adjusts the saturation so that clipping is
    minimised ... increases the saturation of lower-saturated colours more"; darktable's vibrance in
    src/iop/colorbalancergb.c weights the boost by low chroma the same way).
    """
    grey = luminance(enc)
    chroma = (enc.amax(dim=1, keepdim=True) - enc.amin(dim=1, keepdim=True)).clamp_(0.0, 1.0)
    sat = 1.0 + saturation[:, None, None, None]
    muted = (1.0 - chroma) ** 2
    scale = torch.addcmul(sat, muted, vibrance[:, None, None, None] * sat)   # (1 + s)(1 + v (1 - c)^2)
    return torch.addcmul((1.0 - scale).mul_(grey), enc, scale)               # grey + scale (enc - grey)


# --------------------------------------------------------------------------------- point curve

def tone_curve_lut(points: np.ndarray | list[float] | None, size: int = TONE_CURVE_SIZE) -> np.ndarray:
    """Catalog ToneCurve (flat x0,y0,x1,y1,... in 0..255) -> monotone LUT [size] on encoded [0,1].

    Monotone piecewise-cubic Hermite interpolation (Fritsch & Carlson 1980, scipy's PCHIP), so a
    curve whose points increase gives an increasing LUT (Lightroom's curve is a spline through the
    points; PCHIP avoids the overshoot a natural spline can add). Flat beyond the end points.
    None or fewer than two points -> identity.
    """
    grid = np.linspace(0.0, 1.0, size)
    if points is None:
        return grid
    arr = np.asarray(points, dtype=np.float64).ravel()
    if arr.size < 4 or arr.size % 2:
        return grid
    xy = arr.reshape(-1, 2) / 255.0
    xy = xy[np.argsort(xy[:, 0], kind="stable")]
    keep = np.concatenate([[True], np.diff(xy[:, 0]) > 0])
    xy = xy[keep]
    if len(xy) < 2:
        return grid
    from scipy.interpolate import PchipInterpolator
    x = np.clip(grid, xy[0, 0], xy[-1, 0])
    return np.clip(PchipInterpolator(xy[:, 0], xy[:, 1])(x), 0.0, 1.0)
