"""`photoedit ingest` on generated FiveK roots: exact sliders back, splits, determinism, bad input."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines.core.parquet_io import read_table
from pipelines.core.schemas import EDITS, ERRORS, PHOTOS, SLIDER_KEYS
from pipelines.fivek import layout as fivek
from pipelines.fivek.sample import generator as sample
from pipelines.fivek.sample.catalog_writer import CatalogRecord, write_catalog
from pipelines.fivek import ingest_plan
from pipelines.jobs import ingest
from pipelines.lightroom.catalog import collection_edits
from rendering.raw import read_camera_profile
from tests.pipelines.augment_checks import IN_PROCESS, TWO_WORKERS

N_PHOTOS, SIZE = 5, (32, 32)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tables(out: Path) -> dict[str, list[dict]]:
    return {"photos": read_table(str(out / "photos")).to_pylist(),
            "edits": read_table(str(out / "edits")).to_pylist(),
            "errors": read_table(str(out / "errors" / "ingest"), sort_by=["id", "reason"], required=False).to_pylist()}


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ingest") / "fivek"
    sample.generate_sample(str(root), photos=N_PHOTOS, seed=11, users=2, size=SIZE)
    return root


@pytest.fixture(scope="module")
def ingested(root, tmp_path_factory) -> tuple[Path, str, str]:
    catalog = root / fivek.CATALOG
    before = _sha(catalog)
    out = tmp_path_factory.mktemp("dataset")
    assert ingest.run(["--fivek", str(root), "--out", str(out), *IN_PROCESS]) == 0
    return out, before, _sha(catalog)


def test_sample_to_ingest_gives_back_every_true_slider(root, ingested):
    out, before, after = ingested
    assert before == after                                               # catalog bytes unchanged
    tables = _tables(out)
    assert tables["errors"] == []
    truth = json.loads((root / sample.TRUTH_FILE).read_text())["edits"]
    got = {(r["photo_id"], r["editor"]): r for r in tables["edits"]}
    assert len(got) == len(truth) == len(tables["edits"]) and len(truth) > 5 * N_PHOTOS
    for t in truth:
        row = got[(t["photo_id"], t["editor"])]
        assert {k: row[k] for k in SLIDER_KEYS} == t["sliders"], t
        assert (row["editor_kind"], row["tone_curve"], row["white_balance"], row["process_version"]) == (
            t["editor_kind"], t["tone_curve"], t["white_balance"], t["process_version"])
    keys = [(r["photo_id"], r["editor_kind"], r["editor"]) for r in tables["edits"]]
    assert keys == sorted(keys)
    assert [r["photo_id"] for r in tables["photos"]] == [f"a{i:04d}" for i in range(1, N_PHOTOS + 1)]
    for r in tables["photos"]:
        profile = read_camera_profile(r["raw_uri"])
        assert (r["as_shot_temperature"], r["as_shot_tint"]) == profile.as_shot_white()
        assert r["camera_model"] == sample.CAMERA_MODEL and r["time"] in ("day", "dusk", "night")
    for folder, schema in (("photos", PHOTOS), ("edits", EDITS), ("errors/ingest", ERRORS)):
        for shard in (out / folder).glob("*.parquet"):
            assert pq.read_schema(shard).equals(schema), folder


def test_two_workers_give_the_same_rows_and_hash_splits(root, ingested, tmp_path):
    out, _, _ = ingested
    assert ingest.run(["--fivek", str(root), "--out", str(tmp_path), *TWO_WORKERS]) == 0
    first, second = _tables(out), _tables(tmp_path)
    assert first == second
    from modeling.splits import split_for
    assert [r["split"] for r in second["photos"]] == [split_for(r["photo_id"]) for r in second["photos"]]


def test_fivek_split_from_fixture_metadata(root, tmp_path, fixtures_dir):
    metadata = fixtures_dir / "fivek_metadata"
    assert ingest.run(["--fivek", str(root), "--out", str(tmp_path), "--split", "fivek",
                       "--metadata", str(metadata), *IN_PROCESS]) == 0
    assign = fivek.split_assigner("fivek", str(metadata))
    photos = _tables(tmp_path)["photos"]
    assert [r["split"] for r in photos] == [assign(r["photo_id"]) for r in photos]
    assert photos[0]["camera_make"] == "Nikon"                            # a0001 per the real metadata


def test_no_raw_check_skips_the_dngs(root, tmp_path):
    assert ingest.run(["--fivek", str(root), "--out", str(tmp_path), "--no-raw-check", *IN_PROCESS]) == 0
    tables = _tables(tmp_path)
    truth = json.loads((root / sample.TRUTH_FILE).read_text())["edits"]
    as_shot = {(t["photo_id"], t["editor"]) for t in truth if t["as_shot"]}
    assert as_shot                                                       # seed 11 has some
    assert all(r["as_shot_temperature"] is None for r in tables["photos"]) and len(tables["photos"]) == N_PHOTOS
    assert len(tables["edits"]) == len(truth) - len(as_shot)
    assert len(tables["errors"]) == len(as_shot)
    assert all("as shot" in e["reason"] for e in tables["errors"])


def test_bad_input_becomes_error_rows_and_good_rows_land(tmp_path):
    root = tmp_path / "fivek"
    sample.generate_sample(str(root), photos=6, seed=5, size=SIZE)
    catalog = root / fivek.CATALOG
    members = list(collection_edits(str(catalog), "Experts"))
    names = {fivek.photo_id_of(m.base_name): m.base_name for m in members}
    pwned = tmp_path / "PWNED"
    bad_text = {("a0004", "B"): f's = {{ Exposure = os.execute("touch {pwned}") }}',
                ("a0004", "D"): "s = { Exposure = 0.5, ",
                ("a0005", "A"): "s = { Exposure = 7, Temperature = 5000, Tint = 0 }",
                ("a0001", "E"): 's = { Exposure = "bright", Temperature = 5000, Tint = 0 }'}
    records = [CatalogRecord(m.collection_set, m.collection, m.base_name, m.extension, m.folder,
                             bad_text.get((fivek.photo_id_of(m.base_name), m.collection), m.settings_text))
               for m in members if (fivek.photo_id_of(m.base_name), m.collection) != ("a0003", "C")]
    catalog.unlink()
    write_catalog(str(catalog), records)
    Path(fivek.raw_path(str(root), names["a0002"])).unlink()
    before = _sha(catalog)
    out = tmp_path / "out"
    assert ingest.run(["--fivek", str(root), "--out", str(out), *IN_PROCESS]) == 0
    assert _sha(catalog) == before and not pwned.exists()
    tables = _tables(out)
    reasons = {(e["id"], e["reason"].split(":")[0]) for e in tables["errors"]}
    assert reasons == {("a0002", "FileNotFoundError"), ("a0003", "MissingExpertEditError"),
                       ("a0004", "LuaTableError"), ("a0005", "SliderError"), ("a0001", "SettingsError")}
    assert len(tables["errors"]) == 6 and all(e["stage"] == "ingest" for e in tables["errors"])
    assert any("expert B" in e["reason"] and "os" in e["reason"] for e in tables["errors"])
    assert [r["photo_id"] for r in tables["photos"]] == ["a0001", "a0003", "a0004", "a0005", "a0006"]
    edits = {(r["photo_id"], r["editor"]) for r in tables["edits"]}
    assert len(edits) == 5 * 5 - 1 - 2 - 1 - 1
    assert ("a0003", "A") in edits and ("a0003", "C") not in edits and ("a0006", "E") in edits


def test_help_says_where_the_download_goes(capsys):
    with pytest.raises(SystemExit):
        ingest.run(["--help"])
    text = capsys.readouterr().out
    assert "raw_photos/fivek.lrcat" in text and "contains raw_photos/" in text
    assert "--no-raw-check" in text and "first4500" in text


def test_custom_white_balance_without_tint_ingests_with_tint_zero_and_a_moved_root_still_ingests(tmp_path,
                                                                                                 monkeypatch):
    """Lightroom omits a zero Tint; the photos are found relative to the catalog after the root moved."""
    made = tmp_path / "made"
    sample.generate_sample(str(made), photos=2, seed=3, size=SIZE)
    catalog = made / fivek.CATALOG
    members = list(collection_edits(str(catalog), "Experts"))
    custom = 's = { WhiteBalance = "Custom", Temperature = 6200, Exposure = 0.25 }'
    records = [CatalogRecord(m.collection_set, m.collection, m.base_name, m.extension, m.folder,
                             custom if m.collection == "C" else m.settings_text) for m in members]
    catalog.unlink()
    write_catalog(str(catalog), records)
    moved = tmp_path / "moved"
    made.rename(moved)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    assert ingest.run(["--fivek", str(moved), "--out", str(out), *IN_PROCESS]) == 0
    tables = _tables(out)
    assert tables["errors"] == [] and len(tables["photos"]) == 2
    assert all(r["raw_uri"].startswith(str(moved)) for r in tables["photos"])
    shot = {r["photo_id"]: r["as_shot_tint"] for r in tables["photos"]}
    for row in (r for r in tables["edits"] if r["editor"] == "C"):
        assert row["Temperature"] == 6200 and row["Tint"] == 0.0 and shot[row["photo_id"]] != 0.0
        assert row["white_balance"] == "Custom" and row["Exposure"] == 0.25


def test_read_photo_and_photo_edits_read_as_shot_white_and_reject_bad_settings(root):
    """One photo: its row has the DNG's as-shot white, a missing DNG and bad settings are error rows."""
    catalog = str(root / fivek.CATALOG)
    edits = [e for e in ingest_plan.iter_edits(collection_edits(catalog, "Experts"), "expert", catalog, [])
             if e.photo_id == "a0001"]
    base = edits[0].base_name
    as_shot = read_camera_profile(Path(fivek.raw_path(str(root), base)).read_bytes()).as_shot_white()
    config = ingest.IngestConfig(catalog=catalog)
    row, error = ingest.read_photo(ingest_plan.PhotoInput("a0001", base, fivek.raw_path(str(root), base), True,
                                                          "train"), config)
    assert error is None and (row["photo_id"], row["as_shot_temperature"], row["as_shot_tint"]) == ("a0001", *as_shot)
    gone, error = ingest.read_photo(ingest_plan.PhotoInput("a0002", "a0002-gone", str(root / "gone.dng"), False,
                                                           "train"), config)
    assert gone is None and (error["id"], error["reason"].split(":")[0]) == ("a0002", "FileNotFoundError")
    broken = ingest_plan.EditInput("a0001", base, "A", "expert", 1, "s = { Exposure = ", "catalog#A/1")
    rows, errors = ingest.photo_edits(row, [broken, *edits[1:]], config)
    assert [r["editor"] for r in rows] == ["B", "C", "D", "E"]
    assert [(e["id"], e["reason"].split(":")[0]) for e in errors] == [("a0001", "LuaTableError")]
    rows, errors = ingest.photo_edits(row, edits[1:], config)
    assert len(rows) == 4 and [e["reason"].split(":")[0] for e in errors] == ["MissingExpertEditError"]


def test_many_parts_give_the_same_rows_and_the_plan_lives_only_in_staging(root, ingested, tmp_path, monkeypatch):
    """Parts of 2 photos (3 parts, chunks of 3 members): the same rows as one part; the plan was written
    inside the run's staging folder and nothing is left of it."""
    out, _, _ = ingested
    monkeypatch.setattr(ingest_plan, "PHOTOS_PER_PART", 2)
    monkeypatch.setattr(ingest_plan, "CHUNK_ROWS", 3)
    plans = []

    def recording(*args):
        plan = ingest_plan.write_plan(*args)
        plans.append(plan)
        assert sorted(p.name for p in Path(plan.files.root, "photos").iterdir()) == [
            "part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
        for k in range(3):
            photo_ids = {p.photo_id for p in plan.files.read_photos(k)}
            assert len(photo_ids) == (2 if k < 2 else 1)
            assert {e.photo_id for e in plan.files.read_edits(k)} == photo_ids
        return plan

    monkeypatch.setattr(ingest, "write_plan", recording)
    assert ingest.run(["--fivek", str(root), "--out", str(tmp_path), *IN_PROCESS]) == 0
    assert _tables(tmp_path) == _tables(out)
    assert sorted(p.name for p in (tmp_path / "photos").iterdir()) == [f"part-0000{k}-of-00003.parquet" for k in range(3)]
    plan_root = Path(plans[0].files.root)
    assert plan_root.is_relative_to(tmp_path / "_staging") and not plan_root.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "_logs") == ["edits", "errors", "photos"]
