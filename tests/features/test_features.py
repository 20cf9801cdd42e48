"""VGG-16 FC7 / TF-Hub features: preprocessing, the RunInference handler, and the Beam features job."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from features.inference import run_fixed_batches
from features.preprocess import ImageDecodeError, decode_srgb, hub_input, resize_whole, vgg16_input
from pipelines import features_job
from pipelines.parquet_io import read_table, write_table
from pipelines.schemas import ERRORS, FEATURES, VARIANTS, features_schema

pytestmark = pytest.mark.slow
IN_PROCESS = ["--runner=FnApiRunner", "--direct_running_mode=in_memory"]


@pytest.fixture(scope="module")
def fc7():
    """The random-weights VGG-16 fc2 model, built once for the module (138M parameters)."""
    from features.vgg16 import build_fc7_model
    model = build_fc7_model("random")
    return lambda x: np.asarray(model(x, training=False), dtype=np.float32)


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


def test_preprocess_resizes_the_whole_image_and_applies_keras_vgg16_preprocessing():
    from keras.applications.vgg16 import preprocess_input
    rng = np.random.default_rng(1)
    data = _png(rng, 30, 90)
    x = vgg16_input(data)
    assert x.shape == (224, 224, 3) and x.dtype == np.float32
    rgb = np.asarray(Image.open(io.BytesIO(data)).convert("RGB").resize((224, 224), Image.BILINEAR), np.float32)
    np.testing.assert_allclose(x, preprocess_input(rgb[None].copy())[0], atol=1e-4)
    # caffe mode: BGR order, ImageNet means subtracted
    np.testing.assert_allclose(x[..., 0], rgb[..., 2] - 103.939, atol=1e-3)
    np.testing.assert_allclose(hub_input(data, 96), resize_whole(decode_srgb(data), 96) / 255, atol=1e-6)
    with pytest.raises(ImageDecodeError):
        vgg16_input(b"junk", "junk.png")


def test_embedded_icc_profile_is_converted_to_srgb(fixtures_dir):
    jpeg = sorted((fixtures_dir / "fivek_expert_jpegs").glob("*.jpg"))[0].read_bytes()
    assert Image.open(io.BytesIO(jpeg)).info.get("icc_profile")
    converted = np.asarray(decode_srgb(jpeg), np.float32)
    ignored = np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"), np.float32)
    # ProPhoto values read as sRGB are desaturated: the conversion must spread the channels apart
    assert np.abs(converted - ignored).mean() > 2.0
    assert converted.std(axis=-1).mean() > ignored.std(axis=-1).mean()


def test_fixed_batches_make_features_independent_of_batch_composition(fc7):
    rng = np.random.default_rng(2)
    images = np.stack([vgg16_input(_png(rng, 32, 32)) for _ in range(3)])
    together = run_fixed_batches(fc7, images, batch_size=4)
    alone = np.concatenate([run_fixed_batches(fc7, images[i:i + 1], batch_size=4) for i in range(3)])
    reordered = run_fixed_batches(fc7, images[::-1], batch_size=4)[::-1]
    assert together.shape == (3, 4096)
    np.testing.assert_array_equal(together, alone)
    np.testing.assert_array_equal(together, reordered)
    # and the same numbers as one plain Keras call on the same images
    np.testing.assert_allclose(together, fc7(images), rtol=1e-4, atol=1e-5)


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


def save_tiny_hub_module(path: Path, dim: int = 16) -> np.ndarray:
    """A TF-Hub-style feature-vector SavedModel: [B,H,W,3] in [0,1] -> tanh(mean-pooled 2x2 grid @ W)."""
    import tensorflow as tf
    weights = np.random.default_rng(3).normal(size=(12, dim)).astype(np.float32)

    class TinyFeatures(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable(weights)

        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
        def __call__(self, images):
            pooled = tf.nn.avg_pool2d(images, ksize=[16, 16], strides=[16, 16], padding="VALID")  # [B,2,2,3]
            return tf.tanh(tf.matmul(tf.reshape(pooled, [-1, 12]), self.w))

    tf.saved_model.save(TinyFeatures(), str(path))
    return weights


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


def test_weights_from_keras_h5_file(tmp_path):
    """A user's `vgg16_weights_tf_dim_ordering_tf_kernels.h5` (Keras 2 layout) loads into our FC7 model."""
    import tf_keras
    from features.vgg16 import WEIGHTS_FILE_NAME, build_fc7_model
    tf_keras.utils.set_random_seed(5)
    legacy = tf_keras.applications.VGG16(weights=None)
    path = tmp_path / WEIGHTS_FILE_NAME
    legacy.save_weights(str(path))
    x = np.random.default_rng(4).uniform(-100, 100, (1, 224, 224, 3)).astype(np.float32)
    want = tf_keras.Model(legacy.input, legacy.get_layer("fc2").output)(x).numpy()
    del legacy
    got = np.asarray(build_fc7_model(str(path))(x))
    assert got.shape == (1, 4096)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    with pytest.raises(FileNotFoundError):
        build_fc7_model(str(tmp_path / "nope.h5"))
