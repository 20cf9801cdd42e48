"""Benchmark: `photoedit evaluate` photos/s on 1 and 2 workers, where the time goes, projected hours.

    python benchmarks/evaluate.py [--small]

Builds a generated dataset (photoedit sample -> ingest; the last --test photos form the test split),
augments it (K=1), extracts random-weight VGG features and trains MLP, MDN, LBN, CGM-VAE and P-VAE
(--epochs), then:
  1. runs the evaluate job as a subprocess on the FnApiRunner, multi_processing, with 1 and 2
     workers (--direct_num_workers) over the test split and over the small validation split, checks
     1 and 2 workers give identical rows, and reports photos/s: overall, and steady-state from the
     difference of the two runs (start-up - interpreter, Beam workers, model loading - cancels);
  2. times the plain functions over the same photos (pipelines.jobs.evaluate.evaluate_photo's
     sampling, raw decode, batched render, LAB) on CPU, and on CUDA when torch sees a GPU;
  3. times decoding a real camera DNG (../shared/fixtures/raw/blackmagic_pocket4k.dng, 9 MP) at the
     same --size, since the generated DNGs are tiny and real FiveK raws are 10-20 MP;
  4. projects hours for 500 and 5000 test photos, and prints the LAB table of the 2-worker run
     (P = 20, the paper's protocol, and P = 3, with the feature-blind floor's row: does a trained
     CGM-VAE beat the no_adjustment render?).
Models are trained with one training seed (evaluate uses one seed per model).
Timings only; nothing is asserted.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import torch  # noqa: E402

from modeling.registry import MODEL_ORDER  # noqa: E402
from pipelines.core.lab_summary import lab_table  # noqa: E402
from pipelines.core.layout import DatasetLayout  # noqa: E402
from pipelines.core.parquet_io import read_table, write_table  # noqa: E402
from pipelines.fivek.sample.generator import generate_sample  # noqa: E402

MODELS = MODEL_ORDER
FIXTURE_DNG = PROJECT.parent / "shared" / "fixtures" / "raw" / "blackmagic_pocket4k.dng"
ENV = dict(os.environ, OMP_NUM_THREADS="1", TF_CPP_MIN_LOG_LEVEL="2")


def stage(*argv: str) -> None:
    """Run one photoedit subcommand as a subprocess (quiet); raise if it fails."""
    cmd = [sys.executable, "-m", "pipelines", *argv]
    done = subprocess.run(cmd, cwd=PROJECT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(argv[:1])} failed:\n{done.stderr[-3000:]}")


def build(root: str, photos: int, test: int, raw_size: tuple[int, int], epochs: int) -> list[str]:
    """Generate, split (last `test` photos = test), augment, features, train; return the test photo ids."""
    fivek = root.rstrip("/") + "-fivek"
    generate_sample(fivek, photos=photos, size=raw_size)
    stage("ingest", "--fivek", fivek, "--out", root, "--direct_running_mode=in_memory")
    layout = DatasetLayout(root)
    table = read_table(layout.photos)
    ids = table.column("photo_id").to_pylist()
    val = max(2, photos // 10)
    split = ["test" if k >= photos - test else "validation" if k >= photos - test - val else "train"
             for k in range(len(ids))]
    write_table(table.set_column(table.schema.get_field_index("split"), table.schema.field("split"),
                                 pa.array(split, pa.string())), layout.photos)
    beam = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
    stage("augment", "--dataset", root, "-K", "1", "--size", "96", *beam)
    stage("features", "--dataset", root, "--weights", "random", *beam)
    for name in MODELS:
        stage("train", "--dataset", root, "--model", name, "--epochs", str(epochs), "--patience", "10",
              "--no-progress", "--is-samples", "20", "--seeds", "1")
    return ids[photos - test:]


def run_job(root: str, workers: int, size: int, proposals: int, split: str = "test") -> float:
    """Wall seconds of one evaluate job over one split with `workers` worker processes."""
    t = time.perf_counter()
    stage("evaluate", "--dataset", root, "--size", str(size), "--proposals", str(proposals), "--split", split,
          "--runner=FnApiRunner", "--direct_running_mode=multi_processing", f"--direct_num_workers={workers}")
    return time.perf_counter() - t


def sorted_rows(root: str) -> tuple[pa.Table, pa.Table]:
    layout = DatasetLayout(root)
    return (read_table(layout.evaluation, sort_by=["photo_id", "model", "proposals", "expert"]),
            read_table(layout.predictions, sort_by=["photo_id", "model", "proposal"]))


def plain_timings(root: str, photo_ids: list[str], experts: list[str], size: int, proposals: int,
                  device: str) -> dict[str, float]:
    """Seconds per photo in sampling / decode / render / lab from evaluate_photo over the photos."""
    from pipelines.core.model_store import load_model
    from pipelines.jobs import evaluate
    from rendering.renderer import PhotoRenderer

    torch.set_num_threads(1)  # like one job worker (OMP_NUM_THREADS=1)
    layout = DatasetLayout(root)
    models = {n: load_model(layout.model_dir(n), device=device)[0] for n in MODELS}
    photos = {r["photo_id"]: r for r in read_table(layout.photos).to_pylist()}
    edits: dict[str, dict] = {}
    for r in read_table(layout.edits).to_pylist():
        edits.setdefault(r["photo_id"], {})[r["editor"]] = r
    fc7 = {r["photo_id"]: np.asarray(r["fc7"], np.float32) for r in read_table(layout.features).to_pylist()
           if r["variant"] == 0}
    config = evaluate.EvaluateConfig(experts=tuple(experts), proposals=proposals, size=size,
                                     device=device)
    renderer = PhotoRenderer(device=device)
    first = photo_ids[0]
    evaluate.evaluate_photo(photos[first], edits[first], fc7[first], models, renderer, config)  # warm-up
    timings: dict[str, float] = {}
    for pid in photo_ids:
        evaluate.evaluate_photo(photos[pid], edits[pid], fc7[pid], models, renderer, config, timings)
        if device == "cuda":
            torch.cuda.synchronize()
    return {k: v / len(photo_ids) for k, v in timings.items()}


def real_decode_seconds(size: int, repeats: int = 3) -> float | None:
    """Seconds to decode the 9 MP fixture DNG at long side `size` (None when the fixture is absent)."""
    if not FIXTURE_DNG.is_file():
        return None
    from rendering.raw import load_photo

    data = FIXTURE_DNG.read_bytes()
    t = time.perf_counter()
    for _ in range(repeats):
        load_photo(data, long_side=size, name=str(FIXTURE_DNG))
    return (time.perf_counter() - t) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", help="tiny run (12 photos, 4 test, 64 px, 5 epochs)")
    parser.add_argument("--photos", type=int, default=64, help="generated photos (default 64)")
    parser.add_argument("--test", type=int, default=40, help="of which in the test split (default 40)")
    parser.add_argument("--size", type=int, default=256, help="evaluate --size, long side px (default 256)")
    parser.add_argument("--proposals", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=40, help="training epochs per model (default 40)")
    args = parser.parse_args()
    if args.small:
        args.photos, args.test, args.size, args.epochs = 16, 8, 64, 5
    raw_size = (max(96, int(args.size * 1.5)), max(64, args.size))
    tmp = tempfile.mkdtemp(prefix="evaluate-bench-")
    try:
        root = os.path.join(tmp, "ds")
        t = time.perf_counter()
        test_ids = build(root, args.photos, args.test, raw_size, args.epochs)
        build_s = time.perf_counter() - t
        walls = {}
        for workers in (1, 2):
            walls[workers, "validation"] = run_job(root, workers, args.size, args.proposals, "validation")
            walls[workers, "test"] = run_job(root, workers, args.size, args.proposals)
            if workers == 1:
                rows_one = sorted_rows(root)
        rows_two = sorted_rows(root)
        identical = rows_one[0].equals(rows_two[0]) and rows_one[1].equals(rows_two[1])
        num_val = sum(r["split"] == "validation" for r in read_table(DatasetLayout(root).photos).to_pylist())
        summary = json.loads(Path(root, "evaluation", "_summary.json").read_text())
        experts = summary["experts"]
        cpu = plain_timings(root, test_ids, experts, args.size, args.proposals, "cpu")
        gpu = (plain_timings(root, test_ids, experts, args.size, args.proposals, "cuda")
               if torch.cuda.is_available() else None)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    real_decode = real_decode_seconds(args.size)

    n = len(test_ids)
    pools = [args.proposals] + ([len(experts)] if len(experts) < args.proposals else [])
    renders = len(MODELS) * len(pools) * len(experts) + 1 + len(experts)
    print(f"evaluate benchmark: {n} test photos, {len(MODELS)} models x {len(experts)} experts "
          f"({','.join(experts)}), P={' and '.join(map(str, pools))}, --size {args.size}, generated DNG "
          f"{raw_size[0]}x{raw_size[1]}, up to {renders} renders per photo in one batch (the job adds the "
          f"floor's), cpu cores={os.cpu_count()}, OMP_NUM_THREADS=1 (dataset built in {build_s:.0f} s)")
    print()
    print(f"| {'job run (multi_processing)':<30} | {'photos':>6} | {'wall s':>7} | {'photos/s':>8} | "
          f"{'steady photos/s':>15} | {'start-up s':>10} |")
    print(f"| {'-' * 30} | {'-' * 6} | {'-' * 7} | {'-' * 8} | {'-' * 15} | {'-' * 10} |")
    steady = {}
    for workers in (1, 2):
        wall_t, wall_v = walls[workers, "test"], walls[workers, "validation"]
        rate = (n - num_val) / max(wall_t - wall_v, 1e-9)
        startup = wall_v - num_val / rate
        steady[workers] = (rate, startup)
        for split, count, wall in (("validation", num_val, wall_v), ("test", n, wall_t)):
            print(f"| {f'{workers} worker(s), {split}':<30} | {count:6d} | {wall:7.1f} | {count / wall:8.2f} | "
                  f"{rate:15.2f} | {startup:10.1f} |")
    print(f"rows identical on 1 and 2 workers: {identical}; steady-state 2-worker speed-up "
          f"{steady[2][0] / steady[1][0]:.2f}x (2 cores, shared with other work while measured)")
    print()
    columns = [("cpu", cpu)] + ([("cuda", gpu)] if gpu else [])
    header = " | ".join(f"{name + ' s/photo':>14} | {'share':>5}" for name, _ in columns)
    print(f"| {'step (plain functions)':<40} | {header} |")
    print(f"| {'-' * 40} | " + " | ".join(f"{'-' * 14} | {'-' * 5}" for _ in columns) + " |")
    labels = {"sampling": f"sampling {len(MODELS)} models x P + alignments", "decode": "raw decode (generated DNG)",
              "render": f"render ({renders} images, one batch)", "lab": "LAB ΔE76 mean + RMS (float32)"}
    for key in ("sampling", "decode", "render", "lab"):
        cells = " | ".join(f"{t[key]:14.4f} | {100 * t[key] / sum(t.values()):4.0f}%" for _, t in columns)
        print(f"| {labels[key]:<40} | {cells} |")
    totals = " | ".join(f"{sum(t.values()):14.4f} | {'':>5}" for _, t in columns)
    print(f"| {'total':<40} | {totals} |")
    if real_decode is not None:
        print(f"real 9 MP camera DNG (fixture) decode at --size {args.size}: {real_decode:.3f} s/photo "
              "(replaces the generated-DNG decode above for FiveK raws)")
    if gpu is None:
        print("CUDA: not available on this machine; GPU figures need a CUDA machine (run this script there).")
    print()
    extra_decode = (real_decode - cpu["decode"]) if real_decode is not None else 0.0
    rate, startup = steady[2]
    print(f"| {'projection, 2 workers on this machine (cpu)':<56} | {'500 photos h':>12} | {'5000 photos h':>13} |")
    print(f"| {'-' * 56} | {'-' * 12} | {'-' * 13} |")
    for label, per_photo in (("steady rate as measured (generated DNGs)", 1.0 / rate),
                             ("steady rate + real 9 MP DNG decode time, 2 workers", 1.0 / rate + extra_decode / 2)):
        print(f"| {label:<56} | {(startup + 500 * per_photo) / 3600:12.2f} | "
              f"{(startup + 5000 * per_photo) / 3600:13.2f} |")
    print()
    print(f"LAB error vs experts {','.join(experts)} (2-worker run, renderer reference, {args.epochs} epochs):")
    print(lab_table({int(k): v for k, v in summary["by_proposals"].items()}))
    models = summary["models"]
    if "cgmvae" in models and "no_adjustment" in models:
        better = models["cgmvae"]["lab_mean"] < models["no_adjustment"]["lab_mean"]
        print(f"CGM-VAE below no_adjustment: {better}")


if __name__ == "__main__":
    main()
