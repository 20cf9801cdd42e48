"""Progress of a Beam stage: a worker's periodic count in the logs, and the job's counters at the end."""
from __future__ import annotations

import logging
import time
from typing import Any

PROGRESS_SECONDS = 30.0


class WorkerProgress:
    """Counts the items one worker finished and logs `message % count` at most every `seconds`."""

    def __init__(self, logger: logging.Logger, message: str, seconds: float = PROGRESS_SECONDS):
        self._logger, self._message, self._seconds = logger, message, seconds
        self.done = 0
        self._last_log = time.monotonic()

    def step(self) -> None:
        """One more item done; log the running count when `seconds` have passed since the last line."""
        self.done += 1
        now = time.monotonic()
        if now - self._last_log > self._seconds:
            self._logger.info(self._message, self.done)
            self._last_log = now


def stage_counters(result: Any, namespace: str) -> dict[str, int]:
    """Committed Beam counters of one namespace (empty if the runner does not report metrics)."""
    try:
        return {c.key.metric.name: c.committed for c in result.metrics().query()["counters"]
                if c.key.metric.namespace == namespace}
    except Exception:  # some runners have no metrics API
        return {}
