"""Staged replacement of a stage's outputs: a bad input, a crash or a kill leaves the previous outputs intact.

A stage writes its output folders (e.g. <D>/features/ and <D>/errors/features/) not in place but under
one staging folder S = <R>/_staging/<stage>-<run id>/new/<path under R>, R being the folder that holds
them all (the dataset root), and replaces the outputs only when the whole stage succeeded:

1. `staged_outputs` (begin): leftovers of earlier runs under R/_staging/ are settled (step 4); S is
   created with owner.json (stage, host, pid, start time of the process).
2. The stage writes output folder F at `Staging.path(F)`, and what only the run itself reads (a plan for
   its workers) under `Staging.scratch(name)`. Beam sinks ask `staged_path(F)` while the
   pipeline is built (pipelines.core.parquet_io), so every runner's workers write to S.
3. `commit`, after the stage succeeded: S/COMMIT.json names the outputs; from then on the staged
   outputs are the truth. Per output, locally: F moves aside to S/old/..., S/new/... moves to F (two
   renames of folders, each atomic); on an object store: F's objects are deleted, a marker
   S/cleared/<i> written, then S/new/...'s objects renamed into F. Then S is deleted.
4. `settle` (at the start of every staged stage on R): a leftover with COMMIT.json is rolled forward
   (step 3 again: every step checks what is already done, so a crash anywhere in step 3 completes on
   the next run), one without it is a run that never finished and is deleted -- the outputs were never
   touched. Both are logged. An unfinished run whose owner process is still alive on this host is left
   alone, and so is another stage's from another host (it may still be running).

On an exception the staging folder is deleted at once (the error is re-raised); a kill leaves it for
step 4. A training run (pipelines.core.model_store.staged_model_folder) keeps it on an exception too,
and with `resume` adopts an unfinished run's staging folder instead of deleting it, so `train --resume`
continues from the training state the interrupted run wrote. Only what the stage wrote changes: files
in R outside its outputs are never touched. The run in progress is a context variable set by
`staged_outputs` while the pipeline is built; sinks resolve their folder through it in the driver.
"""
from __future__ import annotations

import contextlib
import contextvars
import datetime
import logging
import os
import socket
import uuid
from dataclasses import dataclass
from typing import Iterator, Sequence

from pipelines.core import storage

log = logging.getLogger(__name__)
STAGING = "_staging"
COMMIT = "COMMIT.json"
OWNER = "owner.json"
_active: contextvars.ContextVar["Staging | None"] = contextvars.ContextVar("photoedit_staging", default=None)


def _norm(path: str) -> str:
    return os.path.normpath(path) if storage.is_local(path) else path.rstrip("/")


@dataclass(frozen=True)
class Staging:
    """One run's staging folder `folder` for the output folders `outputs` (relative name lists under `root`)."""

    root: str
    folder: str
    stage: str
    outputs: tuple[tuple[str, ...], ...]

    def target(self, index: int) -> str:
        """The real output folder number `index`."""
        return storage.join(self.root, *self.outputs[index])

    def new(self, index: int) -> str:
        """Where output number `index` is written during the run."""
        return storage.join(self.folder, "new", *self.outputs[index])

    def path(self, output: str) -> str:
        """The staged folder of the output folder `output` (ValueError when it is not one of this run's)."""
        for index in range(len(self.outputs)):
            if _norm(self.target(index)) == _norm(output):
                return self.new(index)
        raise ValueError(f"{output} is not an output of this {self.stage} run")

    def scratch(self, name: str) -> str:
        """A folder for the run's own intermediate files (e.g. ingest's plan): never an output, deleted with
        the staging folder on commit, on failure, or by the next run's `settle` after a kill."""
        return storage.join(self.folder, "scratch", name)


def staged_path(folder: str) -> str:
    """Where a sink writes `folder` now: its staged folder inside an active `staged_outputs` that names
    it, else `folder` itself (a sink used outside a stage writes in place)."""
    run = _active.get()
    if run is None:
        return folder
    try:
        return run.path(folder)
    except ValueError:
        return folder


def staging_root(outputs: Sequence[str]) -> str:
    """R/_staging, R the deepest folder holding every output's parent."""
    return storage.join(storage.common_parent(list(outputs)), STAGING)


def _process_start(pid: int) -> str | None:
    """The kernel's start time of process `pid` (Linux /proc), None when unknown; tells a reused pid apart."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return None


def _owner() -> dict:
    return {"host": socket.gethostname(), "pid": os.getpid(), "process_start": _process_start(os.getpid()),
            "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def _alive_here(owner: dict) -> bool:
    """Whether the owner process of a staging folder is running on this host."""
    if owner.get("host") != socket.gethostname():
        return False
    pid = int(owner.get("pid", -1))
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # exists, another user's
        pass
    start = _process_start(pid)
    return start is None or owner.get("process_start") in (None, start)


def _read_json(path: str) -> dict | None:
    try:
        return storage.read_json(path)
    except (FileNotFoundError, ValueError):
        return None


def _leftovers(staging: str) -> list[str]:
    """Staging folders of earlier runs under R/_staging/."""
    if storage.is_local(staging):
        if not os.path.isdir(staging):
            return []
        return sorted(os.path.join(staging, name) for name in os.listdir(staging))
    return sorted({storage.join(staging, storage.relative(f, staging)[0]) for f in storage.list_files(staging)})


def _from_commit(root: str, folder: str, commit: dict) -> Staging:
    return Staging(root=root, folder=folder, stage=commit["stage"],
                   outputs=tuple(tuple(names) for names in commit["outputs"]))


def settle(root: str, stage: str, keep: str | None = None) -> None:
    """Roll forward every committed leftover under root/_staging/, delete the unfinished ones (module
    docstring) except the folder `keep` (a run resuming it)."""
    staging = storage.join(root, STAGING)
    for folder in _leftovers(staging):
        if keep is not None and _norm(folder) == _norm(keep):
            continue
        owner = _read_json(storage.join(folder, OWNER)) or {}
        if _alive_here(owner):
            log.warning("%s: %s belongs to a %s run still in progress (pid %s); left alone", stage, folder,
                        owner.get("stage"), owner.get("pid"))
            continue
        commit = _read_json(storage.join(folder, COMMIT))
        if commit is not None:
            log.warning("%s: completing the interrupted replace of the %s outputs staged in %s", stage,
                        commit["stage"], folder)
            _replace(_from_commit(root, folder, commit))
            continue
        if owner and owner.get("stage") != stage and owner.get("host") != socket.gethostname():
            log.info("%s: %s belongs to a %s run on %s; left alone", stage, folder, owner.get("stage"),
                     owner.get("host"))
            continue
        log.warning("%s: removing %s, the staging folder of an unfinished %s run (started %s); the outputs "
                    "it would have replaced were never touched", stage, folder, owner.get("stage", "unknown"),
                    owner.get("started", "at an unknown time"))
        storage.delete_folder(folder)
    _remove_if_empty(staging)


def _remove_if_empty(folder: str) -> None:
    if storage.is_local(folder):
        with contextlib.suppress(OSError):
            os.rmdir(folder)


def _unfinished(root: str, stage: str, outputs: tuple[tuple[str, ...], ...]) -> str | None:
    """The newest leftover of a dead `stage` run over the same `outputs` that never committed, if any."""
    found = []
    for folder in _leftovers(storage.join(root, STAGING)):
        owner = _read_json(storage.join(folder, OWNER)) or {}
        if (owner.get("stage") == stage and [tuple(o) for o in owner.get("outputs", [])] == list(outputs)
                and not storage.exists(storage.join(folder, COMMIT)) and not _alive_here(owner)):
            found.append((owner.get("started", ""), folder))
    return max(found)[1] if found else None


def begin(stage: str, outputs: Sequence[str], resume: bool = False) -> Staging:
    """Settle leftovers, then a fresh staging folder for `outputs` (folders, local or URIs, under one root);
    with `resume`, the staging folder of an unfinished run of the same stage and outputs when there is one,
    with what it wrote (a training run continues from its training state)."""
    if not outputs:
        raise ValueError(f"{stage}: a staged run needs at least one output folder")
    root = storage.common_parent(list(outputs))
    names = tuple(tuple(storage.relative(o, root)) for o in outputs)
    clashing = [a for a in names for b in names if a != b and b[:len(a)] == a]
    if clashing:
        raise ValueError(f"{stage}: output folders inside one another: {clashing}")
    resumed = _unfinished(root, stage, names) if resume else None
    settle(root, stage, keep=resumed)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S")
    folder = resumed or storage.join(root, STAGING, f"{stage}-{stamp}-{uuid.uuid4().hex[:8]}")
    run = Staging(root=root, folder=folder, stage=stage, outputs=names)
    if resumed:
        log.info("%s: resuming the unfinished run in %s", stage, resumed)
    storage.make_folder(folder)
    try:
        storage.write_json(storage.join(folder, OWNER),
                           {"stage": stage, "outputs": [list(o) for o in names], **_owner()})
    except BaseException:
        discard(run)
        raise
    return run


def commit(run: Staging) -> None:
    """Make the staged outputs the real ones: an output the stage wrote nothing to becomes empty, then
    COMMIT.json, then `_replace`."""
    for index in range(len(run.outputs)):
        storage.make_folder(run.new(index))
    storage.write_json(storage.join(run.folder, COMMIT),
                       {"stage": run.stage, "outputs": [list(o) for o in run.outputs]})
    _replace(run)


def _replace(run: Staging) -> None:
    """Step 3 of the module docstring for a committed run; each step skips what a crashed attempt did."""
    for index in range(len(run.outputs)):
        new, target = run.new(index), run.target(index)
        if storage.is_local(run.root):
            if not os.path.lexists(new):      # moved in already
                continue
            aside = storage.join(run.folder, "old", *run.outputs[index])
            if os.path.lexists(target):
                if os.path.lexists(aside):    # moved aside already, then made again by someone else: replaced too
                    storage.delete_folder(target)
                else:
                    storage.move_folder(target, aside)
            storage.move_folder(new, target)
            continue
        cleared = storage.join(run.folder, "cleared", str(index))
        if not storage.exists(cleared):
            storage.delete(storage.list_files(target))
            storage.write_bytes(cleared, b"")
        storage.move_folder(new, target)
    storage.delete_folder(run.folder)
    _remove_if_empty(storage.parent(run.folder))


def discard(run: Staging) -> None:
    """Delete a run's staging folder (the stage failed: its outputs stay as they were)."""
    storage.delete_folder(run.folder)
    _remove_if_empty(storage.parent(run.folder))


@contextlib.contextmanager
def staged_outputs(stage: str, outputs: Sequence[str], resume: bool = False,
                   keep_failed: bool = False) -> Iterator[Staging]:
    """A staged run of `stage` over the output folders `outputs` (`begin`, `resume` as there): sinks write
    to its staging folder (`staged_path`), a clean exit commits; an exception propagates and discards the
    staging folder, or with `keep_failed` leaves it for a later `resume` (as a kill does)."""
    run = begin(stage, outputs, resume)
    token = _active.set(run)
    try:
        yield run
    except BaseException:
        _active.reset(token)
        if not keep_failed:
            discard(run)
        raise
    _active.reset(token)
    commit(run)
