"""Progress of long work: counts from Beam workers gathered in the driver, shown as a bar or periodic lines.

Workers (`WorkerProgress`, in a DoFn) log "photoedit-progress <stage> +<n>" at most every
`WORKER_SECONDS` and when a bundle finishes. In the driver, `StageProgress` picks those records
up wherever they arrive: directly (in-process runner), or forwarded by the runner's logging service
from worker processes (multi-process FnApiRunner, portable job service). It shows a tqdm bar when
the terminal is a TTY, else a log line every `LINE_SECONDS` with count, rate and ETA. On runners
that do not forward worker logs (Dataflow, Flink, the DaskRunner, ...) it stays silent and the
stage's final counts come from Beam's metrics (`stage_counters`), or, on a runner without metrics
(the DaskRunner), from the rows the stage wrote.
"""
from __future__ import annotations

import logging
import re
import sys
import time
from typing import Any, Mapping

WORKER_SECONDS = 2.0
LINE_SECONDS = 10.0
MARKER = "photoedit-progress"  # pipelines.core.console drops these lines from the terminal
_PROGRESS = re.compile(MARKER + r" (?P<stage>[\w-]+) \+(?P<count>\d+)")
log = logging.getLogger(__name__)


class WorkerProgress:
    """Counts items a worker finished; logs the increment at most every `seconds` (and on `flush`)."""

    def __init__(self, logger: logging.Logger, stage: str, seconds: float = WORKER_SECONDS):
        self._logger, self._stage, self._seconds = logger, stage, seconds
        self.done = 0
        self._pending = 0
        self._last_log = time.monotonic()

    def step(self, count: int = 1) -> None:
        """`count` more items done; report when `seconds` have passed since the last report."""
        self.done += count
        self._pending += count
        if time.monotonic() - self._last_log > self._seconds:
            self.flush()

    def flush(self) -> None:
        """Report the items done since the last report (call from DoFn.finish_bundle)."""
        if self._pending:
            self._logger.info("%s %s +%d", MARKER, self._stage, self._pending)
            self._pending = 0
        self._last_log = time.monotonic()


def rate_eta(done: int, total: int | None, seconds: float, before: int = 0) -> tuple[float, float | None]:
    """(items per second, seconds left or None): `done` of `total` items, `done - before` of them in `seconds`."""
    rate = (done - before) / seconds if seconds > 0 else 0.0
    if not total or rate <= 0 or done >= total:
        return rate, None if not total or done < total else 0.0
    return rate, (total - done) / rate


def progress_line(stage: str, done: int, total: int | None, unit: str, seconds: float, before: int = 0) -> str:
    """'augment: 40/120 photos (33 %), 2.1 photos/s, ETA 38 s' (rate over the `done - before` in `seconds`)."""
    rate, eta = rate_eta(done, total, seconds, before)
    count = f"{done}/{total} {unit} ({100 * done / total:.0f} %)" if total else f"{done} {unit}"
    tail = f", ETA {eta:.0f} s" if eta is not None and done < (total or 0) else ""
    return f"{stage}: {count}, {rate:.1f} {unit}/s{tail}"


class _ProgressHandler(logging.Handler):
    """Root-logger handler that counts progress records of one stage."""

    def __init__(self, owner: "StageProgress"):
        super().__init__(logging.INFO)
        self._owner = owner

    def emit(self, record: logging.LogRecord) -> None:
        try:
            match = _PROGRESS.search(record.getMessage())
        except Exception:  # a record whose message cannot be formatted is not ours
            return
        if match and match.group("stage") == self._owner.stage:
            self._owner.advance(int(match.group("count")))


class StageProgress:
    """Context manager in the driver: a bar (TTY) or periodic lines for `total` `unit` of `stage`."""

    def __init__(self, stage: str, total: int | None, unit: str, stream: Any = None):
        self.stage, self.total, self.unit = stage, total, unit
        self.done = 0
        self._stream = stream or sys.stderr
        self._bar = None
        self._started = self._last_line = time.monotonic()
        self._first: tuple[float, int] | None = None   # (time, count) of the first report: start-up excluded from rates
        self._handler = _ProgressHandler(self)

    def __enter__(self) -> "StageProgress":
        logging.getLogger().addHandler(self._handler)
        if getattr(self._stream, "isatty", lambda: False)():
            from tqdm import tqdm

            self._bar = tqdm(total=self.total, unit=f" {self.unit}", desc=self.stage, file=self._stream,
                             leave=False, dynamic_ncols=True)
        return self

    def advance(self, count: int) -> None:
        """`count` more items done (from any worker)."""
        self.done += count
        if self._bar is not None:
            self._bar.update(count)
            return
        now = time.monotonic()
        if self._first is None:
            self._first = (now, self.done)
        elif now - self._last_line > LINE_SECONDS:
            since, before = self._first
            log.info(progress_line(self.stage, self.done, self.total, self.unit, now - since, before))
            self._last_line = now

    def __exit__(self, *exc: Any) -> None:
        logging.getLogger().removeHandler(self._handler)
        if self._bar is not None:
            self._bar.close()

    @property
    def seconds(self) -> float:
        """Seconds since the stage started."""
        return time.monotonic() - self._started


def stage_counters(result: Any, namespace: str, written: Mapping[str, str] | None = None) -> dict[str, int]:
    """Committed Beam counters of one namespace; on a runner without metrics, rows written instead.

    `written` maps counter names to the Parquet folders whose rows they count: on a runner that
    reports no metrics (the DaskRunner's result raises NotImplementedError) those counters are the
    folders' row counts (from the shards' footers), so a job's final counts stay right there.
    """
    try:
        counters = result.metrics().query()["counters"]
    except Exception:  # a runner without a metrics API
        from pipelines.core.parquet_io import (
            count_rows,  # here: console imports this module, keep it light
        )

        log.debug("%s: the runner reports no metrics; counting the rows written", namespace)
        return {name: count_rows(folder) or 0 for name, folder in (written or {}).items()}
    return {c.key.metric.name: c.committed for c in counters if c.key.metric.namespace == namespace}
