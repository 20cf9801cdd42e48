"""`photoedit features`: the Beam job equals Keras called directly, its Parquet contract, errors, TF-Hub modules."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from features.preprocess import hub_input, vgg16_input
from pipelines.core.parquet_io import read_table, write_table
from pipelines.core.schemas import ERRORS, FEATURES, VARIANTS, features_schema
from pipelines.jobs import features as features_job
from tests.features.test_features import save_tiny_hub_module

pytestmark = pytest.mark.slow
IN_PROCESS = ["--runner=FnApiRunner", "--direct_running_mode=in_memory"]


def _png(rng: np.random.Generator, h: int, w: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def make_variants(root: Path, n: int = 4, missing: bool = True, corrupt: bool = True) -> list[dict]:
    """variants/ with n small PNGs of different sizes, plus a missing and a corrupt image."""
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        photo_id, variant = f"a{i // 2 + 1:04d}", i % 2
        image_id = f"{photo_id}_v{variant}"
        uri = root / "images" / f"{image_id}.png"
        h, w = 40 + 8 * i, 64 - 4 * i
        uri.write_bytes(_png(rng, h, w))
        rows.append(dict(image_id=image_id, photo_id=photo_id, variant=variant, seed=0, noise=[0.0] * 11,
                         sliders=[0.0] * 11, image_uri=str(uri), width=w, height=h))
    if missing:
        rows.append(dict(rows[0], image_id="a0100_v0", photo_id="a0100", image_uri=str(root / "images/none.png")))
    if corrupt:
        (root / "images" / "a0101_v0.png").write_bytes(b"\x89PNG not really")
        rows.append(dict(rows[0], image_id="a0101_v0", photo_id="a0101", image_uri=str(root / "images/a0101_v0.png")))
    write_table(pa.Table.from_pylist(rows, schema=VARIANTS), str(root / "variants"))
    return rows


def read_features(root: Path) -> dict[str, np.ndarray]:
    table = read_table(str(root / "features"), sort_by=["image_id"])
    return {r["image_id"]: np.asarray(r["fc7"], np.float32) for r in table.to_pylist()}


def test_help_names_the_keras_weights_file(capsys):
    with pytest.raises(SystemExit):
        features_job.run(["--help"])
    out = capsys.readouterr().out
    assert "vgg16_weights_tf_dim_ordering_tf_kernels.h5" in out and "--hub-module" in out


def test_features_job_equals_keras_directly_and_is_deterministic(tmp_path, fc7, caplog):
    rows = make_variants(tmp_path)
    args = ["--dataset", str(tmp_path), "--weights", "random", "--batch-size", "2", "--shard-size", "3"]
    with caplog.at_level("WARNING"):
        assert features_job.run(args + IN_PROCESS) == 0
    assert "RANDOM weights" in caplog.text and "MEANINGLESS" in caplog.text
    first = read_features(tmp_path)
    good = [r for r in rows if r["photo_id"] not in ("a0100", "a0101")]
    assert sorted(first) == sorted(r["image_id"] for r in good)
    for r in good:
        direct = fc7(vgg16_input(Path(r["image_uri"]).read_bytes())[None])[0]
        np.testing.assert_allclose(first[r["image_id"]], direct, rtol=1e-4, atol=1e-5)
    # Parquet contract: exact schema, sharded by --shard-size (4 rows / 3 per shard -> 2 shards)
    shards = sorted((tmp_path / "features").glob("*.parquet"))
    assert len(shards) == 2
    for shard in shards:
        assert pq.read_schema(shard).equals(FEATURES)
    errors = read_table(str(tmp_path / "errors" / "features"), sort_by=["id"])
    assert errors.schema.equals(ERRORS)
    assert errors.column("id").to_pylist() == ["a0100_v0", "a0101_v0"]
    assert "FileNotFoundError" in errors.column("reason")[0].as_py()
    assert "ImageDecodeError" in errors.column("reason")[1].as_py()
    assert set(errors.column("stage").to_pylist()) == {"features"}

    # rerun on two worker processes: bit-identical rows
    assert features_job.run(args + ["--runner=FnApiRunner", "--direct_running_mode=multi_processing",
                                    "--direct_num_workers=2"]) == 0
    second = read_features(tmp_path)
    assert sorted(second) == sorted(first)
    for key in first:
        np.testing.assert_array_equal(second[key], first[key])


def test_hub_module_path(tmp_path):
    import tensorflow_hub as hub
    weights = save_tiny_hub_module(tmp_path / "module")
    rows = make_variants(tmp_path, n=3, missing=False, corrupt=False)
    assert features_job.run(["--dataset", str(tmp_path), "--hub-module", str(tmp_path / "module"),
                             "--hub-image-size", "32"] + IN_PROCESS) == 0
    got = read_features(tmp_path)
    assert pq.read_schema(next((tmp_path / "features").glob("*.parquet"))).equals(features_schema(16))
    layer = hub.KerasLayer(str(tmp_path / "module"))
    for r in rows:
        x = hub_input(Path(r["image_uri"]).read_bytes(), 32)
        np.testing.assert_allclose(got[r["image_id"]], np.asarray(layer(x[None]))[0], atol=1e-6)
        pooled = x.reshape(2, 16, 2, 16, 3).mean(axis=(1, 3)).reshape(12)   # the module's maths in numpy
        np.testing.assert_allclose(got[r["image_id"]], np.tanh(pooled @ weights), atol=1e-5)




def test_extract_features_transform_gives_fc7_rows_and_error_rows(tmp_path, fc7):
    """ExtractFeatures on beam.Create rows: the same 4096-d vector as Keras, bad images as errors."""
    import apache_beam as beam
    from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
    from apache_beam.testing.util import assert_that, equal_to

    from features.inference import FeatureConfig

    rows = make_variants(tmp_path, n=2)
    want = {r["image_id"]: fc7(vgg16_input(Path(r["image_uri"]).read_bytes())[None])[0] for r in rows[:2]}

    def close_to_keras(got):
        assert sorted(r["image_id"] for r in got) == sorted(want)
        for r in got:
            np.testing.assert_allclose(r["fc7"], want[r["image_id"]], rtol=1e-4, atol=1e-5)

    with BeamTestPipeline(runner="FnApiRunner") as p:
        features, errors = p | beam.Create(rows) | features_job.ExtractFeatures(FeatureConfig(batch_size=2))
        assert_that(features, close_to_keras, label="Features")
        assert_that(errors | beam.Map(lambda r: (r["id"], r["reason"].split(":")[0])),
                    equal_to([("a0100_v0", "FileNotFoundError"), ("a0101_v0", "ImageDecodeError")]), label="Errors")
