"""The family's prior (modeling.known_answer_family): every option is drawn, the draws are reproducible
from the seed, and every drawn problem has a finite exact log p(y | x) that averages its editors."""
from __future__ import annotations

import numpy as np
import torch

from modeling.known_answer import KnownAnswer
from modeling.known_answer_family import FEATURE_KINDS, PREFERENCES, draw_regime, regime_text


def draws(seed: int, n: int, **kwargs) -> list:
    rng = np.random.default_rng(seed)
    return [draw_regime(rng, f"p{i}", **kwargs) for i in range(n)]


def test_the_prior_reaches_every_option():
    regimes = draws(0, 300)
    kinds = {("sparse" if r.raw_informative == r.informative else "low-rank" if r.raw_informative == 0 else "both")
             for r in regimes}
    assert kinds == set(FEATURE_KINDS)
    assert {r.feature_dim for r in regimes} == {512, 4096}
    assert {r.informative for r in regimes} == set(range(2, 17))
    assert {r.styles for r in regimes} == set(range(1, 6))
    assert {r.editor_preference for r in regimes} == set(PREFERENCES.values())
    for flag in ("atoms", "on_steps", "keep_style"):
        assert {getattr(r, flag) for r in regimes} == {True, False}, flag
    for field in ("weight_strength", "mean_strength", "clip_share"):
        assert min(getattr(r, field) for r in regimes) == 0.0 < max(getattr(r, field) for r in regimes), field
    assert any(r.weight_strength > 0 and not r.keep_style for r in regimes)
    for r in regimes:   # the raw and factor directions add up to the informative ones
        assert 0 <= r.raw_informative <= r.informative
        assert r.factors >= r.informative - r.raw_informative and (r.factors == 0) == (r.raw_informative == r.informative)


def test_draws_are_reproducible_from_the_seed_and_differ_between_seeds():
    assert draws(7, 5) == draws(7, 5)
    assert [r.description for r in draws(7, 5)] != [r.description for r in draws(8, 5)]
    assert all(r.description == regime_text(r) for r in draws(7, 5))


def test_every_drawn_problem_has_an_exact_finite_likelihood_that_averages_its_editors():
    for regime in draws(3, 12, max_feature_dim=48):
        truth = KnownAnswer(regime)
        x = truth.features(40, seed=1)
        editors = torch.arange(40) % 5
        y = truth.sample_edits(x, editors, torch.Generator().manual_seed(2))
        ll = truth.log_likelihood(x, y).double()
        each = truth.log_prob_each_editor(x, y)
        assert torch.isfinite(ll).all() and float(ll.max()) <= 0.0, regime.description
        assert torch.allclose(torch.logsumexp(each, 1) - np.log(5), ll, atol=1e-4)
        if regime.editor_preference == 0 and not regime.keep_style:   # editors alike: no gain from knowing one
            assert torch.allclose(each, each[:, :1].expand_as(each), atol=1e-9)
