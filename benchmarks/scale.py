"""Benchmark: every stage of photoedit at N photos, in-process and on a local Dask cluster, and how it grows.

    python benchmarks/scale.py                         # N = 500 1000 2000 5000 (hours: features dominate)
    python benchmarks/scale.py --quick                 # N = 24 48, small images: minutes (CI)
    python benchmarks/scale.py --photos 250 500 --dask-stages ingest augment
    python benchmarks/scale.py --photos 500 5000 --synthetic-features --dask-stages   # memory at 5000, minutes

For each N it generates a FiveK-shaped sample (`photoedit sample --size W --no-expert-renditions`:
3:2 DNGs, W x 2W/3, no expert TIFFs: `evaluate` renders its references from the sliders) and runs,
each as its own `python -m pipelines ...` process on the in-process FnApiRunner (multi-process over
--workers, default all cores): ingest, augment (K = 2), features (random VGG-16 weights), train
(mlp, mdn, lbn, cgmvae, pvae; a fixed --epochs budget, no early stop), evaluate-models, evaluate (all
five on the test split) and report. Then the Beam stages of --dask-stages again on a fresh local
dask.distributed cluster per stage (a scheduler + 2 single-threaded workers, as the Dask tests
start them: tests/pipelines/beam_services.dask_cluster), on a copy of the dataset (models/ copied
from the in-process run), and their output rows are compared with the in-process run's. With
--synthetic-features, augment and features are replaced by random 4096-d features/ and variant_edits/
(write_synthetic_features) so that train, evaluate-models, evaluate and report reach N = 5000 without
hours of VGG: their memory and time are real, their quality figures are not.

Per stage and N it prints: wall seconds, items per second (photos, images or edits as named), peak
RSS of the driver process and of the largest single worker process (sampled from /proc every 0.2 s:
benchmarks/process_tree.PeakProcessRss; in-process workers are the driver's child processes, on Dask
the cluster's worker processes), the bytes the stage added under the dataset (or sample) root, then
per stage the exponent alpha of wall time against N (least-squares slope of log t on log N over
every N run) and the peak memory per process at the largest N over that at the smallest. Targets
(issue 19): every Beam stage alpha <= 1.05 and memory ratio <= 1.25, in-process and on Dask. The
cores are shared with whatever else runs: compare figures measured in one run. Nothing is asserted.
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

BENCHMARKS = Path(__file__).resolve().parent
PROJECT = BENCHMARKS.parent
# benchmarks/dask.py must not shadow the real dask when this folder is on the path
sys.path[:] = [p for p in sys.path if Path(p or os.getcwd()).resolve() != BENCHMARKS]
sys.path.insert(0, str(PROJECT))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402

from benchmarks.evaluate import FIXTURE_DNG, real_decode_seconds  # noqa: E402
from benchmarks.process_tree import PeakProcessRss  # noqa: E402
from modeling.registry import MODEL_ORDER  # noqa: E402
from pipelines.core.layout import DatasetLayout  # noqa: E402
from pipelines.core.parquet_io import count_rows, parquet_files, read_table  # noqa: E402

log = logging.getLogger("scale")
FULL_PHOTOS = (500, 1000, 2000, 5000)
QUICK_PHOTOS = (24, 48)
BEAM_STAGES = ("ingest", "augment", "features", "evaluate")
STAGES = ("ingest", "augment", "features", "train", "evaluate-models", "evaluate", "report")
MIB = 2 ** 20
# Beam stage -> (output folder, its sort keys): the rows compared between the in-process and Dask runs
OUTPUT_KEYS = {
    "ingest": {"photos": ["photo_id"], "edits": ["photo_id", "editor_kind", "editor"]},
    "augment": {"variants": ["image_id"], "variant_edits": ["image_id", "editor_kind", "editor"]},
    "features": {"features": ["image_id"]},
    "evaluate": {"evaluation": ["photo_id", "model", "expert"], "predictions": ["photo_id", "model", "proposal"]},
}
FLOAT_TOLERANCE = 1e-5   # features: float32 VGG outputs from other thread counts may differ in the last bits


@dataclass(frozen=True)
class ScaleConfig:
    """What one benchmark run does: photo counts, image sizes (px), training budget, runners."""

    photos: tuple[int, ...] = FULL_PHOTOS
    dng_width: int = 384            # DNGs are dng_width x 2*dng_width/3 (3:2)
    augment_size: int = 256         # augment --size (long side of the rendered variants)
    eval_size: int = 256            # evaluate --size
    epochs: int = 2                 # train --epochs, patience above it: every model trains the same budget
    is_samples: int = 50            # importance samples of train / evaluate-models
    proposals: int = 20             # evaluate --proposals
    split: str = "hash"             # ingest --split
    workers: int | None = None      # in-process --direct_num_workers (None: all cores)
    stages: tuple[str, ...] = ()    # stages after `sample` to run (STAGES order; empty: all)
    models: tuple[str, ...] = MODEL_ORDER   # the models trained (and evaluated)
    dask_stages: tuple[str, ...] = BEAM_STAGES
    dask_workers: int = 2
    work: str | None = None         # keep the datasets here (default: a temporary folder, deleted)
    synthetic_features: bool = False   # random features/ + variant_edits/ in place of augment and features


@dataclass(frozen=True)
class StageRun:
    """One stage at one N: counts, wall seconds, peak RSS (bytes) of the driver and largest worker, bytes written."""

    stage: str
    runner: str          # in-process | dask
    photos: int
    items: int
    unit: str
    seconds: float
    driver: int
    worker: int
    written: int

    @property
    def rate(self) -> float:
        return self.items / self.seconds if self.seconds > 0 else float("nan")

    @property
    def per_process(self) -> int:
        """The largest process of the run: the driver or a worker, whichever peaked higher."""
        return max(self.driver, self.worker)


@dataclass
class Report:
    """Everything measured: the runs, and per (N, Beam stage) whether Dask's rows equal the in-process ones."""

    runs: list[StageRun] = field(default_factory=list)
    equal: dict[tuple[int, str], str] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)   # "N=.. stage: first line of its error"


def folder_bytes(path: Path) -> int:
    """Bytes of every file under `path` (0 when it does not exist)."""
    if not path.exists():
        return 0
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def fit_alpha(photos: Sequence[int], seconds: Sequence[float]) -> float:
    """Slope of log(seconds) against log(photos), least squares (nan with fewer than 2 distinct N)."""
    if len(set(photos)) < 2:
        return float("nan")
    return float(np.polyfit(np.log(photos), np.log(seconds), 1)[0])


def run_command(argv: Sequence[str], worker_pids: Sequence[int] | None = None) -> tuple[float, PeakProcessRss]:
    """Run `python -m pipelines ARGV` (one thread per process for the maths); wall seconds and its peak RSS."""
    cmd = [sys.executable, "-m", "pipelines", *argv]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    with tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        process = subprocess.Popen(cmd, cwd=PROJECT, env=env, stdout=subprocess.DEVNULL, stderr=err)
        with PeakProcessRss(process.pid, worker_pids) as rss:
            code = process.wait()
        seconds = time.perf_counter() - t
        if code != 0:
            err.seek(0)
            raise RuntimeError(f"{' '.join(argv[:1])} failed ({code}): {' '.join(cmd)}\n"
                               f"{err.read().decode(errors='replace')[-4000:]}")
    return seconds, rss


@contextlib.contextmanager
def dask_cluster(workers: int) -> Iterator[tuple[str, list[int]]]:
    """A fresh local dask cluster: its address and the pids of its worker processes."""
    from distributed import Client

    from tests.pipelines.beam_services import dask_cluster as start_cluster

    with start_cluster(workers=workers) as address:
        with Client(address, timeout=30) as client:
            pids = list(client.run(os.getpid).values())
        yield address, pids


def stage_items(stage: str, root: Path) -> tuple[int, str]:
    """How many items a stage handled, read back from its outputs, and their unit."""
    layout = DatasetLayout(str(root))
    if stage in ("ingest", "report"):
        return count_rows(layout.photos) or 0, "photos"
    if stage == "augment":
        return count_rows(layout.variants) or 0, "images"
    if stage == "features":
        return count_rows(layout.features) or 0, "images"
    if stage.startswith("train") or stage == "evaluate-models":
        return count_rows(layout.variant_edits) or 0, "edits"
    if stage == "evaluate":
        return len(set(read_table(layout.evaluation, ["photo_id"]).column("photo_id").to_pylist())), "test photos"
    raise ValueError(stage)


def stage_commands(config: ScaleConfig, fivek: Path, root: Path) -> list[tuple[str, list[str]]]:
    """(stage name, photoedit argv) of every stage after `sample`, in order."""
    r = str(root)
    commands = [("ingest", ["ingest", "--fivek", str(fivek), "--out", r, "--split", config.split]),
                ("augment", ["augment", "--dataset", r, "-K", "2", "--size", str(config.augment_size)]),
                ("features", ["features", "--dataset", r, "--weights", "random"])]
    for name in config.models:
        commands.append((f"train {name}", ["train", "--dataset", r, "--model", name, "--epochs", str(config.epochs),
                                           "--patience", str(config.epochs + 1), "--no-progress",
                                           "--is-samples", str(config.is_samples), "--seeds", "1"]))
    commands += [("evaluate-models", ["evaluate-models", "--dataset", r, "--is-samples", str(config.is_samples)]),
                 ("evaluate", ["evaluate", "--dataset", r, "--size", str(config.eval_size),
                               "--proposals", str(config.proposals), "--models", ",".join(config.models)]),
                 ("report", ["report", "--dataset", r])]
    wanted = set(config.stages or STAGES) - ({"augment", "features"} if config.synthetic_features else set())
    return [(stage, argv) for stage, argv in commands if stage.split(" ")[0] in wanted]


def measured(stage: str, runner: str, photos: int, root: Path, argv: list[str],
             worker_pids: Sequence[int] | None = None, written_under: Path | None = None,
             items: tuple[int, str] | None = None) -> StageRun:
    """Run one stage and measure it (bytes written: growth of `written_under`, default the dataset root;
    items: (count, unit), default read back from the stage's outputs)."""
    under = written_under or root
    before = folder_bytes(under)
    seconds, rss = run_command(argv, worker_pids)
    items, unit = items or stage_items(stage, root)
    run = StageRun(stage=stage, runner=runner, photos=photos, items=items, unit=unit, seconds=seconds,
                   driver=rss.driver, worker=rss.worker, written=folder_bytes(under) - before)
    log.info("N=%d %s %s: %.1f s, %d %s, driver %.0f MiB, worker %.0f MiB", photos, runner, stage, seconds,
             items, unit, rss.driver / MIB, rss.worker / MIB)
    return run


def beam_flags(config: ScaleConfig) -> list[str]:
    """In-process runner flags: multi-process, --workers processes when given."""
    flags = ["--runner=FnApiRunner", "--direct_running_mode=multi_processing"]
    return flags + ([f"--direct_num_workers={config.workers}"] if config.workers else [])


def in_process(config: ScaleConfig, photos: int, work: Path) -> tuple[list[StageRun], Path, Path]:
    """Generate the sample and run every stage in-process: the runs, the FiveK root and the dataset root."""
    fivek, root = work / f"n{photos}-fivek", work / f"n{photos}"
    runs = [measured("sample", "in-process", photos, fivek,
                     ["sample", "--photos", str(photos), "--out", str(fivek), "--size", str(config.dng_width),
                      "--no-expert-renditions"], written_under=fivek, items=(photos, "photos"))]
    for stage, argv in stage_commands(config, fivek, root):
        flags = beam_flags(config) if stage in BEAM_STAGES else []
        try:
            runs.append(measured(stage, "in-process", photos, root, argv + flags))
            if stage == "ingest" and config.synthetic_features:
                write_synthetic_features(root)
        except RuntimeError as exc:
            lines = [line for line in str(exc).splitlines() if line.strip()]
            raise StageError(f"{stage} failed: {lines[-1] if lines else exc}", runs) from exc
    return runs, fivek, root


class StageError(RuntimeError):
    """A stage of the in-process run failed; `runs` are the stages measured before it at that N."""

    def __init__(self, message: str, runs: list[StageRun]):
        super().__init__(message)
        self.runs = runs


def on_dask(config: ScaleConfig, photos: int, fivek: Path, local: Path, work: Path) -> tuple[list[StageRun], dict]:
    """The --dask-stages on a fresh cluster each, into a copy of the dataset; runs and row comparisons."""
    root = work / f"n{photos}-dask"
    commands = dict(stage_commands(config, fivek, root))
    runs, equal = [], {}
    for stage in BEAM_STAGES:
        if stage not in config.dask_stages or stage not in commands:
            continue
        _inputs_from(local, root, stage)
        with dask_cluster(config.dask_workers) as (address, pids):
            runs.append(measured(stage, "dask", photos, root,
                                 commands[stage] + ["--runner", "DaskRunner", "--dask_client_address", address],
                                 worker_pids=pids))
        equal[photos, stage] = compare_outputs(local, root, OUTPUT_KEYS[stage])
    return runs, equal


# Beam stage -> the folders it reads, copied from the in-process run where the Dask run did not write them
DASK_INPUTS = {"ingest": [], "augment": ["photos", "edits"], "features": ["variants"],
               "evaluate": ["photos", "edits", "variants", "variant_edits", "features", "models"]}


def _inputs_from(local: Path, root: Path, stage: str) -> None:
    """Give the Dask dataset the in-process run's inputs of `stage` that no Dask stage wrote (models/ always)."""
    for name in DASK_INPUTS[stage]:
        if (local / name).exists() and not (root / name).exists():
            shutil.copytree(local / name, root / name)


def compare_outputs(want_root: Path, got_root: Path, folders: dict[str, list[str]]) -> str:
    """'equal', 'equal within 1e-5' or what differs: each folder's rows sorted by its keys, roots written ROOT."""
    notes = []
    for folder, keys in folders.items():
        if not parquet_files(str(got_root / folder)):
            return f"{folder}/ missing"
        want = _normalised(read_table(str(want_root / folder), sort_by=keys), want_root)
        got = _normalised(read_table(str(got_root / folder), sort_by=keys), got_root)
        if want.num_rows != got.num_rows:
            return f"{folder}/: {got.num_rows} rows vs {want.num_rows}"
        for name in want.column_names:
            if name == "seconds":
                continue
            a, b = want.column(name), got.column(name)
            if a.equals(b):
                continue
            try:
                x, y = _numbers(a), _numbers(b)
            except (TypeError, ValueError, pa.ArrowException):
                return f"{folder}/{name} differs"
            diff = float(np.nanmax(np.abs(x - y))) if x.size else 0.0
            if x.shape != y.shape or diff > FLOAT_TOLERANCE * max(1.0, float(np.nanmax(np.abs(x)))):
                return f"{folder}/{name} differs (max |diff| {diff:.3g})"
            notes.append(f"{folder}/{name} within {diff:.1g}")
    return "equal" + (f" ({'; '.join(notes)})" if notes else "")


def _numbers(column: pa.ChunkedArray) -> np.ndarray:
    """A numeric (or list-of-numbers) column as one flat float64 array; TypeError/ValueError otherwise."""
    array = column.combine_chunks()
    while pa.types.is_list(array.type) or pa.types.is_fixed_size_list(array.type) or pa.types.is_large_list(array.type):
        array = array.flatten()
    return np.asarray(array.to_numpy(zero_copy_only=False), dtype=np.float64)


def _normalised(table: pa.Table, root: Path) -> pa.Table:
    """The table with `root`/ written ROOT/ in its string columns (image URIs name their dataset)."""
    for i, name in enumerate(table.column_names):
        if str(table.schema.field(name).type) in ("string", "large_string"):
            table = table.set_column(i, name, pc.replace_substring(table.column(name), f"{root}{os.sep}", "ROOT/"))
    return table


def run_benchmark(config: ScaleConfig) -> Report:
    """Every stage at every N, in-process then on Dask; removes the datasets unless config.work is given."""
    report = Report()
    work = Path(config.work) if config.work else Path(tempfile.mkdtemp(prefix="photoedit_scale_"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        for photos in config.photos:
            try:
                runs, fivek, root = in_process(config, photos, work)
            except StageError as exc:
                report.runs += exc.runs
                report.failures.append(f"N={photos} {exc}")
                log.error("N=%d: %s; the other stages at this N are skipped", photos, exc)
                continue
            report.runs += runs
            if config.dask_stages:
                dask_runs, equal = on_dask(config, photos, fivek, root, work)
                report.runs += dask_runs
                report.equal.update(equal)
            print(format_runs([r for r in report.runs if r.photos == photos]), flush=True)
            if not config.work:
                for path in work.glob(f"n{photos}*"):
                    shutil.rmtree(path, ignore_errors=True)
    finally:
        if not config.work:
            shutil.rmtree(work, ignore_errors=True)
    return report


def format_runs(runs: Sequence[StageRun]) -> str:
    """Markdown table of runs: one row per stage, runner and N."""
    lines = ["| stage | runner | N | items | wall s | items/s | driver MiB | largest worker MiB | written MiB |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in runs:
        worker = f"{r.worker / MIB:.0f}" if r.worker else "-"
        lines.append(f"| {r.stage} | {r.runner} | {r.photos} | {r.items} {r.unit} | {r.seconds:.1f} | {r.rate:.2f} "
                     f"| {r.driver / MIB:.0f} | {worker} | {r.written / MIB:.1f} |")
    return "\n".join(lines)


def format_growth(report: Report) -> str:
    """Per stage and runner: alpha over every N, and peak per-process memory at the largest N / the smallest."""
    lines = ["| stage | runner | N | alpha (t ~ N^alpha) | per-process peak MiB, smallest -> largest N | ratio |"
             " Dask rows vs in-process |",
             "| --- | --- | --- | ---: | --- | ---: | --- |"]
    keys = list(dict.fromkeys((r.stage, r.runner) for r in report.runs))
    for stage, runner in keys:
        runs = sorted((r for r in report.runs if (r.stage, r.runner) == (stage, runner)), key=lambda r: r.photos)
        alpha = fit_alpha([r.photos for r in runs], [r.seconds for r in runs])
        low, high = runs[0].per_process, runs[-1].per_process
        ratio = high / low if low else float("nan")
        equal = "; ".join(f"N={n}: {report.equal[n, stage]}" for n in sorted({r.photos for r in runs})
                          if runner == "dask" and (n, stage) in report.equal) or ""
        target = " (target <= 1.05 / 1.25)" if stage in BEAM_STAGES else ""
        lines.append(f"| {stage} | {runner} | {', '.join(str(r.photos) for r in runs)} | "
                     f"{alpha:.2f}{target} | {low / MIB:.0f} -> {high / MIB:.0f} | {ratio:.2f} | {equal} |")
    totals = {}
    for r in report.runs:
        if r.runner == "in-process":
            totals[r.photos] = totals.get(r.photos, 0.0) + r.seconds
    lines.append("")
    lines.append("in-process total (every stage, sample included): " +
                 ", ".join(f"N={n}: {s / 60:.1f} min" for n, s in sorted(totals.items())))
    return "\n".join(lines)


def write_synthetic_training_set(root: Path, edits: int, dim: int = 4096, seed: int = 0) -> None:
    """A dataset holding only what `photoedit train` reads: edits/5 images of `dim`-d features (5 000 rows a
    shard, as the features job writes them), 5 expert edits per image, 3 images per photo, hash splits."""
    import pyarrow.parquet as pq

    from modeling.splits import split_for
    from pipelines.core.schemas import PHOTOS, VARIANT_EDITS, features_schema
    from rendering.sliders import PROCESS_2003

    rng = np.random.default_rng(seed)
    images = max(1, edits // 5)
    image_ids = [f"a{i // 3:05d}_v{i % 3}" for i in range(images)]
    layout = DatasetLayout(str(root))
    shards = max(1, math.ceil(images / 5000))
    for k in range(shards):
        rows = range(k * images // shards, (k + 1) * images // shards)
        fc7 = np.abs(rng.standard_normal((len(rows), dim), dtype=np.float32))
        table = pa.table({"image_id": [image_ids[i] for i in rows], "photo_id": [image_ids[i][:6] for i in rows],
                          "variant": pa.array([i % 3 for i in rows], pa.int32()),
                          "fc7": pa.FixedSizeListArray.from_arrays(pa.array(fc7.ravel()), dim)},
                         schema=features_schema(dim))
        path = Path(layout.features) / f"part-{k:05d}-of-{shards:05d}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path)
    n = images * 5
    ids = np.repeat(np.array(image_ids), 5)
    model = np.clip(rng.normal(0, 0.3, (n, len(PROCESS_2003.keys))), -1, 1)
    lightroom = PROCESS_2003.from_model(model)
    columns = {"image_id": ids, "photo_id": [i[:6] for i in ids], "variant": np.tile(np.repeat(np.arange(3), 5),
                                                                                       images // 3 + 1)[:n],
               "editor": np.tile(list("ABCDE"), images), "editor_kind": ["expert"] * n,
               **{k: lightroom[:, j] for j, k in enumerate(PROCESS_2003.keys)}, "tone_curve": [None] * n}
    path = Path(layout.variant_edits) / "part-00000-of-00001.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({k: columns[k] for k in VARIANT_EDITS.names}, schema=VARIANT_EDITS), path)
    photo_ids = sorted({i[:6] for i in image_ids})
    photos = {name: [None] * len(photo_ids) for name in PHOTOS.names}
    photos.update(photo_id=photo_ids, file_name=photo_ids, raw_uri=[f"{p}.dng" for p in photo_ids],
                  split=[split_for(p) for p in photo_ids])
    path = Path(layout.photos) / "part-00000-of-00001.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(photos, schema=PHOTOS), path)


def write_synthetic_features(root: Path, variants: int = 3, dim: int = 4096, seed: int = 0) -> None:
    """What augment (K = variants - 1) and features would add to an ingested dataset, without rendering or VGG:
    variant_edits/ (every edit copied to each variant) and random `dim`-d features/ in shards of 5 000 images,
    so the stages after them run at FiveK scale in minutes (their memory, not their figures, is what counts)."""
    import pyarrow.parquet as pq

    from pipelines.core.schemas import VARIANT_EDITS, features_schema

    layout = DatasetLayout(str(root))
    edits = read_table(layout.edits, [n for n in VARIANT_EDITS.names if n not in ("image_id", "variant")])
    photo_ids = sorted(read_table(layout.photos, ["photo_id"]).column("photo_id").to_pylist())
    tables = []
    for v in range(variants):
        ids = pc.binary_join_element_wise(edits.column("photo_id"), pa.scalar(f"_v{v}"), "")
        tables.append(edits.append_column("image_id", ids).append_column(
            "variant", pa.array(np.full(edits.num_rows, v, np.int32))).select(VARIANT_EDITS.names).cast(VARIANT_EDITS))
    Path(layout.variant_edits).mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.concat_tables(tables), Path(layout.variant_edits) / "part-00000-of-00001.parquet")
    rng = np.random.default_rng(seed)
    images = [(p, v) for p in photo_ids for v in range(variants)]
    shards = max(1, math.ceil(len(images) / 5000))
    Path(layout.features).mkdir(parents=True, exist_ok=True)
    for k in range(shards):
        rows = images[k * len(images) // shards:(k + 1) * len(images) // shards]
        fc7 = np.abs(rng.standard_normal((len(rows), dim), dtype=np.float32))
        table = pa.table({"image_id": [f"{p}_v{v}" for p, v in rows], "photo_id": [p for p, _ in rows],
                          "variant": pa.array([v for _, v in rows], pa.int32()),
                          "fc7": pa.FixedSizeListArray.from_arrays(pa.array(fc7.ravel()), dim)},
                         schema=features_schema(dim))
        pq.write_table(table, Path(layout.features) / f"part-{k:05d}-of-{shards:05d}.parquet")


def synthetic_training(edit_counts: Sequence[int], models: Sequence[str], config: ScaleConfig) -> list[StageRun]:
    """`photoedit train` of each model on synthetic datasets of each edit count (no VGG): time and peak RSS."""
    runs = []
    with tempfile.TemporaryDirectory(prefix="photoedit_train_scale_") as tmp:
        for edits in edit_counts:
            root = Path(tmp) / f"e{edits}"
            write_synthetic_training_set(root, edits)
            for name in models:
                argv = ["train", "--dataset", str(root), "--model", name, "--epochs", str(config.epochs),
                        "--patience", str(config.epochs + 1), "--no-progress", "--is-samples", str(config.is_samples),
                        "--seeds", "1"]
                runs.append(measured(f"train {name}", "in-process", edits // 15, root, argv))
            shutil.rmtree(root, ignore_errors=True)
    return runs


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help=f"N = {' '.join(map(str, QUICK_PHOTOS))}, 96x64 DNGs, 64 px renders, 1 epoch, "
                             "20 IS samples, 3 proposals: minutes")
    parser.add_argument("--photos", type=int, nargs="+", default=None,
                        help=f"photo counts N (default {' '.join(map(str, FULL_PHOTOS))})")
    parser.add_argument("--dng-width", type=int, default=None, help="DNG width px, 3:2 (default 384; quick 96)")
    parser.add_argument("--augment-size", type=int, default=None, help="augment --size px (default 256; quick 64)")
    parser.add_argument("--eval-size", type=int, default=None, help="evaluate --size px (default 256; quick 64)")
    parser.add_argument("--epochs", type=int, default=None, help="train --epochs, every model (default 2; quick 1)")
    parser.add_argument("--is-samples", type=int, default=None, help="importance samples (default 50; quick 20)")
    parser.add_argument("--proposals", type=int, default=None,
                        help="evaluate --proposals, >= 3 experts (default 20; quick 3)")
    parser.add_argument("--split", default=None,
                        help="ingest --split (default hash; quick: fivek, 20%% test, so that tiny N has test photos)")
    parser.add_argument("--workers", type=int, default=None, help="in-process Beam workers (default: all cores)")
    parser.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES,
                        help="stages after `sample` to run, each needing the ones before it (default all)")
    parser.add_argument("--dask-stages", nargs="*", default=list(BEAM_STAGES), choices=BEAM_STAGES,
                        help="Beam stages to run again on Dask (default all four; none: no Dask)")
    parser.add_argument("--work", default=None, help="keep the generated datasets in this folder")
    parser.add_argument("--synthetic-train", type=int, nargs="+", default=None, metavar="EDITS",
                        help="instead: `photoedit train` alone on synthetic 4096-d feature shards of EDITS edits "
                             "(EDITS/5 images; 75000 = FiveK with K=2), peak RSS per model (no sample, no VGG)")
    parser.add_argument("--synthetic-features", action="store_true",
                        help="skip augment and features: write random 4096-d features/ and variant_edits/ (K = 2) "
                             "after ingest, so train, evaluate-models, evaluate and report run at N = 5000 in "
                             "minutes (memory figures; the quality figures mean nothing)")
    parser.add_argument("--models", nargs="+", default=list(MODEL_ORDER), choices=MODEL_ORDER,
                        help="models trained and evaluated, also by --synthetic-train (default all five)")
    return parser


def config_from_args(args: argparse.Namespace) -> ScaleConfig:
    """ScaleConfig of the flags: --quick's small defaults, any flag given overriding them."""
    quick = dict(photos=QUICK_PHOTOS, dng_width=96, augment_size=64, eval_size=64, epochs=1, is_samples=20,
                 proposals=3, split="fivek") if args.quick else {}
    given = {k: getattr(args, k) for k in ("dng_width", "augment_size", "eval_size", "epochs", "is_samples",
                                           "proposals", "split") if getattr(args, k) is not None}
    if args.photos:
        given["photos"] = tuple(args.photos)
    values = {**quick, **given}
    return ScaleConfig(**{k: tuple(v) if k == "photos" else v for k, v in values.items()}, workers=args.workers, stages=tuple(args.stages), models=tuple(args.models),
                       dask_stages=tuple(args.dask_stages), work=args.work,
                       synthetic_features=args.synthetic_features)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its tables; 0 when every stage ran, 1 when one failed (its N is cut short)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", force=True)
    args = build_parser().parse_args(argv)
    config = config_from_args(args)
    if args.synthetic_train:
        print(f"photoedit train on synthetic 4096-d features: edits {args.synthetic_train}, {config.epochs} "
              f"epoch(s), {config.is_samples} IS samples, cpu cores={os.cpu_count()} (N = edits / 15 photos)",
              flush=True)
        runs = synthetic_training(args.synthetic_train, config.models, config)
        print(format_runs(runs))
        return 0
    print(f"scale benchmark: N={list(config.photos)}, DNG {config.dng_width}x{2 * round(config.dng_width / 3)}, "
          f"augment {config.augment_size}px K=2, features random VGG-16, train {config.epochs} epoch(s), "
          f"evaluate {config.eval_size}px P={config.proposals}, cpu cores={os.cpu_count()}, "
          f"Dask stages {list(config.dask_stages)} on {config.dask_workers} workers", flush=True)
    report = run_benchmark(config)
    print(format_runs(sorted(report.runs, key=lambda r: (r.runner != "in-process", r.stage, r.photos))))
    print()
    print(format_growth(report))
    for failure in report.failures:
        print(f"FAILED {failure}")
    decode = real_decode_seconds(config.augment_size)
    if decode is not None:
        print(f"decoding the real 9 MP fixture DNG ({FIXTURE_DNG.name}) at long side {config.augment_size}: "
              f"{decode:.2f} s a photo (the generated DNGs are {config.dng_width} px wide: add this per photo "
              "to augment and evaluate for real FiveK raws)")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
