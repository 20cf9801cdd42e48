"""Parquet -> tensors: join on image_id, model-space sliders, splits, pseudo-users, normalisation."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from modeling.data import FeatureNormaliser, edits_from_tables, load_edits, pseudo_users
from rendering.sliders import PROCESS_2003
from tests.modeling.synthetic import write_tiny_dataset


def test_load_edits_joins_features_and_converts_sliders(tmp_path):
    write_tiny_dataset(str(tmp_path), num_photos=10, dim=16)
    feats = pq.read_table(str(tmp_path / "features"))         # every shard of the folder
    edits = pq.read_table(str(tmp_path / "variant_edits"))
    data = load_edits(feats, edits, pq.read_table(str(tmp_path / "photos")))
    assert len(data) == 10 * 2 * 7 and data.feature_dim == 16
    assert data.y.dtype == torch.float32 and data.y.abs().max() <= 1.0
    assert feats.num_rows == 20  # two shards read as one table
    assert data.features.shape == (20, 16)  # stored once per image, shared by its 7 edits
    assert torch.equal(data.x_at(torch.tensor([5, 0])), data.x[[5, 0]])
    assert torch.equal(data.split("test").x, data.x[torch.from_numpy(np.flatnonzero(data.splits == "test"))])
    # the row of editor D on image a0003_v1 carries that image's features and D's sliders
    i = int(np.flatnonzero((data.image_ids == "a0003_v1") & (data.editors == "D"))[0])
    f = np.asarray(feats.filter(pa.compute.equal(feats["image_id"], "a0003_v1"))["fc7"][0].as_py())
    assert np.allclose(data.x[i].numpy(), f)
    e = edits.filter(pa.compute.and_(pa.compute.equal(edits["image_id"], "a0003_v1"),
                                     pa.compute.equal(edits["editor"], "D"))).to_pylist()[0]
    expected = PROCESS_2003.to_model(np.array([e[k] for k in PROCESS_2003.keys]))
    assert np.allclose(data.y[i].numpy(), expected, atol=1e-5)
    assert data.photo_ids[i] == "a0003" and data.editor_kinds[i] == "expert"
    # splits from photos/ (round robin 6:2:2 in the writer), all rows of a photo in one split
    assert set(data.splits.tolist()) == {"train", "validation", "test"}
    for pid in set(data.photo_ids.tolist()):
        assert len(set(data.splits[data.photo_ids == pid].tolist())) == 1
    assert len(data.split("train")) + len(data.split("validation")) + len(data.split("test")) == len(data)


def test_rows_without_features_or_with_nan_are_dropped():
    feats = pa.table({"image_id": ["i1"], "fc7": pa.array([[1.0, 2.0]], pa.list_(pa.float32(), 2))})
    row = {k: 0.0 for k in PROCESS_2003.keys} | {"Temperature": 5000.0}
    edits = pa.Table.from_pylist([
        {"image_id": "i1", "photo_id": "p1", "editor": "A", "editor_kind": "expert", **row},
        {"image_id": "i2", "photo_id": "p2", "editor": "A", "editor_kind": "expert", **row},
        {"image_id": "i1", "photo_id": "p1", "editor": "B", "editor_kind": "expert", **(row | {"Exposure": float("nan")})},
        {"image_id": "i1", "photo_id": "p1", "editor": "C", "editor_kind": "expert", **(row | {"Exposure": 9.0})},
    ])
    data = edits_from_tables(feats, edits)
    assert data.editors.tolist() == ["A", "C"]
    assert data.y[1, PROCESS_2003.index("Exposure")] == 1.0  # out of range -> clipped to the range end
    assert data.splits[0] in ("train", "validation", "test")  # from the stable hash without photos/


def test_pseudo_users_chunk_experts_and_keep_users():
    editors = np.array(["A"] * 120 + ["u7"] * 30 + ["B"] * 50)
    kinds = np.array(["expert"] * 120 + ["user"] * 30 + ["expert"] * 50)
    photos = np.array([f"img{i:04d}" for i in range(200)])
    users = pseudo_users(editors, kinds, photos)
    sizes = sorted(np.bincount(users).tolist())
    assert sizes == [20, 30, 50, 50, 50]  # A: 50 + 50 + 20, B: 50, u7: 30
    for u in np.unique(users):
        assert len(set(editors[users == u].tolist())) == 1


def test_pseudo_users_hold_whole_photos_in_a_seeded_shuffle():
    """Every variant of a photo edited by one expert sits in one pseudo-user; photos are shuffled, not in id order."""
    photos = np.repeat([f"p{i:03d}" for i in range(60)], 3)                  # 3 variants per photo
    editors, kinds = np.array(["A"] * len(photos)), np.array(["expert"] * len(photos))
    users = pseudo_users(editors, kinds, photos, size=20)
    for p in np.unique(photos):
        assert len(set(users[photos == p].tolist())) == 1, p
    sizes = np.bincount(users)
    assert sizes.sum() == 180 and np.all(sizes[:-1] == 21) and 0 < sizes[-1] <= 21   # 7 whole photos each
    first = users[::3]                                                         # per photo, in id order
    assert np.any(np.diff(first) < 0)                                          # not chunked in id order
    assert np.array_equal(users, pseudo_users(editors, kinds, photos, size=20))          # deterministic
    assert not np.array_equal(users, pseudo_users(editors, kinds, photos, size=20, seed=1))


def test_feature_normaliser_round_trip():
    x = np.random.default_rng(0).normal(3.0, 2.0, size=(500, 4))
    x[:, 3] = 1.0  # constant feature: std floored, no division by zero
    norm = FeatureNormaliser.fit(x)
    back = FeatureNormaliser.from_config(norm.to_config())
    z = (x - back.mean) / back.std
    assert np.allclose(z[:, :3].mean(0), 0, atol=1e-5) and np.allclose(z[:, :3].std(0), 1, atol=1e-4)
    assert np.all(np.isfinite(z))
