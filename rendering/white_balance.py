"""White balance the DNG SDK way: Temperature/Tint <-> xy, camera matrices interpolated by 1/CCT.

Modelled on the DNG specification (chapter 6, "Mapping Camera Color Space to CIE XYZ Space") and
the DNG SDK's dng_temperature.cpp / dng_color_spec.cpp (read, not copied):
- Temperature/Tint <-> xy: Robertson's method with the isotemperature-line table of Wyszecki &
  Stiles (Color Science, 2nd ed., p. 228): 31 lines (mired, u, v, slope) in CIE 1960 uv; tint is
  the signed uv distance from the Planckian locus along the isotemperature line, scaled by -3000.
- The two calibration matrices are interpolated linearly in inverse CCT (mired) of the white,
  clamped to the calibration illuminants' temperatures.
- Camera neutral of a white = ColorMatrix(white) * XYZ(white), normalised to max 1.
- The matrices as the SDK's profile holds them (dng_camera_profile.cpp NormalizeColorMatrix,
  SetForwardMatrix): each ColorMatrix scaled so that max(CM . D50) = 1 (unless already within 1 %)
  and rounded to 1e-4, each ForwardMatrix rounded to 1e-4 and then scaled by rows so camera
  (1, 1, 1) maps to D50. A single calibration (no ColorMatrix2, or unknown / equal illuminant
  temperatures) uses ColorMatrix1 / ForwardMatrix1 only; with two, a profile with only one
  ForwardMatrix (1 or 2) uses it at every white.
- Camera -> XYZ(D50): with ForwardMatrix, FM * diag(1 / reference neutral) * inverse(AB * CC);
  otherwise inverse(ColorMatrix * Bradford(D50 -> white)), scaled so PCS white is reached when the
  first camera channel saturates; the Bradford cone gains are limited to [0.1, 10] (MapWhiteMatrix).
- As-shot white from AsShotNeutral: iterate neutral -> xy (SDK NeutralToXY, 30 passes).

The per-image matrix maths for a Temperature/Tint (`camera_to_prophoto`) is torch and
differentiable in Temperature and Tint, so slider fitting can optimise white balance. The as-shot
estimation is numpy (it runs once per photo).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from rendering import camera_profile
from rendering.colour import BRADFORD, WHITE_XY, WHITE_XYZ, XYZ_TO_PROPHOTO
from rendering.tone import TONE_LUT_SIZE

TINT_SCALE = -3000.0
BRADFORD_GAIN_MIN, BRADFORD_GAIN_MAX = 0.1, 10.0   # the SDK's limits on the Bradford cone gains
MATRIX_ROUNDING = 10000.0                          # the SDK rounds profile matrices to 1e-4
COLOR_MATRIX_TOLERANCE = 0.01                      # NormalizeColorMatrix leaves max(CM . D50) within 1 % of 1

# Robertson isotemperature lines: (reciprocal megakelvin, u, v, slope dv/du of the line).
# Data: Wyszecki & Stiles, Color Science 2nd ed., table 1(3.11), p. 228 (the table the DNG SDK uses).
ROBERTSON_TABLE = np.array([
    (0, 0.18006, 0.26352, -0.24341), (10, 0.18066, 0.26589, -0.25479),
    (20, 0.18133, 0.26846, -0.26876), (30, 0.18208, 0.27119, -0.28539),
    (40, 0.18293, 0.27407, -0.30470), (50, 0.18388, 0.27709, -0.32675),
    (60, 0.18494, 0.28021, -0.35156), (70, 0.18611, 0.28342, -0.37915),
    (80, 0.18740, 0.28668, -0.40955), (90, 0.18880, 0.28997, -0.44278),
    (100, 0.19032, 0.29326, -0.47888), (125, 0.19462, 0.30141, -0.58204),
    (150, 0.19962, 0.30921, -0.70471), (175, 0.20525, 0.31647, -0.84901),
    (200, 0.21142, 0.32312, -1.0182), (225, 0.21807, 0.32909, -1.2168),
    (250, 0.22511, 0.33439, -1.4512), (275, 0.23247, 0.33904, -1.7298),
    (300, 0.24010, 0.34308, -2.0637), (325, 0.24702, 0.34655, -2.4681),
    (350, 0.25591, 0.34951, -2.9641), (375, 0.26400, 0.35200, -3.5814),
    (400, 0.27218, 0.35407, -4.3633), (425, 0.28039, 0.35577, -5.3762),
    (450, 0.28863, 0.35714, -6.7262), (475, 0.29685, 0.35823, -8.5955),
    (500, 0.30505, 0.35907, -11.324), (525, 0.31320, 0.35968, -15.628),
    (550, 0.32129, 0.36011, -23.325), (575, 0.32931, 0.36038, -40.770),
    (600, 0.33724, 0.36051, -116.45),
])

# EXIF LightSource code -> correlated colour temperature (K) as the DNG SDK's dng_illuminant
# assigns them (fluorescent classes use the middle of their CCT range); 0 = unknown.
ILLUMINANT_TEMPERATURE = {
    1: 5500.0, 2: 4150.0, 3: 2850.0, 4: 5500.0, 9: 5500.0, 10: 6500.0, 11: 7500.0,
    12: 6400.0, 13: 5050.0, 14: 4150.0, 15: 3525.0, 16: 2925.0, 17: 2850.0, 18: 5500.0,
    19: 6500.0, 20: 5500.0, 21: 6500.0, 22: 7500.0, 23: 5000.0, 24: 3200.0,
}


def illuminant_temperature(code: int) -> float:
    """CCT in kelvin of an EXIF LightSource code (CalibrationIlluminant tag); 0 when unknown."""
    return ILLUMINANT_TEMPERATURE.get(int(code), 0.0)


# ---------------------------------------------------------------- Temperature/Tint <-> xy (numpy)

def xy_to_temperature_tint(xy: tuple[float, float] | np.ndarray) -> tuple[float, float]:
    """Chromaticity xy -> (temperature K, tint) by Robertson's isotemperature lines (numpy)."""
    x, y = float(xy[0]), float(xy[1])
    denom = 1.5 - x + 6.0 * y
    u, v = 2.0 * x / denom, 3.0 * y / denom
    last_dt = last_du = last_dv = 0.0
    t = ROBERTSON_TABLE
    for i in range(1, len(t)):
        du, dv = 1.0, t[i, 3]
        norm = np.hypot(du, dv)
        du, dv = du / norm, dv / norm
        uu, vv = u - t[i, 1], v - t[i, 2]
        dt = -uu * dv + vv * du  # signed distance to the isotemperature line
        if dt <= 0.0 or i == len(t) - 1:
            dt = -min(dt, 0.0)
            f = 0.0 if i == 1 else dt / (last_dt + dt)
            temperature = 1e6 / (t[i - 1, 0] * f + t[i, 0] * (1.0 - f))
            uu = u - (t[i - 1, 1] * f + t[i, 1] * (1.0 - f))
            vv = v - (t[i - 1, 2] * f + t[i, 2] * (1.0 - f))
            du, dv = du * (1.0 - f) + last_du * f, dv * (1.0 - f) + last_dv * f
            norm = np.hypot(du, dv)
            tint = (uu * du / norm + vv * dv / norm) * TINT_SCALE
            return float(temperature), float(tint)
        last_dt, last_du, last_dv = dt, du, dv
    raise AssertionError("unreachable")


def temperature_tint_to_xy(temperature: torch.Tensor, tint: torch.Tensor) -> torch.Tensor:
    """Temperature (K) [B] and Tint [B] -> chromaticity xy [B, 2]; torch, differentiable.

    Robertson: interpolate (u, v) and the unit direction of the isotemperature line between the
    two table lines that bracket 1e6/T, move along that direction by tint / -3000, convert to xy.
    """
    table = torch.as_tensor(ROBERTSON_TABLE, dtype=temperature.dtype, device=temperature.device)
    r = 1e6 / temperature
    # Segment index i with table[i].r <= r < table[i+1].r (the last segment extrapolates).
    idx = torch.searchsorted(table[:, 0].contiguous(), r.detach().contiguous(), right=True) - 1
    idx = idx.clamp(0, len(ROBERTSON_TABLE) - 2)
    lo, hi = table[idx], table[idx + 1]
    f = (hi[:, 0] - r) / (hi[:, 0] - lo[:, 0])
    u = lo[:, 1] * f + hi[:, 1] * (1.0 - f)
    v = lo[:, 2] * f + hi[:, 2] * (1.0 - f)
    n1 = torch.sqrt(1.0 + lo[:, 3] ** 2)
    n2 = torch.sqrt(1.0 + hi[:, 3] ** 2)
    du = f / n1 + (1.0 - f) / n2
    dv = f * lo[:, 3] / n1 + (1.0 - f) * hi[:, 3] / n2
    n3 = torch.sqrt(du ** 2 + dv ** 2)
    offset = tint / TINT_SCALE
    u = u + du / n3 * offset
    v = v + dv / n3 * offset
    denom = u - 4.0 * v + 2.0
    return torch.stack([1.5 * u / denom, v / denom], dim=-1)


def temperature_tint_to_xy_np(temperature: float, tint: float) -> np.ndarray:
    """Numpy convenience wrapper of temperature_tint_to_xy for one white -> xy [2]."""
    xy = temperature_tint_to_xy(torch.tensor([float(temperature)], dtype=torch.float64),
                                torch.tensor([float(tint)], dtype=torch.float64))
    return xy[0].numpy()


# ---------------------------------------------------------------------- matrix helpers (torch)

def _xy_to_xyz(xy: torch.Tensor) -> torch.Tensor:
    """xy [B,2] -> XYZ [B,3] with Y = 1."""
    x, y = xy[..., 0], xy[..., 1]
    return torch.stack([x / y, torch.ones_like(x), (1.0 - x - y) / y], dim=-1)


def _bradford(src_xyz: torch.Tensor, dst_xyz: torch.Tensor) -> torch.Tensor:
    """Per-image Bradford adaptation matrices [B,3,3] from white XYZ [B,3] to white XYZ [B,3].

    As the SDK's MapWhiteMatrix: negative cone responses count as 0 and each gain is pinned to
    [0.1, 10] (10 where the source response is 0).
    """
    m = torch.as_tensor(BRADFORD, dtype=src_xyz.dtype, device=src_xyz.device)
    src, dst = (src_xyz @ m.T).clamp(min=0.0), (dst_xyz @ m.T).clamp(min=0.0)
    gain = torch.where(src > 0, dst / torch.where(src > 0, src, torch.ones_like(src)), torch.full_like(src, 10.0))
    return torch.linalg.inv(m) @ torch.diag_embed(gain.clamp(BRADFORD_GAIN_MIN, BRADFORD_GAIN_MAX)) @ m


def interpolation_weight(temperature: torch.Tensor, t1: torch.Tensor, t2: torch.Tensor) -> torch.Tensor:
    """Weight of calibration 1 for whites of CCT `temperature` [B]: linear in 1/T, clamped [0,1].

    t1, t2 [B] are the calibration illuminants' temperatures; 0 (unknown) or equal temperatures
    mean a single calibration (weight 1). Calibrations are swapped so that t1 <= t2 as the SDK does.
    """
    lo, hi = torch.minimum(t1, t2), torch.maximum(t1, t2)
    valid = (lo > 0) & (hi > lo)
    lo_safe = torch.where(valid, lo, torch.full_like(lo, 2850.0))
    hi_safe = torch.where(valid, hi, torch.full_like(hi, 6500.0))
    g = (1.0 / temperature - 1.0 / hi_safe) / (1.0 / lo_safe - 1.0 / hi_safe)
    g = g.clamp(0.0, 1.0)
    g = torch.where(t1 <= t2, g, 1.0 - g)  # weight of the *first* calibration
    return torch.where(valid, g, torch.ones_like(g))


def _round(m: np.ndarray) -> np.ndarray:
    """Round to 1e-4, halves away from zero (SDK dng_matrix::Round with Round_int32)."""
    return np.trunc(m * MATRIX_ROUNDING + np.copysign(0.5, m)) / MATRIX_ROUNDING


def normalize_color_matrix(m: np.ndarray, rounded: bool = True) -> np.ndarray:
    """XYZ -> camera ColorMatrix [3,3] scaled so max(CM . D50) = 1 (unless within 1 %), rounded to 1e-4 (SDK)."""
    m = np.asarray(m, dtype=np.float64)
    peak = float((m @ WHITE_XYZ["D50"]).max())
    if peak > 0.0 and abs(peak - 1.0) > COLOR_MATRIX_TOLERANCE:
        m = m / peak
    return _round(m) if rounded else m


def normalize_forward_matrix(fm: np.ndarray, rounded: bool = True) -> np.ndarray:
    """ForwardMatrix [3,3] rounded to 1e-4, rows then scaled so camera (1,1,1) maps to D50 (NormalizeForwardMatrix)."""
    fm = _round(np.asarray(fm, dtype=np.float64)) if rounded else np.asarray(fm, dtype=np.float64)
    xyz = fm @ np.ones(3)
    if np.any(xyz <= 0):
        return fm
    return np.diag(WHITE_XYZ["D50"] / xyz) @ fm


def is_dual_calibration(profile) -> bool:
    """Whether the SDK interpolates two calibrations: ColorMatrix2 present, both illuminant CCTs known and different."""
    t1, t2 = illuminant_temperature(profile.illuminant1), illuminant_temperature(profile.illuminant2)
    return profile.color_matrix2 is not None and t1 > 0 and t2 > 0 and t1 != t2


def sdk_calibration(profile) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None,
                                      np.ndarray, np.ndarray]:
    """A CameraProfile's matrices as the SDK's dng_color_spec holds them (numpy, [3,3] each).

    Returns (AB*CC1*CM1, AB*CC2*CM2, FM1, FM2, AB*CC1, AB*CC2) with the colour matrices normalised
    and the forward matrices rounded and normalised (None when absent). A single calibration repeats
    the first set; with two, a missing forward matrix is the other one (the SDK uses whichever exists).
    `profile.round_matrices` False skips the 1e-4 rounding (the exact linear-ProPhoto identity profile).
    """
    rounded = profile.round_matrices
    balance = np.diag(profile.analog_balance)
    ab_cc1 = balance @ profile.camera_calibration1
    cm1 = ab_cc1 @ normalize_color_matrix(profile.color_matrix1, rounded)
    fm1 = None if profile.forward_matrix1 is None else normalize_forward_matrix(profile.forward_matrix1, rounded)
    if not is_dual_calibration(profile):
        return cm1, cm1, fm1, fm1, ab_cc1, ab_cc1
    ab_cc2 = balance @ profile.camera_calibration2
    cm2 = ab_cc2 @ normalize_color_matrix(profile.color_matrix2, rounded)
    fm2 = None if profile.forward_matrix2 is None else normalize_forward_matrix(profile.forward_matrix2, rounded)
    return cm1, cm2, fm1 if fm1 is not None else fm2, fm2 if fm2 is not None else fm1, ab_cc1, ab_cc2


@dataclass
class CameraMatrices:
    """Per-image DNG colour calibration as torch tensors, batched over B images.

    color_matrix1/2 [B,3,3] XYZ -> camera (AB * CC * normalised ColorMatrix as the SDK folds them),
    forward_matrix1/2 [B,3,3] (zeros when absent; `has_forward` [B] bool), reference calibration
    ab_cc1/2 [B,3,3] = diag(AnalogBalance) * CameraCalibration, temperature1/2 [B] (K, 0 unknown),
    baseline_exposure [B] (EV: BaselineExposure + the profile's BaselineExposureOffset, added to the
    Exposure slider by the exposure ramp) and shadow_scale [B] (ShadowScale, scales the Blacks slider).
    The camera profile's tables (rendering.camera_profile), None when no image has one:
    hue_sat_map1/2 [B,V,H,S,3] (ProfileHueSatMapData1/2; identity rows for images without),
    look_table [B,V,H,S,3], their value encodings (0 linear, 1 sRGB), and tone_curve [B,K]
    (ProfileToneCurve sampled like rendering.tone.tone_lut) with has_tone_curve [B] bool.
    """

    color_matrix1: torch.Tensor
    color_matrix2: torch.Tensor
    forward_matrix1: torch.Tensor
    forward_matrix2: torch.Tensor
    has_forward: torch.Tensor
    ab_cc1: torch.Tensor
    ab_cc2: torch.Tensor
    temperature1: torch.Tensor
    temperature2: torch.Tensor
    baseline_exposure: torch.Tensor
    shadow_scale: torch.Tensor
    hue_sat_map1: torch.Tensor | None = None
    hue_sat_map2: torch.Tensor | None = None
    hue_sat_encoding: int = 0
    look_table: torch.Tensor | None = None
    look_table_encoding: int = 0
    tone_curve: torch.Tensor | None = None
    has_tone_curve: torch.Tensor | None = None

    @classmethod
    def from_profiles(cls, profiles: list, device: str | torch.device = "cpu",
                      dtype: torch.dtype = torch.float64) -> "CameraMatrices":
        """Stack CameraProfile objects (rendering.dng_tags) into batched tensors on `device`."""
        def stack(values) -> torch.Tensor:
            return torch.as_tensor(np.stack([np.asarray(v, dtype=np.float64) for v in values]), dtype=torch.float64)
        calibrations = [sdk_calibration(p) for p in profiles]
        zeros = np.zeros((3, 3))
        column = lambda i: [c[i] if c[i] is not None else zeros for c in calibrations]  # noqa: E731
        out = cls(
            color_matrix1=stack(column(0)), color_matrix2=stack(column(1)),
            forward_matrix1=stack(column(2)), forward_matrix2=stack(column(3)),
            has_forward=torch.tensor([c[2] is not None for c in calibrations]),
            ab_cc1=stack(column(4)), ab_cc2=stack(column(5)),
            temperature1=stack([illuminant_temperature(p.illuminant1) for p in profiles]),
            temperature2=stack([illuminant_temperature(p.illuminant2) if is_dual_calibration(p) else 0.0
                                for p in profiles]),
            baseline_exposure=stack([p.baseline_exposure + p.baseline_exposure_offset
                                     for p in profiles]),
            shadow_scale=stack([p.shadow_scale for p in profiles]),
            **_profile_tables(profiles),
        )
        return out.to(device, dtype)

    def to(self, device: str | torch.device, dtype: torch.dtype | None = None) -> "CameraMatrices":
        """Copy onto a device (and floating dtype)."""
        kw = {}
        for name, value in self.__dict__.items():
            if not torch.is_tensor(value):
                kw[name] = value
            elif value.dtype == torch.bool:
                kw[name] = value.to(device)
            else:
                kw[name] = value.to(device=device, dtype=dtype or value.dtype)
        return CameraMatrices(**kw)

    def __len__(self) -> int:
        return self.color_matrix1.shape[0]

    def index(self, idx: torch.Tensor | list[int]) -> "CameraMatrices":
        """Select/repeat images: a new CameraMatrices with rows `idx`."""
        idx = torch.as_tensor(idx, device=self.color_matrix1.device, dtype=torch.long)
        return CameraMatrices(**{k: v[idx] if torch.is_tensor(v) else v for k, v in self.__dict__.items()})

    def hue_sat_map(self, temperature: torch.Tensor) -> torch.Tensor | None:
        """The profile's HueSatMap [B,V,H,S,3] for whites of CCT `temperature` [B] (K), or None (HueSatMapForWhite)."""
        if self.hue_sat_map1 is None:
            return None
        g = interpolation_weight(temperature.to(self.temperature1.dtype), self.temperature1, self.temperature2)
        return camera_profile.interpolate_tables(self.hue_sat_map1, self.hue_sat_map2, g)

    def profile_tone(self, lut: torch.Tensor, process: str) -> torch.Tensor:
        """Render tone curves [B,K] with the profile's ProfileToneCurve in place of `process`'s default curve.

        Images without a profile curve keep `lut`; see rendering.camera_profile.profile_tone.
        """
        curve = self.tone_curve.to(lut.dtype)
        default = camera_profile.default_tone_lut(process, lut.dtype, lut.device).expand_as(lut)
        return torch.where(self.has_tone_curve[:, None], camera_profile.profile_tone(lut, curve, default), lut)

    def _calibration(self, temperature: torch.Tensor, tint: torch.Tensor):
        """White XYZ [B,3] and the calibrations interpolated for it: colour, forward, AB*CC matrices [B,3,3]."""
        dtype = self.color_matrix1.dtype
        temperature, tint = temperature.to(dtype), tint.to(dtype)
        white_xyz = _xy_to_xyz(temperature_tint_to_xy(temperature, tint))
        g = interpolation_weight(temperature, self.temperature1, self.temperature2)[:, None, None]
        lerp = lambda a, b: g * a + (1.0 - g) * b  # noqa: E731
        return (white_xyz, lerp(self.color_matrix1, self.color_matrix2),
                lerp(self.forward_matrix1, self.forward_matrix2), lerp(self.ab_cc1, self.ab_cc2))

    def camera_white(self, temperature: torch.Tensor, tint: torch.Tensor) -> torch.Tensor:
        """Camera neutral [B,3] of the white Temperature (K) / Tint [B], largest channel 1 (SDK CameraWhite).

        Each channel is pinned to [0.001, 1] as the SDK does; camera RGB is clipped at these values
        before the matrix, so clipped highlights stay neutral.
        """
        white_xyz, color_matrix, _, _ = self._calibration(temperature, tint)
        return _camera_neutral(color_matrix, white_xyz)

    def camera_to_xyz_d50(self, temperature: torch.Tensor, tint: torch.Tensor) -> torch.Tensor:
        """Camera RGB -> XYZ (D50 PCS) matrices [B,3,3] white-balanced for Temperature/Tint [B]."""
        return self._white_and_xyz_matrix(temperature, tint)[1]

    def white_and_matrix(self, temperature: torch.Tensor, tint: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`camera_white` [B,3] and `camera_to_prophoto` [B,3,3] for Temperature (K) / Tint [B], calibrated once."""
        camera_white, to_xyz = self._white_and_xyz_matrix(temperature, tint)
        return camera_white, self._xyz_to_prophoto() @ to_xyz

    def _xyz_to_prophoto(self) -> torch.Tensor:
        return torch.as_tensor(XYZ_TO_PROPHOTO, dtype=self.color_matrix1.dtype, device=self.color_matrix1.device)

    def _white_and_xyz_matrix(self, temperature: torch.Tensor, tint: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The camera white [B,3] and camera RGB -> XYZ (D50) matrices [B,3,3] of Temperature/Tint [B]."""
        white_xyz, color_matrix, forward, ab_cc = self._calibration(temperature, tint)
        camera_white = _camera_neutral(color_matrix, white_xyz)
        # Forward-matrix path (DNG 1.2+): FM maps white-balanced reference camera RGB to XYZ D50.
        ref_white = torch.linalg.solve(ab_cc, camera_white[..., None])[..., 0]
        fm_path = forward @ torch.diag_embed(1.0 / ref_white) @ torch.linalg.inv(ab_cc)
        # Colour-matrix path: PCS -> camera = CM * Bradford(D50 -> white), then invert.
        d50 = torch.as_tensor(WHITE_XYZ["D50"], dtype=white_xyz.dtype, device=white_xyz.device).expand_as(white_xyz)
        pcs_to_camera = color_matrix @ _bradford(d50, white_xyz)
        scale = (pcs_to_camera @ d50[..., None])[..., 0].amax(dim=-1)
        cm_path = torch.linalg.inv(pcs_to_camera / scale[:, None, None])
        use_fm = self.has_forward[:, None, None]
        return camera_white, torch.where(use_fm, fm_path, cm_path)

    def camera_to_prophoto(self, temperature: torch.Tensor, tint: torch.Tensor) -> torch.Tensor:
        """Camera RGB -> linear ProPhoto matrices [B,3,3] for Temperature (K) / Tint [B], torch.

        No exposure: BaselineExposure is applied by the exposure ramp (rendering.exposure).
        """
        return self._xyz_to_prophoto() @ self.camera_to_xyz_d50(temperature, tint)


def _camera_neutral(color_matrix: torch.Tensor, white_xyz: torch.Tensor) -> torch.Tensor:
    """Camera response [B,3] to white XYZ [B,3] through XYZ -> camera [B,3,3], largest 1, pinned to [0.001, 1]."""
    neutral = (color_matrix @ white_xyz[..., None])[..., 0]
    return (neutral / neutral.amax(dim=-1, keepdim=True)).clamp(0.001, 1.0)


def neutral_to_xy(profile, neutral: np.ndarray, passes: int = 30) -> np.ndarray:
    """Camera neutral [3] -> white xy [2], iterating xy -> interpolated ColorMatrix (SDK method)."""
    neutral = np.asarray(neutral, dtype=np.float64)
    last = np.array(WHITE_XY["D50"], dtype=np.float64)
    for i in range(passes):
        xyz_to_camera = profile_color_matrix(profile, last)
        xyz = np.linalg.solve(xyz_to_camera, neutral)
        nxt = xyz[:2] / xyz.sum()
        if np.abs(nxt - last).sum() < 1e-7:
            return nxt
        if i == passes - 1:  # a two-value oscillation: settle in the middle
            nxt = (last + nxt) / 2.0
        last = nxt
    return last


def profile_color_matrix(profile, xy: np.ndarray) -> np.ndarray:
    """Interpolated XYZ -> camera matrix (AB * CC * normalised CM) of a CameraProfile for white xy (numpy)."""
    temperature, _ = xy_to_temperature_tint(xy)
    cm1, cm2 = sdk_calibration(profile)[:2]
    if not is_dual_calibration(profile):
        return cm1
    g = float(interpolation_weight(torch.tensor([temperature], dtype=torch.float64),
                                   torch.tensor([illuminant_temperature(profile.illuminant1)], dtype=torch.float64),
                                   torch.tensor([illuminant_temperature(profile.illuminant2)], dtype=torch.float64))[0])
    return g * cm1 + (1.0 - g) * cm2


def _profile_tables(profiles: list) -> dict:
    """The batch's HueSatMap / LookTable / tone-curve tensors for CameraMatrices (identity rows where absent)."""
    out: dict = {}
    if any(p.hue_sat_map1 is not None for p in profiles):
        maps1 = _same_shape([p.hue_sat_map1 for p in profiles], "HueSatMap")
        maps2 = [m if p.hue_sat_map2 is None else p.hue_sat_map2 for p, m in zip(profiles, maps1)]
        out.update(hue_sat_map1=_table_tensor(maps1), hue_sat_map2=_table_tensor(_same_shape(maps2, "HueSatMap")),
                   hue_sat_encoding=_one_encoding([p.hue_sat_encoding for p in profiles if p.hue_sat_map1 is not None]))
    if any(p.look_table is not None for p in profiles):
        out.update(look_table=_table_tensor(_same_shape([p.look_table for p in profiles], "LookTable")),
                   look_table_encoding=_one_encoding([p.look_table_encoding for p in profiles
                                                      if p.look_table is not None]))
    if any(p.tone_curve is not None for p in profiles):
        identity = np.linspace(0.0, 1.0, TONE_LUT_SIZE) ** 2
        curves = [identity if p.tone_curve is None else camera_profile.spline_tone_lut(p.tone_curve) for p in profiles]
        out.update(tone_curve=torch.as_tensor(np.stack(curves), dtype=torch.float64),
                   has_tone_curve=torch.tensor([p.tone_curve is not None for p in profiles]))
    return out


def _same_shape(tables: list, name: str) -> list:
    """Tables [V,H,S,3] (None = identity) of one batch; they must share their divisions."""
    shape = next(t.shape for t in tables if t is not None)
    if any(t is not None and t.shape != shape for t in tables):
        shapes = [None if t is None else t.shape for t in tables]
        raise ValueError(f"{name}s of different divisions in one batch: {shapes}")
    identity = np.zeros(shape, dtype=np.float32)
    identity[..., 1:] = 1.0
    return [identity if t is None else t for t in tables]


def _table_tensor(tables: list) -> torch.Tensor:
    return torch.as_tensor(np.stack(tables), dtype=torch.float64)


def _one_encoding(encodings: list[int]) -> int:
    """The one table encoding of a batch (0 linear, 1 sRGB)."""
    if len(set(encodings)) > 1:
        raise ValueError(f"table encodings differ within one batch: {sorted(set(encodings))}")
    return int(encodings[0])
