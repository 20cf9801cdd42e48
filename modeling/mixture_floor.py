"""The feature-blind floor: a mixture over sliders (per slider a Gaussian and the atom at the neutral
value) that ignores the photo, fitted by EM on the train sliders under the same likelihood as every
model (modeling.likelihood: Lightroom step cells, censored at the range ends) and scored with it.

EM for cell data: the E-step weighs each edit by its cell masses under each component, splits an
edit at a slider's neutral cell between the atom and the Gaussian, and takes the moments of a
normal truncated to each cell; the M-step sets weights, atom probabilities, means and variances
from those. Each step cannot lower the cell log-likelihood. The number of components is chosen by
validation LL. A model that uses the features well should beat this row.
"""
from __future__ import annotations

import logging
import math

import torch

from modeling import networks
from modeling.cluster_init import kmeans
from modeling.likelihood import (
    ATOM_SLIDERS,
    SliderParams,
    cell_bounds,
    holds_neutral,
    log_normal_interval,
    slider_log_probs,
)
from modeling.networks import NUM_SLIDERS, SliderModel, multinomial, sample_sliders

log = logging.getLogger(__name__)

FLOOR_COMPONENTS = (1, 2, 3, 5, 10)
EM_ITERATIONS = 300
EM_TOLERANCE = 1e-6  # stop when the mean LL per edit rises by less than this (nats)
ATOM_CLAMP = 1e-9    # atom probabilities kept in [ATOM_CLAMP, 1 - ATOM_CLAMP] (finite logits)


class FeatureBlindMixture(SliderModel):
    """p(y | x) = sum_k w_k prod_j P(cell of y_j | component k), the same for every x."""

    exact_likelihood = True

    def __init__(self, feature_dim: int, components: int = 1):
        super().__init__(feature_dim, components=components)
        self.register_buffer("log_mix", torch.full((components,), -math.log(components)))
        for name in ("mean", "logvar", "atom_logit"):
            self.register_buffer(name, torch.zeros(components, NUM_SLIDERS))

    def params(self) -> SliderParams:
        """The components' per-slider params [K, 11]."""
        return SliderParams(self.mean, self.logvar, self.atom_logit)

    @torch.no_grad()
    def log_prob(self, y: torch.Tensor) -> torch.Tensor:
        """Exact log p(y) [N] (nats, float64) of sliders y [N, 11]."""
        return (self.log_mix.double() + per_slider_log_probs(y.to(self.mean.device), self.params()).sum(-1)).logsumexp(-1)

    @torch.no_grad()
    def log_weights(self, x: torch.Tensor, y: torch.Tensor, num_samples: int = 1,
                    generator: torch.Generator | None = None) -> torch.Tensor:
        """Exact log p(y) as a single 'weight' [B, 1] (nats); x and num_samples are ignored."""
        return self.log_prob(y)[:, None].float()

    @torch.no_grad()
    def sample(self, x: torch.Tensor, n: int, generator: torch.Generator | None = None,
               noise: bool = True) -> torch.Tensor:
        """n draws [B, n, 11]: component ~ weights, then its sliders (model space, in [-1, 1])."""
        k = multinomial(self.log_mix.exp()[None].expand(x.shape[0], -1), n, generator)
        return sample_sliders(SliderParams(*(t[k] for t in self.params())), generator, noise)


def per_slider_log_probs(y: torch.Tensor, params: SliderParams) -> torch.Tensor:
    """log P(cell of y_nj | component k) [N, K, 11] (float64, nats) for sliders y [N, 11], params [K, 11]."""
    return slider_log_probs(y[:, None, :], SliderParams(*(t[None] for t in params)))


def log_standard_normal(t: torch.Tensor) -> torch.Tensor:
    """log N(t; 0, 1), elementwise."""
    return -0.5 * t * t - 0.5 * math.log(2 * math.pi)


def truncated_moments(lo: torch.Tensor, hi: torch.Tensor, mean: torch.Tensor,
                      logvar: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """E[Y] and E[Y^2] of Y ~ N(mean, exp(logvar)) restricted to (lo, hi], elementwise (float64)."""
    mean, var = mean.to(torch.float64), torch.exp(logvar.to(torch.float64))
    std = var.sqrt()
    a, b = (lo - mean) / std, (hi - mean) / std
    log_z = log_normal_interval(lo, hi, mean, logvar)
    pa, pb = torch.exp(log_standard_normal(a) - log_z), torch.exp(log_standard_normal(b) - log_z)
    first = (mean + std * (pa - pb)).clamp(min=lo, max=hi)
    centred = var * (1.0 + a * pa - b * pb)                       # E[(Y - mean)^2]
    second = centred.clamp_min(0.0) + 2.0 * mean * first - mean * mean
    return first, torch.maximum(second, first * first)


EM_CHUNK_ROWS = 8192  # edits per E-step chunk: memory O(chunk x K x 11), not O(N x K x 11)


def sufficient_statistics(resp: torch.Tensor, atom: torch.Tensor, first: torch.Tensor,
                          second: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The M-step's sums over edits: responsibilities [K], atom mass, continuous mass, its first and
    second moments [K, 11], from one chunk's resp [n, K] and atom / first / second [n, K, 11]."""
    cont = resp[..., None] * (1.0 - atom)
    return resp.sum(0), (resp[..., None] * atom).sum(0), cont.sum(0), (cont * first).sum(0), (cont * second).sum(0)


def m_step(stats: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, SliderParams]:
    """Mixture log-weights [K] and per-slider params [K, 11] from summed sufficient statistics."""
    nk, atom_mass, weight, first, second = stats
    nk = nk.clamp_min(1e-12)
    p_atom = (atom_mass / nk[:, None]).clamp(ATOM_CLAMP, 1 - ATOM_CLAMP)
    weight = weight.clamp_min(1e-12)
    mean = first / weight
    var = (second / weight - mean ** 2).clamp_min(math.exp(networks.LOGVAR_MIN))  # the models' std floor
    return torch.log(nk / nk.sum()), SliderParams(mean, torch.log(var), torch.log(p_atom) - torch.log1p(-p_atom))


def e_step(y64: torch.Tensor, log_mix: torch.Tensor, params: SliderParams) -> tuple[tuple[torch.Tensor, ...], float]:
    """Expected sufficient statistics under the mixture (summed over chunks of EM_CHUNK_ROWS edits) and
    the mean cell log-likelihood per edit (nats) of sliders y64 [N, 11] (float64)."""
    p_atom = torch.sigmoid(params.atom_logit.to(torch.float64))
    total, ll = None, 0.0
    for chunk in y64.split(EM_CHUNK_ROWS):
        per_slider = per_slider_log_probs(chunk, params)                                 # [n, K, 11]
        joint = log_mix[None] + per_slider.sum(-1)
        ll += float(joint.logsumexp(-1).sum())
        neutral = (holds_neutral(chunk) & ATOM_SLIDERS)[:, None, :]
        atom = torch.where(neutral, torch.exp(torch.log(p_atom)[None] - per_slider), torch.zeros_like(per_slider))
        lo, hi = cell_bounds(chunk[:, None, :])
        first, second = truncated_moments(lo, hi, params.mean[None], params.logvar[None])
        stats = sufficient_statistics(torch.softmax(joint, dim=-1), atom, first, second)
        total = stats if total is None else tuple(a + b for a, b in zip(total, stats))
    return total, ll / len(y64)


def fit_em(y: torch.Tensor, components: int, feature_dim: int = 1, seed: int = 0,
           iterations: int = EM_ITERATIONS) -> tuple[FeatureBlindMixture, list[float]]:
    """EM fit of a K-component mixture to sliders y [N, 11] (k-means start); returns it and the LL trace
    (nats/edit). The E-step runs over chunks of edits, so memory does not grow with N x K."""
    y64 = y.to(torch.float64)
    labels = torch.from_numpy(kmeans(y64.numpy(), components, seed=seed))
    stats = None
    for idx in torch.arange(len(y64)).split(EM_CHUNK_ROWS):    # the k-means start: hard labels, values as they are
        chunk = y64[idx]
        neutral = (holds_neutral(chunk) & ATOM_SLIDERS)[:, None, :].expand(-1, components, -1).to(torch.float64)
        part = sufficient_statistics(torch.nn.functional.one_hot(labels[idx], components).to(torch.float64), neutral,
                                     chunk[:, None].expand(-1, components, -1),
                                     (chunk ** 2)[:, None].expand(-1, components, -1))
        stats = part if stats is None else tuple(a + b for a, b in zip(stats, part))
    trace: list[float] = []
    for _ in range(iterations):
        log_mix, params = m_step(stats)
        stats, ll = e_step(y64, log_mix, params)
        trace.append(ll)
        if len(trace) > 1 and trace[-1] - trace[-2] < EM_TOLERANCE:
            break
    model = FeatureBlindMixture(feature_dim, components)
    for buffer, value in zip((model.log_mix, model.mean, model.logvar, model.atom_logit), (log_mix, *params)):
        buffer.copy_(value)
    return model.eval(), trace


def fit_floor(train_y: torch.Tensor, val_y: torch.Tensor, feature_dim: int, seed: int = 0,
              components: tuple[int, ...] = FLOOR_COMPONENTS) -> tuple[FeatureBlindMixture, list[dict]]:
    """The floor: EM mixtures with each number of components, kept by validation LL (nats/edit).

    Returns the kept mixture (accepting features of width feature_dim, which it ignores) and one
    row per candidate (components, train LL, validation LL, EM iterations).
    """
    rows, best = [], None
    for k in components:
        model, trace = fit_em(train_y, k, feature_dim, seed=seed)
        val = float(model.log_prob(val_y).mean())
        rows.append({"components": k, "train_ll": trace[-1], "validation_ll": val, "em_iterations": len(trace)})
        if best is None or val > best[1]:
            best = (model, val, k)
    log.info("feature-blind floor: kept %d components (validation LL %.3f nats/edit; candidates %s)",
             best[2], best[1], ", ".join(f"K={r['components']}: {r['validation_ll']:.3f}" for r in rows))
    return best[0], rows


FLOOR_BUFFERS = ("log_mix", "mean", "logvar", "atom_logit")


def floor_parameters(model: FeatureBlindMixture) -> dict[str, list]:
    """The floor's fitted buffers as plain lists (log_mix [K], mean / logvar / atom_logit [K, 11]): JSON- and pickle-safe."""
    return {name: getattr(model, name).detach().cpu().tolist() for name in FLOOR_BUFFERS}


def floor_from_parameters(parameters: dict[str, list], feature_dim: int) -> FeatureBlindMixture:
    """The FeatureBlindMixture of floor_parameters' output (accepting features of width feature_dim), in eval mode."""
    log_mix = torch.as_tensor(parameters["log_mix"], dtype=torch.float32)
    model = FeatureBlindMixture(feature_dim, int(log_mix.shape[0]))
    for name in FLOOR_BUFFERS:
        getattr(model, name).copy_(torch.as_tensor(parameters[name], dtype=torch.float32))
    return model.eval()
