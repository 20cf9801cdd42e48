"""The slider likelihood shared by every model and the feature-blind floor.

Lightroom stores each slider on a grid of steps (Exposure 0.01 EV, the other 2003 sliders whole
units), untouched sliders sit exactly at their neutral value and clipped ones exactly at a range
end. A Gaussian *density* evaluated on such atoms grows without bound as the std shrinks, so its
LL depends on a std floor. Here each slider value y (model space) is read as the cell of the step
lattice it falls in (dequantisation), the cells at the range ends hold all mass beyond them
(censoring), and the untouched value is an explicit atom. Per slider a model gives a mean m, a
log-variance and an atom logit a:

    P(cell) = sigmoid(a) [cell holds the neutral value]
              + sigmoid(-a) (Phi((hi - m) / s) - Phi((lo - m) / s)),   end cells (-inf, -1 + w/2], [1 - w/2, inf)

The cells tile the line, so the masses of all cells sum to 1: a proper discrete distribution,
log <= 0 per slider, that needs no tiny std to fit an untouched slider and stops rising once s
is well below the step, whatever the floor. On continuous data it is the density times the cell
width w. White balance (Temperature, Tint) has no atom: its untouched value is the photo's own.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from rendering.sliders import PROCESS_2003, SliderSpec

# Lightroom's step per slider key, in Lightroom units (how the catalog stores a value).
LIGHTROOM_STEPS = {
    "Temperature": 1.0, "Tint": 1.0, "Exposure": 0.01, "HighlightRecovery": 1.0, "FillLight": 1.0,
    "Shadows": 1.0, "Brightness": 1.0, "Contrast": 1.0, "Clarity": 1.0, "Vibrance": 1.0, "Saturation": 1.0,
    "Exposure2012": 0.01, "Contrast2012": 1.0, "Highlights2012": 1.0, "Shadows2012": 1.0,
    "Whites2012": 1.0, "Blacks2012": 1.0, "Clarity2012": 1.0,
}
MIRED_REFERENCE_K = 5000.0   # a mired slider's cell is one step wide at this temperature
OPEN_EDGE = 1e3              # stands for +-infinity at the open end cells (finite: no NaN gradients)


def cell_counts(spec: SliderSpec = PROCESS_2003) -> np.ndarray:
    """Number of lattice steps n [num sliders] across [-1, 1] per slider (cells: n + 1, width 2 / n)."""
    counts = []
    for s in spec.sliders:
        step = LIGHTROOM_STEPS[s.key]
        if s.mired:  # model-space width of one step at the reference temperature
            width = float(s.to_model(MIRED_REFERENCE_K + step / 2) - s.to_model(MIRED_REFERENCE_K - step / 2))
        else:
            width = 2.0 * step / (s.high - s.low)
        counts.append(max(round(2.0 / width), 1))
    return np.asarray(counts, dtype=np.float64)


CELL_COUNTS = torch.tensor(cell_counts(), dtype=torch.float64)
NEUTRAL = torch.tensor(PROCESS_2003.to_model(PROCESS_2003.neutral()), dtype=torch.float32)  # [11] model space
ATOM_SLIDERS = torch.tensor([s.key not in ("Temperature", "Tint") for s in PROCESS_2003.sliders])


class SliderParams(NamedTuple):
    """Per-slider distribution parameters, each [..., 11]: Gaussian mean and log-variance (model
    space) and the logit of the atom at the neutral value (ignored for white balance)."""

    mean: torch.Tensor
    logvar: torch.Tensor
    atom_logit: torch.Tensor

    def gather(self, dim: int, index: torch.Tensor) -> SliderParams:
        """The rows of `index` (broadcast over the slider axis) along `dim` of every field."""
        return SliderParams(*(torch.gather(t, dim, index) for t in self))


def cell_bounds(y: torch.Tensor, counts: torch.Tensor = CELL_COUNTS) -> tuple[torch.Tensor, torch.Tensor]:
    """Edges lo, hi [..., 11] (float64, model space) of the lattice cell of each slider value y [..., 11].

    Cell k of a slider with n steps is centred on -1 + 2k/n; cell 0 and cell n are open towards
    -inf / +inf (+-OPEN_EDGE), so they hold the mass beyond the range ends.
    """
    n = counts.to(y.device)
    width = 2.0 / n
    k = cell_index(y, counts).clamp(min=torch.zeros_like(n), max=n)
    lo = torch.where(k <= 0, torch.full_like(k, -OPEN_EDGE), -1.0 + (k - 0.5) * width)
    hi = torch.where(k >= n, torch.full_like(k, OPEN_EDGE), -1.0 + (k + 0.5) * width)
    return lo, hi


def log_normal_interval(lo: torch.Tensor, hi: torch.Tensor, mean: torch.Tensor,
                        logvar: torch.Tensor) -> torch.Tensor:
    """log P(lo < Y <= hi) for Y ~ N(mean, exp(logvar)), elementwise with broadcasting (nats, float64).

    Computed as log Phi(b) + log(1 - Phi(a) / Phi(b)) on the side of the interval nearer -inf
    (the interval is mirrored when its standardised midpoint is positive), stable in both tails.
    """
    std = torch.exp(0.5 * logvar.to(torch.float64))
    mean = mean.to(torch.float64)
    a, b = (lo - mean) / std, (hi - mean) / std
    flip = (a + b) > 0
    a, b = torch.where(flip, -b, a), torch.where(flip, -a, b)
    log_b, log_a = torch.special.log_ndtr(b), torch.special.log_ndtr(a)
    return log_b + torch.log(-torch.expm1(log_a - log_b))


def cell_index(y: torch.Tensor, counts: torch.Tensor = CELL_COUNTS) -> torch.Tensor:
    """Lattice cell k (0..n, float64) of each slider value y [..., 11] (model space)."""
    return torch.round((y.to(torch.float64) + 1.0) * counts.to(y.device) / 2.0)


def holds_neutral(y: torch.Tensor) -> torch.Tensor:
    """Whether the cell of each slider value y [..., 11] is the cell of that slider's neutral value (bool)."""
    return cell_index(y) == cell_index(NEUTRAL.to(y.device))


def slider_log_probs(y: torch.Tensor, params: SliderParams) -> torch.Tensor:
    """log P(cell of y_j) per slider [..., 11] (float64, nats): atom at neutral plus censored Gaussian cells."""
    lo, hi = cell_bounds(y)
    log_cont = log_normal_interval(lo, hi, params.mean, params.logvar)
    a = params.atom_logit.to(torch.float64)
    at_neutral = holds_neutral(y)
    log_atom = torch.where(at_neutral, F.logsigmoid(a), torch.full_like(a, -torch.inf))
    mixed = torch.logaddexp(log_atom, F.logsigmoid(-a) + log_cont)
    return torch.where(ATOM_SLIDERS.to(y.device), mixed, log_cont.expand_as(mixed))


def slider_log_prob(y: torch.Tensor, params: SliderParams) -> torch.Tensor:
    """log P(y's cells) summed over the sliders: y [..., 11] broadcast against the params (nats)."""
    return slider_log_probs(y, params).sum(-1).to(params.mean.dtype)
