"""A console a person can read: our own lines on the terminal, everything else in a log file.

`photoedit` (pipelines.cli) calls `capture_process_output()` before it imports any stage: file
descriptor 2 is pointed at a spool file, so what Beam's SDK-harness worker processes, TensorFlow's
C++ start-up code and import-time warnings (Beam's "apitools not found") write there never reaches
the terminal, while Python's `sys.stderr` keeps writing to the terminal. A stage then calls
`configure_logging(verbose, log_dir=<dataset>/_logs)`: the spool moves to
`<dataset>/_logs/<command>-<UTC time>.log`, which receives every log record at DEBUG/INFO as well.

On the terminal, without --verbose: INFO and above of photoedit's own loggers (`pipelines`,
`modeling`, `rendering`, `features`), WARNING and above of anything else, and warnings our DoFns
log inside Beam workers (forwarded by the runner's logging service, shown as their message only).
With --verbose: everything at DEBUG, nothing spooled.
"""
from __future__ import annotations

import datetime
import logging
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from typing import TextIO

from pipelines.core.progress import MARKER

OUR_PACKAGES = ("pipelines", "modeling", "rendering", "features")
CONSOLE_FORMAT = "%(message)s"
FILE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# a record the runner forwarded from a worker: "severity: WARN timestamp {...} message: "..." log_location: "..."
_FORWARDED = re.compile(r'^(?:Worker: )?severity: (?P<severity>\w+).*?message: "(?P<message>(?:[^"\\]|\\.)*)"'
                        r'(?:.*?log_location: "(?P<location>[^"]*)")?', re.S)
_SEVERITY = {"TRACE": 5, "DEBUG": 10, "INFO": 20, "NOTICE": 20, "WARN": 30, "ERROR": 40, "CRITICAL": 50}

NOISY_LOGGERS = ("apache_beam", "tensorflow", "absl", "h5py", "matplotlib", "PIL", "urllib3", "grpc", "numexpr")


@dataclass
class _Capture:
    """Where fd 2 goes now (spool or log file) and the terminal stream Python writes to."""

    console: TextIO
    path: str
    fd: int


_capture: _Capture | None = None


def capture_process_output() -> None:
    """Point fd 2 at a spool file (once per process; a no-op after); `sys.stderr` still writes there
    until `use_terminal()`, so import-time warnings are spooled too."""
    global _capture
    if _capture is not None:
        return
    console = os.fdopen(os.dup(2), "w", buffering=1, encoding=getattr(sys.stderr, "encoding", None) or "utf-8",
                        errors="replace")
    fd, path = tempfile.mkstemp(prefix="photoedit-", suffix=".log")
    sys.stderr.flush()
    os.dup2(fd, 2)
    _capture = _Capture(console=console, path=path, fd=fd)


def use_terminal() -> None:
    """Point Python's `sys.stderr` (tracebacks, argparse errors, progress bars) at the terminal again."""
    if _capture is not None:
        sys.stderr = _capture.console


def log_file() -> str | None:
    """The file that receives this process's spooled output and log records, if output is captured."""
    return _capture.path if _capture else None


def _move_capture(log_dir: str, command: str) -> None:
    """Continue the spool in <log_dir>/<command>-<UTC time>.log (copying what it holds so far)."""
    global _capture
    assert _capture is not None
    os.makedirs(log_dir, exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = os.path.join(log_dir, f"{command}-{stamp}.log")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    with open(_capture.path, "rb") as old:
        os.write(fd, old.read())
    os.dup2(fd, 2)
    os.close(_capture.fd)
    os.remove(_capture.path)
    _capture = _Capture(console=_capture.console, path=path, fd=fd)


class ConsoleFilter(logging.Filter):
    """What the terminal shows without --verbose (module docstring); rewrites forwarded worker records."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if MARKER in message:          # shown by the stage's progress bar / lines instead
            return False
        forwarded = _FORWARDED.match(message)
        if forwarded:
            location = forwarded.group("location") or ""
            level = _SEVERITY.get(forwarded.group("severity"), logging.INFO)
            if level < logging.WARNING or not location.startswith(OUR_PACKAGES):
                return False
            record.msg, record.args = _unescape(forwarded.group("message")), None
            record.levelno, record.levelname = level, logging.getLevelName(level)
            return True
        if record.name.split(".")[0] in OUR_PACKAGES:
            return record.levelno >= logging.INFO
        return record.levelno >= logging.WARNING


def _unescape(text: str) -> str:
    """A protobuf text-format string literal's content as plain text."""
    return text.encode("latin-1", "backslashreplace").decode("unicode_escape", "replace")


class ConsoleHandler(logging.StreamHandler):
    """The terminal handler: a line written while a progress bar is shown goes above the bar."""

    def emit(self, record: logging.LogRecord) -> None:
        from tqdm import tqdm

        with tqdm.external_write_mode(file=self.stream):
            super().emit(record)


class ConsoleFormatter(logging.Formatter):
    """Plain messages; warnings and errors prefixed with their level."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return text if record.levelno < logging.WARNING else f"{record.levelname.lower()}: {text}"


def configure_logging(verbose: bool = False, log_dir: str | None = None, command: str = "photoedit") -> None:
    """Terminal handler (filtered unless verbose) and, when output is captured, the log file handler.

    log_dir: a local folder for the log file (e.g. <dataset>/_logs); None keeps the spool where it is.
    """
    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    # drop the bare handler an import-time logging.warning() (Beam's gcp check) installed, and ours
    # from an earlier call; leave others (pytest's capture, a caller's) in place
    for handler in list(root.handlers):
        if getattr(handler, "photoedit", False) or (
                type(handler) is logging.StreamHandler and getattr(handler.formatter, "_fmt", None) == logging.BASIC_FORMAT):
            root.removeHandler(handler)
    if _capture is not None and log_dir is not None and not verbose:
        _move_capture(log_dir, command)
    console = ConsoleHandler(_capture.console if _capture else sys.stderr)
    if verbose:
        console.setFormatter(logging.Formatter(FILE_FORMAT))
    else:
        console.setFormatter(ConsoleFormatter(CONSOLE_FORMAT))
        console.addFilter(ConsoleFilter())
    console.photoedit = True
    root.addHandler(console)
    if _capture is not None and not verbose:
        file_handler = logging.FileHandler(_capture.path, encoding="utf-8")
        file_handler.setFormatter(logging.Formatter(FILE_FORMAT))
        file_handler.photoedit = True
        root.addHandler(file_handler)
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.INFO)


def local_log_dir(dataset_root: str) -> str | None:
    """<dataset>/_logs for a local dataset root; None for a remote one (the log stays in the temp spool)."""
    from pipelines.core import storage

    return os.path.join(dataset_root, "_logs") if storage.is_local(dataset_root) else None
