"""Progress: workers report increments, the driver adds them up from direct and forwarded log records."""
import logging
import time

from pipelines.core.progress import (
    MARKER,
    StageProgress,
    WorkerProgress,
    progress_line,
    rate_eta,
)


def test_worker_progress_reports_increments_at_most_every_interval_and_on_flush(monkeypatch, caplog):
    clock = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    progress = WorkerProgress(logging.getLogger("pipelines.test"), "augment", seconds=30.0)
    with caplog.at_level(logging.INFO, logger="pipelines.test"):
        for _ in range(10):
            clock[0] += 10.0                       # 10 s per item: a report after items 4 and 8
            progress.step()
        progress.flush()                           # the bundle's tail
        progress.flush()                           # nothing new: no line
    assert progress.done == 10
    assert [r.getMessage() for r in caplog.records] == [f"{MARKER} augment +4", f"{MARKER} augment +4",
                                                        f"{MARKER} augment +2"]


def test_stage_progress_adds_direct_and_forwarded_worker_reports_of_its_own_stage(caplog):
    caplog.set_level(logging.INFO)
    log = logging.getLogger("pipelines.test")
    beam = logging.getLogger("apache_beam.runners.portability.local_job_service")
    with StageProgress("augment", total=10, unit="photos") as progress:
        log.info("%s augment +3", MARKER)                                   # in-process runner
        beam.info('Worker: severity: INFO timestamp {   seconds: 1 } message: "%s augment +4" '
                  'log_location: "pipelines.jobs.augment"', MARKER)         # forwarded from a worker process
        log.info("%s features +5", MARKER)                                  # another stage's report
    assert progress.done == 7
    log.info("%s augment +1", MARKER)                                       # after the stage: not counted
    assert progress.done == 7


def test_progress_line_gives_rate_and_eta_without_start_up_time():
    assert rate_eta(30, 120, 10.0, before=10) == (2.0, 45.0)
    assert progress_line("augment", 30, 120, "photos", 10.0, before=10) == \
        "augment: 30/120 photos (25 %), 2.0 photos/s, ETA 45 s"
    assert progress_line("features", 7, None, "images", 2.0) == "features: 7 images, 3.5 images/s"
    assert rate_eta(120, 120, 10.0) == (12.0, 0.0)
    assert progress_line("ingest", 1, 0, "photos", 1.0) == "ingest: 1 photos, 1.0 photos/s"   # unknown total
