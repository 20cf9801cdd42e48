"""The console: photoedit's own lines on the terminal, Beam's, TensorFlow's and the workers' in the log file."""
import logging
import subprocess
import sys

from pipelines.core.console import ConsoleFilter
from pipelines.core.progress import MARKER


def _record(name: str, level: int, message: str) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, message, None, None)


def test_console_filter_keeps_our_lines_and_warnings_and_drops_beam_chatter():
    keep = ConsoleFilter().filter
    assert keep(_record("pipelines.jobs.augment", logging.INFO, "augment: 3 photos"))
    assert not keep(_record("pipelines.jobs.augment", logging.DEBUG, "detail"))
    assert not keep(_record("apache_beam.runners.worker.sdk_worker", logging.INFO, "Control channel established."))
    assert keep(_record("apache_beam.io.filebasedsink", logging.WARNING, "something is wrong"))
    assert not keep(_record("pipelines.jobs.augment", logging.INFO, f"{MARKER} augment +3"))


def test_forwarded_worker_records_show_only_our_warnings_as_their_message():
    keep = ConsoleFilter().filter
    beam = "apache_beam.runners.portability.local_job_service"
    ours = _record(beam, logging.WARNING, 'Worker: severity: WARN timestamp {   seconds: 1 } message: '
                   '"augment failed for a0004: PhotoDecodeError: \\"x.dng\\" is not a raw" '
                   'log_location: "pipelines.core.errors:42" thread: "7"')
    assert keep(ours)
    assert ours.getMessage() == 'augment failed for a0004: PhotoDecodeError: "x.dng" is not a raw'
    theirs = _record(beam, logging.WARNING, 'Worker: severity: WARN timestamp { } message: "No semi_persistent_'
                     'directory found" log_location: "apache_beam.runners.worker.sdk_worker_main"')
    assert not keep(theirs)
    info = _record(beam, logging.INFO, 'Worker: severity: INFO message: "done" log_location: "pipelines.jobs.x"')
    assert not keep(info)


def test_a_command_on_a_missing_input_prints_one_line_and_logs_the_rest(tmp_path):
    dataset = tmp_path / "empty"
    dataset.mkdir()
    run = subprocess.run([sys.executable, "-c", "import sys; from pipelines.cli import main; sys.argv[0] = 'photoedit'; "
                          "sys.exit(main())", "augment", "--dataset", str(dataset)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 2
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert lines == [f"error: augment: no photos/ under {dataset}: run `photoedit ingest` first"], run.stderr
    assert "Traceback" not in run.stderr and "apitools" not in run.stderr
    logs = list((dataset / "_logs").glob("augment-*.log"))
    assert len(logs) == 1 and "no photos/" in logs[0].read_text()
