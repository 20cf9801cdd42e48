"""Local operators in torch: an edge-aware base layer, Fill Light / Shadows / Highlights gains, Clarity.

Images are [B,1,H,W] single-channel planes (luminance, base) unless stated; per-image amounts are
[B] tensors; every operator is the identity (gain 1) for a zero amount.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from rendering.tone import power

_TINY = 1e-6


def box_mean(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over a (2r+1)^2 window, windows shrunk at the borders (cumulative sums, O(1)/pixel)."""
    h, w = x.shape[-2:]
    out = x
    for dim, n in ((-2, h), (-1, w)):
        # cumulative sums with a leading 0, extended by r copies of the first and last: window i = c[i + 2r + 1] - c[i]
        lead, ends = ((0, 0, 1, 0), (0, 0, radius, radius)) if dim == -2 else ((1, 0), (radius, radius, 0, 0))
        c = F.pad(F.pad(out.cumsum(dim), lead), ends, mode="replicate")
        idx = torch.arange(n, device=x.device)
        count = ((idx + radius + 1).clamp(max=n) - (idx - radius).clamp(min=0)).to(x.dtype)
        out = (c.narrow(dim, 2 * radius + 1, n) - c.narrow(dim, 0, n)) / (count.view(-1, 1) if dim == -2 else count)
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
    return torch.addcmul(coef[:, 1:], coef[:, :1], guide)


def local_tone_gain(base: torch.Tensor, shadows_ev: torch.Tensor, highlights_ev: torch.Tensor) -> torch.Tensor:
    """Per-pixel gain 2**(s (1-b)^2 + h b^2) from the encoded edge-aware base b [B,1,H,W].

    Fill Light (2003) and Shadows/Highlights (2012) are local adaptations in Camera Raw (Adobe:
    "Fill Light lightens shadows to reveal more detail"); modelled, like darktable's shadows and
    highlights module (src/iop/shadhi.c: a blurred base decides each pixel's correction), on a
    smooth base so a pixel's gain depends on its neighbourhood's brightness, not its own value.
    """
    b = base.clamp(0.0, 1.0)
    s, h = shadows_ev[:, None, None, None], highlights_ev[:, None, None, None]
    # s (1-b)^2 + h b^2 = s + b ((s + h) b - 2 s)
    return torch.exp2(torch.addcmul(-2.0 * s, s + h, b).mul_(b).add_(s))


def clarity_gain(lum_enc: torch.Tensor, base: torch.Tensor, amount: torch.Tensor) -> torch.Tensor:
    """Clarity, amount [B] in [-1, 1]: linear gain [B,1,H,W] scaling encoded detail (L - base).

    Local contrast on luminance with an edge-aware base (guided filter), as Adobe describes Clarity
    ("adds depth by increasing local contrast", a large-radius unsharp mask on midtones) and as
    RawTherapee/darktable implement local contrast (darktable src/iop/bilat.c: detail = L - bilateral
    base, boosted). The encoded detail is amplified by (1 + amount), weighted to midtones, and
    applied as a luminance ratio so hue is kept.
    """
    b = base.clamp(0.0, 1.0)
    weight = (1.0 - b).mul_(b).mul_(4.0).add_(0.5)          # 0.5 + midtone, midtone = 1 - (2b - 1)^2 = 4 b (1 - b)
    boosted = torch.addcmul(lum_enc, (lum_enc - base).mul_(weight), amount[:, None, None, None])
    ratio = boosted.clamp_(min=_TINY).div_(lum_enc.clamp(min=_TINY))
    return power(ratio.clamp_(max=16.0), 2.2)


