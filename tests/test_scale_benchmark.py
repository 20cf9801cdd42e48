"""benchmarks/scale.py runs (tiny N, a few stages, Dask on ingest) and its pieces measure what they say."""
from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from benchmarks import scale
from modeling.data import edits_from_tables, stack_features
from benchmarks.process_tree import PeakProcessRss
from pipelines.core.model_store import read_edits
from pipelines.core.parquet_io import write_table
from rendering.sliders import PROCESS_2003

MIB = 2 ** 20


def test_alpha_is_the_log_log_slope():
    n = np.array([500, 1000, 2000, 5000])
    assert scale.fit_alpha(n, 3.0 * n ** 0.9) == pytest.approx(0.9)
    assert scale.fit_alpha(n, 7.0 + 0 * n) == pytest.approx(0.0, abs=1e-12)
    assert np.isnan(scale.fit_alpha([500], [1.0]))


def test_peak_rss_tells_the_driver_from_its_largest_worker():
    code = textwrap.dedent("""
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c",
                                  "import time; b = bytearray(200 * 2**20); b[::4096] = b'x' * len(b[::4096]); time.sleep(1.5)"])
        child.wait()
    """)
    process = subprocess.Popen([sys.executable, "-c", code])
    with PeakProcessRss(process.pid, interval=0.05) as rss:
        process.wait()
    assert rss.worker > 180 * MIB > rss.driver
    assert rss.tree >= rss.worker


def test_compare_outputs_finds_a_changed_value(tmp_path):
    def write(name: str, x: list[float]) -> None:
        root = tmp_path / name
        write_table(pa.table({"photo_id": ["a0002", "a0001"], "x": x,
                              "uri": [f"{root}/images/a0002.png", f"{root}/images/a0001.png"],
                              "raw": [f"{tmp_path}/a-fivek/a0002.dng", f"{tmp_path}/a-fivek/a0001.dng"]}),
                    str(root / "t"))

    write("a", [1.0, 2.0])
    write("b", [1.0, 2.0])
    write("c", [1.0, 2.5])
    keys = {"t": ["photo_id"]}
    assert scale.compare_outputs(tmp_path / "a", tmp_path / "b", keys) == "equal"   # roots written ROOT, a-fivek/ left alone
    assert scale.compare_outputs(tmp_path / "a", tmp_path / "c", keys).startswith("t/x differs")


def test_synthetic_training_set_is_what_train_reads(tmp_path):
    scale.write_synthetic_training_set(tmp_path, edits=150, dim=16)
    data = read_edits(str(tmp_path))
    assert len(data) == 150 and data.feature_dim == 16 and data.features.shape[0] == 30
    assert set(data.splits.tolist()) <= {"train", "validation", "test"}


def test_synthetic_features_give_an_ingested_dataset_what_train_and_evaluate_read(tmp_path):
    from pipelines.fivek.sample.generator import generate_sample
    from pipelines.jobs import ingest

    generate_sample(str(tmp_path / "fivek"), photos=4, size=(32, 32))
    root = tmp_path / "ds"
    assert ingest.run(["--fivek", str(tmp_path / "fivek"), "--out", str(root), "--no-raw-check",
                       "--direct_running_mode=in_memory"]) == 0
    scale.write_synthetic_features(root, dim=16)
    data = read_edits(str(root))
    from pipelines.core.parquet_io import count_rows
    assert tuple(data.features.shape) == (12, 16) and len(data) == 3 * count_rows(str(root / "edits")) > 0
    assert sorted(set(data.image_ids.tolist()))[:3] == ["a0001_v0", "a0001_v1", "a0001_v2"]
    config = scale.config_from_args(scale.build_parser().parse_args(["--synthetic-features"]))
    stages = [stage for stage, _ in scale.stage_commands(config, tmp_path / "fivek", root)]
    assert "augment" not in stages and "features" not in stages and stages[0] == "ingest"


def test_stack_features_reads_sliced_chunked_shards_into_one_array():
    rng = np.random.default_rng(0)
    values = rng.standard_normal((10, 6)).astype(np.float32)
    table = pa.table({"image_id": [f"i{k}" for k in range(10)],
                      "fc7": pa.FixedSizeListArray.from_arrays(pa.array(values.ravel()), 6)})
    shards = [pa.concat_tables([table.slice(0, 2), table.slice(2, 3)]), table.slice(5, 0), table.slice(5, 5)]
    for rows in (10, None):
        got = stack_features(iter(shards), rows=rows)
        assert got.image_ids.tolist() == [f"i{k}" for k in range(10)]
        np.testing.assert_array_equal(got.values, values)
        assert got.values.dtype == np.float32 and got.values.flags.c_contiguous
    with pytest.raises(ValueError, match="expected 11 feature rows, read 10"):
        stack_features(iter(shards), rows=11)
    assert stack_features([table.slice(0, 0)], rows=0).values.shape == (0, 6)
    edits = pa.table({"image_id": ["i3", "i1"], "photo_id": ["a", "b"], "editor": ["A", "B"],
                      "editor_kind": ["expert", "expert"],
                      **{k: [0.0, 0.0] for k in PROCESS_2003.keys}})
    from_table, from_matrix = edits_from_tables(table, edits), edits_from_tables(stack_features([table]), edits)
    np.testing.assert_array_equal(from_table.x, from_matrix.x)
    np.testing.assert_array_equal(from_table.x.numpy(), values[[1, 3]])


def test_quick_flags_and_overrides():
    config = scale.config_from_args(scale.build_parser().parse_args(["--quick", "--epochs", "3"]))
    assert config.photos == scale.QUICK_PHOTOS and config.epochs == 3 and config.proposals >= 3
    assert config.split == "fivek"                      # 20 % test photos: tiny N still has a test split
    full = scale.config_from_args(scale.build_parser().parse_args([]))
    assert full.photos == scale.FULL_PHOTOS and full.split == "hash"


@pytest.mark.slow
def test_benchmark_runs_end_to_end_at_tiny_n(tmp_path, capsys):
    argv = ["--photos", "6", "12", "--stages", "ingest", "augment", "--dask-stages", "ingest", "--dng-width", "48",
            "--augment-size", "32", "--split", "fivek", "--work", str(tmp_path)]
    assert scale.main(argv) == 0
    out = capsys.readouterr().out
    for stage, runner, n, items in [("sample", "in-process", 6, "6 photos"), ("ingest", "in-process", 12, "12 photos"),
                                    ("augment", "in-process", 6, "18 images"), ("augment", "in-process", 12, "36 images"),
                                    ("ingest", "dask", 6, "6 photos"), ("ingest", "dask", 12, "12 photos")]:
        assert re.search(rf"\| {stage} \| {runner} \| {n} \| {items} \| [\d.]+ \| [\d.]+ \| \d+ \|", out), (stage, runner, n)
    growth = re.search(r"\| ingest \| dask \| 6, 12 \| (-?[\d.]+) \(target[^|]*\| \d+ -> \d+ \| ([\d.]+) \| (.*) \|", out)
    assert growth, out
    assert growth.group(3) == "N=6: equal; N=12: equal"
    assert "in-process total" in out
    assert (Path(tmp_path) / "n12" / "variants").is_dir() and not (Path(tmp_path) / "n12" / "features").exists()
    assert not (Path(tmp_path) / "n12" / "_staging").exists()    # ingest's plan went with its staging folder
