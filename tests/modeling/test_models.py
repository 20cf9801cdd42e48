"""Shapes, ranges, gradients and seeding of every model."""
from __future__ import annotations

import pytest
import torch

from modeling.pvae import PVAE
from modeling.registry import MODELS, build_model, model_name

D = 12


def small(name: str):
    torch.manual_seed(0)
    kwargs = {"hidden": 16}
    if name in ("cgmvae", "pvae"):
        kwargs.update(num_clusters=3, latent_dim=2)
    return build_model(name, feature_dim=D, **kwargs)


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(1)
    return torch.randn(6, D, generator=g), torch.rand(6, 11, generator=g) * 2 - 1


@pytest.mark.parametrize("name", sorted(MODELS))
def test_shapes_and_ranges(name, batch):
    model = small(name)
    x, y = batch
    assert model_name(model) == name
    samples = model.sample(x, 7, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (6, 7, 11)
    assert samples.min() >= -1 and samples.max() <= 1
    ll = model.log_likelihood(x, y, num_samples=13)
    assert ll.shape == (6,) and torch.isfinite(ll).all()
    obj = model.objective(x, y, torch.tensor([0, 0, 0, 1, 1, 1]))
    assert obj.shape == (6,) and torch.isfinite(obj).all()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_gradients_reach_every_parameter(name, batch):
    model = small(name)
    if hasattr(model, "cluster_net"):  # its output layer starts at zero (uniform q(s)): perturb it
        with torch.no_grad():
            model.cluster_net.out.weight.normal_(0, 0.1)
    x, y = batch
    # the P-VAE's prior pi is fitted in closed form (the users' mean posterior), never by gradient
    closed_form = {"prior_logits"} if name == "pvae" else set()
    before = {n: p.detach().clone() for n, p in model.named_parameters() if n in closed_form}
    (-model.objective(x, y, torch.tensor([0, 0, 0, 1, 1, 1])).mean()).backward()
    for pname, p in model.named_parameters():
        if pname in closed_form:
            assert p.grad is None or p.grad.abs().sum() == 0, pname
            assert not torch.equal(p.detach(), before[pname]), pname     # set by the training call
            continue
        assert p.grad is not None, pname
        assert torch.isfinite(p.grad).all(), pname
    still = [n for n, p in model.named_parameters() if n not in closed_form and p.grad.abs().sum() == 0]
    assert not still, still


@pytest.mark.parametrize("name", sorted(MODELS))
def test_sampling_is_seeded(name, batch):
    model = small(name)
    x, _ = batch
    a = model.sample(x, 5, generator=torch.Generator().manual_seed(3))
    b = model.sample(x, 5, generator=torch.Generator().manual_seed(3))
    c = model.sample(x, 5, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_features_are_standardised_inside(batch):
    model = small("mlp")
    x, y = batch
    before = model.log_likelihood(x, y)
    model.set_feature_stats(torch.full((D,), 2.0), torch.full((D,), 3.0))
    after = model.log_likelihood(x * 3.0 + 2.0, y)
    assert torch.allclose(before, after, atol=1e-5)
    with pytest.raises(ValueError, match="width"):
        model.sample(torch.zeros(2, D + 1), 1)


def test_pvae_cluster_posterior_and_weights(batch):
    model = small("pvae")
    assert isinstance(model, PVAE)
    x, y = batch
    prior = model.cluster_posterior(x[:0], y[:0])
    assert torch.allclose(prior, torch.softmax(model.prior_logits, -1))
    with torch.no_grad():
        model.cluster_net.out.bias.copy_(torch.tensor([0.0, 3.0, -3.0]))
    post = model.cluster_posterior(x, y)
    assert post.shape == (3,) and torch.isclose(post.sum(), torch.tensor(1.0))
    assert post.argmax() == 1 and post[1] > 0.99  # 6 edits x potential 3 nats each
    # samples for a user sitting in one cluster come from that cluster only
    one = model.sample(x, 4000, cluster_weights=torch.tensor([0.0, 0.0, 1.0]),
                       generator=torch.Generator().manual_seed(0), noise=False)
    per_cluster = model.sample_per_cluster(x, 4000, generator=torch.Generator().manual_seed(1))
    assert per_cluster.shape == (6, 3, 4000, 11)
    gap_same = (one.mean(1) - per_cluster[:, 2].mean(1)).abs().max()
    gap_other = min((one.mean(1) - per_cluster[:, k].mean(1)).abs().max() for k in (0, 1))
    assert gap_same < 0.03 and gap_other > 3 * gap_same, (gap_same, gap_other)
    ll_w = model.log_likelihood(x, y, num_samples=20, cluster_weights=post)
    assert ll_w.shape == (6,) and torch.isfinite(ll_w).all()


def test_a_photo_cluster_prior_starts_as_the_fixed_pi_learns_from_every_parameter_and_is_cgmvae_only(batch):
    x, y = batch
    torch.manual_seed(0)
    fixed = build_model("cgmvae", feature_dim=D, hidden=16, num_clusters=3, latent_dim=2)
    torch.manual_seed(0)
    photo = build_model("cgmvae", feature_dim=D, hidden=16, num_clusters=3, latent_dim=2, cluster_prior="photo")
    assert photo.init_kwargs["cluster_prior"] == "photo" and "cluster_prior" not in fixed.init_kwargs
    with torch.no_grad():
        fixed.prior_logits.copy_(torch.tensor([0.5, -0.2, 0.1]))
        photo.prior_logits.copy_(fixed.prior_logits)
    # zero-initialised head: p(s | x) = pi on every photo, so the two models' likelihoods agree at the start
    assert torch.allclose(photo.cluster_prior_weights(x), fixed.log_prior_weights().exp().expand(6, 3))
    a = fixed.log_likelihood(x, y, num_samples=9, generator=torch.Generator().manual_seed(2))
    b = photo.log_likelihood(x, y, num_samples=9, generator=torch.Generator().manual_seed(2))
    assert torch.allclose(a, b, atol=1e-5)
    with torch.no_grad():
        photo.cluster_net.out.weight.normal_(0, 0.1)
        photo.prior_net.out.weight.normal_(0, 0.5)
    weights = photo.cluster_prior_weights(x)
    assert torch.allclose(weights.sum(1), torch.ones(6)) and float(weights.std(0).max()) > 1e-3  # follows x
    (-photo.objective(x, y).mean()).backward()
    still = [n for n, p in photo.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert not still, still
    with pytest.raises(ValueError, match="user"):
        build_model("pvae", feature_dim=D, cluster_prior="photo")
    with pytest.raises(ValueError, match="cluster_prior"):
        build_model("cgmvae", feature_dim=D, cluster_prior="editor")


@pytest.mark.parametrize("name", ["cgmvae", "pvae"])
def test_cluster_gaussians_start_tight_unless_told_and_the_start_is_kept_in_the_kwargs(name):
    from modeling.cgmvae import PRIOR_LOGVAR_INIT
    from modeling.pvae import PVAE_PRIOR_LOGVAR_INIT
    start = PRIOR_LOGVAR_INIT if name == "cgmvae" else PVAE_PRIOR_LOGVAR_INIT
    default = small(name)
    assert PRIOR_LOGVAR_INIT < 0 and torch.all(default.prior_logvar == start)
    assert default.prior_logvar.requires_grad                         # a start, learned from there
    other = -1.5
    wide = build_model(name, feature_dim=D, hidden=16, num_clusters=3, latent_dim=2, prior_logvar=other)
    assert torch.all(wide.prior_logvar == other) and wide.init_kwargs["prior_logvar"] == other
    rebuilt = build_model(name, **wide.init_kwargs)
    assert torch.all(rebuilt.prior_logvar == other)
