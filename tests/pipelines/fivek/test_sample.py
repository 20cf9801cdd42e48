"""`photoedit sample`: a FiveK-shaped tree of real DNGs, a Lightroom catalog, expert TIFFs, metadata."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rawpy
import tifffile

from pipelines.commands import sample as sample_command
from pipelines.core.seeding import keyed_rng
from pipelines.fivek import layout as fivek
from pipelines.fivek.layout import EXPERTS
from pipelines.fivek.sample import generator as sample
from pipelines.fivek.sample.styles import (
    AS_SHOT_P,
    expert_styled_edit,
    user_style,
    user_styled_edit,
)
from pipelines.fivek.sample.synthetic_raw import synthetic_profile
from pipelines.lightroom.catalog import collection_edits, collection_names
from pipelines.lightroom.lua_table import parse_lua_table
from rendering.image_io import read_image
from rendering.raw import decode_raw, read_camera_profile
from rendering.renderer import PhotoRenderer
from rendering.sliders import PROCESS_2003
from rendering.tone import MEDIUM_CONTRAST

PHOTOS, USERS, SIZE = 6, 2, (48, 32)


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> tuple[Path, sample.SampleSummary]:
    root = tmp_path_factory.mktemp("sample") / "fivek"
    return root, sample.generate_sample(str(root), photos=PHOTOS, seed=3, users=USERS, size=SIZE)


def _truth(summary: sample.SampleSummary) -> list[dict]:
    return json.loads(Path(summary.truth).read_text())["edits"]


def test_fivek_layout_with_decodable_dngs_and_metadata(generated):
    root, summary = generated
    assert (summary.photos, summary.expert_edits, summary.users) == (PHOTOS, 5 * PHOTOS, USERS)
    dngs = sorted((root / "raw_photos" / "HQa1to700" / "photos").glob("*.dng"))
    assert [fivek.photo_id_of(p.stem) for p in dngs] == [f"a{i:04d}" for i in range(1, PHOTOS + 1)]
    for dng in dngs:
        with rawpy.imread(str(dng)) as raw:
            assert raw.raw_image.shape == (SIZE[1], SIZE[0])
            assert raw.raw_pattern.tolist() == [[0, 1], [3, 2]]           # RGGB
            assert raw.raw_image.max() > 200                              # a scene, not black
        cam = decode_raw(str(dng)).camera_rgb
        contrast = cam.std(axis=(1, 2)) / cam.mean(axis=(1, 2))
        assert contrast.min() > 0.1                                       # structure in every channel
    lines = (root / "categories.txt").read_text().splitlines()
    assert len(lines) == PHOTOS and all(len(line.split(",")) == 5 for line in lines)
    names = (root / "filesAdobe.txt").read_text().split() + (root / "filesAdobeMIT.txt").read_text().split()
    assert sorted(names) == [p.stem for p in dngs]
    lists = {n: json.loads((root / n).read_text()) for n, _ in fivek.JSON_SPLITS}
    assert sorted(k for v in lists.values() for k in v) == [p.stem for p in dngs]
    item = next(iter(lists["training.json"].values()))
    assert set(item) == {"urls", "categories", "id", "license", "camera"}   # the fixtures' format
    folds = [fivek.read_fold((root / n).read_text()) for n, _ in fivek.EXPOSURE_FOLDS]
    assert sorted(i for f in folds for i in f) == list(range(1, PHOTOS + 1))


def test_catalog_holds_experts_and_users_as_camera_raw_2003_settings(generated):
    root, summary = generated
    catalog = str(root / "raw_photos" / "fivek.lrcat")
    assert collection_names(catalog, "Experts") == list(EXPERTS)
    assert collection_names(catalog, "Users") == ["u001", "u002"]
    members = list(collection_edits(catalog, "Experts"))
    assert len(members) == 5 * PHOTOS and all(m.master_id is not None for m in members)   # virtual copies
    users = list(collection_edits(catalog, "Users"))
    assert len(users) == summary.user_edits == sum(min(PHOTOS, n) for n in [PHOTOS, PHOTOS])
    for m in members + users:
        s = parse_lua_table(m.settings_text)
        assert "Version" in s and s["WhiteBalance"] in ("As Shot", "Custom")
        # Lightroom writes Temperature with a custom white balance and omits a Tint of 0
        assert ("Temperature" in s) == (s["WhiteBalance"] == "Custom")
        assert "Tint" not in s or s["WhiteBalance"] == "Custom"
        assert s.get("Tint", 1) != 0
        assert all(s[k] != 0 for k in PROCESS_2003.keys if k in s and k not in ("Temperature", "Tint"))
        assert ("ToneCurve" in s) == (s["ToneCurveName"] == "Medium Contrast")
        assert s.get("ToneCurve", list(MEDIUM_CONTRAST)) == list(MEDIUM_CONTRAST)
        assert {"Sharpness", "CameraProfile", "AutoExposure"} <= set(s)       # non-slider keys as in the real one


def test_expert_tiffs_are_16_bit_prophoto_renders_of_the_true_sliders(generated):
    root, summary = generated
    truth = [e for e in _truth(summary) if e["editor_kind"] == "expert" and e["photo_id"] == "a0002"]
    base = truth[0]["base_name"]
    photo = decode_raw(str(fivek.raw_path(str(root), base)))
    sliders = np.array([[e["sliders"][k] for k in PROCESS_2003.keys] for e in truth])
    want = PhotoRenderer("cpu").render(photo, sliders, tone_curves=[e["tone_curve"] for e in truth])
    for e, expected in zip(truth, want):
        path = root / f"tiff16_{e['editor'].lower()}" / f"{base}.tif"
        assert tifffile.imread(path).dtype == np.uint16
        got = read_image(str(path))                       # honours the embedded ProPhoto profile
        np.testing.assert_allclose(got, np.clip(expected, 0, 1), atol=2e-4)
    assert np.abs(want[0] - want[1]).mean() > 0.01      # experts differ


def test_same_seed_same_catalog_rows_and_dng_pixels(generated, tmp_path):
    root, _ = generated
    again = sample.generate_sample(str(tmp_path / "again"), photos=PHOTOS, seed=3, users=USERS, size=SIZE)
    other = sample.generate_sample(str(tmp_path / "other"), photos=PHOTOS, seed=4, users=0, size=SIZE)

    def rows(r: str, s: str) -> list[tuple]:
        return [(m.collection, m.base_name, m.image_id, m.settings_text, m.capture_time)
                for m in collection_edits(str(Path(r) / fivek.CATALOG), s)]
    for s in ("Experts", "Users"):
        assert rows(again.root, s) == rows(str(root), s)
    assert rows(other.root, "Experts") != rows(str(root), "Experts")
    for dng in (root / "raw_photos").rglob("*.dng"):
        twin = Path(again.root) / dng.relative_to(root)
        assert twin.read_bytes() == dng.read_bytes()
    assert Path(again.truth).read_text() == (root / sample.TRUTH_FILE).read_text()


def test_as_shot_white_in_truth_comes_from_the_dng(generated):
    root, summary = generated
    profile = read_camera_profile(str(fivek.raw_path(str(root), _truth(summary)[0]["base_name"])))
    neutral = tuple(float(v) for v in profile.as_shot_neutral)
    assert synthetic_profile(neutral, sample.CAMERA_MODEL).as_shot_white() == profile.as_shot_white()


def test_styles_curve_and_as_shot_rates_and_user_clusters():
    edits = [expert_styled_edit(e, g, w, (5500.0, 5.0), keyed_rng(0, i, e))
             for i, (g, w) in enumerate(zip(np.linspace(0.15, 1, 300), np.linspace(0, 1, 300)[::-1]))
             for e in EXPERTS]
    curve = np.mean([e.tone_curve is not None for e in edits])
    as_shot = [e for e in edits if e.as_shot]
    assert 0.09 < curve < 0.15                                          # ~12 % Medium Contrast
    assert 0.5 * AS_SHOT_P < len(as_shot) / len(edits) < 1.5 * AS_SHOT_P
    assert all(e.sliders[0] == 5500.0 and e.sliders[1] == 5.0 for e in as_shot)
    exposure = np.array([e.sliders[2] for e in edits])
    assert np.all(exposure == np.round(exposure, 2))                    # catalog precision
    styles = [user_style(f"u{i:03d}", keyed_rng(1, i)) for i in range(2)]
    draws = [PROCESS_2003.to_model(np.array([user_styled_edit(s, 0.5, 0.5, (5500.0, 0.0), keyed_rng(2, s.user, j)).sliders
                                             for j in range(80)]))[:, 2:] for s in styles]
    between = np.linalg.norm(draws[0].mean(0) - draws[1].mean(0))
    within = max(np.linalg.norm(d - d.mean(0), axis=1).mean() for d in draws)
    assert between > within                                             # each user keeps one style


def test_cli_help_names_the_fivek_root_and_refuses_to_overwrite(generated, capsys):
    root, _ = generated
    with pytest.raises(SystemExit):
        sample_command.run(["--help"])
    text = capsys.readouterr().out
    assert "raw_photos/fivek.lrcat" in text and "raw_photos/" in text and "--users" in text
    before = (root / fivek.CATALOG).read_bytes()
    assert sample_command.run(["--out", str(root), "--photos", "2"]) == 1
    assert (root / fivek.CATALOG).read_bytes() == before


def test_no_expert_renditions_keeps_dngs_and_catalog_and_width_gives_3_to_2(generated, tmp_path):
    root, _ = generated
    out = tmp_path / "lean"
    # --size 48: a width alone means a 3:2 landscape DNG, 48x32, the size of the module's sample
    assert sample_command.run(["--out", str(out), "--photos", "2", "--seed", "3", "--size", "48",
                               "--no-expert-renditions"]) == 0
    assert not list(out.glob("tiff16_*")) and list(root.glob("tiff16_*"))
    dngs = sorted((out / "raw_photos").rglob("*.dng"))
    assert len(dngs) == 2
    for dng in dngs:
        assert dng.read_bytes() == (root / dng.relative_to(out)).read_bytes()   # same pixels, same size
    want = {(m.collection, m.base_name, m.settings_text)
            for m in collection_edits(str(root / fivek.CATALOG), "Experts")}
    got = {(m.collection, m.base_name, m.settings_text) for m in collection_edits(str(out / fivek.CATALOG), "Experts")}
    assert len(got) == 10 and got <= want
    assert sample_command._size("384") == (384, 256) and sample_command._size("192x128") == (192, 128)
