"""Benchmark: `photoedit ingest --no-raw-check` of a generated 5000-photo x 5-expert catalog, 1 vs 2 workers.

    python benchmarks/ingest.py [--small] [--photos 5000]

Generates the catalog and metadata only (`photoedit sample --no-raws`: no DNGs, no TIFFs), then runs
`photoedit ingest --no-raw-check` as a subprocess on the in-process FnApiRunner in multi_processing
mode with 1 and 2 workers and prints wall time and catalog rows (edits) per second. Wall time
includes interpreter start, reading the catalog and writing the Parquet outputs. Target: the whole
5000 x 5 catalog in under a minute. --small uses 500 photos.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from pipelines.core.parquet_io import read_table  # noqa: E402
from pipelines.fivek.sample.generator import generate_sample  # noqa: E402


def run_ingest(root: Path, out: Path, workers: int) -> float:
    """Wall seconds of one `photoedit ingest --no-raw-check` run with `workers` processes."""
    cmd = [sys.executable, "-m", "pipelines", "ingest", "--fivek", str(root), "--out", str(out), "--no-raw-check",
           "--runner=FnApiRunner", "--direct_running_mode=multi_processing", f"--direct_num_workers={workers}"]
    t = time.perf_counter()
    subprocess.run(cmd, cwd=PROJECT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=dict(os.environ, OMP_NUM_THREADS="1"))
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=5000, help="photos in the generated catalog")
    parser.add_argument("--small", action="store_true", help="500 photos")
    args = parser.parse_args()
    photos = 500 if args.small else args.photos
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "fivek"
        t = time.perf_counter()
        summary = generate_sample(str(root), photos=photos, seed=0, raws=False)
        gen_s = time.perf_counter() - t
        rows = summary.expert_edits
        results = []
        for workers in (1, 2):
            out = Path(tmp) / f"out{workers}"
            secs = run_ingest(root, out, workers)
            edits = read_table(str(out / "edits")).num_rows
            errors = read_table(str(out / "errors" / "ingest"), required=False).num_rows
            results.append((workers, secs, edits, errors))
    print(f"ingest benchmark: {photos} photos x 5 experts = {rows} catalog rows, --no-raw-check, "
          f"cpu cores={os.cpu_count()} (catalog generated in {gen_s:.1f} s)")
    print(f"| {'workers':>7} | {'wall s':>7} | {'edits':>6} | {'errors':>6} | {'rows/s':>8} |")
    print(f"| {'-' * 7} | {'-' * 7} | {'-' * 6} | {'-' * 6} | {'-' * 8} |")
    for workers, secs, edits, errors in results:
        print(f"| {workers:>7} | {secs:7.2f} | {edits:>6} | {errors:>6} | {rows / secs:8.0f} |")
    print("errors = edits with an as-shot white balance, unresolvable without reading the DNG; "
          "target: whole catalog < 60 s")


if __name__ == "__main__":
    main()
