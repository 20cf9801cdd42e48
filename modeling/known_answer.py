"""Known-answer problems: photos, features and edits drawn from a p(y | x) that is known exactly, for
the modeling tests and benchmarks/science.py (which writes them in the Parquet contract).

Features x [D]: with `factors` = 0, standard normal coordinates whose first `informative` carry the
signal; with `factors` = F > 0, x = f M + noise for F standard normal factors f mixed densely into
D coordinates (FC7-like: low rank plus noise), the signal being the first `informative` factors
read back from x by a fixed linear map. Either way the signal t(x) [informative] is an exact
linear function of x. Five editors A..E edit every photo:

    style s ~ P(s | x, e) ∝ softmax(weight_strength * t A)_s * pi_e(s),
              pi_e(s) = (1 - a) / S + a [s = e mod S]   (a = editor_preference)
    y_j = clip(c_sj + mean_strength * (t B)_j + noise * eps_j, -1, 1)

With `atoms`, FiveK-like: each style touches each slider with probability touch_p (white balance
always); an untouched slider, and a touched one with probability ATOM_P per edit, sits exactly at
its neutral value; values are stored on Lightroom's steps (Temperature excepted). The exact
log p(y | x) of an edit whose editor is unknown averages the editors and reads every slider
through modeling.likelihood: sum_e 1/5 sum_s P(s | x, e) prod_j [rho_sj 1(neutral_j in cell_j(y))
+ (1 - rho_sj) P_N(cell_j(y); mean_sj(x), noise)].
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from modeling.likelihood import ATOM_SLIDERS, CELL_COUNTS, SliderParams, slider_log_prob
from modeling.networks import NUM_SLIDERS, SliderModel, multinomial, sample_sliders
from rendering.sliders import PROCESS_2003

EDITORS = ("A", "B", "C", "D", "E")
ATOM_P = 0.15        # chance that a touched slider is still left at neutral in one edit
FEATURE_NOISE = 0.5  # std of the isotropic noise added to factor features
ROUNDED = torch.tensor([not s.mired for s in PROCESS_2003.sliders])  # stored on Lightroom's steps


@dataclass(frozen=True)
class Regime:
    """One known-answer problem (see the module docstring for the generative process)."""

    name: str
    description: str
    feature_dim: int = 32
    informative: int = 4
    factors: int = 0
    styles: int = 3
    separation: float = 0.5        # style centres: uniform in +-separation per slider (model units)
    weight_strength: float = 0.0   # 0: style weights do not depend on the photo
    mean_strength: float = 0.1
    noise: float = 0.06
    editor_preference: float = 0.0
    atoms: bool = False
    touch_p: float = 0.6           # atoms: chance that a style touches a slider
    seed: int = 0                  # draws the problem (centres, maps); data seeds are separate


class KnownAnswer(SliderModel):
    """The exact p(y | x) of a Regime as a model: exact log_weights [B, 1], sample, sample_edits."""

    exact_likelihood = True

    def __init__(self, regime: Regime):
        super().__init__(regime.feature_dim)
        self.regime = regime
        rng = np.random.default_rng(regime.seed)
        S, k, D = regime.styles, regime.informative, regime.feature_dim
        centres = rng.uniform(-regime.separation, regime.separation, size=(S, NUM_SLIDERS))
        rho = np.zeros((S, NUM_SLIDERS))
        if regime.atoms:
            touched = rng.random((S, NUM_SLIDERS)) < regime.touch_p
            rho = np.where(touched, ATOM_P, 1.0) * ATOM_SLIDERS.numpy()
        a = regime.editor_preference
        prefs = np.full((len(EDITORS), S), (1 - a) / S) + a * np.eye(S)[np.arange(len(EDITORS)) % S]
        mixing = rng.normal(size=(regime.factors, D)) if regime.factors else None
        if mixing is not None:  # t = f_k + noise @ readout, scaled to unit variance
            readout = np.linalg.pinv(mixing)[:, :k]
            readout = readout / np.sqrt(1.0 + FEATURE_NOISE ** 2 * (readout ** 2).sum(0))
        else:
            readout = np.eye(D)[:, :k]
        for name, value in [("centres", centres), ("rho", rho), ("prefs", prefs), ("readout", readout),
                            ("style_map", rng.normal(size=(k, S))), ("mean_map", rng.normal(size=(k, NUM_SLIDERS)))]:
            self.register_buffer(name, torch.tensor(value, dtype=torch.float32))
        self.mixing = None if mixing is None else torch.tensor(mixing, dtype=torch.float32)
        self.fixed_log_style: torch.Tensor | None = None   # set by with_fixed_weights

    def with_fixed_weights(self, x: torch.Tensor) -> "KnownAnswer":
        """The same styles with weights that ignore the photo: each editor's P(s | x, e) averaged over x [N, D].

        A reference, not a rival: the best a mixture whose p(s) is the same for every photo (the
        paper's CGM-VAE prior) reaches without bending its latent space, the gap to the truth being
        what the photo-dependence of the weights is worth.
        """
        fixed = KnownAnswer(self.regime)
        log_style, _ = self.components(x)
        fixed.fixed_log_style = torch.log(log_style.exp().mean(0))   # [E, S]
        return fixed

    def features(self, photos: int, seed: int) -> torch.Tensor:
        """Features [photos, D] of new photos (seeded)."""
        gen = torch.Generator().manual_seed(seed)
        D = self.regime.feature_dim
        if self.mixing is None:
            return torch.randn(photos, D, generator=gen)
        f = torch.randn(photos, self.regime.factors, generator=gen)
        return f @ self.mixing + FEATURE_NOISE * torch.randn(photos, D, generator=gen)

    def components(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """log P(s | x, e) [B, E, S] and slider means [B, S, 11] (before clipping) for features x [B, D]."""
        t = x.to(self.readout.dtype) @ self.readout
        logits = torch.log_softmax(self.regime.weight_strength * t @ self.style_map, -1)
        log_style = torch.log_softmax(logits[:, None] + torch.log(self.prefs)[None], -1)
        means = self.centres[None] + self.regime.mean_strength * (t @ self.mean_map)[:, None]
        if self.fixed_log_style is not None:
            log_style = self.fixed_log_style[None].expand(x.shape[0], -1, -1)
        return log_style, means

    def style_params(self, means: torch.Tensor) -> SliderParams:
        """Per-slider params of each style [B, S, 11] (atom logits +-inf where rho is 0 or 1)."""
        rho = self.rho.to(means.dtype).expand(means.shape)
        return SliderParams(means, torch.full_like(means, 2 * math.log(self.regime.noise)),
                            torch.log(rho) - torch.log1p(-rho))

    def _log_terms(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """log P(s | x, e) [B, E, S] and log p(y | x, s) [B, S] (float64)."""
        log_style, means = self.components(x)
        return log_style.double(), slider_log_prob(y[:, None].double(), self.style_params(means.double()))

    @torch.no_grad()
    def log_weights(self, x: torch.Tensor, y: torch.Tensor, num_samples: int = 1,
                    generator: torch.Generator | None = None) -> torch.Tensor:
        """Exact log p(y | x) [B, 1] (nats), the editor unknown (uniform over the five)."""
        log_style, log_slider = self._log_terms(x, y)
        log_mix = torch.logsumexp(log_style, dim=1) - math.log(len(EDITORS))                   # [B, S]
        return torch.logsumexp(log_mix + log_slider, dim=-1, keepdim=True).float()

    @torch.no_grad()
    def log_prob_given_editor(self, x: torch.Tensor, y: torch.Tensor, editors: torch.Tensor) -> torch.Tensor:
        """Exact log p(y | x, editor) [B] (nats) for editor indices editors [B] (0..4): what knowing the user gives."""
        log_style, log_slider = self._log_terms(x, y)
        return torch.logsumexp(log_style[torch.arange(x.shape[0]), editors] + log_slider, dim=-1).float()

    @torch.no_grad()
    def sample_edits(self, x: torch.Tensor, editors: torch.Tensor, generator: torch.Generator | None = None
                     ) -> torch.Tensor:
        """One edit [B, 11] (model space) per row of x [B, D] by editor index editors [B] (0..4)."""
        log_style, means = self.components(x)
        rows = torch.arange(x.shape[0])
        s = multinomial(log_style[rows, editors].exp(), 1, generator)[:, 0]
        y = sample_sliders(SliderParams(*(t[rows, s] for t in self.style_params(means))), generator)
        if self.regime.atoms:  # stored on Lightroom's steps
            width = 2.0 / CELL_COUNTS.float()
            y = torch.where(ROUNDED, -1.0 + torch.round((y + 1.0) / width) * width, y)
        return y

    @torch.no_grad()
    def sample(self, x: torch.Tensor, n: int, generator: torch.Generator | None = None,
               noise: bool = True) -> torch.Tensor:
        """n draws [B, n, 11] of p(y | x), each by an editor drawn uniformly."""
        B = x.shape[0]
        editors = multinomial(torch.full((B * n, len(EDITORS)), 1.0 / len(EDITORS)), 1, generator)[:, 0]
        return self.sample_edits(x.repeat_interleave(n, 0), editors, generator).reshape(B, n, NUM_SLIDERS)


REGIMES = {
    "separated": Regime("separated", "3 well-separated styles, weights fixed, editors prefer one style",
                        editor_preference=0.5),
    "photo_weights": Regime("photo_weights", "3 closer styles whose weights depend strongly on the photo",
                            separation=0.3, weight_strength=2.0),
    "fc7_4096": Regime("fc7_4096", "as photo_weights, 4096-d low-rank features (32 factors, 4 informative)",
                       feature_dim=4096, factors=32, separation=0.3, weight_strength=2.0),
    "fivek_atoms": Regime("fivek_atoms", "styles touch subsets of sliders: untouched at neutral, clipping, "
                                         "Lightroom steps", separation=0.9, weight_strength=1.0, noise=0.1,
                          atoms=True),
}
