"""Known-answer problems: photos, features and edits drawn from a p(y | x) that is known exactly, for
the modeling tests and benchmarks/science.py (which writes them in the Parquet contract).

Features x [D]: with `factors` = 0, standard normal coordinates; with `factors` = F > 0,
x = f M + noise for F standard normal factors f mixed densely into D coordinates (FC7-like: low
rank plus noise). The signal t(x) [informative] is an exact linear function of x: with
`raw_informative` = None, the first `informative` coordinates (factors = 0) or the first
`informative` factors read back from x by a fixed linear map (factors > 0); with
`raw_informative` = r, r raw coordinates at random positions hold independent standard normal
signal (sparse in raw coordinates, whatever the rest is) and the other informative - r
directions are factors read back from the remaining coordinates (low rank), each scaled to unit
variance. Five editors A..E edit every photo:

    style s ~ P(s | x, e) ∝ softmax(weight_strength * t A)_s * pi_e(s),
              pi_e(s) = (1 - a) / S + a [s = e mod S]   (a = editor_preference)
    y_j = clip(c_sj + mean_strength * (t B)_j + noise * eps_j, -1, 1)

With `keep_style`, each editor draws one style s_e ~ pi_e once (when the problem is drawn) and
keeps it for every edit: P(s | x, e) = [s = s_e], whatever the photo. The realised s_e are part
of the problem, as the centres are: every split holds edits of the same five editors, so a model
can learn them, and p(y | x) below conditions on them (a density that averaged over s_e instead
would be beaten by a model that learnt the realised styles).

`clip_share` pushes that share of the style x slider centres past a range end (|c| in 1..1.3), so
those sliders' edits pile up at -1 / +1 (clipping always applies; without pushed centres it is
rare). With `atoms`, FiveK-like: each style touches each slider with probability touch_p (white
balance always); an untouched slider, and a touched one with probability ATOM_P per edit, sits
exactly at its neutral value. With `steps` (default: with atoms) values are stored on
Lightroom's steps (Temperature excepted), which leaves the cell of every value, hence its
likelihood, unchanged. The exact log p(y | x) of an edit whose editor is unknown averages the
editors and reads every slider through modeling.likelihood: sum_e 1/5 sum_s P(s | x, e) prod_j
[rho_sj 1(neutral_j in cell_j(y)) + (1 - rho_sj) P_N(cell_j(y); mean_sj(x), noise)].
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from modeling.likelihood import ATOM_SLIDERS, CELL_COUNTS, SliderParams, slider_log_prob
from modeling.metrics import mean_se
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
    raw_informative: int | None = None   # signal directions in raw coordinates at random positions (see above)
    clip_share: float = 0.0        # share of style x slider centres pushed past a range end
    steps: bool | None = None      # values stored on Lightroom's steps; None: when atoms
    keep_style: bool = False       # each editor keeps one style s_e ~ pi_e for all its edits

    @property
    def on_steps(self) -> bool:
        """Whether edits are stored on Lightroom's steps."""
        return self.atoms if self.steps is None else self.steps


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
        if regime.raw_informative is not None:
            readout = None   # drawn below, after the draws every regime makes
        elif mixing is not None:  # t = f_k + noise @ readout, scaled to unit variance
            readout = np.linalg.pinv(mixing)[:, :k]
            readout = readout / np.sqrt(1.0 + FEATURE_NOISE ** 2 * (readout ** 2).sum(0))
        else:
            readout = np.eye(D)[:, :k]
        style_map, mean_map = rng.normal(size=(k, S)), rng.normal(size=(k, NUM_SLIDERS))
        raw = np.zeros(0, dtype=np.int64)
        if regime.raw_informative is not None:
            raw, readout = sparse_readout(rng, regime, mixing)
        if regime.clip_share > 0:
            pushed = rng.random((S, NUM_SLIDERS)) < regime.clip_share
            ends = rng.choice([-1.0, 1.0], size=(S, NUM_SLIDERS)) * rng.uniform(1.0, 1.3, size=(S, NUM_SLIDERS))
            centres = np.where(pushed, ends, centres)
        if regime.keep_style:   # s_e ~ pi_e, drawn once, kept for every edit
            kept = [rng.choice(S, p=row / row.sum()) for row in prefs]
            prefs = np.eye(S)[kept]
        for name, value in [("centres", centres), ("rho", rho), ("prefs", prefs), ("readout", readout),
                            ("style_map", style_map), ("mean_map", mean_map)]:
            self.register_buffer(name, torch.tensor(value, dtype=torch.float32))
        self.mixing = None if mixing is None else torch.tensor(mixing, dtype=torch.float32)
        self.raw_positions = torch.tensor(raw, dtype=torch.long)   # [raw_informative] coordinates of raw signal
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
            x = torch.randn(photos, D, generator=gen)
        else:
            f = torch.randn(photos, self.regime.factors, generator=gen)
            x = f @ self.mixing + FEATURE_NOISE * torch.randn(photos, D, generator=gen)
        if len(self.raw_positions):   # independent standard normal signal coordinates
            x[:, self.raw_positions] = torch.randn(photos, len(self.raw_positions), generator=gen)
        return x

    def signal(self, x: torch.Tensor) -> torch.Tensor:
        """The signal t(x) = x R [B, informative] that the styles and means read, for features x [B, D]."""
        return x.to(self.readout.dtype) @ self.readout

    def components(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """log P(s | x, e) [B, E, S] and slider means [B, S, 11] (before clipping) for features x [B, D]."""
        t = self.signal(x)
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
    def log_prob_each_editor(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Exact log p(y | x, e) [B, 5] (nats, float64) of every edit under each of the five editors."""
        log_style, log_slider = self._log_terms(x, y)
        return torch.logsumexp(log_style + log_slider[:, None], dim=-1)

    @torch.no_grad()
    def log_weights(self, x: torch.Tensor, y: torch.Tensor, num_samples: int = 1,
                    generator: torch.Generator | None = None) -> torch.Tensor:
        """Exact log p(y | x) [B, 1] (nats), the editor unknown (uniform over the five)."""
        log_each = self.log_prob_each_editor(x, y)
        return (torch.logsumexp(log_each, dim=-1, keepdim=True) - math.log(len(EDITORS))).float()

    @torch.no_grad()
    def log_prob_given_editor(self, x: torch.Tensor, y: torch.Tensor, editors: torch.Tensor) -> torch.Tensor:
        """Exact log p(y | x, editor) [B] (nats) for editor indices editors [B] (0..4): what knowing the user gives."""
        return self.log_prob_each_editor(x, y)[torch.arange(x.shape[0]), editors].float()

    @torch.no_grad()
    def sample_edits(self, x: torch.Tensor, editors: torch.Tensor, generator: torch.Generator | None = None
                     ) -> torch.Tensor:
        """One edit [B, 11] (model space) per row of x [B, D] by editor index editors [B] (0..4)."""
        log_style, means = self.components(x)
        rows = torch.arange(x.shape[0])
        s = multinomial(log_style[rows, editors].exp(), 1, generator)[:, 0]
        y = sample_sliders(SliderParams(*(t[rows, s] for t in self.style_params(means))), generator)
        if self.regime.on_steps:  # stored on Lightroom's steps
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


def sparse_readout(rng: np.random.Generator, regime: Regime, mixing: np.ndarray | None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(raw positions [r], readout R [D, informative]) of a regime with raw_informative = r.

    Columns 0..r-1 pick r raw coordinates (random positions, their features independent standard
    normal signal); the other columns read factors 0..informative-r-1 back from the remaining
    coordinates by the pseudo-inverse of their mixing rows, scaled to unit variance.
    """
    D, k, r = regime.feature_dim, regime.informative, regime.raw_informative
    if not 0 <= r <= k or (k > r and regime.factors < k - r):
        raise ValueError(f"raw_informative {r} needs 0..{k} and {k - r} factors (have {regime.factors})")
    raw = np.sort(rng.choice(D, size=r, replace=False))
    readout = np.zeros((D, k))
    readout[raw, np.arange(r)] = 1.0
    if k > r:
        rest = np.setdiff1d(np.arange(D), raw)
        m = mixing[:, rest]                                   # [F, D - r]
        back = np.linalg.pinv(m)[:, :k - r]                   # f_j ~ x_rest back_j
        var = ((m @ back) ** 2).sum(0) + FEATURE_NOISE ** 2 * (back ** 2).sum(0)
        readout[rest, r:] = back / np.sqrt(var)
    return raw, readout


@torch.no_grad()
def truth_personalisation_curve(truth: KnownAnswer, max_history: int = 30, held_out: int = 20,
                                users_per_editor: int = 20, seed: int = 0) -> dict:
    """The truth's own personalisation curve and ceiling on fresh draws of the problem (nats/edit).

    A user is one editor (uniform over the five, unknown to the predictor) who edits held_out +
    max_history fresh photos. The truth knows every editor's p(y | x, e) (with keep_style, the
    realised styles s_e) but not which editor the user is, so after k history edits its
    prediction is sum_e P(e | history_k) p(y | x, e), P(e | history_k) ∝ prod_{n<=k} p(y_n | x_n, e):

        gain_k  = mean over held-out edits of log sum_e P(e | history_k) p(y | x, e) - log p(y | x)
        ceiling = mean of log p(y | x, e_user) - log p(y | x)   (editor known: the limit k -> inf)

    With mixed styles and no editor preference every p(y | x, e) is the same and both are exactly
    0; with keep_style the history reveals the user's style through P(e | history). Means and
    s.e. over the users (5 x users_per_editor, independent draws of the one problem).
    """
    E, n = len(EDITORS), held_out + max_history
    users = E * users_per_editor
    x = truth.features(users * n, seed)
    editor_of_user = torch.arange(E).repeat_interleave(users_per_editor)
    y = truth.sample_edits(x, editor_of_user.repeat_interleave(n), torch.Generator().manual_seed(seed + 1))
    each = truth.log_prob_each_editor(x, y).reshape(users, n, E)                      # [U, n, E] float64
    test, history = each[:, :held_out], each[:, held_out:]
    log_post = torch.log_softmax(torch.cat([torch.zeros(users, 1, E, dtype=each.dtype),
                                            history.cumsum(1)], 1), dim=-1)           # [U, K+1, E]
    unknown = torch.logsumexp(test, -1) - math.log(E)                                # [U, H]
    ll_k = torch.logsumexp(log_post[:, :, None] + test[:, None], -1)                 # [U, K+1, H]
    gain = (ll_k - unknown[:, None]).mean(-1)                                         # [U, K+1]
    known = test[torch.arange(users), :, editor_of_user]                              # [U, H]
    ceiling, ceiling_se = mean_se((known - unknown).mean(-1).numpy())                # over users
    curve = [mean_se(g) for g in gain.numpy().T]
    return {"history": list(range(max_history + 1)), "gain": [m for m, _ in curve], "gain_se": [s for _, s in curve],
            "ceiling": ceiling, "ceiling_se": ceiling_se, "users": users, "held_out": held_out,
            "definition": "truth's LL_k - LL_0 for a user of unknown editor given k of its edits on other photos "
                          "(posterior over the five editors); ceiling: editor known, E[log p(y|x,e) - log p(y|x)]"}


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
