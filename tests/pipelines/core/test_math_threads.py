"""one_math_thread: the body runs on one torch thread, whatever the caller had, and the count is restored."""
import pytest
import torch

from pipelines.core.math_threads import one_math_thread


def test_the_body_gets_one_thread_and_the_callers_count_comes_back_even_after_an_error():
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        with one_math_thread():
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        with pytest.raises(RuntimeError), one_math_thread():
            raise RuntimeError("boom")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)


def test_a_wide_matrix_product_is_the_same_whatever_count_the_caller_had():
    torch.manual_seed(0)
    layer, x = torch.nn.Linear(4096, 256), torch.randn(20, 4096)
    previous = torch.get_num_threads()
    results = []
    try:
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            with one_math_thread():
                results.append(layer(x))
    finally:
        torch.set_num_threads(previous)
    assert all(torch.equal(results[0], r) for r in results[1:])
