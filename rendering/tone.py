"""Slider tone operators and the point tone curve, in torch (batched, differentiable).

Images are linear ProPhoto [B,3,H,W]; per-image amounts are [B] tensors. The perceptual
("encoded") domain used for the tone operators is ProPhoto primaries with the sRGB tone response
(Lightroom's working space for its histogram and curves, "Melissa RGB"; Adobe's Lightroom docs on
the histogram and Jeff Schewe's "The Digital Negative", ch. 4). Each operator is the identity for a
zero amount, so neutral sliders reproduce the plain decode exactly. Sources per slider are cited on
each function.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from rendering.colour import PROPHOTO_LUMA

# Contrast pivot: mid grey (18 % linear) in the encoded domain.
MID_GREY = 0.4613561
_TINY = 1e-6


def _col(a: torch.Tensor) -> torch.Tensor:
    """Per-image amounts [B] -> [B,1,1,1] for broadcasting over images."""
    return a.view(-1, 1, 1, 1)


def encode(lin: torch.Tensor) -> torch.Tensor:
    """Linear -> encoded with the sRGB transfer function (IEC 61966-2-1), any shape."""
    power = 1.055 * lin.clamp(min=0.0031308).pow(1.0 / 2.4) - 0.055
    return torch.where(lin <= 0.0031308, 12.92 * lin, power)


def decode(enc: torch.Tensor) -> torch.Tensor:
    """Encoded (sRGB transfer function) -> linear, any shape."""
    power = ((enc.clamp(min=0.04045) + 0.055) / 1.055).pow(2.4)
    return torch.where(enc <= 0.04045, enc / 12.92, power)


def luminance(img: torch.Tensor) -> torch.Tensor:
    """Relative luminance Y [B,1,H,W] of linear ProPhoto [B,3,H,W] (D50 white has Y = 1)."""
    w = torch.as_tensor(PROPHOTO_LUMA, dtype=img.dtype, device=img.device).view(1, 3, 1, 1)
    return (img * w).sum(dim=1, keepdim=True)


# ------------------------------------------------------------------------- edge-aware base layer

def box_mean(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over a (2r+1)^2 window, windows shrunk at the borders (cumulative sums, O(1)/pixel)."""
    h, w = x.shape[-2:]
    out = x
    for dim, n in ((-2, h), (-1, w)):
        c = F.pad(out.cumsum(dim), (0, 0, 1, 0) if dim == -2 else (1, 0))
        idx = torch.arange(n, device=x.device)
        hi = (idx + radius + 1).clamp(max=n)
        lo = (idx - radius).clamp(min=0)
        out = (c.index_select(dim, hi) - c.index_select(dim, lo))
        count = (hi - lo).to(x.dtype)
        out = out / (count.view(-1, 1) if dim == -2 else count.view(1, -1))
    return out


def guided_base(guide: torch.Tensor, radius_frac: float = 0.02, eps: float = 0.01,
                work_side: int = 256) -> torch.Tensor:
    """Edge-aware smooth base of a [B,1,H,W] image: self-guided filter (He, Sun & Tang, ECCV 2010).

    Fast variant (He & Sun 2015, "Fast Guided Filter"): the linear coefficients are computed on a
    copy downsampled so its long side is about `work_side`, then upsampled and applied at full
    resolution. The radius is a fraction of the long side, so results scale with image size.
    """
    h, w = guide.shape[-2:]
    factor = max(1, int(max(h, w) // work_side))
    small = F.avg_pool2d(guide, factor, ceil_mode=True) if factor > 1 else guide
    radius = max(1, int(round(radius_frac * max(small.shape[-2:]))))
    stats = box_mean(torch.cat([small, small * small], dim=1), radius)
    mean_i, mean_ii = stats[:, :1], stats[:, 1:]
    var = (mean_ii - mean_i * mean_i).clamp(min=0.0)
    a = var / (var + eps)
    b = mean_i - a * mean_i
    coef = box_mean(torch.cat([a, b], dim=1), radius)
    if factor > 1:
        coef = F.interpolate(coef, size=(h, w), mode="bilinear", align_corners=False)
    return coef[:, :1] * guide + coef[:, 1:]


# ---------------------------------------------------------------------------- slider operators

def exposure(img: torch.Tensor, ev: torch.Tensor) -> torch.Tensor:
    """Exposure in EV: multiply linear values by 2**ev (Adobe: "+1.00 is like opening one stop")."""
    return img * torch.pow(2.0, _col(ev))


def highlight_recovery(img: torch.Tensor, amount: torch.Tensor) -> torch.Tensor:
    """Recovery (Camera Raw 2003), amount [B] in [0, 1]: compress highlights toward white.

    Modelled on Adobe's description (Camera Raw 4/5 help: "attempts to recover details from
    highlights", up to about one stop) and RawTherapee's highlight compression (rtengine/curves.cc,
    CurveFactory::complexCurve, hlcompr): each pixel is scaled by (1 + a v^3)^(-1/3) of its largest
    channel v, which leaves shadows untouched, pulls v = 1 down by 2^(-1/3) at a = 1 and maps values
    up to ~+2 EV over white back below 1, hue preserved (all channels scaled alike).
    """
    peak = img.amax(dim=1, keepdim=True).clamp(min=0.0)
    return img * torch.pow(1.0 + _col(amount) * peak ** 3, -1.0 / 3.0)


def local_tone_gain(base: torch.Tensor, shadows_ev: torch.Tensor, highlights_ev: torch.Tensor) -> torch.Tensor:
    """Per-pixel gain 2**(s (1-b)^2 + h b^2) from the encoded edge-aware base b [B,1,H,W].

    Fill Light (2003) and Shadows/Highlights (2012) are local adaptations in Camera Raw (Adobe:
    "Fill Light lightens shadows to reveal more detail"); modelled, like darktable's shadows and
    highlights module (src/iop/shadhi.c: a blurred base decides each pixel's correction), on a
    smooth base so a pixel's gain depends on its neighbourhood's brightness, not its own value.
    """
    b = base.clamp(0.0, 1.0)
    return torch.pow(2.0, _col(shadows_ev) * (1.0 - b) ** 2 + _col(highlights_ev) * b ** 2)


def clarity_gain(lum_enc: torch.Tensor, base: torch.Tensor, amount: torch.Tensor) -> torch.Tensor:
    """Clarity, amount [B] in [-1, 1]: linear gain [B,1,H,W] scaling encoded detail (L - base).

    Local contrast on luminance with an edge-aware base (guided filter), as Adobe describes Clarity
    ("adds depth by increasing local contrast", a large-radius unsharp mask on midtones) and as
    RawTherapee/darktable implement local contrast (darktable src/iop/bilat.c: detail = L - bilateral
    base, boosted). The encoded detail is amplified by (1 + amount), weighted to midtones, and
    applied as a luminance ratio so hue is kept.
    """
    midtone = (1.0 - (2.0 * base.clamp(0.0, 1.0) - 1.0) ** 2).clamp(min=0.0)
    boosted = lum_enc + _col(amount) * (lum_enc - base) * (0.5 + midtone)
    ratio = boosted.clamp(min=_TINY) / lum_enc.clamp(min=_TINY)
    return ratio.clamp(max=16.0) ** 2.2


def levels(enc: torch.Tensor, black: torch.Tensor, white: torch.Tensor) -> torch.Tensor:
    """Black/white point in the encoded domain: (v - black) / (white - black).

    Blacks (2003 'Shadows' key; Adobe: "specifies which input levels are mapped to black") and
    Whites/Blacks (2012), like RawTherapee's 'black' and darktable's levels module (src/iop/levels.c).
    """
    return (enc - _col(black)) / (_col(white) - _col(black))


def brightness(enc: torch.Tensor, amount: torch.Tensor) -> torch.Tensor:
    """Brightness (2003), amount >= 0: v (1 + a) / (1 + a v), raises midtones, keeps 0 and 1.

    Adobe: Brightness "adjusts image brightness, mainly affecting midtones" with the end points
    fixed; RawTherapee's brightness in CurveFactory::complexCurve is likewise a midtone-lifting curve
    through (0,0) and (1,1). A rational (Michaelis-Menten) curve: monotone, slope 1 + a at black.
    """
    a = _col(amount)
    return enc * (1.0 + a) / (1.0 + a * enc)


def contrast(enc: torch.Tensor, amount: torch.Tensor, pivot: float = MID_GREY) -> torch.Tensor:
    """Contrast, amount [B] in [-1, 1]: S-curve about mid grey with slope 2**amount at the pivot.

    Adobe: Contrast "mainly affects midtones ... increasing contrast makes middle-to-dark areas
    darker and middle-to-light areas lighter". Like RawTherapee's contrast curve (an S-curve about
    the mean, CurveFactory::complexCurve) it keeps 0 and 1 fixed: p (v/p)^g below the pivot and
    1 - (1-p) ((1-v)/(1-p))^g above, g = 2**amount; monotone for every g > 0. Input in [0, 1].
    """
    g = torch.pow(2.0, _col(amount))
    low = pivot * (enc / pivot).clamp(min=_TINY) ** g
    high = 1.0 - (1.0 - pivot) * ((1.0 - enc) / (1.0 - pivot)).clamp(min=_TINY) ** g
    return torch.where(enc < pivot, low, high)


def vibrance_saturation(enc: torch.Tensor, vibrance: torch.Tensor, saturation: torch.Tensor) -> torch.Tensor:
    """Vibrance and Saturation, amounts [B] in [-1, 1], on encoded RGB around its luma.

    Saturation scales the distance from grey by (1 + s) (Adobe: -100 gives monochrome).
    Vibrance scales it by 1 + v (1 - c)^2 with c = max - min of the pixel (HSV chroma), so muted
    colours move most and saturated ones barely (Adobe: "adjusts the saturation so that clipping is
    minimised ... increases the saturation of lower-saturated colours more"; darktable's vibrance in
    src/iop/colorbalancergb.c weights the boost by low chroma the same way).
    """
    w = torch.as_tensor(PROPHOTO_LUMA, dtype=enc.dtype, device=enc.device).view(1, 3, 1, 1)
    grey = (enc * w).sum(dim=1, keepdim=True)
    chroma = (enc.amax(dim=1, keepdim=True) - enc.amin(dim=1, keepdim=True)).clamp(0.0, 1.0)
    scale = (1.0 + _col(saturation)) * (1.0 + _col(vibrance) * (1.0 - chroma) ** 2)
    return grey + scale * (enc - grey)


# --------------------------------------------------------------------------------- point curve

TONE_CURVE_SIZE = 1024


def tone_curve_lut(points: np.ndarray | list[float] | None, size: int = TONE_CURVE_SIZE) -> np.ndarray:
    """Catalog ToneCurve (flat x0,y0,x1,y1,... in 0..255) -> monotone LUT [size] on [0,1].

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


def apply_tone_curve(enc: torch.Tensor, lut: torch.Tensor) -> torch.Tensor:
    """Apply per-image LUTs [B,K] (on [0,1]) to encoded RGB [B,3,H,W] in [0,1], linearly interpolated."""
    b, c, h, w = enc.shape
    k = lut.shape[-1]
    pos = enc.clamp(0.0, 1.0).reshape(b, -1) * (k - 1)
    i0 = pos.detach().floor().clamp(0, k - 2).long()
    frac = pos - i0.to(pos.dtype)
    lo = torch.gather(lut, 1, i0)
    hi = torch.gather(lut, 1, i0 + 1)
    return (lo + frac * (hi - lo)).reshape(b, c, h, w)
