"""The Parquet sink and source: rows sharded by a stable hash of their keys, each shard sorted, every shard
present; read back as rows."""
from pathlib import Path

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipelines.core import parquet_io
from pipelines.core.parquet_io import (
    all_written,
    read_rows,
    read_table,
    shard_of,
    write_rows,
)

SCHEMA = pa.schema([pa.field("id", pa.string(), nullable=False), pa.field("value", pa.float64())])
ROWS = [{"id": f"r{i:03d}", "value": float(i) if i % 7 else None} for i in range(40)]


def _write(folder: str, rows: list[dict], num_shards: int) -> list[str]:
    with BeamTestPipeline(runner="FnApiRunner") as p:
        paths = write_rows(p | beam.Create(rows[::-1]), folder, SCHEMA, "Write", keys=("id",),
                           num_shards=num_shards)
        assert_that(paths | beam.Map(lambda path: path.rsplit("/", 1)[-1]),
                    equal_to([f"part-{i:05d}-of-{num_shards:05d}.parquet" for i in range(num_shards)]))
    return sorted(str(p) for p in Path(folder).glob("*.parquet"))


def test_rows_land_in_their_hash_shard_sorted_with_the_exact_schema(tmp_path):
    shards = _write(str(tmp_path / "out"), ROWS, num_shards=3)
    assert len(shards) == 3
    for index, path in enumerate(shards):
        table = pq.read_table(path)
        assert table.schema.equals(SCHEMA)
        ids = table.column("id").to_pylist()
        assert ids == sorted(ids) and all(shard_of({"id": i}, ("id",), 3) == index for i in ids)
    assert read_table(str(tmp_path / "out"), sort_by=["id"]).to_pylist() == ROWS


def test_an_empty_output_still_writes_every_shard(tmp_path):
    shards = _write(str(tmp_path / "empty"), [], num_shards=2)
    assert len(shards) == 2 and all(pq.read_table(p).num_rows == 0 for p in shards)


def test_shard_of_is_stable_and_keys_must_be_schema_columns():
    assert shard_of({"id": "r001"}, ("id",), 5) == shard_of({"id": "r001", "value": 9.0}, ("id",), 5)
    assert shard_of({"id": "x"}, ("id",), 1) == 0
    with pytest.raises(ValueError, match="missing"):
        write_rows(None, "/tmp/x", SCHEMA, "W", keys=("nope",))


def test_read_rows_gives_every_row_of_every_shard_with_the_chosen_columns(tmp_path):
    folder = str(tmp_path / "out")
    _write(folder, ROWS, num_shards=3)
    with BeamTestPipeline(runner="FnApiRunner") as p:
        assert_that(p | "All" >> read_rows(folder), equal_to(ROWS), label="All")
        assert_that(p | "Ids" >> read_rows(folder, columns=["id"]), equal_to([{"id": r["id"]} for r in ROWS]),
                    label="Ids")
    with pytest.raises(FileNotFoundError, match="no Parquet shards"):
        _ = BeamTestPipeline(runner="FnApiRunner") | read_rows(str(tmp_path / "nothing"))


def test_a_filtered_read_gives_only_the_matching_rows_holding_one_batch_at_a_time(tmp_path, monkeypatch):
    folder = str(tmp_path / "out")
    _write(folder, ROWS, num_shards=3)
    wanted = {"r001", "r007", "r020", "r039"}
    where = {"id": wanted, "value": [1.0, 20.0, 39.0]}                 # both must match: r007 has value None
    expected = [r for r in ROWS if r["id"] in {"r001", "r020", "r039"}]
    with BeamTestPipeline(runner="FnApiRunner") as p:
        assert_that(p | "Where" >> read_rows(folder, where=where), equal_to(expected), label="Where")
        assert_that(p | "Values" >> read_rows(folder, columns=["value"], where={"id": wanted}),
                    equal_to([{"value": r["value"]} for r in ROWS if r["id"] in wanted]), label="Values")
    assert read_table(folder, sort_by=["id"], where=where).to_pylist() == expected
    assert read_table(folder, columns=["id"], where={"id": []}).num_rows == 0
    monkeypatch.setattr(parquet_io, "READ_BATCH_ROWS", 4)
    shard = pq.ParquetFile(_write(str(tmp_path / "one"), ROWS, num_shards=1)[0])
    sizes = [b.num_rows for b in parquet_io.matching_batches(shard, None, {"id": [r["id"] for r in ROWS[:30]]})]
    assert sum(sizes) == 30 and max(sizes) <= 4


def test_all_written_is_one_pcollection_of_every_sinks_shards(tmp_path):
    with BeamTestPipeline(runner="FnApiRunner") as p:
        rows = p | beam.Create(ROWS)
        paths = all_written(write_rows(rows, str(tmp_path / "a"), SCHEMA, "A", keys=("id",), num_shards=2),
                            write_rows(rows, str(tmp_path / "b"), SCHEMA, "B", keys=("id",)))
        assert_that(paths | beam.Map(lambda path: path.split("/")[-2:]),
                    equal_to([["a", "part-00000-of-00002.parquet"], ["a", "part-00001-of-00002.parquet"],
                              ["b", "part-00000-of-00001.parquet"]]))


def test_list_columns_named_as_arrays_are_read_as_float32_rows_equal_to_the_stored_lists(tmp_path):
    fixed = pa.array([[float(i), i / 3, -1.0] for i in range(5)], type=pa.list_(pa.float32(), 3))
    ragged = pa.array([[1.5], None, [2.0, 3.0], [], [4.0]], type=pa.list_(pa.float32()))
    batch = pa.RecordBatch.from_arrays([pa.array([f"r{i}" for i in range(5)]), fixed, ragged],
                                       names=["id", "fixed", "ragged"])
    records = parquet_io.batch_records(batch.slice(1, 4), arrays=["fixed", "ragged"])
    plain = batch.slice(1, 4).to_pylist()
    assert [r["id"] for r in records] == [r["id"] for r in plain]
    for record, expected in zip(records, plain):
        assert isinstance(record["fixed"], np.ndarray) and record["fixed"].dtype == np.float32
        np.testing.assert_array_equal(record["fixed"], np.float32(expected["fixed"]))
        if expected["ragged"] is None:
            assert record["ragged"] is None
        else:
            np.testing.assert_array_equal(record["ragged"], np.float32(expected["ragged"]))
    assert parquet_io.batch_records(batch, arrays=()) == batch.to_pylist()
