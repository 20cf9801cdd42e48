"""The augment job on tiny pidng DNGs: rows, targets, rendered images, errors, determinism."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from pipelines.core import parquet_io
from pipelines.core.parquet_io import read_table
from pipelines.core.schemas import ERRORS, SLIDER_KEYS, VARIANT_EDITS, VARIANTS
from pipelines.fivek.augmentation import variant_sliders, variant_target
from pipelines.jobs import augment
from rendering.sliders import PROCESS_2003
from tests.pipelines.augment_checks import (
    AUGMENT_ARGS,
    IN_PROCESS,
    TWO_WORKERS,
    augment_outputs,
    png_pixels,
)
from tests.pipelines.dataset_factory import make_dataset

pytestmark = pytest.mark.slow
GOOD = ["a0001", "a0002", "a0003"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """5 photos x 3 experts: 3 good DNGs, a0004 corrupt, a0005's raw missing; augmented once in-process."""
    root = tmp_path_factory.mktemp("augment")
    make_dataset(root, num_photos=5, corrupt=("a0004",), missing=("a0005",))
    assert augment.run(["--dataset", str(root), *AUGMENT_ARGS, *IN_PROCESS]) == 0
    return root


@pytest.fixture(scope="module")
def outputs(dataset):
    return augment_outputs(dataset)


def test_parquet_schemas_are_exactly_the_contracts(dataset):
    for folder, schema in (("variants", VARIANTS), ("variant_edits", VARIANT_EDITS),
                           ("errors/augment", ERRORS)):
        shards = sorted((dataset / folder).glob("*.parquet"))
        assert shards, folder
        for shard in shards:
            assert pq.read_schema(shard).equals(schema), folder


def test_k_plus_one_variants_per_photo_with_keyed_noise(dataset, outputs):
    photos = {r["photo_id"]: r for r in read_table(str(dataset / "photos")).to_pylist()}
    variants = outputs["variants"]
    assert [r["image_id"] for r in variants] == [f"{p}_v{v}" for p in GOOD for v in range(3)]
    for r in variants:
        photo = photos[r["photo_id"]]
        neutral = PROCESS_2003.neutral(photo["as_shot_temperature"], photo["as_shot_tint"])
        want = variant_sliders(neutral, 7, r["photo_id"], 2)[r["variant"]]
        np.testing.assert_array_equal(r["noise"], want.noise)
        np.testing.assert_array_equal(r["sliders"], want.sliders)
        assert r["seed"] == 7
        assert max(r["width"], r["height"]) == 64
        assert np.all(np.abs(r["noise"]) <= 0.2 + 1e-12)
        if r["variant"] == 0:
            assert r["noise"] == [0.0] * 11
            np.testing.assert_allclose(r["sliders"], neutral)
        else:
            assert np.count_nonzero(r["noise"]) >= 7   # most sliders are moved
        assert (dataset / r["image_uri"]).is_file()


def test_targets_are_expert_minus_noise_clipped(dataset, outputs):
    experts = {(r["photo_id"], r["editor"]): r for r in read_table(str(dataset / "edits")).to_pylist()}
    noise = {r["image_id"]: np.array(r["noise"]) for r in outputs["variants"]}
    rows = outputs["variant_edits"]
    assert len(rows) == len(GOOD) * 3 * 3                 # photos x variants x experts
    clipped = 0
    for r in rows:
        expert = experts[(r["photo_id"], r["editor"])]
        sliders = np.array([expert[k] for k in SLIDER_KEYS])
        target = np.array([r[k] for k in SLIDER_KEYS])
        assert r["tone_curve"] == expert["tone_curve"] and r["editor_kind"] == "expert"
        if r["variant"] == 0:
            np.testing.assert_array_equal(target, sliders)
            continue
        np.testing.assert_allclose(target, variant_target(sliders, noise[r["image_id"]], "clip"), atol=1e-9)
        PROCESS_2003.validate(target)
        unclipped = PROCESS_2003.to_model(sliders) - noise[r["image_id"]]
        inside = np.abs(unclipped) <= 1
        np.testing.assert_allclose(PROCESS_2003.to_model(target)[inside], unclipped[inside], atol=1e-9)
        clipped += int(np.sum(~inside))
    assert clipped > 0   # the factory puts experts at range ends, so clipping is exercised


def test_rendered_variant_equals_calling_the_renderer_directly(dataset, outputs):
    from rendering.image_io import encode_image
    from rendering.raw import decode_raw
    from rendering.renderer import PhotoRenderer

    renderer = PhotoRenderer(device="cpu")
    photos = {r["photo_id"]: r for r in read_table(str(dataset / "photos")).to_pylist()}
    for photo_id in GOOD[:2]:
        rows = [r for r in outputs["variants"] if r["photo_id"] == photo_id]
        photo = decode_raw(Path(photos[photo_id]["raw_uri"]).read_bytes(), long_side=64)
        images = renderer.render(photo, np.array([r["sliders"] for r in rows]), spec=PROCESS_2003,
                                 batch_size=len(rows))
        for row, image in zip(rows, images):
            assert (row["height"], row["width"]) == image.shape[1:]
            png = (dataset / row["image_uri"]).read_bytes()
            direct = encode_image(image, fmt="png", space="srgb", bits=8)
            np.testing.assert_array_equal(png_pixels(png), png_pixels(direct), err_msg=row["image_id"])
            assert Image.open(io.BytesIO(png)).info.get("icc_profile")   # tagged sRGB
        # the noisy variants really differ from the original
        assert np.abs(images[1] - images[0]).mean() > 1e-3


def test_corrupt_and_missing_raws_become_error_rows_while_the_rest_lands(outputs):
    errors = outputs["errors"]
    assert [e["id"] for e in errors] == ["a0004", "a0005"]
    assert all(e["stage"] == "augment" for e in errors)
    assert errors[0]["uri"].endswith("a0004-test.dng") and "Error" in errors[0]["reason"]
    assert "a0005" in errors[1]["reason"] or "No such file" in errors[1]["reason"] or "not" in errors[1]["reason"]
    assert {r["photo_id"] for r in outputs["variants"]} == set(GOOD)
    assert len(outputs["images"]) == 9


def test_same_seed_same_rows_on_two_workers_in_more_shards_and_rerun(dataset, outputs, tmp_path, monkeypatch):
    copy = tmp_path / "again"
    make_dataset(copy, num_photos=5, corrupt=("a0004",), missing=("a0005",))
    monkeypatch.setattr(parquet_io, "PHOTOS_PER_SHARD", 2)         # 5 photos: 3 shards, none holding them all
    assert augment.run(["--dataset", str(copy), *AUGMENT_ARGS, *TWO_WORKERS]) == 0
    monkeypatch.undo()
    for folder in ("variants", "variant_edits"):
        assert len(parquet_io.parquet_files(str(dataset / folder))) == 1
        assert len(parquet_io.parquet_files(str(copy / folder))) == 3
    again = augment_outputs(copy)
    for key in ("variants", "variant_edits", "images"):
        assert again[key] == outputs[key], key
    assert [e["id"] for e in again["errors"]] == [e["id"] for e in outputs["errors"]]
    # a different seed gives different noise (the comparison above is not vacuous)
    assert augment.run(["--dataset", str(copy), "-K", "2", "--seed", "8", "--size", "64", *IN_PROCESS]) == 0
    other = augment_outputs(copy)
    assert other["variants"] != outputs["variants"]
    assert [r["image_id"] for r in other["variants"]] == [r["image_id"] for r in outputs["variants"]]


def test_augment_photos_transform_renders_variants_targets_and_errors(tmp_path):
    """AugmentPhotos on beam.Create rows: K+1 variants per good photo, targets per editor, one error row."""
    import apache_beam as beam
    from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
    from apache_beam.testing.util import assert_that, equal_to

    layout = make_dataset(tmp_path, num_photos=2, missing=("a0002",))
    photos, edits = read_table(layout.photos).to_pylist(), read_table(layout.edits).to_pylist()
    config = augment.AugmentConfig(dataset=str(tmp_path), num_variants=1, size=32, seed=3)
    with BeamTestPipeline(runner="FnApiRunner") as p:
        variants, targets, errors = (p | "Photos" >> beam.Create(photos),
                                     p | "Edits" >> beam.Create(edits)) | augment.AugmentPhotos(config)
        assert_that(variants | beam.Map(lambda r: (r["image_id"], max(r["width"], r["height"]))),
                    equal_to([("a0001_v0", 32), ("a0001_v1", 32)]), label="Variants")
        assert_that(targets | beam.Map(lambda r: (r["image_id"], r["editor"])),
                    equal_to([(f"a0001_v{v}", e) for v in (0, 1) for e in ("A", "B", "C")]), label="Targets")
        assert_that(errors | beam.Map(lambda r: (r["id"], r["stage"], r["reason"].split(":")[0])),
                    equal_to([("a0002", "augment", "FileNotFoundError")]), label="Errors")
    assert sorted(p.name for p in (tmp_path / "images").glob("*.png")) == ["a0001_v0.png", "a0001_v1.png"]
