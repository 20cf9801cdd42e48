"""The storage layer: local paths written atomically with their folders, JSON, globbing, staging."""
import os

import pytest

from pipelines.core import storage


def test_write_read_and_exists_create_parent_folders_and_leave_no_temporary_file(tmp_path):
    path = str(tmp_path / "a" / "b" / "x.bin")
    assert not storage.exists(path)
    assert storage.write_bytes(path, b"one") == path
    storage.write_bytes(path, b"two")
    assert storage.read_bytes(path) == b"two" and storage.exists(path)
    assert os.listdir(tmp_path / "a" / "b") == ["x.bin"]
    with pytest.raises(FileNotFoundError):
        storage.read_bytes(str(tmp_path / "missing.bin"))


def test_json_round_trip_match_delete_and_parent(tmp_path):
    storage.write_json(str(tmp_path / "d" / "b.json"), {"z": 1, "a": [1.5, None]})
    storage.write_json(str(tmp_path / "d" / "a.json"), {})
    assert storage.read_json(str(tmp_path / "d" / "b.json")) == {"z": 1, "a": [1.5, None]}
    found = storage.match(str(tmp_path / "d" / "*.json"))
    assert [os.path.basename(p) for p in found] == ["a.json", "b.json"]
    assert storage.parent(found[0]) == str(tmp_path / "d")
    storage.delete(found)
    assert storage.match(str(tmp_path / "d" / "*.json")) == []
    assert storage.is_local("/x/y") and storage.is_local("relative/y") and not storage.is_local("gs://b/x")


def test_local_copy_is_the_path_itself_when_local(tmp_path):
    path = str(tmp_path / "c.lrcat")
    storage.write_bytes(path, b"sqlite")
    with storage.local_copy(path) as local:
        assert local == path


def test_staged_folder_replaces_the_folder_on_success_and_keeps_it_on_an_error(tmp_path):
    report = tmp_path / "report"
    (report / "figures").mkdir(parents=True)
    (report / "figures" / "old.png").write_bytes(b"old figure")
    (report / "index.html").write_text("old")
    with pytest.raises(RuntimeError):
        with storage.staged_folder(str(report)) as folder:
            assert folder != str(report) and os.path.isdir(folder)
            open(os.path.join(folder, "index.html"), "w").write("half")
            raise RuntimeError("figure failed")
    assert (report / "index.html").read_text() == "old" and (report / "figures" / "old.png").exists()
    with storage.staged_folder(str(report)) as folder:
        open(os.path.join(folder, "index.html"), "w").write("new")
    assert sorted(os.listdir(report)) == ["index.html"] and (report / "index.html").read_text() == "new"
    assert sorted(os.listdir(tmp_path)) == ["report"]


def test_staged_folder_uploads_to_a_uri():
    from tests.pipelines.core import memory_filesystem

    memory_filesystem.OBJECTS.clear()
    out = f"{memory_filesystem.SCHEME}://bucket/D/report"
    memory_filesystem.OBJECTS[f"{out}/stale.md"] = b"old"
    with storage.staged_folder(out) as folder:
        os.makedirs(os.path.join(folder, "figures"))
        open(os.path.join(folder, "figures", "a.png"), "wb").write(b"png")
    assert memory_filesystem.OBJECTS == {f"{out}/figures/a.png": b"png"}
    memory_filesystem.OBJECTS.clear()
