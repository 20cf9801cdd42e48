"""The VAE's importance-sampled log p(y | x) converges to the exact value where it is computable."""
from __future__ import annotations

import math

import torch
from torch import nn

from modeling.cgmvae import CGMVAE
from modeling.networks import ConditionalMLP

D, Z = 4, 2


class LinearGaussianVAE(CGMVAE):
    """L = 1 CGM-VAE with a linear-Gaussian decoder y = c(x) + W z + noise: p(y | x) is Gaussian."""

    def __init__(self):
        super().__init__(D, num_clusters=1, latent_dim=Z, hidden=32)
        self.decoder = ConditionalMLP(D, Z, 11, 1, 22)  # only its x projection (= c(x)) is used
        self.W = nn.Parameter(torch.randn(11, Z) * 0.4)
        self.noise_logvar = nn.Parameter(torch.full((11,), 2 * math.log(0.1)))

    def decode(self, x_proj, z):
        c = x_proj.reshape(x_proj.shape[0], *([1] * (z.dim() - 2)), 11)
        mean = c + z @ self.W.T
        return mean, self.noise_logvar.expand(mean.shape)

    def exact_log_likelihood(self, x, y):
        c = self.decoder.project(self.standardise(x))
        mean = c + self.prior_mu[0] @ self.W.T
        cov = self.W @ torch.diag(self.prior_logvar[0].exp()) @ self.W.T + torch.diag(self.noise_logvar.exp())
        return torch.distributions.MultivariateNormal(mean, covariance_matrix=cov).log_prob(y)


def test_importance_sampling_converges_to_exact_gaussian_marginal():
    torch.manual_seed(0)
    model = LinearGaussianVAE()
    with torch.no_grad():
        model.prior_mu.copy_(torch.tensor([[0.5, -0.3]]))
        model.prior_logvar.copy_(torch.tensor([[0.2, -0.4]]))
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(400, D, generator=gen)
    y = model.sample(x, 1, generator=gen)[:, 0]  # (clamped; the exact density still applies)
    # fit the recognition networks only (decoder and prior fixed), so the proposal is sensible
    recog = list(model.cluster_net.parameters()) + list(model.latent_net.parameters())
    opt = torch.optim.Adam(recog, lr=1e-2)
    for _ in range(300):
        opt.zero_grad()
        (-model.objective(x, y).mean()).backward()
        opt.step()
    model.eval()
    exact = model.exact_log_likelihood(x[:50], y[:50]).detach()
    errors = {}
    for s in (1, 10, 10_000):
        est = model.log_likelihood(x[:50], y[:50], num_samples=s, generator=torch.Generator().manual_seed(1))
        errors[s] = float((est - exact).abs().mean())
        if s == 1:  # a single importance sample is a lower bound in expectation (Jensen)
            assert float((est - exact).mean()) < 0.0
    assert errors[10_000] < 0.01, errors
    assert errors[10_000] < errors[10] < errors[1], errors


def test_importance_sampling_agrees_with_prior_sampling_for_a_mixture_prior():
    """L = 3 with an MLP decoder: IS with the (untrained) recognition proposal vs brute-force Monte Carlo."""
    torch.manual_seed(1)
    model = CGMVAE(D, num_clusters=3, latent_dim=Z, hidden=16).eval()
    with torch.no_grad():  # slider noise std ~0.5 so that 200k prior draws pin log p(y|x) down
        model.decoder.out.bias[11:] = 2.0
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(5, D, generator=gen)
    y = model.sample(x, 1, generator=gen)[:, 0]
    is_est = model.log_likelihood(x, y, num_samples=4000, generator=torch.Generator().manual_seed(3))
    # log p(y|x) = log E_{s~pi, z~p(z|s)} p(y|x,z), estimated with 200k prior draws per photo
    with torch.no_grad():
        xs = model.standardise(x)
        probs = model.log_prior_weights().exp()[None].expand(5, -1)
        vals = []
        g = torch.Generator().manual_seed(4)
        for _ in range(20):
            s = torch.multinomial(probs, 10_000, replacement=True, generator=g)
            z = model.prior_mu[s] + torch.exp(0.5 * model.prior_logvar[s]) * torch.randn(5, 10_000, Z, generator=g)
            mean, logvar = model.decode(model.decoder.project(xs), z)
            vals.append(-0.5 * (((y[:, None] - mean) ** 2) * torch.exp(-logvar) + logvar
                                + math.log(2 * math.pi)).sum(-1))
        mc = torch.logsumexp(torch.cat(vals, 1), 1) - math.log(200_000)
    assert torch.allclose(is_est, mc, atol=0.1), (is_est, mc)
