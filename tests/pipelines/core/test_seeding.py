"""Keyed random generators: the same numbers on any worker and rerun."""
import numpy as np

from pipelines.core.seeding import keyed_rng


def test_keyed_rng_depends_on_every_key_and_repeats():
    a = keyed_rng(7, "a0001", 1).uniform(size=5)
    np.testing.assert_array_equal(a, keyed_rng(7, "a0001", 1).uniform(size=5))
    assert not np.allclose(a, keyed_rng(7, "a0001", 2).uniform(size=5))
    assert not np.allclose(a, keyed_rng(8, "a0001", 1).uniform(size=5))
    assert not np.allclose(a, keyed_rng(7, "a0002", 1).uniform(size=5))
