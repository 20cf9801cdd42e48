"""The DNG SDK's scene-referred stages in torch: camera-white clip, exposure ramp, highlight Recovery.

Images are [B,3,H,W]; per-image amounts are [B] tensors. Read from the DNG SDK 1.6 source
(dng_render.cpp, dng_reference.cpp, dng_color_spec.cpp; our own code):
- RefBaselineABCtoRGB: camera RGB is clipped at the camera white (the camera neutral of the
  rendering white, largest channel 1) before the camera -> ProPhoto matrix, and the result is
  pinned to [0, 1]. A pixel clipped in every channel becomes the camera white, which the matrix maps
  to a neutral, so blown highlights stay grey. Our clip has a rounded corner just above the camera
  white (exact below it, levelling off at 1 + 1/64 of it) so that tonal gradients into the clip stay
  smooth and differentiable.
- dng_function_exposure_ramp(white, black, minBlack), with the SDK's dng_render_task arguments:
  total = Exposure + BaselineExposure (EV), white = 2^-max(0, total), black = 0.001 x Shadows x
  ShadowScale of linear full scale (at most 0.99 white); y = (x - black) / (white - black), joined
  to 0 by a quadratic toe of radius min(black / 2, (white - black) / 16). The SDK clips y at 1; we
  leave the over-range for Recovery and clip in the tone stage (rendering.tone.rgb_tone pins to
  [0, 1] like RefBaselineRGBTone). Negative totals keep white at white through the SDK's exposure
  tone function, which is part of the one tone curve (rendering.tone.exposure_tone).
- Recovery is not in the SDK (Camera Raw's own); see `highlight_recovery`.
"""
from __future__ import annotations

import torch

from rendering.colour import apply_matrix
from rendering.tone import power

CLIP_RADIUS = 1.0 / 64.0   # half-width of the clip's rounded corner, fraction of the camera white
TOE_BLACK = 0.5            # the SDK ramp's toe radius: at most this fraction of black ...
TOE_WHITE = 1.0 / 16.0     # ... and at most this fraction of (white - black)
MAX_BLACK = 0.99           # black is at most this fraction of white (SDK)
BLACK_PER_SHADOW = 0.001   # linear black level per Shadows (Blacks) slider unit (SDK)


def camera_white_clip(camera_rgb: torch.Tensor, camera_white: torch.Tensor) -> torch.Tensor:
    """Camera RGB [B,3,H,W] clipped at the camera white c [B,3]: exact up to c, rounded to c (1 + 2r), then c (1 + r)."""
    c = camera_white[:, :, None, None].to(camera_rgb.dtype)
    radius = c * CLIP_RADIUS
    # x - rounded_relu(x - c - r, r) (see exposure_ramp), as min(x, c + 2r) - q^2 / 4r with q = clamp(x - c, 0, 2r)
    over = torch.minimum((camera_rgb - c).clamp_(min=0.0), 2.0 * radius)
    return torch.minimum(camera_rgb, c + 2.0 * radius).addcmul_(over, over * (-0.25 / radius))


def scene_linear(camera_rgb: torch.Tensor, camera_white: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """Camera RGB [B,3,H,W] -> linear ProPhoto in [0, 1]: camera-white clip, matrix [B,3,3], pin."""
    return apply_matrix(camera_white_clip(camera_rgb, camera_white), matrix.to(camera_rgb.dtype)).clamp_(0.0, 1.0)


def exposure_ramp(img: torch.Tensor, total_ev: torch.Tensor, black: torch.Tensor) -> torch.Tensor:
    """The SDK exposure ramp on linear ProPhoto [B,3,H,W]: total EV [B] and linear black [B] (>= 0).

    Rendered white (1) is linear 2^-max(0, total); values above it come out > 1 (not clipped here).
    The toe is rounded_relu(t, r): max(t, 0) with a quadratic corner (t + r)^2 / 4r on |t| < r (value
    and slope continuous), written without a branch as relu(t - r) + clamp(t + r, 0, 2r)^2 / 4r.
    """
    white = torch.pow(2.0, -torch.relu(total_ev))
    black = torch.minimum(black, MAX_BLACK * white)
    span = white - black
    radius = torch.minimum(TOE_BLACK * black, TOE_WHITE * span)
    # rounded_relu(img - black, r) / span with the division folded in:
    # relu(img - black - r) / span + min(relu(img - black + r), 2r)^2 / (4 r span)
    b, r, s = (v[:, None, None, None] for v in (black, radius, span))
    corner = torch.minimum((img - (b - r)).clamp_(min=0.0), 2.0 * r)
    out = (img - (b + r)).clamp_(min=0.0).mul_(1.0 / s)
    return out.addcmul_(corner, corner * (0.25 / (r.clamp(min=1e-12) * s)))


def shadows_black(shadows: torch.Tensor, shadow_scale: torch.Tensor) -> torch.Tensor:
    """Linear black [B] of the Blacks slider ('Shadows' key, 0..100) and the DNG's ShadowScale [B] (SDK)."""
    return BLACK_PER_SHADOW * shadows * shadow_scale


def highlight_recovery(img: torch.Tensor, amount: torch.Tensor) -> torch.Tensor:
    """Recovery (Camera Raw 2003), amount [B] in [0, 1], on the ramp's output [B,3,H,W] (white = 1).

    Adobe: Recovery "attempts to recover details from highlights", reconstructing clipped channels
    from the others. Modelled like RawTherapee's highlight compression (CurveFactory::complexCurve,
    hlcompr): each pixel is scaled by (1 + a m^3)^(-1/3) of its largest channel m, which leaves
    shadows untouched, brings m = 1 down by 2^(-1/3) at a = 1 and all of the over-range (up to the
    ramp's 2^total) back below 1; one scale for all channels, so hue is kept and a clipped (neutral)
    highlight stays neutral. Identity at a = 0.
    """
    return img * recovery_gain(img.amax(dim=1, keepdim=True), amount)


def recovery_gain(peak: torch.Tensor, amount: torch.Tensor) -> torch.Tensor:
    """The gain [B,1,H,W] of `highlight_recovery` from a pixel's largest channel [B,1,H,W]: (1 + a m^3)^(-1/3)."""
    peak = peak.clamp(min=0.0)
    return power(torch.addcmul(peak.new_ones(1, 1, 1, 1), peak * peak * peak, amount[:, None, None, None]), -1.0 / 3.0)
