"""The errors/ output: a failing item becomes a row (id, stage, reason, uri) and the job goes on."""
from __future__ import annotations

import logging
from typing import Any

import apache_beam as beam

from pipelines.core.layout import DatasetLayout
from pipelines.core.parquet_io import write_rows
from pipelines.core.schemas import ERRORS

log = logging.getLogger(__name__)
ERRORS_TAG = "errors"
ERROR_KEYS = ("id", "reason", "uri")


def error_row(item_id: str, stage: str, error: BaseException | str, uri: str | None = None) -> dict[str, Any]:
    """One errors/ row; `reason` is 'ExceptionClass: message' so a user can grep by cause."""
    if isinstance(error, BaseException):
        reason = f"{type(error).__name__}: {error}"
    else:
        reason = str(error)
    return {"id": str(item_id), "stage": stage, "reason": reason, "uri": uri}


def write_errors(errors: beam.PCollection, layout: DatasetLayout, stage: str) -> beam.PCollection:
    """Sink the error rows of a stage into errors/<stage>/ (one shard sorted by id), count them; the shard path."""
    counted = errors | f"CountErrors_{stage}" >> beam.Map(_count_error, stage)
    return write_rows(counted, layout.errors(stage), ERRORS, label=f"WriteErrors_{stage}", keys=ERROR_KEYS)


def _count_error(row: dict[str, Any], stage: str) -> dict[str, Any]:
    beam.metrics.Metrics.counter(stage, "errors").inc()
    log.warning("%s failed for %s: %s", stage, row["id"], row["reason"])
    return row
