"""Building blocks shared by every slider model: the model base class (feature standardisation, an
optional PCA projection stored with the checkpoint, input dropout, the first-layer input weights a
group lasso acts on), MLPs conditioned on features x
(first layer split so W_x x is computed once per photo, not once per latent sample) and the
diagonal-Gaussian maths of latents (log-density, KL), and the slider heads (bounded mean and
log-variance, atom logit) with their sampler. Sliders are scored by modeling.likelihood."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from modeling.likelihood import ATOM_SLIDERS, NEUTRAL, SliderParams

NUM_SLIDERS = 11
LOG_2PI = math.log(2.0 * math.pi)
# Output heads keep predictions in a sensible range of model space [-1, 1]:
MEAN_SCALE = 1.1                          # mean = 1.1 tanh(.) reaches the range ends (many sliders sit at -1)
# std in [1e-5, 1] model units. The floor is far below the smallest Lightroom step (Exposure: 0.0025), so
# a sharp slider (a value other than neutral that editors keep exactly) can put a whole cell's mass on it.
LOGVAR_MIN, LOGVAR_MAX = 2 * math.log(1e-5), 0.0
STD_INIT = 0.1                            # std of a slider head whose raw output is 0
ATOM_INIT = 0.1                           # atom probability of a slider head whose raw output is 0
HEAD_WIDTH = 3 * NUM_SLIDERS              # mean, log-variance and atom logit per slider


def gaussian_log_prob(y: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(y; mean, diag exp(logvar)) summed over the last axis (nats); broadcasts."""
    return -0.5 * (((y - mean) ** 2) * torch.exp(-logvar) + logvar + LOG_2PI).sum(-1)


def gaussian_kl(mu_q: torch.Tensor, logvar_q: torch.Tensor, mu_p: torch.Tensor,
                logvar_p: torch.Tensor) -> torch.Tensor:
    """KL(N(mu_q, var_q) || N(mu_p, var_p)) of diagonal Gaussians, summed over the last axis."""
    return 0.5 * (logvar_p - logvar_q + (torch.exp(logvar_q) + (mu_q - mu_p) ** 2)
                  * torch.exp(-logvar_p) - 1.0).sum(-1)


def bounded_logvar(raw: torch.Tensor) -> torch.Tensor:
    """Softly bound an unconstrained output to [LOGVAR_MIN, LOGVAR_MAX] (read at call time).

    raw 0 gives std STD_INIT; away from the bounds the map is raw + 2 log STD_INIT whatever the
    floor, so moving the floor changes nothing but the values near it.
    """
    v = raw + 2 * math.log(STD_INIT)
    v = LOGVAR_MIN + F.softplus(v - LOGVAR_MIN)
    return LOGVAR_MAX - F.softplus(LOGVAR_MAX - v)


def slider_head(raw: torch.Tensor) -> SliderParams:
    """Split [..., 33] network output into slider mean (1.1 tanh), bounded log-variance and atom logit, each [..., 11]."""
    mean_raw, logvar_raw, atom_raw = raw.chunk(3, dim=-1)
    return SliderParams(MEAN_SCALE * torch.tanh(mean_raw), bounded_logvar(logvar_raw),
                        atom_raw + math.log(ATOM_INIT / (1 - ATOM_INIT)))


def sample_sliders(params: SliderParams, generator: torch.Generator | None = None, noise: bool = True) -> torch.Tensor:
    """Draws [..., 11] from per-slider params: the neutral value with the atom probability (white balance
    never), else the Gaussian, clamped to [-1, 1]. noise=False: the neutral where the atom is likelier, else the mean."""
    mean, device = params.mean, params.mean.device
    y = mean + torch.exp(0.5 * params.logvar) * randn(mean.shape, generator, device) if noise else mean
    p_atom = torch.sigmoid(params.atom_logit)
    atom = (rand(mean.shape, generator, device) < p_atom) if noise else (p_atom > 0.5)
    atom = atom & ATOM_SLIDERS.to(device)
    return torch.where(atom, NEUTRAL.to(device, mean.dtype).expand_as(mean), y.clamp(-1.0, 1.0))


class ConditionalMLP(nn.Module):
    """MLP on [x, e] where x [B, D] is shared by many e [B, ..., E]: h1 = relu(W_x x + W_e e + b)."""

    def __init__(self, feature_dim: int, extra_dim: int, hidden: int, layers: int, out_dim: int):
        super().__init__()
        self.x_in = nn.Linear(feature_dim, hidden)
        self.e_in = nn.Linear(extra_dim, hidden, bias=False) if extra_dim else None
        body: list[nn.Module] = []
        for _ in range(max(layers - 1, 0)):
            body += [nn.Linear(hidden, hidden), nn.ReLU()]
        self.body = nn.Sequential(*body)
        self.out = nn.Linear(hidden, out_dim)

    def project(self, x: torch.Tensor) -> torch.Tensor:
        """The x part of the first layer, W_x x + b: [B, D] -> [B, H]."""
        return self.x_in(x)

    def forward(self, x_proj: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        """x_proj [B, H] (from project) and extra [B, ..., E] -> [B, ..., out]."""
        h = x_proj
        if extra is not None and self.e_in is not None:
            e = self.e_in(extra)
            h = h.reshape(h.shape[0], *([1] * (e.dim() - 2)), h.shape[-1]) + e
        return self.out(self.body(torch.relu(h)))


class SliderModel(nn.Module):
    """Base of every model: raw features in, model-space sliders out.

    `encode` standardises x with stored train-split stats, projects it onto a stored PCA basis
    when `projection_dim` > 0 and applies dropout `input_dropout` while training; every network
    of a model reads the encoded features (width `input_dim`). Subclasses implement
    `objective(x, y, users)` (per-edit training objective [B], higher is better), `sample` and
    `log_weights` (log importance weights [B, S] of log p(y | x); S = 1 when exact);
    `init_kwargs` is what checkpoints store to rebuild them.
    """

    needs_users = False       # P-VAE batches whole users
    exact_likelihood = False  # log_weights gives log p(y | x) itself (S = 1)

    def __init__(self, feature_dim: int, input_dropout: float = 0.0, projection_dim: int = 0, **kwargs):
        super().__init__()
        self.init_kwargs = {"feature_dim": int(feature_dim), "input_dropout": float(input_dropout),
                            "projection_dim": int(projection_dim), **kwargs}
        self.feature_dim = int(feature_dim)
        self.input_dim = int(projection_dim) or self.feature_dim
        self.register_buffer("feature_mean", torch.zeros(feature_dim))
        self.register_buffer("feature_std", torch.ones(feature_dim))
        if projection_dim:
            self.register_buffer("projection", torch.zeros(feature_dim, int(projection_dim)))
        self.input_drop = nn.Dropout(float(input_dropout))

    def set_feature_stats(self, mean, std) -> None:
        """Store feature standardisation stats [D] (from the train split)."""
        self.feature_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.feature_std.copy_(torch.as_tensor(std, dtype=torch.float32))

    def set_projection(self, basis) -> None:
        """Store the projection [D, P] applied after standardisation (a whitened PCA basis)."""
        self.projection.copy_(torch.as_tensor(basis, dtype=torch.float32))

    def standardise(self, x: torch.Tensor) -> torch.Tensor:
        """Raw features [B, D] -> standardised [B, D]."""
        if x.shape[-1] != self.feature_dim:
            raise ValueError(f"expected features of width {self.feature_dim}, got {tuple(x.shape)}")
        return (x.to(self.feature_mean.dtype) - self.feature_mean) / self.feature_std

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Raw features [B, D] -> network input [B, input_dim]: standardised, projected, dropout in training."""
        xs = self.standardise(x)
        if hasattr(self, "projection"):
            xs = xs @ self.projection
        return self.input_drop(xs)

    def input_weights(self) -> list[nn.Parameter]:
        """The weights [H, input_dim] of every first layer that reads the encoded features: column j of
        each is what input j feeds the model (the groups of modeling.projection's group lasso)."""
        return [m.x_in.weight for m in self.modules() if isinstance(m, ConditionalMLP)]

    @property
    def device(self) -> torch.device:
        return self.feature_mean.device

    def objective(self, x: torch.Tensor, y: torch.Tensor, users: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def log_weights(self, x: torch.Tensor, y: torch.Tensor, num_samples: int,
                    generator: torch.Generator | None = None) -> torch.Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def log_likelihood(self, x: torch.Tensor, y: torch.Tensor, num_samples: int = 100,
                       generator: torch.Generator | None = None, **kwargs) -> torch.Tensor:
        """log p(y | x) [B] (nats): log-mean-exp of `log_weights` (exact when S = 1)."""
        return log_mean_exp(self.log_weights(x, y, num_samples, generator, **kwargs), dim=1)


def value_with_gradient_of(value: torch.Tensor, surrogate: torch.Tensor) -> torch.Tensor:
    """A tensor equal to `value` whose gradient is that of `surrogate` (same shape)."""
    return value.detach() + surrogate - surrogate.detach()


def log_mean_exp(values: torch.Tensor, dim: int) -> torch.Tensor:
    """log(mean(exp(values))) along `dim`, computed stably."""
    return torch.logsumexp(values, dim=dim) - math.log(values.shape[dim])


def randn(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """Standard normal draws on `device`, taken from `generator` whatever device the generator is on."""
    gen_device = generator.device if generator is not None else device
    return torch.randn(shape, generator=generator, device=gen_device).to(device)


def rand(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """Uniform [0, 1) draws on `device` from `generator` (any device)."""
    gen_device = generator.device if generator is not None else device
    return torch.rand(shape, generator=generator, device=gen_device).to(device)


def multinomial(probs: torch.Tensor, n: int, generator: torch.Generator | None) -> torch.Tensor:
    """n category draws per row of probs [B, K] (with replacement) -> [B, n], generator on any device."""
    if generator is not None and generator.device != probs.device:
        return torch.multinomial(probs.to(generator.device), n, replacement=True, generator=generator).to(probs.device)
    return torch.multinomial(probs, n, replacement=True, generator=generator)
