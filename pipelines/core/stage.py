"""Running one Beam stage the same way in every job: its sinks write to a staging folder, the pipeline it
builds runs with a progress display, its outputs are replaced only when it succeeded, its counts read back."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import apache_beam as beam

from pipelines.core.console import log_file
from pipelines.core.options import make_pipeline
from pipelines.core.progress import StageProgress, stage_counters
from pipelines.core.staging import Staging, staged_outputs

log = logging.getLogger(__name__)


class StageFailed(RuntimeError):
    """A stage's pipeline raised; its outputs were left as they were (the message is one line)."""


@dataclass(frozen=True)
class StageRun:
    """A finished stage: its Beam counters (or rows written, on a runner without metrics) and its seconds."""

    counters: dict[str, int]
    seconds: float


def failure_line(exc: BaseException) -> str:
    """One line for a failed pipeline: the exception's type and the last line of its message (Beam puts
    the worker's whole traceback into the message; the original error is its last line)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[-1] if lines else ""
    return (f"{type(exc).__name__}: {text}" if text else type(exc).__name__)[:400]


def run_stage(stage: str, outputs: Mapping[str, str], total: int | None, unit: str,
              build: Callable[[beam.Pipeline], None], beam_args: Sequence[str] = (),
              test_pipeline: beam.Pipeline | None = None, files: Sequence[str] = (),
              prepare: Callable[[Staging], int | None] | None = None,
              finish: Callable[[Staging], None] | None = None) -> StageRun:
    """Run the pipeline `build` constructs, showing progress over `total` `unit`, with its sinks writing to a
    staging folder; when it succeeds the staged `outputs` (name -> Parquet folder, errors/<stage> included)
    and `files` (other output folders, e.g. augment's images/) replace the old ones whole (a rerun replaces,
    never appends), when it fails or is killed the old ones stay as they were (pipelines.core.staging).

    `prepare`, when given, runs inside the staged run before the pipeline is built (e.g. it writes a plan
    for the workers under `Staging.scratch`) and returns the `total` shown; `finish` runs after the
    pipeline succeeded and before the outputs are replaced (e.g. it writes a summary into a staged
    output, `Staging.path`), so what it writes is replaced with the rest or not at all.

    The names of `outputs` are the counters a runner without metrics gets from the rows written. An error
    while `build` runs propagates as it is; StageFailed (one line, logged; the traceback goes to the log
    file) when the pipeline raised while it ran.
    """
    built = False
    try:
        with staged_outputs(stage, [*outputs.values(), *files]) as staged:
            if prepare is not None:
                total = prepare(staged)
            with StageProgress(stage, total, unit) as progress:
                with make_pipeline(beam_args, test_pipeline) as pipeline:
                    build(pipeline)
                    built = True   # the pipeline runs when this block exits
            if finish is not None:
                finish(staged)
    except Exception as exc:
        if not built:   # building it found bad input (e.g. FileNotFoundError: no shards): the job says so
            raise
        line = failure_line(exc)
        log.debug("%s: the pipeline failed", stage, exc_info=True)
        where = log_file()
        log.error("%s failed: %s. The previous outputs are unchanged.%s", stage, line,
                  f" Full traceback: {where}" if where else "")
        raise StageFailed(f"{stage} failed: {line}") from exc
    return StageRun(stage_counters(pipeline.result, stage, outputs), progress.seconds)
