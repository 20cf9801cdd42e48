"""`photoedit fit`: pair conventions, size checks, single-pair JSON, and the --pairs Beam job writing
photos/ + edits/ (the training stage's inputs) with errors/fit rows for bad pairs."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from pipelines.jobs.fit import find_pairs
from rendering.image_pairs import PairError, check_sizes

TOLERANCE = {"Tint": 3.0, "Exposure": 0.05, "Contrast": 5.0, "Saturation": 5.0}


def touch(path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")


def test_pairs_by_suffix_convention(tmp_path):
    for name in ["a1_before.dng", "a1_after.jpg", "b2_before.png", "b2_after.tif", "c3_before.jpg",
                 "d4_after.png", "notes.txt"]:
        touch(tmp_path / name)
    pairs, errors = find_pairs(str(tmp_path))
    assert [(p.pair_id, p.before.split("/")[-1], p.after.split("/")[-1]) for p in pairs] == [
        ("a1", "a1_before.dng", "a1_after.jpg"), ("b2", "b2_before.png", "b2_after.tif")]
    reasons = {e["id"]: e["reason"] for e in errors}
    assert set(reasons) == {"c3", "d4"}
    assert "no AFTER" in reasons["c3"] and "no BEFORE" in reasons["d4"]
    assert all(e["stage"] == "fit" for e in errors)


def test_pairs_by_subfolder_convention(tmp_path):
    for name in ["before/x.dng", "after/x.jpg", "before/y.jpg", "after/y.jpg", "after/z.jpg"]:
        touch(tmp_path / name)
    pairs, errors = find_pairs(str(tmp_path))
    assert [p.pair_id for p in pairs] == ["x", "y"]
    assert pairs[0].before.endswith("before/x.dng") and pairs[0].after.endswith("after/x.jpg")
    assert [e["id"] for e in errors] == ["z"]


def test_size_rules():
    check_sizes((64, 96), (64, 96), before_is_raw=False, name="ok")
    with pytest.raises(PairError, match="96x64 px but AFTER is 95x64"):
        check_sizes((64, 96), (64, 95), before_is_raw=False, name="p")
    check_sizes((2176, 4128), (544, 1032), before_is_raw=True, name="raw ok")      # same aspect
    with pytest.raises(PairError, match="aspect"):
        check_sizes((2176, 4128), (600, 600), before_is_raw=True, name="cropped")


def png_bytes(img: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray((np.clip(img, 0, 1) * 255).round().astype(np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def generated_pair(seed: int, truth_changes: dict, size=(48, 64)):
    """(before PNG bytes, after PNG bytes (16-bit TIFF, ProPhoto), true sliders [11]) for an image pair."""
    from rendering.image_io import encode_image
    from rendering.raw import load_photo
    from rendering.renderer import PhotoRenderer
    from rendering.sliders import PROCESS_2003

    rng = np.random.default_rng(seed)
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w] / np.array([h, w])[:, None, None]
    img = np.stack([xx, yy, 1 - xx * yy], -1) * 0.9 + 0.05
    img += 0.05 * rng.normal(size=(1, 1, 3))
    before = png_bytes(img)
    photo = load_photo(before, name="before.png")
    truth = PROCESS_2003.neutral(*photo.profile.as_shot_white())
    for key, value in truth_changes.items():
        truth[PROCESS_2003.index(key)] = value
    rendered = PhotoRenderer().render(photo, truth[None])[0]
    after = encode_image(rendered, fmt="tiff", space="prophoto", bits=16)
    return before, after, truth


CHANGES = {"Tint": 10.0, "Exposure": 0.5, "Contrast": 25.0, "Saturation": 30.0}


def test_single_pair_prints_sliders_json(tmp_path, capsys):
    from pipelines.jobs.fit import run
    from pipelines.lightroom.xmp import read_xmp

    before, after, truth = generated_pair(0, CHANGES)
    (tmp_path / "b.png").write_bytes(before)
    (tmp_path / "a.tif").write_bytes(after)
    rc = run([str(tmp_path / "b.png"), str(tmp_path / "a.tif"), "--size", "64", "--restarts", "2",
              "--xmp", str(tmp_path / "fit.xmp")])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["delta_e"] < 1.0 and out["delta_e"] < out["delta_e_start"]
    assert out["prior"]["name"] == "built-in FiveK-like" and out["prior"]["weight"] > 0 and out["pinned"] == []
    for key, tol in TOLERANCE.items():
        assert abs(out["sliders"][key] - CHANGES[key]) <= tol, (key, out["sliders"][key])
    assert read_xmp(str(tmp_path / "fit.xmp")).to_mapping()["Exposure"] == pytest.approx(out["sliders"]["Exposure"], abs=0.006)
    # mismatched sizes: clear error, non-zero exit
    Image.new("RGB", (30, 20)).save(tmp_path / "small.png")
    assert run([str(tmp_path / "b.png"), str(tmp_path / "small.png"), "--size", "64"]) == 1
    assert "AFTER is 30x20 px" in capsys.readouterr().err


def test_pairs_job_writes_edits_and_photos_and_error_rows(tmp_path):
    from pipelines.core.parquet_io import read_table
    from pipelines.core.schemas import EDITS, PHOTOS
    from pipelines.jobs.fit import run
    from rendering.sliders import PROCESS_2003
    from tests.pipelines.dataset_factory import write_dng

    pairs = tmp_path / "pairs"
    pairs.mkdir()
    truths = {}
    for i in range(2):
        before, after, truth = generated_pair(i, CHANGES)
        (pairs / f"p{i}_before.png").write_bytes(before)
        (pairs / f"p{i}_after.tif").write_bytes(after)
        truths[f"p{i}"] = truth
    (pairs / "bad_before.png").write_bytes(b"not an image")               # undecodable
    (pairs / "bad_after.png").write_bytes(png_bytes(np.zeros((48, 64, 3))))
    (pairs / "size_before.png").write_bytes(png_bytes(np.full((48, 64, 3), 0.5)))  # mismatched size
    (pairs / "size_after.png").write_bytes(png_bytes(np.full((40, 64, 3), 0.5)))
    (pairs / "lonely_before.png").write_bytes(png_bytes(np.full((48, 64, 3), 0.5)))  # unpaired
    write_dng(pairs / "raw_before.dng", size=64, seed=1)                    # raw BEFORE, aspect mismatch
    (pairs / "raw_after.png").write_bytes(png_bytes(np.full((20, 64, 3), 0.5)))
    dataset = tmp_path / "ds"
    rc = run(["--pairs", str(pairs), "--out", str(dataset), "--size", "64", "--restarts", "2",
              "--direct_running_mode=in_memory"])
    assert rc == 0
    edits = read_table(str(dataset / "edits"), sort_by=["photo_id"])
    photos = read_table(str(dataset / "photos"), sort_by=["photo_id"])
    errors = read_table(str(dataset / "errors" / "fit"), sort_by=["id"]).to_pylist()
    assert edits.schema.equals(EDITS) and photos.schema.equals(PHOTOS)
    assert edits.column("photo_id").to_pylist() == ["p0", "p1"]
    assert set(edits.column("editor").to_pylist()) == {"fit"}
    assert len(set(edits.column("settings_sha256").to_pylist())) == 2
    for row in edits.to_pylist():
        for key, tol in TOLERANCE.items():
            assert abs(row[key] - truths[row["photo_id"]][PROCESS_2003.index(key)]) <= tol, (row["photo_id"], key)
    assert photos.column("raw_uri").to_pylist()[0].endswith("p0_before.png")
    fits = read_table(str(dataset / "fits"), sort_by=["photo_id"]).to_pylist()
    assert all(f["delta_e"] < 1.0 and f["pinned"] == [] and f["prior_weight"] > 0 for f in fits)
    reasons = {e["id"]: e["reason"] for e in errors}
    assert set(reasons) == {"bad", "size", "lonely", "raw"}
    assert "PairError" in reasons["size"] and "64x40" in reasons["size"]
    assert "no AFTER" in reasons["lonely"]
    assert "aspect" in reasons["raw"]
    assert "bad_before.png" in reasons["bad"]


def test_prior_from_a_datasets_edits_and_maximum_likelihood(tmp_path, capsys):
    from pipelines.jobs.fit import edits_prior, run
    from tests.pipelines.dataset_factory import make_dataset

    layout = make_dataset(tmp_path / "ds", num_photos=3)
    prior = edits_prior(layout.root)
    assert prior.name == "edits (n=9)"                           # 3 photos x 3 experts
    before, after, _ = generated_pair(0, CHANGES)
    (tmp_path / "b.png").write_bytes(before)
    (tmp_path / "a.tif").write_bytes(after)
    assert run([str(tmp_path / "b.png"), str(tmp_path / "a.tif"), "--size", "48", "--restarts", "2",
                "--prior-edits", layout.root]) == 0
    assert json.loads(capsys.readouterr().out)["prior"]["name"] == "edits (n=9)"
    assert run([str(tmp_path / "b.png"), str(tmp_path / "a.tif"), "--size", "48", "--restarts", "2",
                "--prior-weight", "0"]) == 0
    assert json.loads(capsys.readouterr().out)["prior"] == {"name": "none", "weight": 0.0, "cost": 0.0}


def test_fit_pairs_transform_fits_good_pairs_and_turns_bad_ones_into_error_rows(tmp_path):
    """FitPairs on beam.Create pairs: photos/ row per fitted pair, edits/ and fits/ rows tagged, errors."""
    import apache_beam as beam
    from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
    from apache_beam.testing.util import assert_that, equal_to

    from modeling.slider_fit import FitConfig
    from pipelines.jobs.fit import (
        EDITS_TAG,
        FITS_TAG,
        FitConfigForPairs,
        FitPairs,
        Pair,
    )

    before, after, truth = generated_pair(3, CHANGES)
    (tmp_path / "b.png").write_bytes(before)
    (tmp_path / "a.tif").write_bytes(after)
    (tmp_path / "junk.png").write_bytes(b"not an image")
    pairs = [Pair("good", str(tmp_path / "b.png"), str(tmp_path / "a.tif")),
             Pair("junk", str(tmp_path / "junk.png"), str(tmp_path / "a.tif"))]
    config = FitConfigForPairs(size=64, fit=FitConfig(restarts=2))

    def recovered(rows):
        (row,) = rows
        assert all(abs(row[key] - CHANGES[key]) <= tol for key, tol in TOLERANCE.items()), row

    with BeamTestPipeline(runner="FnApiRunner") as p:
        out = p | beam.Create(pairs) | FitPairs(config)
        assert_that(out.photos | beam.Map(lambda r: r["photo_id"]), equal_to(["good"]), label="Photos")
        assert_that(out[EDITS_TAG], recovered, label="Edits")
        assert_that(out[FITS_TAG] | beam.Map(lambda r: (r["photo_id"], r["delta_e"] < r["delta_e_start"])),
                    equal_to([("good", True)]), label="Fits")
        assert_that(out["errors"] | beam.Map(lambda r: r["id"]), equal_to(["junk"]), label="Errors")


def test_pairs_job_without_a_single_pair_is_one_error_and_leaves_the_dataset(tmp_path, caplog):
    from pipelines.jobs.fit import run
    from tests.pipelines.dataset_factory import make_dataset

    layout = make_dataset(tmp_path / "ds", num_photos=2, raw_size=32)
    before = {p: p.read_bytes() for p in sorted((tmp_path / "ds").rglob("*.parquet"))}
    pairs = tmp_path / "pairs"
    pairs.mkdir()
    (pairs / "lonely_before.png").write_bytes(png_bytes(np.full((48, 64, 3), 0.5)))
    with caplog.at_level("ERROR", logger="pipelines.jobs.fit"):
        assert run(["--pairs", str(pairs), "--out", layout.root, "--direct_running_mode=in_memory"]) == 2
    assert "no before/after pair under" in caplog.text and "(1 unpaired files)" in caplog.text
    assert {p: p.read_bytes() for p in sorted((tmp_path / "ds").rglob("*.parquet"))} == before
