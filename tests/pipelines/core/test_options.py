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
