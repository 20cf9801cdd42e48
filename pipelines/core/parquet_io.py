"""Parquet folders for every stage, through the storage layer (local paths, gs://, s3:// alike).

A stage's output is a folder of shards `part-SSSSS-of-NNNNN.parquet` with an explicit schema. The
Beam sink (`write_rows`) is plain Beam on every runner: each row goes to shard
stable_hash(key columns) mod N, shards are gathered by a GroupByKey (`transforms.GroupIntoShards`)
and each is written, sorted by its key columns, by one DoFn through the storage layer. So the same
rows give the same files on any runner and any number of workers, and every shard exists even when
it is empty. Inside a staged stage (pipelines.core.stage.run_stage) the sink writes to that stage's
staging folder (pipelines.core.staging.staged_path), so the shards replace the old ones only when the
whole stage succeeded. The Beam source (`read_rows`) is as plain: a Create of the shard paths (listed when the
pipeline is built), a FlatMap reading each shard, and a GroupIntoShards over `READ_SPREAD` groups so
the rows spread over the workers after the read. A job ends in `all_written`, one transform fed by
all its sinks. Why not Beam's Parquet IO: on the DaskRunner `ReadFromParquet` fails (its Read has no
translation there) and `WriteToParquet` writes an empty file (its writer reports from
finish_bundle, which the DaskRunner drops); see `pipelines.core.transforms`.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import math
from typing import Any, Collection, Iterable, Iterator, Mapping, Sequence

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.core import staging, storage
from pipelines.core.transforms import GroupIntoShards

log = logging.getLogger(__name__)
SHARD_NAME = "part-{index:05d}-of-{count:05d}.parquet"
Where = Mapping[str, Collection[Any]]   # column -> the values a row may hold there (all must match)


def parquet_files(folder: str) -> list[str]:
    """Sorted Parquet shard paths under a folder (empty list when there are none)."""
    return storage.match(storage.join(folder, "*.parquet"))


def _open_shard(path: str) -> pa.BufferReader:
    return pa.BufferReader(storage.read_bytes(path))


def read_table(folder: str, columns: list[str] | None = None, sort_by: list[str] | None = None,
               required: bool = True, where: Where | None = None) -> pa.Table:
    """All shards of a folder as one table, optionally sorted by key columns for determinism; with `where`,
    only the matching rows (read_table_file)."""
    files = parquet_files(folder)
    if not files:
        if required:
            raise FileNotFoundError(f"no Parquet shards under {folder}: run the stage that writes it")
        return pa.table({})
    table = pa.concat_tables([read_table_file(path, columns, where) for path in files], promote_options="default")
    if sort_by:
        table = table.sort_by([(c, "ascending") for c in sort_by])
    return table


def read_table_file(path: str, columns: list[str] | None = None, where: Where | None = None) -> pa.Table:
    """One Parquet shard (a file path or URI) as a table; with `where`, only its matching rows, read
    READ_BATCH_ROWS at a time (see `matching_batches`)."""
    if where is None:
        return pq.read_table(_open_shard(path), columns=columns)
    with storage.open_read(path) as stream:
        file = _streamed(stream)
        batches = list(matching_batches(file, columns, where))
        return pa.Table.from_batches(batches, schema=file.schema_arrow if columns is None else
                                     pa.schema([file.schema_arrow.field(c) for c in columns]))


def _streamed(stream: Any) -> pq.ParquetFile:
    """A Parquet file read from a seekable stream STREAM_BUFFER bytes at a time: a filtered read of a large
    shard (5 000 x 4096 float32 features) never holds the whole file or a whole column chunk."""
    return pq.ParquetFile(stream, pre_buffer=False, buffer_size=STREAM_BUFFER)


def matching_batches(file: pq.ParquetFile, columns: list[str] | None, where: Where) -> Iterator[pa.RecordBatch]:
    """The record batches of a Parquet file with only the rows whose column c holds one of where[c] for
    every c; READ_BATCH_ROWS rows are decoded at a time, so a filtered read holds no more than that."""
    schema = file.schema_arrow
    allowed = {column: pa.array(sorted(values), schema.field(column).type) for column, values in where.items()}
    for batch in file.iter_batches(batch_size=READ_BATCH_ROWS, columns=_with(columns, where)):
        mask = None
        for column, value_set in allowed.items():
            match = pc.is_in(batch.column(column), value_set=value_set)
            mask = match if mask is None else pc.and_(mask, match)
        kept = batch.filter(mask)
        if columns is not None:
            kept = kept.select(columns)
        if kept.num_rows:
            yield kept


def _with(columns: list[str] | None, where: Where) -> list[str] | None:
    """The columns to decode: `columns` and the filtered ones (None: all)."""
    return None if columns is None else list(dict.fromkeys([*columns, *where]))


def file_schema(path: str) -> pa.Schema:
    """The Arrow schema of one Parquet shard, from its footer."""
    return pq.ParquetFile(_open_shard(path)).schema_arrow


def count_rows(folder: str) -> int | None:
    """Rows in a Parquet folder from the shards' footers (None when it has no shards)."""
    files = parquet_files(folder)
    if not files:
        return None
    return sum(pq.ParquetFile(_open_shard(path)).metadata.num_rows for path in files)


def table_bytes(table: pa.Table) -> bytes:
    """A table as the bytes of one Parquet file."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def write_table(table: pa.Table, folder: str, name: str = SHARD_NAME.format(index=0, count=1)) -> str:
    """Write one table as the single shard of `folder`, replacing the folder as a whole (staged:
    pipelines.core.staging, so a crash leaves the old shards); returns the shard's final path."""
    path = storage.join(folder, name)
    staged = staging.staged_path(folder)
    if staged != folder:   # an output of the staged stage running now: it replaces the folder
        storage.delete(parquet_files(staged))
        storage.write_bytes(storage.join(staged, name), table_bytes(table))
        return path
    with staging.staged_outputs("write_table", [folder]) as run:
        storage.write_bytes(storage.join(run.path(folder), name), table_bytes(table))
    return path


def sort_key(row: dict[str, Any], keys: Sequence[str]) -> tuple:
    """The sort key of a row: its key columns, None first."""
    return tuple((row[k] is not None, row[k]) for k in keys)


def shard_of(row: dict[str, Any], keys: Sequence[str], num_shards: int) -> int:
    """Stable shard index of a row: SHA-256 of its key columns mod num_shards (never Python's hash())."""
    if num_shards == 1:
        return 0
    text = "\x1f".join(repr(row[k]) for k in keys)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big") % num_shards


def write_shard(shard: tuple[int, Iterable[dict[str, Any]]], folder: str, schema: pa.Schema, keys: Sequence[str],
                num_shards: int) -> str:
    """Write one shard's rows (sorted by `keys`) as folder/part-SSSSS-of-NNNNN.parquet; returns its path."""
    index, rows = shard
    rows = sorted(rows, key=lambda r: sort_key(r, keys))
    path = storage.join(folder, SHARD_NAME.format(index=index, count=num_shards))
    return storage.write_bytes(path, table_bytes(pa.Table.from_pylist(rows, schema=schema)))


class WriteRows(beam.PTransform):
    """dict rows -> `num_shards` Parquet shards under `folder`, each sorted by `keys` (module docstring)."""

    def __init__(self, folder: str, schema: pa.Schema, keys: Sequence[str], num_shards: int = 1):
        super().__init__()
        if num_shards < 1:
            raise ValueError(f"num_shards must be >= 1, got {num_shards}")
        missing = [k for k in keys if k not in schema.names]
        if not keys or missing:
            raise ValueError(f"sort keys {list(keys)} must be columns of the schema (missing {missing})")
        self._folder, self._schema, self._keys, self._num_shards = folder, schema, tuple(keys), num_shards

    def expand(self, rows: beam.PCollection) -> beam.PCollection:
        keys, count = self._keys, self._num_shards
        folder = staging.staged_path(self._folder)   # resolved while the pipeline is built, in the driver
        return (rows | "ShardKey" >> beam.Map(lambda r: (shard_of(r, keys, count), r))
                | "GroupShards" >> GroupIntoShards(count)
                | "WriteShard" >> beam.Map(write_shard, folder, self._schema, keys, count))


PHOTOS_PER_SHARD = 250      # about this many photos' rows per shard of a per-photo output (one writer holds one shard)


def shards_for(photos: int) -> int:
    """Shards of an output holding `photos` photos' rows: about PHOTOS_PER_SHARD photos each, at least 1,
    so that a writer's memory does not grow with the dataset."""
    return max(1, math.ceil(photos / PHOTOS_PER_SHARD))


def write_rows(pcoll: beam.PCollection, folder: str, schema: pa.Schema, label: str, keys: Sequence[str],
               num_shards: int = 1) -> beam.PCollection:
    """Beam sink: dict rows -> sorted Parquet shards under `folder` (see WriteRows); returns the shard paths."""
    return pcoll | label >> WriteRows(folder, schema, keys, num_shards)


def all_written(*shard_paths: beam.PCollection) -> beam.PCollection:
    """A job's last transform: the paths every sink wrote, as one PCollection.

    The DaskRunner runs only the last transform of a pipeline and what it depends on
    (pipelines.core.transforms), so a job with several sinks must end in one that depends on all.
    """
    return shard_paths | "AllWritten" >> beam.Flatten()


READ_SPREAD = 1024   # groups the rows of a read are spread over (at most this many workers in parallel)
READ_BATCH_ROWS = 256    # rows decoded at a time while a shard is read (256 x 4096 float32 features: 4 MiB)
STREAM_BUFFER = 1 << 20   # bytes read at a time from a shard read with a filter


def batch_records(batch: pa.RecordBatch, arrays: Sequence[str] = ()) -> list[dict[str, Any]]:
    """The rows of a record batch as dicts; each list column named in `arrays` as one float32 numpy
    array [n] per row (16 KiB for 4096 features, against about 130 KiB as a list of Python floats)."""
    if not arrays:
        return batch.to_pylist()
    names = [n for n in batch.schema.names if n not in arrays]
    records = batch.select(names).to_pylist() if names else [{} for _ in range(batch.num_rows)]
    for name in arrays:
        column = batch.column(name)
        if pa.types.is_fixed_size_list(column.type) and column.null_count == 0:
            rows = column.flatten().to_numpy(zero_copy_only=False).reshape(len(column), column.type.list_size)
            values = list(rows.astype(np.float32))  # one copy, then one row view each
        else:
            values = [None if v is None else np.asarray(v, dtype=np.float32) for v in column.to_pylist()]
        for record, value in zip(records, values):
            record[name] = value
    return records


def shard_rows(shard: tuple[int, str], columns: list[str] | None, spread: int,
               where: Where | None = None, arrays: Sequence[str] = ()) -> Iterator[tuple[int, dict[str, Any]]]:
    """The rows of shard (index, path) as (group, row) pairs, groups dealt round-robin over range(spread);
    with `where`, only the matching rows (`matching_batches`); `arrays`: list columns read as numpy."""
    index, path = shard
    with contextlib.ExitStack() as stack:
        if where is None:
            batches = pq.ParquetFile(_open_shard(path)).iter_batches(batch_size=READ_BATCH_ROWS, columns=columns)
        else:
            batches = matching_batches(_streamed(stack.enter_context(storage.open_read(path))), columns, where)
        records = (record for batch in batches for record in batch_records(batch, arrays))
        for row, record in enumerate(records, start=index):
            yield row % spread, record


class ReadRows(beam.PTransform):
    """The rows (dicts) of every shard under `folder`, spread over READ_SPREAD groups (module docstring);
    with `where` ({column: allowed values}), only the matching rows leave the reading worker; the list
    columns named in `arrays` travel as float32 numpy arrays (a feature row through a shuffle)."""

    def __init__(self, folder: str, columns: list[str] | None = None, where: Where | None = None,
                 arrays: Sequence[str] = ()):
        super().__init__()
        self._folder, self._columns, self._arrays = folder, columns, tuple(arrays)
        self._where = None if where is None else {c: sorted(set(v)) for c, v in where.items()}

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        shards = parquet_files(self._folder)
        if not shards:
            raise FileNotFoundError(f"no Parquet shards under {self._folder}: run the stage that writes it")
        return (pbegin | "Shards" >> beam.Create(list(enumerate(shards)))
                | "ReadShard" >> beam.FlatMap(shard_rows, self._columns, READ_SPREAD, self._where, self._arrays)
                | "Spread" >> GroupIntoShards(READ_SPREAD)
                | "Rows" >> beam.FlatMap(lambda group: group[1]))


def read_rows(folder: str, columns: list[str] | None = None, where: Where | None = None,
              arrays: Sequence[str] = ()) -> beam.PTransform:
    """Beam source: the rows (dicts) of every shard under `folder`, only those matching `where`, the list
    columns `arrays` as float32 numpy arrays (see ReadRows)."""
    return ReadRows(folder, columns, where, arrays)
