"""Ingest and augment on a real dask.distributed cluster (Beam's DaskRunner) give the in-process rows."""
from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.core.parquet_io import read_table
from pipelines.fivek import layout as fivek
from pipelines.fivek.sample import generator as sample
from pipelines.jobs import augment, ingest
from tests.pipelines.augment_checks import AUGMENT_ARGS, IN_PROCESS, augment_outputs
from tests.pipelines.beam_services import dask_cluster
from tests.pipelines.dataset_factory import make_dataset

pytestmark = pytest.mark.slow
DASK_RUNNER = "apache_beam.runners.dask.dask_runner.DaskRunner"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> str:
    with dask_cluster(workers=2, log_dir=str(tmp_path_factory.mktemp("dask_logs"))) as address:
        yield address


def executed_tasks(address: str) -> dict[str, int]:
    """Tasks each worker of the cluster has run so far, by worker address."""
    from distributed import Client

    with Client(address, timeout=30) as client:
        return client.run(lambda dask_worker: dask_worker.state.executed_count)


def errors_under(rows: list[dict], root: Path) -> list[dict]:
    """errors/ rows with the dataset root in their reason and uri replaced by 'ROOT'."""
    return [{k: v.replace(str(root), "ROOT") if isinstance(v, str) else v for k, v in row.items()} for row in rows]


def ingest_outputs(out: Path) -> dict[str, list[dict]]:
    """photos/, edits/ and errors/ingest rows, each sorted by its key."""
    return {"photos": read_table(str(out / "photos"), sort_by=["photo_id"]).to_pylist(),
            "edits": read_table(str(out / "edits"), sort_by=["photo_id", "editor_kind", "editor"]).to_pylist(),
            "errors": read_table(str(out / "errors" / "ingest"), sort_by=["id", "reason"]).to_pylist()}


def test_ingest_on_dask_gives_the_in_process_rows(cluster, tmp_path, caplog):
    root = tmp_path / "fivek"
    sample.generate_sample(str(root), photos=5, seed=3, users=1, size=(32, 32))
    missing = next((root / "raw_photos").rglob("a0002-*.dng"))
    missing.unlink()                                                       # -> an errors/ingest row
    local, dask = tmp_path / "local", tmp_path / "dask"
    assert ingest.run(["--fivek", str(root), "--out", str(local), *IN_PROCESS]) == 0
    with caplog.at_level("INFO", logger="pipelines.jobs.ingest"):
        assert ingest.run(["--fivek", str(root), "--out", str(dask), "--runner", DASK_RUNNER,
                           "--dask_client_address", cluster]) == 0
    want, got = ingest_outputs(local), ingest_outputs(dask)
    assert [r["photo_id"] for r in got["photos"]] == ["a0001", "a0003", "a0004", "a0005"]
    assert [(e["id"], e["reason"].split(":")[0]) for e in got["errors"]] == [("a0002", "FileNotFoundError")]
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
        assert augment.run(["--dataset", str(dask), *AUGMENT_ARGS, "--runner", "DaskRunner",
                            "--dask_client_address", cluster]) == 0
    want, got = augment_outputs(local), augment_outputs(dask)
    assert len(got["variants"]) == 9 and len(got["variant_edits"]) == 27
    for key in ("variants", "variant_edits", "images"):
        assert got[key] == want[key], key
    assert [e["id"] for e in got["errors"]] == ["a0004"]
    assert errors_under(got["errors"], dask) == errors_under(want["errors"], local)
    assert "augment: 3 photos -> 9 images, 1 errors" in caplog.text
    # the work ran in both dask worker processes
    after = executed_tasks(cluster)
    assert len(after) == 2 and all(after[worker] > before[worker] for worker in after), (before, after)
