"""A failure loses nothing: a bad weights file, a pipeline that raises and a job killed mid-run all leave
the previous outputs (tables and images) intact, and the rerun succeeds and clears the leftovers."""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from pipelines.core.parquet_io import read_table, write_table
from pipelines.core.schemas import ERRORS, features_schema
from pipelines.core.stage import StageFailed
from pipelines.jobs import augment, features
from tests.pipelines.augment_checks import IN_PROCESS, augment_outputs
from tests.pipelines.dataset_factory import make_dataset
from tests.features.test_features import save_tiny_hub_module
from tests.pipelines.jobs.test_features import make_variants

pytestmark = pytest.mark.slow
PROJECT = Path(__file__).resolve().parents[3]


def photoedit(*args: str) -> subprocess.Popen:
    """`photoedit ARGS` as a child process (in-process runner: no worker processes outliving a kill)."""
    return subprocess.Popen([sys.executable, "-m", "pipelines", *args, *IN_PROCESS], cwd=PROJECT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def dataset_with_features(root: Path) -> dict[str, dict[str, bytes]]:
    """variants/ + images/ and 180 feature rows of an earlier run; the bytes of its output folders."""
    make_variants(root, n=2, missing=False, corrupt=False)
    rows = [{"image_id": f"old{i:03d}", "photo_id": f"p{i:03d}", "variant": 0, "fc7": np.full(4096, i, np.float32)}
            for i in range(180)]
    write_table(pa.Table.from_pylist(rows, schema=features_schema(4096)), str(root / "features"))
    errors = [{"id": "gone_v0", "stage": "features", "reason": "FileNotFoundError: gone", "uri": None}]
    write_table(pa.Table.from_pylist(errors, schema=ERRORS), str(root / "errors" / "features"))
    return {name: folder_bytes(root / name) for name in ("features", "errors")}


def test_a_corrupt_weights_file_is_one_line_and_exit_2_before_any_output_is_touched(tmp_path):
    before = dataset_with_features(tmp_path)
    corrupt = tmp_path / "vgg16_weights_tf_dim_ordering_tf_kernels.h5"
    corrupt.write_bytes(b"\x89HDF\r\n\x1a\n" + os.urandom(4096))   # an HDF5 signature, then junk
    proc = photoedit("features", "--dataset", str(tmp_path), "--weights", str(corrupt))
    out, err = proc.communicate(timeout=300)
    lines = [line for line in err.splitlines() if line.strip()]
    assert proc.returncode == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: features: VGG-16 weights file") \
        and "cannot be used" in lines[0], err
    assert {name: folder_bytes(tmp_path / name) for name in before} == before
    assert read_table(str(tmp_path / "features")).num_rows == 180
    assert not (tmp_path / "_staging").exists()


def test_a_pipeline_that_fails_while_running_keeps_the_old_rows_and_says_so_in_one_line(tmp_path, caplog,
                                                                                       monkeypatch):
    """A worker error (here: the model cannot be built) ends the command with one line and exit 1."""
    from pipelines.cli import main

    before = dataset_with_features(tmp_path)

    def broken_setup(self) -> None:
        raise RuntimeError("the model could not be built\n(a long worker traceback)\nOSError: disk on fire")

    monkeypatch.setattr(features.ExtractBatches, "setup", broken_setup)
    with caplog.at_level(logging.ERROR, logger="pipelines"):
        assert main(["features", "--dataset", str(tmp_path), "--weights", "random", *IN_PROCESS]) == 1
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR and r.name.startswith("pipelines")]
    assert len(errors) == 1 and "\n" not in errors[0], errors
    assert errors[0].startswith("features failed: ") and "OSError: disk on fire" in errors[0]
    assert "previous outputs are unchanged" in errors[0]
    assert {name: folder_bytes(tmp_path / name) for name in before} == before
    assert not (tmp_path / "_staging").exists()
    with pytest.raises(StageFailed):   # what a caller from Python gets
        features.run_job(features.FeaturesJobConfig(dataset=str(tmp_path)), IN_PROCESS)


def wait_for(predicate, proc: subprocess.Popen, what: str, timeout: float = 240.0) -> None:
    """Poll `predicate` until it holds (fails if the child exits first or `timeout` seconds pass)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            pytest.fail(f"the job ended (exit {proc.returncode}) before {what}: {proc.stderr.read()[-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"no {what} after {timeout:.0f} s")
        time.sleep(0.05)


def wrote_png(root: Path, since: float) -> bool:
    """Whether a PNG of a noisy variant (v1, v2: variant 0 is the same for every seed) anywhere under
    root, staged or not, was written at or after time `since`."""
    for path in root.rglob("*_v[12].png"):
        try:
            if path.stat().st_mtime >= since:
                return True
        except OSError:   # moved while we looked
            pass
    return False


def staged(root: Path, pattern: str) -> list[Path]:
    return sorted((root / "_staging").glob(pattern))


def test_augment_killed_mid_run_keeps_the_old_rows_and_images_and_the_rerun_clears_its_leftovers(tmp_path, caplog):
    make_dataset(tmp_path, num_photos=8, raw_size=48)
    args = ["--dataset", str(tmp_path), "-K", "2", "--size", "32"]
    assert augment.run([*args, "--seed", "1", *IN_PROCESS]) == 0
    before = augment_outputs(tmp_path)
    assert len(before["variants"]) == 24 and len(before["images"]) == 24
    # rerun with another seed (other images under the same names), killed once it wrote its first image
    started = time.time()
    proc = photoedit("augment", *args, "--seed", "2")
    wait_for(lambda: wrote_png(tmp_path, started), proc, "a new noisy image")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert staged(tmp_path, "augment-*"), "the kill left no staging folder: nothing was tested"
    assert augment_outputs(tmp_path) == before          # rows, and the pixels of every image they name
    with caplog.at_level(logging.WARNING, logger="pipelines.core.staging"):
        assert augment.run([*args, "--seed", "2", *IN_PROCESS]) == 0
    assert "of an unfinished augment run" in caplog.text
    after = augment_outputs(tmp_path)
    assert not (tmp_path / "_staging").exists()
    assert sorted(after["images"]) == sorted(before["images"]) and after["images"] != before["images"]
    assert {r["seed"] for r in after["variants"]} == {2}


def test_features_stopped_by_sigterm_mid_run_keeps_the_old_rows(tmp_path, caplog):
    """A tiny TF-Hub module as the extractor (seconds, not VGG-16's 138M parameters)."""
    before = dataset_with_features(tmp_path)
    save_tiny_hub_module(tmp_path / "module")
    args = ["--dataset", str(tmp_path), "--hub-module", str(tmp_path / "module"), "--hub-image-size", "32"]
    proc = photoedit("features", *args)
    wait_for(lambda: staged(tmp_path, "features-*/owner.json"), proc, "a staging folder")
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGTERM and staged(tmp_path, "features-*")
    assert {name: folder_bytes(tmp_path / name) for name in before} == before
    with caplog.at_level(logging.WARNING, logger="pipelines.core.staging"):
        assert features.run([*args, *IN_PROCESS]) == 0
    assert "of an unfinished features run" in caplog.text
    assert sorted(read_table(str(tmp_path / "features")).column("image_id").to_pylist()) == ["a0001_v0", "a0001_v1"]
    assert read_table(str(tmp_path / "errors" / "features")).num_rows == 0
    assert not (tmp_path / "_staging").exists()
