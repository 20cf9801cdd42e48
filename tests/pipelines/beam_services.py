"""Beam's portable job service with external worker processes, on this machine, offline.

`portable_services()` starts `local_job_service_main` (the job service) and `worker_pool_main`
(a pool that starts SDK worker processes with the `python` first on PATH) as subprocesses on free
ports and yields the Beam flags that send a pipeline there:

    with portable_services() as flags:
        augment.run(["--dataset", root, *flags])

This is the same wiring as a Flink/Spark job server with an EXTERNAL environment, so a pipeline
that runs here has no hidden dependency on the launching process (pickling, globals, labels).

Shipping the code: add `--setup_file=<project>/setup.py` (a shim over pyproject.toml; Beam builds
an sdist with `python -m build` if installed, else `python setup.py sdist`, offline either way) and
the job service stages it as `<staging_dir>/job-*/...-workflow.tar.gz`. Beam's Python worker pool
does not pip-install staged artifacts itself (the SDK container's boot program does that on
Dataflow, Flink and Spark with the DOCKER environment), so here the workers import the package from
the same environment, which is why PATH must lead to this interpreter.

`dask_cluster()` starts a `dask scheduler` and N `dask worker` processes on 127.0.0.1 and yields the
scheduler's address, for Beam's DaskRunner:

    with dask_cluster(workers=2) as address:
        augment.run(["--dataset", root, "--runner", "DaskRunner", "--dask_client_address", address])

The DaskRunner ships no code (it ignores --setup_file): the workers import this package from the
same environment, with this checkout first on their PYTHONPATH.
"""
from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

log = logging.getLogger(__name__)
PROJECT = Path(__file__).resolve().parents[2]
# A dask nanny starts its worker with MALLOC_TRIM_THRESHOLD_=65536, which turns glibc's dynamic mmap
# threshold off: every array over 128 KiB is then mmap'd and unmapped, and the renderer ran 1.5x
# slower (0.18 vs 0.12 s per photo). A fixed 32 MiB mmap threshold gives the speed back (README).
MALLOC_MMAP_THRESHOLD = "33554432"


def free_port() -> int:
    """A TCP port that is free on localhost right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 60.0) -> None:
    """Block until something listens on localhost:port (or raise if the process died / timed out)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with code {process.returncode}")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            if s.connect_ex(("localhost", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listening on localhost:{port} after {timeout:.0f} s ({process.args})")


@contextlib.contextmanager
def portable_services(staging_dir: str | None = None, log_dir: str | None = None) -> Iterator[list[str]]:
    """Start a job service + worker pool; yield the PortableRunner flags; stop both on exit."""
    env = dict(os.environ)
    # the worker pool runs `python`: make it this interpreter (same packages, same version)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    log_dir = log_dir or tempfile.mkdtemp(prefix="beam_portable_")
    job_port, worker_port = free_port(), free_port()
    job_cmd = [sys.executable, "-m", "apache_beam.runners.portability.local_job_service_main",
               "--port", str(job_port)]
    if staging_dir:
        job_cmd += ["--staging_dir", staging_dir]
    pool_cmd = [sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main",
                "--service_port", str(worker_port)]
    processes: list[subprocess.Popen] = []
    try:
        for name, cmd in (("job_service", job_cmd), ("worker_pool", pool_cmd)):
            out = open(os.path.join(log_dir, f"{name}.log"), "wb")
            # own session: stopping the group also stops the SDK workers the pool started
            processes.append(subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                              start_new_session=True))
            out.close()
        wait_for_port(job_port, processes[0])
        wait_for_port(worker_port, processes[1])
        log.info("portable job service on :%d, worker pool on :%d (logs in %s)", job_port, worker_port, log_dir)
        yield ["--runner=PortableRunner", f"--job_endpoint=localhost:{job_port}",
               "--environment_type=EXTERNAL", f"--environment_config=localhost:{worker_port}"]
    finally:
        stop_processes(processes)


@contextlib.contextmanager
def dask_cluster(workers: int = 2, log_dir: str | None = None, timeout: float = 60.0) -> Iterator[str]:
    """Start a dask scheduler + `workers` single-threaded dask workers; yield 'HOST:PORT'; stop all on exit."""
    from distributed import Client

    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(PROJECT), *filter(None, [os.environ.get("PYTHONPATH")])]),
               MALLOC_MMAP_THRESHOLD_=MALLOC_MMAP_THRESHOLD)
    log_dir = log_dir or tempfile.mkdtemp(prefix="dask_cluster_")
    port = free_port()
    address = f"127.0.0.1:{port}"
    dask = [sys.executable, "-m", "dask"]
    commands = {"scheduler": dask + ["scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"]}
    for i in range(workers):
        commands[f"worker-{i}"] = dask + ["worker", address, "--host", "127.0.0.1", "--name", f"worker-{i}",
                                          "--nworkers", "1", "--nthreads", "1", "--no-dashboard",
                                          "--death-timeout", str(timeout)]
    processes: list[subprocess.Popen] = []
    try:
        for name, cmd in commands.items():
            out = open(os.path.join(log_dir, f"dask-{name}.log"), "wb")
            # own session: stopping the group also stops the worker process each nanny started
            processes.append(subprocess.Popen(cmd, cwd=PROJECT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                              start_new_session=True))
            out.close()
            if name == "scheduler":
                wait_for_port(port, processes[0], timeout)
        with Client(address, timeout=timeout) as client:
            client.wait_for_workers(workers, timeout=timeout)
        log.info("dask scheduler on %s with %d workers (logs in %s)", address, workers, log_dir)
        yield address
    finally:
        _close_dask_clients()
        stop_processes(processes)


def _close_dask_clients() -> None:
    """Close the Clients this process opened: the DaskRunner opens one per pipeline and never closes it."""
    from distributed import default_client

    while True:
        try:
            client = default_client()
        except ValueError:  # no client left
            return
        client.close()


def stop_processes(processes: list[subprocess.Popen]) -> None:
    """SIGTERM each process group we started, then SIGKILL what is still running after 10 s."""
    for process in processes:
        _signal_group(process, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            process.wait()


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    """Signal the process group we started (the service and any workers it spawned)."""
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass
