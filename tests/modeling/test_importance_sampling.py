"""The VAE's importance-sampled log p(y | x) (and per-cluster log p(y | x, s)) converge to the exact
value where it is computable."""
from __future__ import annotations

import math

import torch
from torch import nn

from modeling.cgmvae import CGMVAE
from modeling.likelihood import SliderParams, slider_log_prob
from modeling.networks import ConditionalMLP

D, Z = 4, 2


class LinearGaussianVAE(CGMVAE):
    """L = 1 CGM-VAE with a linear-Gaussian decoder y = c(x) + W z + noise, no atoms (2-d z: exact by quadrature)."""

    def __init__(self):
        super().__init__(D, num_clusters=1, latent_dim=Z, hidden=32)
        self.decoder = ConditionalMLP(D, Z, 11, 1, 22)  # only its x projection (= c(x)) is used
        self.W = nn.Parameter(torch.randn(11, Z) * 0.15)
        self.noise_logvar = nn.Parameter(torch.full((11,), 2 * math.log(0.1)))

    def decode(self, x_proj, z):
        c = x_proj.reshape(x_proj.shape[0], *([1] * (z.dim() - 2)), 11)
        mean = c + z @ self.W.T
        return SliderParams(mean, self.noise_logvar.expand(mean.shape), torch.full_like(mean, -torch.inf))

    @torch.no_grad()
    def exact_log_likelihood(self, x: torch.Tensor, y: torch.Tensor, points: int = 161) -> torch.Tensor:
        """log p(y | x) [B] = log of the integral over z of p(z) prod_j P(cell_j | z), on a grid of
        +-8 std around the Gaussian posterior of z (the cells are far narrower than the noise)."""
        c = self.decoder.project(self.standardise(x)).double()
        W, noise = self.W.double(), self.noise_logvar.exp().double()
        prior_var = self.prior_logvar[0].exp().double()
        precision = torch.diag(1 / prior_var) + W.T @ (W / noise[:, None])
        cov = torch.linalg.inv(precision)
        mu = (((y.double() - c) / noise) @ W + self.prior_mu[0].double() / prior_var) @ cov.T   # [B, Z]
        u = torch.linspace(-8, 8, points, dtype=torch.float64)
        grid = torch.stack(torch.meshgrid(u, u, indexing="ij"), -1).reshape(-1, Z)          # [G, Z]
        chol = torch.linalg.cholesky(cov)
        z = mu[:, None] + grid @ chol.T                                                       # [B, G, Z]
        log_prior = torch.distributions.Normal(self.prior_mu[0].double(), prior_var.sqrt()).log_prob(z).sum(-1)
        mean = c[:, None] + z @ W.T
        log_lik = slider_log_prob(y[:, None].double(), SliderParams(
            mean, self.noise_logvar.double().expand(mean.shape), torch.full_like(mean, -torch.inf)))
        cell = (u[1] - u[0]) ** 2 * torch.det(chol)
        return torch.logsumexp(log_prior + log_lik, dim=1) + torch.log(cell)


def test_importance_sampling_converges_to_the_exact_marginal():
    torch.manual_seed(0)
    model = LinearGaussianVAE()
    with torch.no_grad():
        model.prior_mu.copy_(torch.tensor([[0.5, -0.3]]))
        model.prior_logvar.copy_(torch.tensor([[0.2, -0.4]]))
        model.decoder.x_in.weight.mul_(0.2)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(400, D, generator=gen)
    y = model.sample(x, 1, generator=gen)[:, 0]
    # fit the recognition networks only (decoder and prior fixed), so the proposal is sensible
    recog = list(model.cluster_net.parameters()) + list(model.latent_net.parameters())
    opt = torch.optim.Adam(recog, lr=1e-2)
    for _ in range(300):
        opt.zero_grad()
        (-model.objective(x, y).mean()).backward()
        opt.step()
    model.eval()
    inside = torch.nonzero((y.abs() < 0.99).all(1))[:30, 0]  # no censored slider: the grid holds the posterior
    assert len(inside) == 30
    xt, yt = x[inside], y[inside]
    exact = model.exact_log_likelihood(xt, yt)
    errors = {}
    for s in (1, 10, 10_000):
        est = model.log_likelihood(xt, yt, num_samples=s, generator=torch.Generator().manual_seed(1))
        errors[s] = float((est.double() - exact).abs().mean())
        if s == 1:  # a single importance sample is a lower bound in expectation (Jensen)
            assert float((est.double() - exact).mean()) < 0.0
    assert errors[10_000] < 0.01, errors
    assert errors[10_000] < errors[10] < errors[1], errors


def prior_monte_carlo(model: CGMVAE, x: torch.Tensor, y: torch.Tensor, clusters: torch.Tensor) -> torch.Tensor:
    """log E_{z ~ p(z | s)} P(y | x, z) [B] with 200k prior draws per row, s = clusters [B] (or the prior mixture)."""
    with torch.no_grad():
        xs = model.standardise(x)
        g = torch.Generator().manual_seed(4)
        vals = []
        for _ in range(20):
            s = clusters[:, None].expand(-1, 10_000) if clusters is not None else torch.multinomial(
                model.log_prior_weights().exp()[None].expand(len(x), -1), 10_000, replacement=True, generator=g)
            z = model.prior_mu[s] + torch.exp(0.5 * model.prior_logvar[s]) * torch.randn(len(x), 10_000, Z, generator=g)
            vals.append(slider_log_prob(y[:, None], model.decode(model.decoder.project(xs), z)))
        return torch.logsumexp(torch.cat(vals, 1), 1) - math.log(200_000)


def mixture_model() -> tuple[CGMVAE, torch.Tensor, torch.Tensor]:
    """An untrained L = 3 CGM-VAE with slider noise std ~0.5 and (nearly) no atoms, so that prior draws
    pin log p down, and data."""
    torch.manual_seed(1)
    model = CGMVAE(D, num_clusters=3, latent_dim=Z, hidden=16).eval()
    with torch.no_grad():
        model.decoder.out.bias[11:22] = 3.5
        model.decoder.out.bias[22:] = -20.0
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(5, D, generator=gen)
    return model, x, model.sample(x, 1, generator=gen)[:, 0]


def test_importance_sampling_agrees_with_prior_sampling_for_a_mixture_prior():
    model, x, y = mixture_model()
    is_est = model.log_likelihood(x, y, num_samples=4000, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(is_est, prior_monte_carlo(model, x, y, None), atol=0.1)


def test_per_cluster_likelihoods_agree_with_prior_sampling():
    """log p(y | x, s) of every cluster (the P-VAE's exact posterior is built from these)."""
    model, x, y = mixture_model()
    per_cluster = model.cluster_log_likelihoods(x, y, num_samples=10_000, generator=torch.Generator().manual_seed(3))
    for s in range(3):
        mc = prior_monte_carlo(model, x, y, torch.full((len(x),), s))
        assert torch.allclose(per_cluster[:, s], mc, atol=0.1), (per_cluster[:, s], mc)
