"""Staged replacement of outputs: a success replaces them whole, a failure or a crash at any step loses nothing."""
from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from pipelines.core import staging, storage
from pipelines.core.parquet_io import read_table, write_table
from tests.pipelines.core import memory_filesystem


def pretend_the_owner_died(staging_root: Path | str) -> None:
    """Give every staging folder under staging_root (a path or URI) the pid of a process that has exited."""
    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True).stdout)
    for owner in storage.list_files(str(staging_root)):
        if owner.endswith("/" + staging.OWNER):
            storage.write_json(owner, {**storage.read_json(owner), "pid": dead})


def files_under(folder: Path) -> dict[str, bytes]:
    """{relative path: bytes} of every file under a local folder."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def old_dataset(root: Path) -> dict[str, bytes]:
    """A dataset with the outputs of an earlier run: features/ (two shards), errors/features/, an unrelated photos/."""
    for rel, data in (("features/part-0.parquet", b"old 0"), ("features/part-1.parquet", b"old 1"),
                      ("errors/features/part-0.parquet", b"old errors"), ("photos/part-0.parquet", b"photos")):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return files_under(root)


def write_new(run: staging.Staging, root: Path) -> None:
    storage.write_bytes(storage.join(run.path(str(root / "features")), "part-0.parquet"), b"new 0")
    storage.write_bytes(storage.join(run.path(str(root / "errors" / "features")), "part-0.parquet"), b"new errors")


def test_a_clean_run_replaces_its_outputs_whole_and_leaves_everything_else(tmp_path):
    old_dataset(tmp_path)
    outputs = [str(tmp_path / "features"), str(tmp_path / "errors" / "features")]
    with staging.staged_outputs("features", outputs) as run:
        assert run.folder.startswith(str(tmp_path / "_staging" / "features-"))
        write_new(run, tmp_path)
        assert (tmp_path / "features" / "part-1.parquet").read_bytes() == b"old 1"   # untouched while running
    assert files_under(tmp_path) == {"features/part-0.parquet": b"new 0",           # old part-1 gone: replaced
                                     "errors/features/part-0.parquet": b"new errors",
                                     "photos/part-0.parquet": b"photos"}
    assert not (tmp_path / "_staging").exists()


def test_an_exception_leaves_the_old_outputs_and_no_staging_folder(tmp_path):
    before = old_dataset(tmp_path)
    outputs = [str(tmp_path / "features"), str(tmp_path / "errors" / "features")]
    with pytest.raises(RuntimeError, match="worker died"):
        with staging.staged_outputs("features", outputs) as run:
            write_new(run, tmp_path)
            raise RuntimeError("worker died")
    assert files_under(tmp_path) == before
    assert not (tmp_path / "_staging").exists()


@pytest.mark.parametrize("crash_at", [0, 1, 2, 3])
def test_a_crash_between_any_two_steps_of_the_replace_completes_on_the_next_run(tmp_path, monkeypatch, caplog,
                                                                                 crash_at):
    """The replace is 4 folder moves (features aside, new in, errors aside, new in); die before move
    `crash_at`: the next run rolls the committed outputs forward, no output is ever lost."""
    old_dataset(tmp_path)
    real_move = storage.move_folder
    moves = []

    def dying_move(source: str, target: str) -> None:
        if len(moves) == crash_at:
            raise KeyboardInterrupt("killed")
        moves.append((source, target))
        real_move(source, target)

    monkeypatch.setattr(storage, "move_folder", dying_move)
    with pytest.raises(KeyboardInterrupt):
        run = staging.begin("features", [str(tmp_path / "features"), str(tmp_path / "errors" / "features")])
        write_new(run, tmp_path)
        staging.commit(run)
    monkeypatch.setattr(storage, "move_folder", real_move)
    assert (Path(run.folder) / staging.COMMIT).exists()
    pretend_the_owner_died(tmp_path / staging.STAGING)
    # every output is either where it was or in the staging folder, never gone
    with caplog.at_level(logging.WARNING, logger="pipelines.core.staging"):
        staging.settle(str(tmp_path), "train")
    assert "completing the interrupted replace of the features outputs" in caplog.text
    assert files_under(tmp_path) == {"features/part-0.parquet": b"new 0",
                                     "errors/features/part-0.parquet": b"new errors",
                                     "photos/part-0.parquet": b"photos"}
    assert not (tmp_path / "_staging").exists()


def test_leftovers_of_a_killed_run_are_removed_with_a_log_line_a_live_run_is_left_alone(tmp_path, caplog):
    before = old_dataset(tmp_path)
    killed = staging.begin("augment", [str(tmp_path / "features")])
    storage.write_bytes(storage.join(killed.path(str(tmp_path / "features")), "part-0.parquet"), b"half")
    pretend_the_owner_died(tmp_path / staging.STAGING)
    live = staging.begin("evaluate", [str(tmp_path / "photos")])   # this process: alive
    with caplog.at_level(logging.WARNING, logger="pipelines.core.staging"):
        staging.settle(str(tmp_path), "augment")
    assert not os.path.exists(killed.folder) and os.path.isdir(live.folder)
    assert "of an unfinished augment run" in caplog.text and "still in progress" in caplog.text
    staging.discard(live)
    assert files_under(tmp_path) == before and not (tmp_path / "_staging").exists()


def test_scratch_files_live_in_the_staging_folder_and_go_with_it_on_commit_failure_and_kill(tmp_path):
    before = old_dataset(tmp_path)
    with staging.staged_outputs("ingest", [str(tmp_path / "features")]) as run:
        scratch = run.scratch("plan")
        storage.write_bytes(storage.join(scratch, "part-0.parquet"), b"plan")
        assert Path(scratch).is_relative_to(Path(run.folder))
        storage.write_bytes(storage.join(run.path(str(tmp_path / "features")), "part-0.parquet"), b"new")
    assert not os.path.exists(scratch) and files_under(tmp_path / "features") == {"part-0.parquet": b"new"}
    before = files_under(tmp_path)
    with pytest.raises(RuntimeError):
        with staging.staged_outputs("ingest", [str(tmp_path / "features")]) as run:
            storage.write_bytes(storage.join(run.scratch("plan"), "p"), b"plan")
            raise RuntimeError("boom")
    assert files_under(tmp_path) == before
    killed = staging.begin("ingest", [str(tmp_path / "features")])
    storage.write_bytes(storage.join(killed.scratch("plan"), "p"), b"plan")
    pretend_the_owner_died(tmp_path / staging.STAGING)
    staging.settle(str(tmp_path), "ingest")
    assert files_under(tmp_path) == before and not (tmp_path / "_staging").exists()


def test_staged_path_redirects_only_the_outputs_of_the_active_run(tmp_path):
    features, photos = str(tmp_path / "features"), str(tmp_path / "photos")
    assert staging.staged_path(features) == features
    with staging.staged_outputs("features", [features, str(tmp_path / "errors" / "features")]) as run:
        assert staging.staged_path(features) == run.path(features) != features
        assert staging.staged_path(photos) == photos
        with pytest.raises(ValueError):
            run.path(photos)
    assert staging.staged_path(features) == features


def test_write_table_replaces_the_folder_and_keeps_it_when_the_write_fails(tmp_path, monkeypatch):
    folder = str(tmp_path / "photos")
    write_table(pa.table({"x": [1, 2]}), folder, name="part-00000-of-00002.parquet")
    write_table(pa.table({"x": [3]}), folder)
    assert sorted(os.listdir(folder)) == ["part-00000-of-00001.parquet"]
    assert read_table(folder).column("x").to_pylist() == [3]

    def fail(*_):
        raise OSError("disk full")

    monkeypatch.setattr(storage, "write_bytes", fail)
    with pytest.raises(OSError):
        write_table(pa.table({"x": [4]}), folder)
    monkeypatch.undo()
    assert read_table(folder).column("x").to_pylist() == [3]
    assert sorted(os.listdir(tmp_path)) == ["photos"]


def test_on_an_object_store_the_replace_is_resumable_file_by_file(monkeypatch):
    """memtest:// has no folders and no rename (copy + delete per object, like gs://): die after the old
    objects were deleted and one new object moved in; the next run moves the rest, deletes nothing new."""
    objects = memory_filesystem.OBJECTS
    objects.clear()
    root = f"{memory_filesystem.SCHEME}://bucket/D"
    for name in ("part-0", "part-1", "part-2"):
        objects[f"{root}/features/{name}.parquet"] = b"old " + name.encode()
    objects[f"{root}/photos/part-0.parquet"] = b"photos"
    run = staging.begin("features", [f"{root}/features"])
    assert run.folder.startswith(f"{root}/_staging/features-")
    for name in ("part-0", "part-1"):
        storage.write_bytes(storage.join(run.path(f"{root}/features"), f"{name}.parquet"), b"new " + name.encode())
    from apache_beam.io.filesystems import FileSystems
    real_rename = FileSystems.rename

    def dying_rename(sources, targets):
        real_rename(sources[:1], targets[:1])
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(FileSystems, "rename", dying_rename)
    with pytest.raises(KeyboardInterrupt):
        staging.commit(run)
    monkeypatch.undo()
    assert objects[f"{root}/features/part-0.parquet"] == b"new part-0"
    pretend_the_owner_died(f"{root}/_staging")
    staging.settle(root, "features")
    assert {k: v for k, v in objects.items()} == {f"{root}/features/part-0.parquet": b"new part-0",
                                                  f"{root}/features/part-1.parquet": b"new part-1",
                                                  f"{root}/photos/part-0.parquet": b"photos"}
    objects.clear()


def test_paths_common_parent_and_relative_names():
    assert storage.common_parent(["/d/features", "/d/errors/features"]) == "/d"
    assert storage.common_parent(["/d/report"]) == "/d"
    assert storage.common_parent(["rel/d/a", "rel/d/b"]) == os.path.join("rel", "d")
    uri = f"{memory_filesystem.SCHEME}://b/d"
    assert storage.common_parent([f"{uri}/features", f"{uri}/errors/x"]) == uri
    assert storage.relative("/d/errors/features", "/d") == ["errors", "features"]
    with pytest.raises(ValueError):
        storage.relative("/e/x", "/d")
