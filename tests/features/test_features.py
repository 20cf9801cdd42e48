"""The features package: preprocessing, fixed-shape batches, weights files, TF-Hub modules."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from features.inference import run_fixed_batches
from features.preprocess import (
    ImageDecodeError,
    decode_srgb,
    hub_input,
    resize_whole,
    vgg16_input,
)
from features.vgg16 import RANDOM_WEIGHTS, check_weights

pytestmark = pytest.mark.slow


def _png(rng: np.random.Generator, h: int, w: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


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
    check_weights(str(path))                                       # the real file passes the quick check
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(path.read_bytes()[:10_000_000])
    with pytest.raises(ValueError, match="cannot be used: .*truncated file"):
        check_weights(str(truncated))


def test_check_weights_refuses_junk_missing_and_non_vgg_files_in_one_line(tmp_path):
    import json
    import zipfile

    import h5py
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 8)
    small = tmp_path / "small.h5"
    with h5py.File(small, "w") as f:
        f.create_dataset("dense/kernel", data=np.zeros((8, 4), np.float32))
    vgg_like = tmp_path / "vgg_like.h5"
    with h5py.File(vgg_like, "w") as f:
        f.create_dataset("fc2/fc2/kernel:0", shape=(4096, 4096), dtype="f4", chunks=True)   # never written: tiny
    keras_without_fc2 = tmp_path / "other.keras"
    with zipfile.ZipFile(keras_without_fc2, "w") as z:
        z.writestr("config.json", json.dumps({"config": {"name": "m", "layers": [{"config": {"name": "dense"}}]}}))
        z.writestr("model.weights.h5", b"")
    not_a_zip = tmp_path / "model.keras"
    not_a_zip.write_bytes(b"PK but no")
    for path, message in ((junk, "cannot be used"), (tmp_path / "nope.h5", "not found"),
                          (small, "no 4096 x 4096 kernel"), (keras_without_fc2, "no layer named fc2"),
                          (not_a_zip, "not a zip file")):
        with pytest.raises(ValueError, match=message) as refused:
            check_weights(str(path))
        assert "\n" not in str(refused.value) and str(path) in str(refused.value)
    check_weights(str(vgg_like))
    check_weights(RANDOM_WEIGHTS)
