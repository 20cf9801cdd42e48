"""Every Beam stage on a real dask.distributed cluster (Beam's DaskRunner) gives the in-process rows."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from pipelines.commands import train as train_cli
from pipelines.core.layout import DatasetLayout
from pipelines.core.parquet_io import read_table, write_table
from pipelines.fivek import layout as fivek
from pipelines.fivek.sample import generator as sample
from pipelines.jobs import augment, evaluate, features, fit, ingest
from tests.features.test_features import save_tiny_hub_module
from tests.pipelines.augment_checks import AUGMENT_ARGS, IN_PROCESS, augment_outputs
from tests.pipelines.beam_services import dask_cluster
from tests.pipelines.dataset_factory import make_dataset
from tests.pipelines.jobs.test_fit import CHANGES, generated_pair, png_bytes

pytestmark = pytest.mark.slow
DASK_RUNNER = "apache_beam.runners.dask.dask_runner.DaskRunner"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> str:
    with dask_cluster(workers=2, log_dir=str(tmp_path_factory.mktemp("dask_logs"))) as address:
        yield address


def dask_flags(address: str) -> list[str]:
    return ["--runner", "DaskRunner", "--dask_client_address", address]


def executed_tasks(address: str) -> dict[str, int]:
    """Tasks each worker of the cluster has run so far, by worker address."""
    from distributed import Client

    with Client(address, timeout=30) as client:
        return client.run(lambda dask_worker: dask_worker.state.executed_count)


def rows_of(root: Path, folders: dict[str, list[str]]) -> dict[str, list[dict]]:
    """Each folder's rows sorted by its keys, `root` written ROOT in strings, wall-clock `seconds` dropped."""
    out = {}
    for folder, keys in folders.items():
        rows = read_table(str(root / folder), sort_by=keys).to_pylist()
        out[folder] = [{k: v.replace(str(root), "ROOT") if isinstance(v, str) else v
                        for k, v in row.items() if k != "seconds"} for row in rows]
    return out


INGEST = {"photos": ["photo_id"], "edits": ["photo_id", "editor_kind", "editor"], "errors/ingest": ["id", "reason"]}


def test_ingest_on_dask_gives_the_in_process_rows(cluster, tmp_path, caplog):
    root = tmp_path / "fivek"
    sample.generate_sample(str(root), photos=5, seed=3, users=1, size=(32, 32))
    next((root / "raw_photos").rglob("a0002-*.dng")).unlink()          # -> an errors/ingest row
    local, dask = tmp_path / "local", tmp_path / "dask"
    assert ingest.run(["--fivek", str(root), "--out", str(local), *IN_PROCESS]) == 0
    with caplog.at_level("INFO", logger="pipelines.jobs.ingest"):
        assert ingest.run(["--fivek", str(root), "--out", str(dask), "--runner", DASK_RUNNER,
                           "--dask_client_address", cluster]) == 0
    want, got = rows_of(local, INGEST), rows_of(dask, INGEST)
    assert [r["photo_id"] for r in got["photos"]] == ["a0001", "a0003", "a0004", "a0005"]
    assert [(e["id"], e["reason"].split(":")[0]) for e in got["errors/ingest"]] == [("a0002", "FileNotFoundError")]
    assert got == want
    assert len(list((dask / "photos").glob("*.parquet"))) == 1
    # no metrics on the DaskRunner: the final counts are the rows written, not zeros
    edits = len(got["edits"])
    assert f"ingest: 4 photos, {edits} edits, 1 errors" in caplog.text and edits >= 4 * len(fivek.EXPERTS)


def test_augment_on_dask_gives_the_in_process_rows_and_images(cluster, tmp_path, caplog):
    local, dask = tmp_path / "local", tmp_path / "dask"
    for root in (local, dask):
        make_dataset(root, num_photos=4, corrupt=("a0004",))
    assert augment.run(["--dataset", str(local), *AUGMENT_ARGS, *IN_PROCESS]) == 0
    before = executed_tasks(cluster)
    with caplog.at_level("INFO", logger="pipelines.jobs.augment"):
        assert augment.run(["--dataset", str(dask), *AUGMENT_ARGS, *dask_flags(cluster)]) == 0
    want, got = augment_outputs(local), augment_outputs(dask)
    assert len(got["variants"]) == 9 and len(got["variant_edits"]) == 27
    for key in ("variants", "variant_edits", "images"):
        assert got[key] == want[key], key
    assert [e["id"] for e in got["errors"]] == ["a0004"]
    errors = {"errors/augment": ["id"]}
    assert rows_of(dask, errors) == rows_of(local, errors)
    assert "augment: 3 photos -> 9 images, 1 errors" in caplog.text
    # the work ran in both dask worker processes
    after = executed_tasks(cluster)
    assert len(after) == 2 and all(after[worker] > before[worker] for worker in after), (before, after)


def augmented_dataset(base: Path) -> DatasetLayout:
    """12 sampled photos (the last 3 in the test split), ingested and augmented (K=1) in-process."""
    root = base / "ds"
    sample.generate_sample(str(base / "fivek"), photos=12, size=(64, 48))
    assert ingest.run(["--fivek", str(base / "fivek"), "--out", str(root), *IN_PROCESS]) == 0
    layout = DatasetLayout(str(root))
    photos = read_table(layout.photos)
    ids = photos.column("photo_id").to_pylist()
    split = pa.array(["test" if i in ids[-3:] else "validation" if i in ids[-5:-3] else "train" for i in ids])
    write_table(photos.set_column(photos.schema.get_field_index("split"), photos.schema.field("split"), split),
                layout.photos)
    assert augment.run(["--dataset", str(root), "-K", "1", "--size", "48", *IN_PROCESS]) == 0
    return layout


def in_process_then_dask(run, out: Path, folders: dict[str, list[str]], address: str) -> dict[str, list[dict]]:
    """Run a stage in-process, then on Dask over the same inputs; the same rows both times (returned)."""
    assert run(IN_PROCESS) == 0
    want = rows_of(out, folders)
    assert run(dask_flags(address)) == 0
    assert rows_of(out, folders) == want
    return want


def test_features_evaluate_and_fit_on_dask_give_the_in_process_rows(cluster, tmp_path):
    """Features come from a saved TF-Hub module, not `--weights random`: Keras draws each layer's
    initializer seed from Python's global `random`, which a dask worker's event-loop thread draws
    from too, so a randomly initialised VGG-16 differs from worker to worker (saved weights are read
    back exactly on every runner)."""
    layout = augmented_dataset(tmp_path)
    root = Path(layout.root)
    Path(read_table(layout.variants, sort_by=["image_id"]).column("image_uri")[0].as_py()).unlink()
    save_tiny_hub_module(tmp_path / "module")
    rows = in_process_then_dask(
        lambda flags: features.run(["--dataset", str(root), "--hub-module", str(tmp_path / "module"),
                                    "--hub-image-size", "32", "--shard-size", "10", *flags]),
        root, {"features": ["image_id"], "errors/features": ["id"]}, cluster)
    assert len(rows["features"]) == 23 and len(rows["errors/features"]) == 1
    assert len(list((root / "features").glob("*.parquet"))) == 3

    assert train_cli.run(["--dataset", str(root), "--model", "mlp", "--epochs", "2", "--no-progress",
                          "--is-samples", "10"]) == 0
    test_photo = next(p for p in read_table(layout.photos).to_pylist() if p["split"] == "test")
    Path(test_photo["raw_uri"]).unlink()                                  # -> an errors/evaluate row
    rows = in_process_then_dask(
        lambda flags: evaluate.run(["--dataset", str(root), "--models", "mlp", "--size", "32", *flags]),
        root, {"evaluation": ["photo_id", "model", "expert"], "predictions": ["photo_id", "model", "proposal"],
               "errors/evaluate": ["id"]}, cluster)
    assert len({r["photo_id"] for r in rows["evaluation"]}) == 2
    assert [e["id"] for e in rows["errors/evaluate"]] == [test_photo["photo_id"]]

    pairs = tmp_path / "pairs"
    pairs.mkdir()
    for i in range(2):
        before, after, _ = generated_pair(i, CHANGES)
        (pairs / f"p{i}_before.png").write_bytes(before)
        (pairs / f"p{i}_after.tif").write_bytes(after)
    (pairs / "bad_before.png").write_bytes(b"not an image")                             # undecodable
    (pairs / "bad_after.png").write_bytes(png_bytes(np.zeros((48, 64, 3))))
    (pairs / "lonely_before.png").write_bytes(png_bytes(np.full((48, 64, 3), 0.5)))     # unpaired
    rows = in_process_then_dask(
        lambda flags: fit.run(["--pairs", str(pairs), "--out", str(tmp_path / "fitted"), "--size", "64",
                               "--restarts", "2", *flags]),
        tmp_path / "fitted", {"photos": ["photo_id"], "edits": ["photo_id", "editor"], "fits": ["photo_id"],
                              "errors/fit": ["id"]}, cluster)
    assert [r["photo_id"] for r in rows["fits"]] == ["p0", "p1"]
    assert [e["id"] for e in rows["errors/fit"]] == ["bad", "lonely"]
