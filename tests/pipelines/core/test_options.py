"""Beam options: the in-process runner by default, cores shared between local worker processes."""
from apache_beam.options.pipeline_options import DirectOptions, StandardOptions

from pipelines.core.options import beam_options


def test_default_runner_is_in_process_multi_processing(monkeypatch):
    import os
    monkeypatch.setattr(os, "environ", dict(os.environ))               # beam_options may set OMP_NUM_THREADS
    options = beam_options([])
    assert options.view_as(StandardOptions).runner == "FnApiRunner"
    assert options.view_as(DirectOptions).direct_running_mode == "multi_processing"
    options = beam_options(["--runner=PortableRunner", "--job_endpoint=localhost:1"])
    assert options.view_as(StandardOptions).runner == "PortableRunner"
    options = beam_options(["--direct_running_mode=in_memory"])
    assert options.view_as(DirectOptions).direct_running_mode == "in_memory"


def test_local_worker_processes_share_the_cores(monkeypatch):
    """Multi-process local runs cap each worker's OpenMP pool at cores // workers; a user's value wins."""
    import os
    monkeypatch.setattr(os, "environ", {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"})
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    beam_options(["--direct_num_workers=4"])
    assert os.environ["OMP_NUM_THREADS"] == "2"
    del os.environ["OMP_NUM_THREADS"]
    beam_options(["--direct_running_mode=in_memory"])                  # one process: leave it alone
    assert "OMP_NUM_THREADS" not in os.environ
    beam_options(["--runner=PortableRunner", "--job_endpoint=localhost:1"])
    assert "OMP_NUM_THREADS" not in os.environ
    os.environ["OMP_NUM_THREADS"] = "3"
    beam_options(["--direct_num_workers=4"])
    assert os.environ["OMP_NUM_THREADS"] == "3"


def test_dask_runner_by_its_short_name_splits_each_input_into_partitions():
    """--runner DaskRunner resolves (Beam 2.77 does not) and gets DASK_PARTITIONS per Create unless chosen."""
    import apache_beam as beam
    from apache_beam.runners.dask.dask_runner import DaskOptions

    from pipelines.core.options import DASK_PARTITIONS, DASK_RUNNER

    def bag_kwargs(options):
        return DaskOptions._extract_bag_kwargs(options.view_as(DaskOptions).get_all_options(
            drop_default=True, current_only=True))   # what DaskRunner.run_pipeline hands dask.bag

    for name in ("DaskRunner", "dask", DASK_RUNNER):
        options = beam_options(["--runner", name, "--dask_client_address", "127.0.0.1:8786"])
        assert options.view_as(StandardOptions).runner == DASK_RUNNER
        assert bag_kwargs(options) == {"npartitions": DASK_PARTITIONS}
    assert type(beam.Pipeline(options=options).runner).__name__ == "DaskRunner"
    assert bag_kwargs(beam_options(["--runner=DaskRunner", "--dask_partition_size=4"])) == {"partition_size": 4}
    assert bag_kwargs(beam_options(["--runner=DaskRunner", "--dask_npartitions=3"])) == {"npartitions": 3}


def test_beam_flag_values_given_as_the_next_word_stay_with_their_flag():
    import argparse

    from pipelines.core.options import split_args

    parser = argparse.ArgumentParser()
    parser.add_argument("images", nargs="*")
    parser.add_argument("--pairs")
    parser.add_argument("--verbose", action="store_true")
    args, beam = split_args(parser, ["--pairs", "DIR", "--runner", "DaskRunner", "--dask_client_address",
                                     "127.0.0.1:8786", "--verbose", "--save_main_session", "--region=eu"])
    assert (args.pairs, args.images, args.verbose) == ("DIR", [], True)
    assert beam == ["--runner=DaskRunner", "--dask_client_address=127.0.0.1:8786", "--save_main_session",
                    "--region=eu"]
    args, beam = split_args(parser, ["BEFORE", "AFTER"])
    assert args.images == ["BEFORE", "AFTER"] and beam == []
