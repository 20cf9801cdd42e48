"""Building blocks shared by every slider model: the model base class, MLPs conditioned on features
x (first layer split so W_x x is computed once per photo, not once per latent sample) and the
diagonal-Gaussian maths (log-density, KL, bounded mean / log-variance heads)."""
from __future__ import annotations

import math

import torch
from torch import nn

NUM_SLIDERS = 11
LOG_2PI = math.log(2.0 * math.pi)
# Output heads keep predictions in a sensible range of model space [-1, 1]:
MEAN_SCALE = 1.1                          # mean = 1.1 tanh(.) reaches the range ends (many sliders sit at -1)
LOGVAR_MIN, LOGVAR_MAX = 2 * math.log(0.005), 0.0  # std in [0.005, 1] model units


def gaussian_log_prob(y: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(y; mean, diag exp(logvar)) summed over the last axis (nats); broadcasts."""
    return -0.5 * (((y - mean) ** 2) * torch.exp(-logvar) + logvar + LOG_2PI).sum(-1)


def gaussian_kl(mu_q: torch.Tensor, logvar_q: torch.Tensor, mu_p: torch.Tensor,
                logvar_p: torch.Tensor) -> torch.Tensor:
    """KL(N(mu_q, var_q) || N(mu_p, var_p)) of diagonal Gaussians, summed over the last axis."""
    return 0.5 * (logvar_p - logvar_q + (torch.exp(logvar_q) + (mu_q - mu_p) ** 2)
                  * torch.exp(-logvar_p) - 1.0).sum(-1)


def bounded_logvar(raw: torch.Tensor, low: float = LOGVAR_MIN, high: float = LOGVAR_MAX) -> torch.Tensor:
    """Squash an unconstrained output into [low, high] (log-variance of a slider Gaussian)."""
    return low + (high - low) * torch.sigmoid(raw)


def slider_head(raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Split [..., 22] network output into slider mean [..., 11] and bounded log-variance [..., 11]."""
    mean_raw, logvar_raw = raw.chunk(2, dim=-1)
    return MEAN_SCALE * torch.tanh(mean_raw), bounded_logvar(logvar_raw)


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
    """Base of every model: raw features in (standardised inside with stored stats), model-space sliders out.

    Subclasses implement `objective(x, y, users)` (per-edit training objective [B], higher is
    better), `sample` and `log_likelihood`; `init_kwargs` is what checkpoints store to rebuild them.
    """

    needs_users = False  # P-VAE batches whole users

    def __init__(self, feature_dim: int, **kwargs):
        super().__init__()
        self.init_kwargs = {"feature_dim": int(feature_dim), **kwargs}
        self.feature_dim = int(feature_dim)
        self.register_buffer("feature_mean", torch.zeros(feature_dim))
        self.register_buffer("feature_std", torch.ones(feature_dim))

    def set_feature_stats(self, mean, std) -> None:
        """Store feature standardisation stats [D] (from the train split)."""
        self.feature_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.feature_std.copy_(torch.as_tensor(std, dtype=torch.float32))

    def standardise(self, x: torch.Tensor) -> torch.Tensor:
        """Raw features [B, D] -> standardised [B, D]."""
        if x.shape[-1] != self.feature_dim:
            raise ValueError(f"expected features of width {self.feature_dim}, got {tuple(x.shape)}")
        return (x.to(self.feature_mean.dtype) - self.feature_mean) / self.feature_std

    @property
    def device(self) -> torch.device:
        return self.feature_mean.device

    def objective(self, x: torch.Tensor, y: torch.Tensor, users: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError


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
