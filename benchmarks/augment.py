"""Benchmark: the augment stage on 1 vs 2 worker processes, and peak memory at N vs 4N photos.

    python benchmarks/augment.py --photos 8 --raw-size 512 --size 256

Builds a dataset of pidng DNGs (tests/pipelines/dataset_factory.py), runs `photoedit augment` as a
subprocess on the in-process FnApiRunner in multi_processing mode with 1 and 2 workers, and samples
the RSS of the whole process tree (driver + workers) from /proc. Runs N and 4N photos on 1 and 2
workers; the steady-state speed-up compares the extra 3N photos' throughput, so start-up cancels.
Targets: 2-worker speed-up >= 1.7 (needs >= 2 idle cores), peak memory flat from N to 4N photos
(the job streams photo by photo).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from process_tree import PeakTreeRss  # noqa: E402

from tests.pipelines.dataset_factory import make_dataset  # noqa: E402


def run_augment(root: Path, workers: int, size: int) -> tuple[float, float]:
    """(wall seconds, peak tree RSS in MiB) of one augment run with `workers` processes."""
    shutil.rmtree(root / "images", ignore_errors=True)
    cmd = [sys.executable, "-m", "pipelines", "augment", "--dataset", str(root), "-K", "2", "--seed", "1",
           "--size", str(size), "--runner=FnApiRunner", "--direct_running_mode=multi_processing",
           f"--direct_num_workers={workers}"]
    t = time.perf_counter()
    process = subprocess.Popen(cmd, cwd=PROJECT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env=dict(os.environ, OMP_NUM_THREADS="1"))
    with PeakTreeRss(process.pid) as rss:
        if process.wait() != 0:
            raise RuntimeError(f"augment failed: {cmd}")
    return time.perf_counter() - t, rss.peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=8, help="N (the memory run also uses 4N)")
    parser.add_argument("--raw-size", type=int, default=512, help="side of the generated DNGs (px)")
    parser.add_argument("--size", type=int, default=256, help="augment --size (long side, px)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        small, large = Path(tmp) / "n", Path(tmp) / "4n"
        make_dataset(small, num_photos=args.photos, raw_size=args.raw_size)
        make_dataset(large, num_photos=4 * args.photos, raw_size=args.raw_size)
        one_s, one_mb = run_augment(small, 1, args.size)
        two_s, two_mb = run_augment(small, 2, args.size)
        one_big_s, one_big_mb = run_augment(large, 1, args.size)
        big_s, big_mb = run_augment(large, 2, args.size)
    n = args.photos
    print(f"augment benchmark: K=2, DNG {args.raw_size}px -> --size {args.size}, cpu cores={os.cpu_count()}")
    print(f"| {'run':<22} | {'photos':>6} | {'images':>6} | {'wall s':>7} | {'photos/s':>8} | {'peak RSS MiB':>12} |")
    print(f"| {'-' * 22} | {'-' * 6} | {'-' * 6} | {'-' * 7} | {'-' * 8} | {'-' * 12} |")
    for name, photos, secs, mb in (("1 worker", n, one_s, one_mb), ("2 workers", n, two_s, two_mb),
                                   ("1 worker, 4N photos", 4 * n, one_big_s, one_big_mb),
                                   ("2 workers, 4N photos", 4 * n, big_s, big_mb)):
        print(f"| {name:<22} | {photos:>6} | {3 * photos:>6} | {secs:7.2f} | {photos / secs:8.2f} | {mb:12.0f} |")
    # Steady state: the 3N extra photos over the extra seconds, so start-up (interpreter, Beam
    # workers, renderer set-up) cancels out of the comparison.
    steady_one = 3 * n / max(one_big_s - one_s, 1e-9)
    steady_two = 3 * n / max(big_s - two_s, 1e-9)
    print(f"speed-up 2 vs 1 worker: wall at N {one_s / two_s:.2f}, wall at 4N {one_big_s / big_s:.2f}, "
          f"steady state {steady_two / steady_one:.2f} ({steady_one:.1f} vs {steady_two:.1f} photos/s) "
          f"(target >= 1.7); peak memory 4N / N = {big_mb / two_mb:.2f} (target: flat, ~1.0)")


if __name__ == "__main__":
    main()
