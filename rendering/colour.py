"""Colour spaces in torch: linear ProPhoto (ROMM RGB, D50) <-> XYZ <-> sRGB (D65) <-> CIE-LAB.

All functions are batched and differentiable. Images are [B, 3, H, W] (channel dimension 1) unless
a docstring says [..., 3] (channel last). ProPhoto is ROMM RGB (ISO 22028-2): primaries
R(0.7347, 0.2653) G(0.1596, 0.8404) B(0.0366, 0.0001), white D50. sRGB is IEC 61966-2-1 (D65);
the D50 <-> D65 change of white uses the Bradford cone response (Lindbloom's chromatic adaptation
page), so a D50 neutral in ProPhoto stays a D65 neutral in sRGB. LAB uses the white of the space the
XYZ values are relative to: D50 for ProPhoto (the ICC profile connection space white).
kornia's rgb_to_lab assumes sRGB/D65, which is why the ProPhoto/D50 path is written here; kornia's
sRGB transfer function is used for the sRGB encoding.
"""
from __future__ import annotations

import numpy as np
import torch
from kornia.color import linear_rgb_to_rgb, rgb_to_linear_rgb

# CIE 1931 2-degree whites as xy (the ICC/ISO values).
WHITE_XY = {"D50": (0.3457, 0.3585), "D65": (0.3127, 0.3290)}


def xy_to_xyz_np(xy: tuple[float, float] | np.ndarray) -> np.ndarray:
    """Chromaticity xy -> XYZ with Y = 1 (numpy [3])."""
    x, y = float(xy[0]), float(xy[1])
    return np.array([x / y, 1.0, (1.0 - x - y) / y])


# Whites as XYZ (Y = 1) from the xy above, as colour-science defines them (the ICC PCS rounds D50 to
# 0.9642, 1, 0.8249; the difference is below 0.02 ΔE).
WHITE_XYZ = {name: xy_to_xyz_np(xy) for name, xy in WHITE_XY.items()}


def rgb_to_xyz_matrix(primaries_xy: np.ndarray, white_xyz: np.ndarray) -> np.ndarray:
    """3x3 linear RGB -> XYZ matrix from primaries xy [3,2] and white XYZ [3] (numpy)."""
    p = np.array([xy_to_xyz_np(c) for c in primaries_xy]).T  # columns: XYZ of each primary (Y=1)
    scale = np.linalg.solve(p, white_xyz)
    return p * scale


PROPHOTO_PRIMARIES = np.array([[0.7347, 0.2653], [0.1596, 0.8404], [0.0366, 0.0001]])
SRGB_PRIMARIES = np.array([[0.64, 0.33], [0.30, 0.60], [0.15, 0.06]])

# Bradford cone response matrix (Lam 1985; Lindbloom, "Chromatic Adaptation").
BRADFORD = np.array([[0.8951, 0.2664, -0.1614],
                     [-0.7502, 1.7135, 0.0367],
                     [0.0389, -0.0685, 1.0296]])


def bradford_matrix_np(src_white_xyz: np.ndarray, dst_white_xyz: np.ndarray) -> np.ndarray:
    """3x3 XYZ(src white) -> XYZ(dst white) von Kries adaptation in Bradford space (numpy)."""
    src = BRADFORD @ src_white_xyz
    dst = BRADFORD @ dst_white_xyz
    return np.linalg.inv(BRADFORD) @ np.diag(dst / src) @ BRADFORD


PROPHOTO_TO_XYZ = rgb_to_xyz_matrix(PROPHOTO_PRIMARIES, WHITE_XYZ["D50"])  # XYZ relative to D50
XYZ_TO_PROPHOTO = np.linalg.inv(PROPHOTO_TO_XYZ)
SRGB_TO_XYZ_D65 = rgb_to_xyz_matrix(SRGB_PRIMARIES, WHITE_XYZ["D65"])
XYZ_D65_TO_SRGB = np.linalg.inv(SRGB_TO_XYZ_D65)
D50_TO_D65 = bradford_matrix_np(WHITE_XYZ["D50"], WHITE_XYZ["D65"])
# linear ProPhoto -> linear sRGB, through XYZ and Bradford D50 -> D65.
PROPHOTO_TO_SRGB = XYZ_D65_TO_SRGB @ D50_TO_D65 @ PROPHOTO_TO_XYZ
SRGB_TO_PROPHOTO = np.linalg.inv(PROPHOTO_TO_SRGB)
# Luminance Y of linear ProPhoto (second row of PROPHOTO_TO_XYZ).
PROPHOTO_LUMA = PROPHOTO_TO_XYZ[1].copy()


def luminance(img: torch.Tensor) -> torch.Tensor:
    """Relative luminance Y [B,1,H,W] of linear ProPhoto [B,3,H,W] (D50 white has Y = 1)."""
    w = torch.as_tensor(PROPHOTO_LUMA, dtype=img.dtype, device=img.device)
    return torch.einsum("c,bchw->bhw", w, img).unsqueeze(1)


def _matrix(m: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(m, dtype=like.dtype, device=like.device)


def apply_matrix(img: torch.Tensor, m: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Apply a 3x3 matrix (or a per-image [B,3,3] batch) to [B,3,H,W] images along channels."""
    if not torch.is_tensor(m):
        m = _matrix(m, img)
    if m.dim() == 2:
        return torch.einsum("ij,bjhw->bihw", m, img)
    return torch.einsum("bij,bjhw->bihw", m, img)


def linear_prophoto_to_xyz(img: torch.Tensor) -> torch.Tensor:
    """Linear ProPhoto [B,3,H,W] -> CIE XYZ relative to D50 (Y of white = 1)."""
    return apply_matrix(img, PROPHOTO_TO_XYZ)


def xyz_to_linear_prophoto(xyz: torch.Tensor) -> torch.Tensor:
    """CIE XYZ (D50-relative) [B,3,H,W] -> linear ProPhoto."""
    return apply_matrix(xyz, XYZ_TO_PROPHOTO)


_LAB_EPS = 216.0 / 24389.0
_LAB_KAPPA = 24389.0 / 27.0


def _lab_f(t: torch.Tensor) -> torch.Tensor:
    # CIE 1976 f(t) with the exact CIE constants, without a per-element branch: the cube root of
    # max(t, eps) plus the line's kappa / 116 (min(t, eps) - eps) (both pieces are 6/29 at eps), so
    # neither piece produces NaN gradients.
    cube = torch.exp2(torch.log2(t.clamp(min=_LAB_EPS)).mul_(1.0 / 3.0))
    return t.clamp(max=_LAB_EPS).sub_(_LAB_EPS).mul_(_LAB_KAPPA / 116.0).add_(cube)


def _lab_f_inv(f: torch.Tensor) -> torch.Tensor:
    cube = f.pow(3)
    return torch.where(cube > _LAB_EPS, cube, (116.0 * f - 16.0) / _LAB_KAPPA)


def xyz_to_lab(xyz: torch.Tensor, white: str = "D50", dim: int = 1) -> torch.Tensor:
    """CIE XYZ -> CIE-LAB (L* 0..100) with the given reference white; channels on `dim`."""
    w = torch.as_tensor(WHITE_XYZ[white], dtype=xyz.dtype, device=xyz.device)
    shape = [1] * xyz.dim()
    shape[dim] = 3
    f = _lab_f(xyz / w.view(shape))
    fx, fy, fz = f.unbind(dim)
    return torch.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], dim=dim)


def lab_to_xyz(lab: torch.Tensor, white: str = "D50", dim: int = 1) -> torch.Tensor:
    """CIE-LAB -> CIE XYZ with the given reference white; channels on `dim`."""
    L, a, b = lab.unbind(dim)
    fy = (L + 16.0) / 116.0
    xyz = torch.stack([_lab_f_inv(fy + a / 500.0), _lab_f_inv(fy), _lab_f_inv(fy - b / 200.0)], dim=dim)
    w = torch.as_tensor(WHITE_XYZ[white], dtype=lab.dtype, device=lab.device)
    shape = [1] * lab.dim()
    shape[dim] = 3
    return xyz * w.view(shape)


# L*a*b* as a linear map of (f(X/Xn), f(Y/Yn), f(Z/Zn)), plus -16 on L*.
_F_TO_LAB = np.array([[0.0, 116.0, 0.0], [500.0, -500.0, 0.0], [0.0, 200.0, -200.0]])
_PROPHOTO_TO_XYZ_D50_WHITE = PROPHOTO_TO_XYZ / WHITE_XYZ["D50"][:, None]   # linear ProPhoto -> XYZ / white


def linear_prophoto_to_lab(img: torch.Tensor) -> torch.Tensor:
    """Linear ProPhoto [B,3,H,W] -> CIE-LAB [B,3,H,W] (D50 white, L* 0..100): xyz_to_lab of linear_prophoto_to_xyz."""
    lab = apply_matrix(_lab_f(apply_matrix(img, _PROPHOTO_TO_XYZ_D50_WHITE)), _F_TO_LAB)
    lab[:, 0] -= 16.0
    return lab


def lab_to_linear_prophoto(lab: torch.Tensor) -> torch.Tensor:
    """CIE-LAB (D50) [B,3,H,W] -> linear ProPhoto [B,3,H,W]."""
    return xyz_to_linear_prophoto(lab_to_xyz(lab, white="D50"))


def linear_prophoto_to_linear_srgb(img: torch.Tensor) -> torch.Tensor:
    """Linear ProPhoto (D50) [B,3,H,W] -> linear sRGB (D65, Bradford), not clipped."""
    return apply_matrix(img, PROPHOTO_TO_SRGB)


def linear_prophoto_to_srgb(img: torch.Tensor) -> torch.Tensor:
    """Linear ProPhoto [B,3,H,W] -> encoded sRGB [B,3,H,W] in [0, 1] (clipped, Bradford D50->D65)."""
    lin = linear_prophoto_to_linear_srgb(img).clamp(0.0, 1.0)
    return linear_rgb_to_rgb(lin)


def srgb_to_linear_prophoto(img: torch.Tensor) -> torch.Tensor:
    """Encoded sRGB [B,3,H,W] in [0, 1] -> linear ProPhoto [B,3,H,W] (Bradford D65->D50)."""
    return apply_matrix(rgb_to_linear_rgb(img), SRGB_TO_PROPHOTO)


# ROMM RGB (ProPhoto) transfer function, ISO 22028-2: gamma 1.8 with a linear toe below 1/512.
_ROMM_ET = 1.0 / 512.0


def prophoto_encode(lin: torch.Tensor) -> torch.Tensor:
    """Linear ProPhoto values -> ROMM-encoded values (gamma 1.8, linear toe); any shape."""
    power = lin.clamp(min=_ROMM_ET).pow(1.0 / 1.8)
    return torch.where(lin < _ROMM_ET, 16.0 * lin, power)


def prophoto_decode(enc: torch.Tensor) -> torch.Tensor:
    """ROMM-encoded ProPhoto values -> linear values; any shape."""
    power = enc.clamp(min=16.0 * _ROMM_ET).pow(1.8)
    return torch.where(enc < 16.0 * _ROMM_ET, enc / 16.0, power)


def delta_e76(lab_a: torch.Tensor, lab_b: torch.Tensor) -> torch.Tensor:
    """CIE76 colour difference of two LAB batches [B,3,H,W] -> [B,H,W]."""
    return torch.sqrt(((lab_a - lab_b) ** 2).sum(dim=1) + 1e-12)


def lab_error(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean per-pixel CIE76 ΔE between two linear ProPhoto batches [B,3,H,W] (D50) -> [B]."""
    return delta_e76(linear_prophoto_to_lab(a), linear_prophoto_to_lab(b)).flatten(1).mean(dim=1)


def lab_error_stats(renders: torch.Tensor, references: torch.Tensor, reference_index: torch.Tensor | None = None,
                    chunk: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, RMS) per-pixel CIE76 ΔE [N] of linear ProPhoto renders [N,3,H,W] vs references[reference_index].

    references [R,3,H,W] are converted to LAB (D50) once however many renders use them;
    reference_index [N] (default 0..N-1, pairwise) picks each render's reference. Renders are
    converted `chunk` at a time (bounds memory at large sizes); per-image means reduce in float64.
    """
    index = torch.arange(len(renders)) if reference_index is None else torch.as_tensor(reference_index)
    if len(index) != len(renders):
        raise ValueError(f"{len(index)} reference indices for {len(renders)} renders")
    ref_lab = linear_prophoto_to_lab(references)
    means, rms = [], []
    for start in range(0, len(renders), chunk):
        rows = index[start:start + chunk].to(ref_lab.device)
        de = delta_e76(linear_prophoto_to_lab(renders[start:start + chunk]), ref_lab[rows]).flatten(1).double()
        means.append(de.mean(dim=1))
        rms.append(torch.sqrt((de ** 2).mean(dim=1)))
    empty = renders.new_zeros(0, dtype=torch.float64)
    return (torch.cat(means) if means else empty), (torch.cat(rms) if rms else empty)
