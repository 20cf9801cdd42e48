"""Beam pipeline options for every job: our flags are argparse, the rest pass through to Beam."""
from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

import apache_beam as beam
from apache_beam.options.pipeline_options import (
    DirectOptions,
    PipelineOptions,
    SetupOptions,
    StandardOptions,
)

DEFAULT_RUNNER = "FnApiRunner"
DASK_RUNNER = "apache_beam.runners.dask.dask_runner.DaskRunner"   # Beam 2.77 does not resolve "DaskRunner"
DASK_PARTITIONS = 8   # DaskRunner: partitions per Create unless --dask_npartitions / --dask_partition_size

BEAM_HELP = """\
Any other flag is a Beam pipeline option, passed through unchanged: --runner (default
FnApiRunner, in-process, multi-process over all cores: --direct_running_mode=multi_processing
--direct_num_workers=N; use --direct_running_mode=in_memory for one process), or DaskRunner
with --dask_client_address HOST:PORT (a dask.distributed scheduler; the work is split into
--dask_npartitions=8 partitions per input unless given), or DataflowRunner, FlinkRunner,
SparkRunner, PortableRunner with their own options and --setup_file=./setup.py to ship this package
to the workers (see README, "Running on a cluster")."""


def beam_options(beam_args: list[str]) -> PipelineOptions:
    """PipelineOptions from pass-through flags; FnApiRunner multi-process on all cores by default."""
    options = PipelineOptions(beam_args)
    standard = options.view_as(StandardOptions)
    if str(standard.runner).lower() in ("dask", "daskrunner"):
        standard.runner = DASK_RUNNER
    if standard.runner == DASK_RUNNER:
        _split_dask_inputs(options, beam_args)
    if not standard.runner:
        standard.runner = DEFAULT_RUNNER
        direct = options.view_as(DirectOptions)
        if "--direct_running_mode" not in " ".join(beam_args):
            direct.direct_running_mode = "multi_processing"
        if "--direct_num_workers" not in " ".join(beam_args):
            direct.direct_num_workers = os.cpu_count() or 1
    options.view_as(SetupOptions).save_main_session = False
    _share_cores_between_workers(options)
    return options


def _split_dask_inputs(options: PipelineOptions, beam_args: list[str]) -> None:
    """DaskRunner: DASK_PARTITIONS partitions per Create unless the user chose a partitioning.

    Partitions are the DaskRunner's only unit of parallelism (pipelines.core.transforms) and its
    own default is 128 elements per partition, so the pairs of a `fit --pairs` run of up to 128
    pairs were one partition, fitted by one worker. More partitions cost tasks: each GroupByKey is a
    dask task shuffle over the sum of its inputs' partitions (evaluate on 3 photos, 2 workers:
    64 per Create gave 51 000 tasks in 60 s, 8 gave 4 500 tasks in 6 s). On a cluster pass
    --dask_npartitions of about twice its worker threads.
    """
    from apache_beam.runners.dask.dask_runner import DaskOptions

    flags = " ".join(beam_args)
    if "--dask_npartitions" not in flags and "--dask_partition_size" not in flags:
        options.view_as(DaskOptions).npartitions = DASK_PARTITIONS


def _share_cores_between_workers(options: PipelineOptions) -> None:
    """Local multi-process runs: give each worker process cores // workers math threads.

    Worker processes inherit the driver's environment when they start; without a limit each one's
    torch/OpenMP pool takes every core, and N pools spinning on the same cores ran the augment stage
    ~10x slower. A value the user exported is kept.
    """
    runner = str(options.view_as(StandardOptions).runner or "")
    direct = options.view_as(DirectOptions)
    if runner.split(".")[-1] not in ("FnApiRunner", "DirectRunner", "BundleBasedDirectRunner"):
        return
    if direct.direct_running_mode != "multi_processing":
        return
    workers = max(1, int(direct.direct_num_workers or os.cpu_count() or 1))   # 0 means one per core
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))


def split_args(parser: argparse.ArgumentParser, argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    """Parse our flags; everything unknown is returned as Beam pipeline options.

    An unknown flag's value given as the next word (`--runner DaskRunner`) is attached to it first
    (`--runner=DaskRunner`): argparse cannot know that Beam's flag takes a value, and a parser with
    positionals (`photoedit fit`) would take the value as one of them.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    _, unknown = parser.parse_known_args(argv)
    flags = {word for word in unknown if word.startswith("--") and "=" not in word}
    attached: list[str] = []
    for word in argv:
        if attached and attached[-1] in flags and not word.startswith("-"):
            attached[-1] = f"{attached[-1]}={word}"
        else:
            attached.append(word)
    return parser.parse_known_args(attached)


def make_pipeline(beam_args: Sequence[str] = (), test_pipeline: beam.Pipeline | None = None) -> beam.Pipeline:
    """The pipeline a job builds on: `test_pipeline` when a test passes one, else one from the Beam flags."""
    return test_pipeline if test_pipeline is not None else beam.Pipeline(options=beam_options(list(beam_args)))
