"""Peak resident memory of a process and all its descendants, sampled from /proc (Linux)."""
from __future__ import annotations

import os
import threading
import time
from typing import Iterable

PAGE = os.sysconf("SC_PAGE_SIZE")


def process_table() -> dict[int, tuple[int, int]]:
    """Every process right now: pid -> (parent pid, RSS in bytes)."""
    table: dict[int, tuple[int, int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        table[int(name)] = (int(fields[1]), int(fields[21]) * PAGE)
    return table


def descendants(table: dict[int, tuple[int, int]], root_pid: int) -> list[int]:
    """root_pid's descendants (children, grandchildren, ...) in `table`, root excluded."""
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    out, stack = [], list(children.get(root_pid, []))
    while stack:
        pid = stack.pop()
        out.append(pid)
        stack.extend(children.get(pid, []))
    return out


def tree_rss_bytes(root_pid: int) -> int:
    """Sum of RSS (bytes) of root_pid and every descendant right now."""
    table = process_table()
    return sum(table.get(pid, (0, 0))[1] for pid in [root_pid, *descendants(table, root_pid)])


class PeriodicSampler:
    """Context manager calling `self.sample()` every `interval` s on a daemon thread until exit."""

    def __init__(self, interval: float):
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> None:
        """Take one sample now (subclasses)."""
        raise NotImplementedError

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            time.sleep(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


class PeakTreeRss(PeriodicSampler):
    """Context manager sampling the process tree's RSS every `interval` s; `.peak` in bytes."""

    def __init__(self, root_pid: int, interval: float = 0.2):
        super().__init__(interval)
        self.root_pid, self.peak = root_pid, 0

    def sample(self) -> None:
        """Take one sample now."""
        self.peak = max(self.peak, tree_rss_bytes(self.root_pid))


class PeakProcessRss(PeriodicSampler):
    """Context manager sampling every `interval` s the RSS of a driver process and of its workers, one by one.

    Workers are the driver's descendants (Beam's in-process runner starts them as children) or, when
    `worker_pids` is given, those processes and their descendants (dask workers started elsewhere).
    `.driver` = the driver's peak RSS, `.worker` = the largest single worker process's peak,
    `.tree` = the peak of driver + workers summed, all in bytes.
    """

    def __init__(self, driver_pid: int, worker_pids: Iterable[int] | None = None, interval: float = 0.2):
        super().__init__(interval)
        self.driver_pid = driver_pid
        self.worker_pids = None if worker_pids is None else list(worker_pids)
        self.driver = self.worker = self.tree = 0

    def sample(self) -> None:
        """Take one sample now."""
        table = process_table()
        roots = descendants(table, self.driver_pid) if self.worker_pids is None else \
            [p for w in self.worker_pids for p in [w, *descendants(table, w)]]
        workers = [table[p][1] for p in set(roots) - {self.driver_pid} if p in table]
        driver = table.get(self.driver_pid, (0, 0))[1]
        self.driver = max(self.driver, driver)
        self.worker = max(self.worker, max(workers, default=0))
        self.tree = max(self.tree, driver + sum(workers))
