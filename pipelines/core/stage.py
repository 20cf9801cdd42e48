"""Running one Beam stage the same way in every job: clear its outputs, run the pipeline it builds with a
progress display, and read back its counts."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import apache_beam as beam

from pipelines.core.options import make_pipeline
from pipelines.core.parquet_io import clear_folder
from pipelines.core.progress import StageProgress, stage_counters


@dataclass(frozen=True)
class StageRun:
    """A finished stage: its Beam counters (or rows written, on a runner without metrics) and its seconds."""

    counters: dict[str, int]
    seconds: float


def run_stage(stage: str, outputs: Mapping[str, str], total: int | None, unit: str,
              build: Callable[[beam.Pipeline], None], beam_args: Sequence[str] = (),
              test_pipeline: beam.Pipeline | None = None) -> StageRun:
    """Clear `outputs` (name -> Parquet folder, errors/<stage> included: a rerun replaces, never appends),
    run the pipeline `build` constructs while showing progress over `total` `unit`, return its counts.

    The names of `outputs` are the counters a runner without metrics gets from the rows written.
    """
    for folder in outputs.values():
        clear_folder(folder)
    with StageProgress(stage, total, unit) as progress:
        with make_pipeline(beam_args, test_pipeline) as pipeline:
            build(pipeline)
    return StageRun(stage_counters(pipeline.result, stage, outputs), progress.seconds)
