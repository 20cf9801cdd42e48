"""pipelines.lightroom.catalog: Lightroom catalogs written in the real FiveK shape and read back read-only, one row per edit."""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
import sqlite3
import time

import numpy as np
import pytest

from pipelines.fivek.sample.catalog_writer import CatalogRecord, write_catalog
from pipelines.lightroom.catalog import (
    CatalogError,
    collection_edits,
    collection_names,
    developed_photos,
    open_catalog,
)
from pipelines.lightroom.develop_settings import settings_sha256
from pipelines.lightroom.lua_table import format_lua_table, parse_lua_table

FOLDERS = ["/data/fivek/raw_photos/HQa1to700/photos/", "/data/fivek/raw_photos/HQa701to1400/photos/"]


def expert_text(photo: int, expert: str) -> str:
    """A FiveK-like settings text that differs per photo and expert."""
    return format_lua_table({"Exposure": round(0.1 * photo - 0.05 * (ord(expert) - 65), 2),
                             "Contrast": 25, "ProcessVersion": "5.0", "WhiteBalance": "As Shot",
                             "ToneCurve": [0, 0, 255, 255], "ToneCurveName": f"{expert} curve"})


def fivek_records(photos: int = 4) -> list[CatalogRecord]:
    """photos x experts A..E under set Experts, plus one photo in a second set 'Mine'."""
    records = [CatalogRecord("Experts", expert, f"a{p:04d}-jmac_DSC{p}", "dng", FOLDERS[p % 2],
                             expert_text(p, expert), f"2005-06-{p:02d}T15:50:05")
               for p in range(photos, 0, -1) for expert in "EDCBA"]                   # written out of order
    records.append(CatalogRecord("Mine", "Keepers", "a0001-jmac_DSC1", "dng", FOLDERS[1], "s = { Exposure = 1 }",
                                 "2004-01-01T00:00:00"))
    return records


@pytest.fixture()
def catalog(tmp_path) -> str:
    path = str(tmp_path / "fivek.lrcat")
    assert write_catalog(path, iter(fivek_records())) == 21
    return path


def fingerprint(path: str) -> tuple[str, int, list[str]]:
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    return digest, os.stat(path).st_mtime_ns, sorted(os.listdir(os.path.dirname(path)))


def test_collection_edits_returns_exactly_the_records_one_per_member(catalog):
    edits = list(collection_edits(catalog))
    expected = sorted((r for r in fivek_records() if r.collection_set == "Experts"),
                      key=lambda r: (r.collection, r.base_name))
    assert [(e.collection_set, e.collection, e.base_name, e.extension, e.folder, e.settings_text, e.capture_time)
            for e in edits] == [(r.collection_set, r.collection, r.base_name, r.extension, r.folder, r.settings_text,
                                 r.capture_time) for r in expected]
    assert edits[0].path == "/data/fivek/raw_photos/HQa701to1400/photos/a0001-jmac_DSC1.dng"
    # members are virtual copies: one master per file, shared by its five experts' copies
    masters = {}
    for e in edits:
        assert e.master_id is not None and e.master_id != e.image_id
        masters.setdefault(e.base_name, set()).add(e.master_id)
    assert all(len(m) == 1 for m in masters.values()) and len({m.pop() for m in masters.values()}) == 4
    assert len({e.image_id for e in edits}) == 20
    assert parse_lua_table(edits[0].settings_text)["ToneCurveName"] == "A curve"
    mine = list(collection_edits(catalog, "Mine"))
    assert [(e.collection, e.base_name, e.settings_text) for e in mine] == [
        ("Keepers", "a0001-jmac_DSC1", "s = { Exposure = 1 }")]
    assert mine[0].master_id == next(e.master_id for e in edits if e.base_name == "a0001-jmac_DSC1")


def test_the_written_catalog_has_the_real_doubled_settings_rows(catalog):
    con = sqlite3.connect(catalog)
    naive = con.execute("""SELECT count(*) FROM AgLibraryCollectionImage ci
                           JOIN Adobe_imageDevelopSettings ds ON ds.image = ci.image""").fetchone()[0]
    by_cache = con.execute("""SELECT count(*) FROM AgLibraryCollectionImage ci
                              JOIN Adobe_images i ON i.id_local = ci.image
                              JOIN Adobe_imageDevelopSettings ds ON ds.id_local = i.developSettingsIDCache
                              """).fetchone()[0]
    masters = con.execute("""SELECT count(*) FROM Adobe_images i JOIN Adobe_imageDevelopSettings ds
                             ON ds.id_local = i.developSettingsIDCache
                             WHERE i.masterImage IS NULL AND ds.text = ''""").fetchone()[0]
    sets = con.execute("SELECT name FROM AgLibraryCollection WHERE creationId = 'com.adobe.ag.library.group' "
                       "ORDER BY name").fetchall()
    con.close()
    assert (naive, by_cache, masters, sets) == (42, 21, 4, [("Experts",), ("Mine",)])


def test_collection_names_and_an_unknown_set(catalog):
    assert collection_names(catalog) == ["A", "B", "C", "D", "E"]
    assert collection_names(catalog, "Mine") == ["Keepers"]
    with pytest.raises(CatalogError, match=r"no collection set named 'Expert'.*\['Experts', 'Mine'\]"):
        collection_names(catalog, "Expert")
    with pytest.raises(CatalogError, match="no collection set named 'A'"):       # a collection is not a set
        list(collection_edits(catalog, "A"))


def test_developed_photos_are_in_capture_order_and_include_uncollected_images(catalog, tmp_path):
    photos = developed_photos(catalog)
    assert len(photos) == 21                                   # masters have empty settings: not developed
    assert [(p.capture_time, p.image_id) for p in photos] == sorted((p.capture_time, p.image_id) for p in photos)
    assert (photos[0].collection_set, photos[0].collection) == ("Mine", "Keepers")
    assert [p.collection for p in photos[1:6]] == ["E", "D", "C", "B", "A"]   # written in that order
    # an image developed outside any collection, without capture time, and with no settings-id cache
    edited = str(tmp_path / "edited.lrcat")
    shutil.copy(catalog, edited)
    con = sqlite3.connect(edited)
    with con:
        con.execute("INSERT INTO Adobe_images (id_local, rootFile, masterImage, captureTime, fileFormat) "
                    "VALUES (9001, (SELECT min(id_local) FROM AgLibraryFile), NULL, NULL, 'DNG')")
        con.execute("INSERT INTO Adobe_imageDevelopSettings (id_local, image, text) VALUES (9002, 9001, '')")
        con.execute("INSERT INTO Adobe_imageDevelopSettings (id_local, image, text) VALUES "
                    "(9003, 9001, 's = { Exposure = 2 }')")
        con.execute("INSERT INTO Adobe_imageDevelopSettings (id_local, image, text) VALUES (9004, 9001, NULL)")
    con.close()
    photos = developed_photos(edited)
    assert len(photos) == 22
    first = photos[0]
    assert (first.image_id, first.collection_set, first.collection, first.capture_time, first.settings_text) == (
        9001, "", "", None, "s = { Exposure = 2 }")


def test_reading_never_changes_the_catalog_and_the_connection_is_read_only(catalog):
    before = fingerprint(catalog)
    time.sleep(0.01)
    list(collection_edits(catalog))
    collection_names(catalog)
    developed_photos(catalog)
    con = open_catalog(catalog)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        con.execute("UPDATE Adobe_imageDevelopSettings SET text = 'x'")
    with pytest.raises(sqlite3.OperationalError):
        con.execute("CREATE TABLE pwned (a)")
    con.close()
    assert fingerprint(catalog) == before                      # same bytes, mtime, no -journal / -wal files


def test_25000_records_write_in_seconds_and_stream_back(tmp_path):
    path = str(tmp_path / "big.lrcat")
    rng = np.random.default_rng(0)
    records = (CatalogRecord("Experts", "ABCDE"[i % 5], f"a{i // 5:04d}", "dng", FOLDERS[0],
                             f"s = {{ Exposure = {rng.uniform(-1, 1)!r} }}") for i in range(25_000))
    start = time.perf_counter()
    assert write_catalog(path, records) == 25_000
    assert time.perf_counter() - start < 10
    stream = collection_edits(path)
    first = next(stream)
    assert (first.collection, first.base_name) == ("A", "a0000")
    stream.close()
    assert sum(1 for _ in collection_edits(path)) == 25_000


def test_files_that_are_not_lightroom_catalogs_are_refused(tmp_path):
    text = tmp_path / "notes.lrcat"
    text.write_text("hello, I am not a catalog")
    with pytest.raises(CatalogError, match="not an SQLite database"):
        open_catalog(str(text))
    empty = tmp_path / "empty.lrcat"
    empty.write_bytes(b"")
    with pytest.raises(CatalogError, match="not an SQLite database"):
        collection_edits(str(empty))
    other = tmp_path / "other.lrcat"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE Adobe_images (id_local INTEGER)")
    con.commit()
    con.close()
    before = other.read_bytes()
    with pytest.raises(CatalogError, match="not a Lightroom catalog .*missing tables Adobe_imageDevelopSettings, "
                                           "AgLibraryCollection, AgLibraryCollectionImage, AgLibraryFile"):
        developed_photos(str(other))
    assert other.read_bytes() == before
    with pytest.raises(CatalogError, match="no such catalog file"):
        open_catalog(str(tmp_path / "missing.lrcat"))
    corrupt = tmp_path / "corrupt.lrcat"
    corrupt.write_bytes(b"SQLite format 3\x00" + b"\xff" * 200)
    with pytest.raises(CatalogError, match="unreadable SQLite database"):
        open_catalog(str(corrupt))


def test_write_catalog_never_overwrites(catalog):
    before = fingerprint(catalog)
    with pytest.raises(FileExistsError):
        write_catalog(catalog, fivek_records(1))
    assert fingerprint(catalog) == before


def test_settings_sha256():
    assert settings_sha256("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert settings_sha256("s = { a = \"ü\" }") == hashlib.sha256("s = { a = \"ü\" }".encode()).hexdigest()


# ------------------------------------------------------------------ photoedit propose --history <catalog>
def test_propose_reads_catalog_history_through_this_module(catalog):
    from pipelines.commands.propose import catalog_entries

    entries = catalog_entries(catalog)
    assert [e.edit.path for e in entries] == [p.path for p in developed_photos(catalog)]
    assert entries[1].settings["Exposure"] == pytest.approx(0.1 * 1 - 0.05 * 4)    # photo 1, expert E
    assert entries[1].process == "5.0" and entries[0].process is None


def test_propose_history_from_a_catalog_skips_bad_edits_and_uses_good_ones(tmp_path, caplog):
    from pipelines.commands.propose import (
        HistoryError,
        check_lightroom_catalog,
        history_from_catalog,
    )
    from rendering.renderer import PhotoRenderer
    from rendering.sliders import PROCESS_2003
    from tests.pipelines.dataset_factory import write_dng

    folder = str(tmp_path / "photos") + "/"
    os.makedirs(folder)
    for i in range(2):
        write_dng(f"{folder}p{i}.dng", size=48, seed=i)
    texts = [("p0", 'ProcessVersion = "5.0", Exposure = 0.5'),
             ("p1", "Exposure = os.exit()"),                              # malformed: skipped
             ("p1", 'Exposure2012 = 1, ProcessVersion = "6.7"'),           # other process: skipped
             ("gone", "Exposure = 1"),                                     # missing file: skipped
             ("p1", "Exposure = -1, Contrast = 30")]
    records = [CatalogRecord("Mine", "Edited", name, "dng", folder, f"s = {{ {text} }}", f"2020-01-0{day}")
               for day, (name, text) in enumerate(texts, 1)]
    path = str(tmp_path / "mine.lrcat")
    write_catalog(path, records)
    check_lightroom_catalog(path)
    seen = []

    def mean_colour(image: np.ndarray) -> np.ndarray:
        seen.append(image.shape)
        return image.mean(axis=(1, 2)).astype(np.float32)

    with caplog.at_level(logging.WARNING):
        history = history_from_catalog(path, mean_colour, PhotoRenderer(), PROCESS_2003, feature_dim=3)
    assert len(history.x) == 2 and len(seen) == 2
    exposure = PROCESS_2003.keys.index("Exposure")
    expected = PROCESS_2003.to_model(np.array(PROCESS_2003.from_mapping({"Exposure": -1.0, "Contrast": 30})))
    assert float(history.y[1, exposure]) == pytest.approx(float(expected[exposure]), abs=1e-6)
    assert float(history.y[0, exposure]) > float(history.y[1, exposure])
    reasons = " | ".join(history.skipped)
    assert len(history.skipped) == 3
    assert "LuaTableError" in reasons and "name 'os'" in reasons and "process 2012" in reasons and "gone.dng" in reasons
    with pytest.raises(HistoryError, match="--history .*not a Lightroom catalog"):
        check_lightroom_catalog(str(tmp_path / "photos" / "p0.dng"))


# ------------------------------------------------------------------ where a catalog's photos are
def test_photos_are_found_by_absolute_root_else_relative_to_the_catalog_else_a_clear_error(tmp_path, monkeypatch):
    from pipelines.lightroom.catalog import PhotoNotFoundError, locate_photo

    photos = tmp_path / "tree" / "raw" / "HQa1to700" / "photos"
    photos.mkdir(parents=True)
    (photos / "a0001-x.dng").write_bytes(b"dng")
    catalog = str(tmp_path / "tree" / "raw" / "mine.lrcat")
    write_catalog(catalog, [CatalogRecord("Experts", "A", "a0001-x", "dng", f"{photos}/", "s = {}"),
                            CatalogRecord("Experts", "A", "a0002-y", "dng", f"{photos}/", "s = {}")])
    edits = list(collection_edits(catalog))
    assert edits[0].relative_folder == "HQa1to700/photos/"
    assert locate_photo(edits[0], catalog) == str(photos / "a0001-x.dng")              # absolute root exists
    # the whole tree moves to another place (another machine): the absolute root is gone
    moved = tmp_path / "elsewhere"
    os.rename(tmp_path / "tree", moved)
    monkeypatch.chdir(tmp_path)                                                        # not the catalog's folder
    catalog = str(moved / "raw" / "mine.lrcat")
    edits = list(collection_edits(catalog))
    assert locate_photo(edits[0], catalog) == str(moved / "raw" / "HQa1to700" / "photos" / "a0001-x.dng")
    with pytest.raises(PhotoNotFoundError, match=r"a0002-y\.dng is neither at .*tree.* nor at .*elsewhere"):
        locate_photo(edits[1], catalog)


def test_propose_history_finds_the_demo_catalogs_photos_from_any_working_folder(tmp_path, monkeypatch):
    from pipelines.commands.propose import history_from_catalog
    from pipelines.fivek.sample.generator import generate_sample
    from rendering.renderer import PhotoRenderer
    from rendering.sliders import PROCESS_2003

    generate_sample(str(tmp_path / "made"), photos=3, size=(32, 32))
    os.rename(tmp_path / "made", tmp_path / "moved")
    monkeypatch.chdir(tmp_path)
    history = history_from_catalog(str(tmp_path / "moved" / "raw_photos" / "fivek.lrcat"),
                                   lambda image: image.mean(axis=(1, 2)).astype(np.float32), PhotoRenderer(),
                                   PROCESS_2003, limit=0, feature_dim=3)
    assert history.skipped == [] and len(history.x) == 15                             # 3 photos x 5 experts
