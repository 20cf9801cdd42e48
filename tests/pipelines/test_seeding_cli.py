"""Keyed generators, Beam option defaults and the CLI dispatcher."""
import numpy as np
from apache_beam.options.pipeline_options import DirectOptions, StandardOptions

from pipelines.cli import COMMANDS, main
from pipelines.options import beam_options
from pipelines.seeding import keyed_rng


def test_keyed_rng_depends_on_every_key_and_repeats():
    a = keyed_rng(7, "a0001", 1).uniform(size=5)
    np.testing.assert_array_equal(a, keyed_rng(7, "a0001", 1).uniform(size=5))
    assert not np.allclose(a, keyed_rng(7, "a0001", 2).uniform(size=5))
    assert not np.allclose(a, keyed_rng(8, "a0001", 1).uniform(size=5))
    assert not np.allclose(a, keyed_rng(7, "a0002", 1).uniform(size=5))


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


def test_cli_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out
    assert main(["no-such-command"]) == 2


def test_worker_progress_counts_every_item_and_logs_at_most_every_interval(monkeypatch, caplog):
    import logging
    import time

    from pipelines.progress import WorkerProgress
    clock = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    progress = WorkerProgress(logging.getLogger("photoedit.test"), "stage: %d done", seconds=30.0)
    with caplog.at_level(logging.INFO, logger="photoedit.test"):
        for step in range(10):
            clock[0] += 10.0                       # 10 s per item: a line after items 4 and 8
            progress.step()
    assert progress.done == 10
    assert [r.getMessage() for r in caplog.records] == ["stage: 4 done", "stage: 8 done"]
