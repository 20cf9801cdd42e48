"""One torch math thread inside a worker's per-element work, so rows do not depend on the runner."""
from __future__ import annotations

import contextlib
from typing import Iterator


@contextlib.contextmanager
def one_math_thread() -> Iterator[None]:
    """Run the body on one torch intra-op thread, then restore the calling thread's count.

    A matrix product's sums are split by the number of intra-op threads (a [20, 4096] x [4096, 256]
    Linear differs in the last bit between 1 and 2 threads), and that number differs between an
    in-process run, Beam worker threads (which start from torch's process-wide count) and worker
    processes (OMP_NUM_THREADS = cores // workers). Pinning it to one is what the default
    multi-process runner gives each worker anyway. Set per call, not in DoFn.setup: a runner may
    call `process` on another thread than `setup`, and torch's count is per thread.
    """
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
