"""The FiveK layout: folders, names, metadata files and the split schemes (real fixture metadata)."""
from __future__ import annotations

from collections import Counter

import pytest

from modeling.splits import split_for
from pipelines.fivek import layout as fivek

ALL_IDS = [f"a{i:04d}" for i in range(1, 5001)]


@pytest.fixture(scope="module")
def metadata_dir(fixtures_dir):
    return str(fixtures_dir / "fivek_metadata")


def test_base_names_and_raw_folders():
    assert fivek.photo_id_of("a0001-jmac_DSC1459") == "a0001"
    assert fivek.photo_id_of("a4607-050801_080948__I2E5512") == "a4607"
    for bad in ("b0001-x", "a001-x", "a00012-x", "jmac_DSC1459"):
        with pytest.raises(fivek.FiveKLayoutError):
            fivek.photo_id_of(bad)
    assert [fivek.raw_folder(f"a{n:04d}") for n in (1, 700, 701, 1400, 1401, 2100, 2101, 4200, 4201, 5000)] == [
        "HQa1to700", "HQa1to700", "HQa701to1400", "HQa701to1400", "HQa1400to2100", "HQa1400to2100",
        "HQa2101to2800", "HQa3501to4200", "HQa4201to5000", "HQa4201to5000"]
    with pytest.raises(fivek.FiveKLayoutError):
        fivek.raw_folder("a5001")
    assert fivek.raw_path("/r", "a1384-dvf_095") == "/r/raw_photos/HQa701to1400/photos/a1384-dvf_095.dng"


def test_fixture_splits_fivek_first4500_exposure(metadata_dir):
    assigners = {s: fivek.split_assigner(s, metadata_dir) for s in ("fivek", "first4500", "exposure")}
    counts = {s: Counter(map(assign, ALL_IDS)) for s, assign in assigners.items()}
    assert counts["fivek"] == {"train": 3500, "validation": 500, "test": 1000}
    assert counts["first4500"] == {"train": 4000, "validation": 500, "test": 500}
    assert counts["exposure"] == {"train": 4000, "test": 1000}
    fk = fivek.split_assigner("fivek", metadata_dir)
    assert fk("a1384") == "train" and fk("a3057") == "validation" and fk("a0230") == "test"
    ex = fivek.split_assigner("exposure", metadata_dir)
    assert ex("a4100") == "test" and ex("a3014") == "train" and ex("a1525") == "train"   # first lines of the folds
    f45 = fivek.split_assigner("first4500", metadata_dir)
    assert (f45("a4000"), f45("a4001"), f45("a4500"), f45("a4501")) == ("train", "validation", "validation", "test")


def test_hash_split_is_the_stable_hash_and_lists_can_leave_photos_unassigned(tmp_path):
    hashed = fivek.split_assigner("hash", str(tmp_path))
    assert [hashed(p) for p in ALL_IDS] == [split_for(p) for p in ALL_IDS]
    (tmp_path / "training.json").write_text('{"a0001-x": {}}')
    (tmp_path / "validation.json").write_text('{"a0002-y": {}}')
    (tmp_path / "testing.json").write_text("{}")
    lists = fivek.split_assigner("fivek", str(tmp_path))
    assert (lists("a0001"), lists("a0002"), lists("a0003")) == ("train", "validation", fivek.UNASSIGNED)
    with pytest.raises(fivek.FiveKLayoutError, match="FiveK_train_first2k.txt"):
        fivek.split_assigner("exposure", str(tmp_path))


def test_metadata_from_fixture_json_and_download_text_files(metadata_dir, tmp_path):
    meta = fivek.read_metadata([metadata_dir])
    assert len(meta) == 5000
    a1 = meta["a0001"]
    assert a1.base_name == "a0001-jmac_DSC1459"
    assert (a1.camera_make, a1.camera_model, a1.license) == ("Nikon", "D70", "Adobe")
    assert dict(a1.categories) == {"location": "outdoor", "time": "day", "light": "sun_sky", "subject": "nature"}
    assert meta["a1882"].categories["light"] is None                 # "unknown" in the .json
    (tmp_path / "categories.txt").write_text("a0007-k,indoor,None,artificial,people\nnot,a,real,line,x\n")
    (tmp_path / "filesAdobeMIT.txt").write_text("a0007-k\n")
    local = fivek.read_metadata([str(tmp_path)])
    assert set(local) == {"a0007"}
    assert dict(local["a0007"].categories) == {"location": "indoor", "time": None, "light": "artificial",
                                               "subject": "people"}
    assert local["a0007"].license == "AdobeMIT"


def test_find_raw_files_under_the_hqa_folders(tmp_path):
    for rel in ("raw_photos/HQa1to700/photos/a0001-x.dng", "raw_photos/HQa701to1400/photos/a0701-y.DNG",
                "raw_photos/HQa1to700/photos/notes.txt", "raw_photos/HQa1to700/photos/readme.dng",
                "raw_photos/a0002-z.dng"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    found = fivek.find_raw_files(str(tmp_path))
    assert sorted(found) == ["a0001", "a0701"]
    assert found["a0701"].endswith("HQa701to1400/photos/a0701-y.DNG")
