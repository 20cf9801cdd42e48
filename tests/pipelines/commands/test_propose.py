"""`photoedit propose`: diverse proposals, personalisation through the P-VAE posterior, history
sources, XMP + preview outputs, and bad input (undecodable photo, history that is no catalog)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from PIL import Image

from modeling.diversity import cluster_weights, diverse_proposals, pairwise_distance
from modeling.training import TrainConfig, new_model, train
from pipelines.commands.propose import (
    FEATURE_RENDER_SIZE,
    HistoryError,
    history_from_edits,
)
from pipelines.core.model_store import save_model
from pipelines.core.schemas import EDITS, features_schema
from rendering.sliders import PROCESS_2003
from tests.modeling.synthetic import FEATURES, edits_data, user_problem

MIN_DISTANCE = 0.2      # stated model-space distance (Euclidean over the 11 sliders in [-1, 1])
N = 5


@pytest.fixture(scope="module")
def pvae():
    """A small P-VAE trained on synthetic users of 3 known styles (tests/modeling/synthetic.py)."""
    torch.manual_seed(0)
    xt, yt, ut, _ = user_problem(100, seed=1)
    xv, yv, uv, _ = user_problem(20, seed=2)
    model = new_model("pvae", edits_data(xt, yt, users=ut), seed=0, hidden=64, num_clusters=3, latent_dim=2)
    train(model, edits_data(xt, yt, users=ut), edits_data(xv, yv, users=uv),
          TrainConfig(epochs=40, batch_size=200, lr=3e-3, patience=15, progress=False))
    return model


@pytest.fixture(scope="module")
def style_centres():
    """The three style centres [3, 11] (model space) estimated from a large draw at mean features."""
    x, y, users, styles = user_problem(300, seed=11, per_user=20)
    labels = styles[users]
    return np.stack([y[labels == s].mean(0).numpy() for s in range(3)])


def nearest_style(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    return pairwise_distance(points, centres).argmin(axis=1)


def test_proposals_for_one_photo_differ_by_more_than_the_stated_distance(pvae):
    x = torch.zeros(FEATURES)
    for seed in range(3):
        sel = diverse_proposals(pvae, x, N, min_distance=MIN_DISTANCE, seed=seed)
        assert len(sel.indices) == N
        d = pairwise_distance(sel.sliders, sel.sliders)[~np.eye(N, dtype=bool)]
        assert d.min() > MIN_DISTANCE
    same = [diverse_proposals(pvae, x, N, seed=4).sliders for _ in range(2)]
    np.testing.assert_array_equal(same[0], same[1])  # same seed, same proposals


def test_without_history_proposals_span_several_styles(pvae, style_centres):
    sel = diverse_proposals(pvae, torch.zeros(FEATURES), N, min_distance=MIN_DISTANCE)
    assert len(set(nearest_style(sel.sliders, style_centres).tolist())) >= 2
    assert len(set(sel.clusters.tolist())) >= 2


def test_history_from_one_cluster_shifts_proposals_toward_it(pvae, style_centres):
    xs, ys, us, styles = user_problem(30, seed=3)
    x = torch.zeros(FEATURES)
    prior = diverse_proposals(pvae, x, N, min_distance=MIN_DISTANCE).sliders
    checked = set()
    for u in range(30):
        s = int(styles[u])
        if s in checked:
            continue
        checked.add(s)
        w = cluster_weights(pvae, xs[us == u][:10], ys[us == u][:10])
        personal = diverse_proposals(pvae, x, N, w, min_distance=MIN_DISTANCE).sliders
        near = nearest_style(personal, style_centres)
        assert (near == s).sum() >= N - 1, (s, near)
        d_personal = pairwise_distance(personal, style_centres[s:s + 1]).mean()
        d_prior = pairwise_distance(prior, style_centres[s:s + 1]).mean()
        assert d_personal < d_prior - 0.2, (s, d_personal, d_prior)
        assert pairwise_distance(personal, personal)[~np.eye(N, dtype=bool)].min() > MIN_DISTANCE
    assert checked == {0, 1, 2}


def write_history(root, x: torch.Tensor, y: torch.Tensor, editor: str = "me") -> str:
    """A dataset root with features/ (<pid>_v0) and edits/ rows (Lightroom units) for history tests."""
    os.makedirs(root / "features")
    os.makedirs(root / "edits")
    pids = [f"h{i:03d}" for i in range(len(x))]
    feats = [{"image_id": f"{p}_v0", "photo_id": p, "variant": 0, "fc7": f.tolist()} for p, f in zip(pids, x.numpy())]
    pq.write_table(pa.Table.from_pylist(feats, schema=features_schema(x.shape[1])), root / "features" / "part-0.parquet")
    lr = PROCESS_2003.from_model(y.numpy().astype(np.float64).clip(-1, 1))
    rows = [{"photo_id": p, "editor": editor, "editor_kind": "user", **PROCESS_2003.to_mapping(v),
             "process_version": "5.0", "tone_curve": [0.0, 0.0, 255.0, 255.0], "white_balance": "Custom",
             "settings_sha256": "0" * 64} for p, v in zip(pids, lr)]
    pq.write_table(pa.Table.from_pylist(rows, schema=EDITS), root / "edits" / "part-0.parquet")
    return str(root / "edits")


def test_history_from_an_edits_parquet_uses_the_datasets_features(pvae, tmp_path):
    xs, ys, us, styles = user_problem(5, seed=5)
    rows = us == 0
    edits = write_history(tmp_path, xs[rows][:10], ys[rows][:10])
    history = history_from_edits(edits, None, None, None, None, PROCESS_2003, feature_dim=FEATURES)
    assert len(history.x) == 10 and not history.skipped
    expected = pvae.cluster_posterior(xs[rows][:10], ys[rows][:10].clamp(-1, 1))
    got = cluster_weights(pvae, history.x, history.y)
    np.testing.assert_allclose(got, expected.numpy(), atol=1e-4)  # sorted by photo id = same rows
    with pytest.raises(HistoryError, match="several editors"):
        table = pq.read_table(tmp_path / "edits" / "part-0.parquet").to_pylist()
        table[0]["editor"] = "someone else"
        pq.write_table(pa.Table.from_pylist(table, schema=EDITS), tmp_path / "edits" / "part-0.parquet")
        history_from_edits(edits, None, None, None, None, PROCESS_2003)
    with pytest.raises(HistoryError, match="no usable edits"):  # features missing, nothing to extract from
        history_from_edits(edits, None, None, "me", str(tmp_path / "nowhere"), PROCESS_2003)


def test_a_history_that_is_not_a_catalog_or_parquet_is_refused_clearly(tmp_path):
    from pipelines.commands.propose import _parser, load_history

    junk = tmp_path / "notes.txt"
    junk.write_text("hello, I am not a catalog")
    args = _parser().parse_args(["x.jpg", "--model", "m", "--history", str(junk)])
    with pytest.raises(HistoryError, match="neither a Lightroom catalog"):
        load_history(args, None, None, PROCESS_2003, FEATURES)
    fake = tmp_path / "fake.lrcat"
    fake.write_text("hello, I am not a catalog either")
    args = _parser().parse_args(["x.jpg", "--model", "m", "--history", str(fake)])
    with pytest.raises(HistoryError, match="fake.lrcat"):
        load_history(args, None, None, PROCESS_2003, FEATURES)
    args = _parser().parse_args(["x.jpg", "--model", "m", "--history", str(tmp_path / "missing.lrcat")])
    with pytest.raises(HistoryError, match="no such file"):
        load_history(args, None, None, PROCESS_2003, FEATURES)


def test_cli_writes_sidecars_previews_and_contact_sheet_and_reports_bad_photos(tmp_path, capsys):
    from modeling.pvae import PVAE
    from pipelines.commands.propose import run
    from pipelines.lightroom.xmp import read_xmp

    torch.manual_seed(0)
    model = PVAE(feature_dim=4096, num_clusters=3, latent_dim=2, hidden=16)
    save_model(model, {"slider_process": "2003"}, {}, str(tmp_path / "model"))
    photos = []
    for i, colour in enumerate([(200, 120, 40), (40, 90, 200)]):
        path = tmp_path / f"photo{i}.jpg"
        img = np.linspace(0, 1, 48)[None, :, None] * np.array(colour)[None, None, :]
        Image.fromarray(np.repeat(img, 32, axis=0).astype(np.uint8)).save(path, quality=95)
        photos.append(str(path))
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff not really a jpeg")
    out = tmp_path / "out"
    rc = run([photos[0], str(broken), photos[1], "--model", str(tmp_path / "model"), "-n", "3",
              "--out", str(out), "--size", "64"])
    captured = capsys.readouterr()
    assert rc == 1                                          # one photo failed ...
    assert "broken.jpg" in captured.err
    summary = json.loads((out / "proposals.json").read_text())
    assert [p["stem"] for p in summary["photos"]] == ["photo0", "photo1"]  # ... the rest proceeded
    assert summary["failed"][0]["photo"] == str(broken)
    for stem in ["photo0", "photo1"]:
        sliders = []
        for k in (1, 2, 3):
            settings = read_xmp(str(out / f"{stem}_proposal{k}.xmp"))
            assert settings.process_version == "5.0" and settings.spec is PROCESS_2003
            assert Image.open(out / f"{stem}_proposal{k}.jpg").size == (64, 43)  # 48 x 32 photo at long side 64
            sliders.append(PROCESS_2003.to_model(settings.sliders))
        sliders = np.array(sliders)
        # sidecars round sliders to Camera Raw's precision: allow that much below the stated distance
        assert pairwise_distance(sliders, sliders)[~np.eye(3, dtype=bool)].min() > MIN_DISTANCE - 0.02
        np.testing.assert_allclose(read_xmp(str(out / f"{stem}.xmp")).sliders,
                                   read_xmp(str(out / f"{stem}_proposal1.xmp")).sliders)
    sheet = Image.open(out / "contact_sheet.png")
    assert sheet.size[0] > 4 * 64 and sheet.size[1] > 2 * 43
    if shutil.which("exiftool"):
        tags = json.loads(subprocess.run(["exiftool", "-j", "-XMP-crs:all", str(out / "photo0_proposal2.xmp")],
                                         check=True, capture_output=True, text=True).stdout)[0]
        assert float(str(tags["Exposure"])) == pytest.approx(
            summary["photos"][0]["proposals"][1]["sliders"]["Exposure"], abs=0.006)


def test_history_photos_without_stored_features_are_extracted_from_photos_raw_uri(tmp_path):
    from pipelines.core.schemas import PHOTOS
    from rendering.renderer import PhotoRenderer
    from tests.pipelines.dataset_factory import write_dng

    x, y = torch.zeros(3, FEATURES), torch.zeros(3, 11)
    edits = write_history(tmp_path / "ds", x, y)
    (tmp_path / "ds" / "features" / "part-0.parquet").unlink()          # no stored features at all
    os.makedirs(tmp_path / "ds" / "photos")
    rows = []
    for i, pid in enumerate(["h000", "h001", "h002"]):
        uri = write_dng(tmp_path / f"{pid}.dng", size=48, seed=i) if pid != "h002" else str(tmp_path / "gone.dng")
        rows.append({"photo_id": pid, "file_name": pid, "raw_uri": str(uri), "split": "train"})
    pq.write_table(pa.Table.from_pylist(rows, schema=PHOTOS), tmp_path / "ds" / "photos" / "part-0.parquet")
    seen = []

    def mean_colour_features(image: np.ndarray) -> np.ndarray:  # stands in for VGG-16: [3,H,W] -> [8]
        seen.append(image.shape)
        return np.concatenate([image.mean(axis=(1, 2)), np.zeros(FEATURES - 3)]).astype(np.float32)

    history = history_from_edits(edits, mean_colour_features, PhotoRenderer(), None, None, PROCESS_2003,
                                 feature_dim=FEATURES)
    assert len(history.x) == 2 and len(seen) == 2                        # two photos decoded and rendered
    assert all(s[0] == 3 and max(s[1:]) == FEATURE_RENDER_SIZE for s in seen)  # as augment renders
    assert float(history.x[:, :3].min()) > 0                            # real pixels went in
    assert len(history.skipped) == 1 and "h002" in history.skipped[0] and "gone.dng" in history.skipped[0]


def test_an_sqlite_file_that_is_not_a_lightroom_catalog_is_refused_and_left_untouched(tmp_path):
    import sqlite3

    from pipelines.commands.propose import _parser, load_history

    db = tmp_path / "photos.lrcat"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE notes (id INTEGER, text TEXT)")
    con.commit()
    con.close()
    before = db.read_bytes()
    args = _parser().parse_args(["x.jpg", "--model", "m", "--history", str(db)])
    with pytest.raises(HistoryError, match="not a Lightroom catalog .*Adobe_images"):
        load_history(args, None, None, PROCESS_2003, FEATURES)
    assert db.read_bytes() == before
