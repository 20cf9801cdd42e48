"""Benchmark: the augment stage on 1 vs 2 Dask workers (Beam's DaskRunner), beside the in-process runner.

    python benchmarks/dask.py --photos 48 --raw-size 512 --size 256

Builds datasets of N and 4N pidng DNGs (tests/pipelines/dataset_factory.py) and runs `photoedit
augment` as a subprocess (-K 2) on a fresh local cluster per run (`dask scheduler` + 1 or 2
single-threaded `dask worker` processes, tests/pipelines/beam_services.dask_cluster) with
`--runner DaskRunner --dask_client_address HOST:PORT`, sampling each worker process's RSS from /proc.
The steady-state speed-up compares the extra 3N photos' throughput, so start-up (driver, cluster,
worker imports, graph submission) cancels, as in benchmarks/augment.py, whose in-process 1 vs 2
worker runs (FnApiRunner multi_processing, peak RSS of the whole process tree) are repeated here on
the same data for comparison: the cores are shared, so only ratios measured together compare.
Target: Dask 2-worker steady-state speed-up >= 1.7 (needs 2 idle cores). Prints a table.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent
PROJECT = BENCHMARKS.parent
# this file is named dask.py: keep its folder off the path, or `import dask` would import it
sys.path[:] = [p for p in sys.path if Path(p or os.getcwd()).resolve() != BENCHMARKS]
sys.path.insert(0, str(PROJECT))

from distributed import Client  # noqa: E402  (the real dask, before benchmarks.augment edits the path)

from benchmarks.augment import run_augment  # noqa: E402
from benchmarks.process_tree import PeakTreeRss  # noqa: E402
from tests.pipelines.beam_services import dask_cluster  # noqa: E402
from tests.pipelines.dataset_factory import make_dataset  # noqa: E402


def dask_augment(root: Path, workers: int, size: int) -> tuple[float, float]:
    """(wall seconds, peak RSS of the largest worker process in MiB) of one augment run on a fresh cluster."""
    shutil.rmtree(root / "images", ignore_errors=True)
    with dask_cluster(workers=workers) as address:
        with Client(address, timeout=30) as client:
            pids = client.run(os.getpid).values()
        cmd = [sys.executable, "-m", "pipelines", "augment", "--dataset", str(root), "-K", "2", "--seed", "1",
               "--size", str(size), "--runner", "DaskRunner", "--dask_client_address", address]
        with contextlib.ExitStack() as stack:
            samplers = [stack.enter_context(PeakTreeRss(pid)) for pid in pids]
            t = time.perf_counter()
            done = subprocess.run(cmd, cwd=PROJECT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  env=dict(os.environ, OMP_NUM_THREADS="1"))
            wall = time.perf_counter() - t
    if done.returncode != 0:
        raise RuntimeError(f"augment failed: {cmd}")
    return wall, max(s.peak for s in samplers) / 2**20


def steady(n: int, small_s: float, large_s: float) -> float:
    """Photos per second over the extra 3N photos of the 4N run (start-up cancels)."""
    return 3 * n / max(large_s - small_s, 1e-9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=48, help="N (the steady-state runs also use 4N)")
    parser.add_argument("--raw-size", type=int, default=512, help="side of the generated DNGs (px)")
    parser.add_argument("--size", type=int, default=256, help="augment --size (long side, px)")
    args = parser.parse_args()
    n = args.photos
    runs: dict[tuple[str, int, int], tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        roots = {n: Path(tmp) / "n", 4 * n: Path(tmp) / "4n"}
        for photos, root in roots.items():
            make_dataset(root, num_photos=photos, raw_size=args.raw_size)
        for workers in (1, 2):
            for photos, root in roots.items():
                runs["dask", workers, photos] = dask_augment(root, workers, args.size)
                runs["in-process", workers, photos] = run_augment(root, workers, args.size)
    print(f"augment on Dask vs in-process: K=2, DNG {args.raw_size}px -> --size {args.size}, "
          f"cpu cores={os.cpu_count()}, N={n}")
    print(f"| {'runner':<10} | {'workers':>7} | {'photos':>6} | {'images':>6} | {'wall s':>7} | {'photos/s':>8} "
          f"| {'peak RSS MiB':>12} |")
    print(f"| {'-' * 10} | {'-' * 7} | {'-' * 6} | {'-' * 6} | {'-' * 7} | {'-' * 8} | {'-' * 12} |")
    for (runner, workers, photos), (secs, mb) in sorted(runs.items()):
        print(f"| {runner:<10} | {workers:>7} | {photos:>6} | {3 * photos:>6} | {secs:7.2f} | {photos / secs:8.2f} "
              f"| {mb:12.0f} |")
    print("peak RSS: Dask = the largest worker process; in-process = driver + all workers")
    for runner in ("dask", "in-process"):
        one = steady(n, runs[runner, 1, n][0], runs[runner, 1, 4 * n][0])
        two = steady(n, runs[runner, 2, n][0], runs[runner, 2, 4 * n][0])
        print(f"{runner}: steady-state speed-up 2 vs 1 worker {two / one:.2f} ({one:.1f} vs {two:.1f} photos/s), "
              f"wall at 4N {runs[runner, 1, 4 * n][0] / runs[runner, 2, 4 * n][0]:.2f}"
              + (" (target >= 1.7)" if runner == "dask" else ""))


if __name__ == "__main__":
    main()
