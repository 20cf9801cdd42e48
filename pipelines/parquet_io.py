"""Read and write Parquet folders through Beam FileSystems (local paths, gs://, s3:// alike)."""
from __future__ import annotations

import logging

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

log = logging.getLogger(__name__)


def parquet_files(folder: str) -> list[str]:
    """Sorted Parquet shard paths under a folder (empty list when there are none)."""
    pattern = FileSystems.join(folder, "*.parquet")
    matches = FileSystems.match([pattern])[0].metadata_list
    return sorted(m.path for m in matches)


def read_table(folder: str, columns: list[str] | None = None, sort_by: list[str] | None = None,
               required: bool = True) -> pa.Table:
    """All shards of a folder as one table, optionally sorted by key columns for determinism."""
    files = parquet_files(folder)
    if not files:
        if required:
            raise FileNotFoundError(f"no Parquet shards under {folder}: run the stage that writes it")
        return pa.table({})
    tables = []
    for path in files:
        with FileSystems.open(path) as f:
            tables.append(pq.read_table(f, columns=columns))
    table = pa.concat_tables(tables, promote_options="default")
    if sort_by:
        table = table.sort_by([(c, "ascending") for c in sort_by])
    return table


def count_rows(folder: str) -> int | None:
    """Rows in a Parquet folder from the shards' footers, no data read (None when it has no shards)."""
    files = parquet_files(folder)
    if not files:
        return None
    total = 0
    for path in files:
        with FileSystems.open(path) as f:
            total += pq.ParquetFile(f).metadata.num_rows
    return total


def write_table(table: pa.Table, folder: str, name: str = "part-00000-of-00001.parquet") -> str:
    """Write one table as a single shard under `folder` (replacing existing shards); return its path."""
    for old in parquet_files(folder):
        FileSystems.delete([old])
    path = FileSystems.join(folder, name)
    if "://" not in folder:
        import os
        os.makedirs(folder, exist_ok=True)
    with FileSystems.create(path) as f:
        pq.write_table(table, f)
    return path


def clear_folder(folder: str) -> None:
    """Delete a stage's previous Parquet shards so a rerun replaces, never appends."""
    files = parquet_files(folder)
    if files:
        FileSystems.delete(files)


def write_rows(pcoll: beam.PCollection, folder: str, schema: pa.Schema, label: str,
               num_shards: int = 0) -> beam.PCollection:
    """Beam sink: dict rows -> Parquet shards `folder/part-SSSSS-of-NNNNN.parquet`."""
    return pcoll | label >> beam.io.WriteToParquet(
        FileSystems.join(folder, "part"), schema, file_name_suffix=".parquet",
        num_shards=num_shards)
