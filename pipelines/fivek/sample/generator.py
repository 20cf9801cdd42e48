"""`photoedit sample`: a small generated dataset shaped like the MIT-Adobe FiveK download.

    photoedit sample --photos 100 --out /tmp/fivek_sample [--seed 0] [--users 5] [--size 192x128 | 384]
                     [--no-expert-renditions]

writes, under OUT (a FiveK root: point `photoedit ingest --fivek OUT` at it):

    raw_photos/HQa1to700/photos/a0001-<name>.dng   12-bit RGGB Bayer DNGs with colour-matrix tags
    raw_photos/fivek.lrcat                          Lightroom-shaped SQLite catalog: collection set
                                                    "Experts" (collections A..E) and, with --users,
                                                    "Users" (u001, u002, ...), members are virtual
                                                    copies with Camera Raw 2003 develop settings
    tiff16_a..tiff16_e/<name>.tif                   the experts' renditions, 16-bit ProPhoto RGB
                                                    (not with --no-expert-renditions: `photoedit
                                                    evaluate` renders its references from the sliders)
    filesAdobe.txt, filesAdobeMIT.txt, categories.txt, training/validation/testing.json,
    FiveK_train_first2k.txt, FiveK_train_second2k.txt, FiveK_test.txt   metadata as in the download
    sample_truth.json                               the sliders written for every photo x editor

Scenes and styles come from pipelines/fivek/sample/styles.py; every random number is drawn from
keyed_rng(seed, photo id, ...), so the same seed gives the same catalog rows and DNG pixels.
"""
from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipelines.core.seeding import keyed_rng
from pipelines.fivek import layout as fivek
from pipelines.fivek.sample.styles import (
    StyledEdit,
    expert_styled_edit,
    scene,
    user_style,
    user_styled_edit,
)
from pipelines.fivek.sample.synthetic_raw import (
    daylight_neutral,
    srgb_scene_to_camera,
    synthetic_profile,
    write_bayer_dng,
)
from pipelines.lightroom.develop_settings import slider_entries
from rendering.sliders import PROCESS_2003

log = logging.getLogger(__name__)

TRUTH_FILE = "sample_truth.json"
CAMERA_MAKE = "photoedit"                        # photos/ camera_make of every generated photo
CAMERA_MODEL = "Sample"
USERS_PER_PHOTOS = (20, 60)                      # each casual user edits this many photos (fewer if N is small)
_VERSIONS = ("4.5", "4.6", "5.0", "5.2", "5.4")  # Camera Raw versions of the real catalog
_NAME_PARTS = ("jmac_DSC", "dvf_", "kme_", "IMG_", "_DSC", "_MG_", "DSC_")
_SUBJECTS = ("nature", "man_made", "people", "animals", "abstract", "None")


@dataclass(frozen=True)
class SampleConfig:
    """What `photoedit sample` generates: N photos (<= 5000), seed, casual users, DNG size (px)."""

    photos: int = 100
    seed: int = 0
    users: int = 0
    width: int = 192
    height: int = 128
    raws: bool = True        # False: catalog and metadata only (no DNGs, no TIFFs), for benchmarks
    renditions: bool = True  # False: DNGs but no expert TIFFs (saves disk and time at scale)


@dataclass(frozen=True)
class SampleSummary:
    """What was generated: counts and where the catalog and the true-slider manifest are."""

    root: str
    photos: int
    expert_edits: int
    user_edits: int
    users: int
    catalog: str
    truth: str


@dataclass(frozen=True)
class _Photo:
    """One generated photo: ids, scene statistics, as-shot white (K, tint) and the DNG's neutral."""

    photo_id: str
    base_name: str
    gain: float
    warmth: float
    neutral: tuple[float, float, float]
    as_shot: tuple[float, float]


def base_name(photo_id: str, seed: int) -> str:
    """A FiveK-like base name, e.g. 'a0001-jmac_DSC1459'."""
    rng = keyed_rng(seed, photo_id, "name")
    return f"{photo_id}-{_NAME_PARTS[int(rng.integers(len(_NAME_PARTS)))]}{int(rng.integers(1, 10000)):04d}"


def develop_settings(edit: StyledEdit, rng: np.random.Generator) -> tuple[dict[str, Any], str]:
    """Camera Raw 2003 settings (Lua-table dict, keys sorted) of an edit, and its process version.

    Sliders are written as Lightroom writes them (pipelines.lightroom.develop_settings.slider_entries:
    zero sliders omitted, Temperature / Tint only with a custom white balance, a zero Tint omitted).
    """
    version = _VERSIONS[int(rng.integers(len(_VERSIONS)))]
    settings: dict[str, Any] = {
        "AutoBrightness": False, "AutoContrast": False, "AutoExposure": False, "AutoShadows": False,
        "CameraProfile": "ACR 4.4", "ColorNoiseReduction": 25, "ConvertToGrayscale": False,
        "Sharpness": 25, "ToneCurveName": edit.tone_curve_name, "Version": version,
        "WhiteBalance": "As Shot" if edit.as_shot else "Custom",
    }
    process_version = version
    if rng.uniform() < 0.1:
        settings["ProcessVersion"] = process_version = "5.0"
    if rng.uniform() < 0.1:
        settings["PaintBasedCorrections"] = [{"CorrectionActive": True, "CorrectionAmount": 1,
                                              "LocalExposure": round(float(rng.uniform(-1, 1)), 2)}]
    if edit.tone_curve is not None:
        settings["ToneCurve"] = [int(v) for v in edit.tone_curve]
    settings.update(slider_entries(edit.sliders, edit.as_shot, PROCESS_2003))
    return dict(sorted(settings.items())), process_version


def _truth_row(photo: _Photo, editor: str, kind: str, edit: StyledEdit, process_version: str,
               settings: dict[str, Any]) -> dict[str, Any]:
    """One sample_truth.json entry: the sliders (Lightroom units) an ingest must give back."""
    return {"photo_id": photo.photo_id, "base_name": photo.base_name, "editor": editor,
            "editor_kind": kind, "sliders": PROCESS_2003.to_mapping(edit.sliders),
            "as_shot": edit.as_shot, "tone_curve": None if edit.tone_curve is None else list(edit.tone_curve),
            "white_balance": settings["WhiteBalance"], "process_version": process_version}


def _categories(photo: _Photo, seed: int) -> dict[str, str]:
    """Category labels as in categories.txt, following the scene ('None' = unknown)."""
    rng = keyed_rng(seed, photo.photo_id, "categories")
    time_of_day = "day" if photo.gain > 0.5 else ("dusk" if photo.gain > 0.25 else "night")
    light = "artificial" if photo.warmth > 0.65 else ("sun_sky" if photo.warmth < 0.35 else "mixed")
    return {"location": "outdoor" if rng.uniform() < 0.8 else "indoor", "time": time_of_day,
            "light": light, "subject": _SUBJECTS[int(rng.integers(len(_SUBJECTS)))]}


def _write_metadata(root: Path, photos: list[_Photo], seed: int) -> None:
    """filesAdobe*.txt, categories.txt, the 70/10/20 .json lists and the Exposure folds."""
    licences = {p.photo_id: ("Adobe" if keyed_rng(seed, p.photo_id, "licence").uniform() < 0.7 else "AdobeMIT")
                for p in photos}
    for licence in ("Adobe", "AdobeMIT"):
        (root / f"files{licence}.txt").write_text(
            "".join(f"{p.base_name}\n" for p in photos if licences[p.photo_id] == licence))
    categories = {p.photo_id: _categories(p, seed) for p in photos}
    (root / "categories.txt").write_text("".join(
        f"{p.base_name},{','.join(categories[p.photo_id][k] for k in fivek.CATEGORY_KEYS)}\n" for p in photos))
    order = keyed_rng(seed, "splits").permutation(len(photos))
    n_train, n_val = int(round(0.7 * len(photos))), int(round(0.1 * len(photos)))
    parts = {"train": order[:n_train], "validation": order[n_train:n_train + n_val], "test": order[n_train + n_val:]}
    for name, split in fivek.JSON_SPLITS:
        items = {}
        for i in sorted(parts[split]):
            p = photos[i]
            items[p.base_name] = {
                "urls": {"dng": f"raw_photos/{fivek.raw_folder(p.photo_id)}/photos/{p.base_name}.dng",
                         "tiff16": {e.lower(): f"tiff16_{e.lower()}/{p.base_name}.tif" for e in fivek.EXPERTS}},
                "categories": {k: ("unknown" if v == "None" else v) for k, v in categories[p.photo_id].items()},
                "id": fivek.photo_number(p.photo_id), "license": licences[p.photo_id],
                "camera": {"make": CAMERA_MAKE, "model": CAMERA_MODEL}}
        (root / name).write_text(json.dumps(items, indent=4))
    order = keyed_rng(seed, "exposure folds").permutation(len(photos))
    n_test = int(round(0.2 * len(photos)))
    half = n_test + (len(photos) - n_test) // 2
    header = "# Note: this list is 1-based, i.e. ids are among [1, 5000]\n"
    for (name, _), idx in zip(fivek.EXPOSURE_FOLDS, (order[n_test:half], order[half:], order[:n_test])):
        (root / name).write_text(header + "".join(f"{fivek.photo_number(photos[i].photo_id)}\n" for i in idx))


def _render_experts(root: Path, photo: _Photo, dng: str, edits: list[StyledEdit], renderer: Any) -> None:
    """tiff16_<x>/<base>.tif for each expert: the DNG rendered with their sliders and tone curve."""
    from rendering.image_io import write_image
    from rendering.raw import decode_raw

    decoded = decode_raw(dng)
    sliders = np.stack([e.sliders for e in edits])
    curves = [None if e.tone_curve is None else list(e.tone_curve) for e in edits]
    images = renderer.render(decoded, sliders, tone_curves=curves, batch_size=len(edits))
    for expert, image in zip(fivek.EXPERTS, images):
        path = Path(fivek.expert_rendition_path(str(root), expert, photo.base_name))
        path.parent.mkdir(parents=True, exist_ok=True)
        write_image(str(path), image)


def _make_photo(root: Path, photo_id: str, config: SampleConfig) -> tuple[_Photo, str | None]:
    """Generate one scene (and its DNG when config.raws); returns the photo and the DNG path."""
    rng = keyed_rng(config.seed, photo_id, "scene")
    # Without raws the scene is drawn small: the same draws, so the same gain and warmth.
    h, w = (config.height, config.width) if config.raws else (8, 8)
    rgb, gain, warmth = scene(rng, h, w)
    # The camera's as-shot white: daylight, off by a random auto-white-balance error in R and B.
    daylight = daylight_neutral()
    neutral = (round(float(daylight[0] * rng.uniform(0.92, 1.08)), 4), 1.0,
               round(float(daylight[2] * rng.uniform(0.92, 1.08)), 4))
    photo = _Photo(photo_id=photo_id, base_name=base_name(photo_id, config.seed), gain=gain, warmth=warmth,
                   neutral=neutral, as_shot=synthetic_profile(neutral, CAMERA_MODEL).as_shot_white())
    dng = None
    if config.raws:
        # The scene is linear sRGB under its own light; the sensor sees it through its colour matrix.
        dng = write_bayer_dng(fivek.raw_path(str(root), photo.base_name), srgb_scene_to_camera(rgb), neutral,
                              model=CAMERA_MODEL)
    return photo, dng


def generate_sample(out: str, photos: int = 100, seed: int = 0, users: int = 0,
                    size: tuple[int, int] = (192, 128), raws: bool = True, renditions: bool = True) -> SampleSummary:
    """Write a FiveK-shaped tree under `out` (see module doc); deterministic in `seed`. size = (W, H) px;
    renditions False skips the experts' TIFFs (the DNGs, catalog and metadata are unchanged)."""
    from pipelines.fivek.sample.catalog_writer import CatalogRecord, write_catalog
    from pipelines.lightroom.lua_table import format_lua_table

    config = SampleConfig(photos=photos, seed=seed, users=users, width=size[0], height=size[1], raws=raws,
                          renditions=renditions)
    if not 1 <= photos <= fivek.NUM_PHOTOS:
        raise ValueError(f"--photos must be 1..{fivek.NUM_PHOTOS} (FiveK ids a0001..a5000), got {photos}")
    if config.width % 2 or config.height % 2 or min(config.width, config.height) < 16:
        raise ValueError(f"--size must be even and at least 16x16 (a Bayer mosaic), got {config.width}x{config.height}")
    root = Path(out)
    catalog = root / fivek.CATALOG
    if catalog.exists():
        raise FileExistsError(f"{catalog} exists: choose another --out or delete it (a catalog is never overwritten)")
    renderer = None
    if raws and renditions:
        from rendering.renderer import PhotoRenderer
        renderer = PhotoRenderer("cpu")
    started, last_log = time.monotonic(), time.monotonic()
    records, truth, generated = [], [], []
    for number in range(1, photos + 1):
        photo, dng = _make_photo(root, f"a{number:04d}", config)
        generated.append(photo)
        edits = []
        for expert in fivek.EXPERTS:
            edit = expert_styled_edit(expert, photo.gain, photo.warmth, photo.as_shot,
                                      keyed_rng(seed, photo.photo_id, expert))
            edits.append(edit)
            records.append((fivek.EXPERT_SET, expert, photo, edit))
        if dng is not None and renderer is not None:
            _render_experts(root, photo, dng, edits, renderer)
        if time.monotonic() - last_log > 10.0:
            log.info("sample: %d/%d photos generated", number, photos)
            last_log = time.monotonic()
    user_edits = 0
    for u in range(1, users + 1):
        user = f"u{u:03d}"
        style = user_style(user, keyed_rng(seed, user, "style"))
        pick = keyed_rng(seed, user, "photos")
        count = min(photos, int(pick.integers(USERS_PER_PHOTOS[0], USERS_PER_PHOTOS[1] + 1)))
        for i in sorted(pick.choice(photos, size=count, replace=False)):
            photo = generated[i]
            edit = user_styled_edit(style, photo.gain, photo.warmth, photo.as_shot,
                                    keyed_rng(seed, photo.photo_id, user))
            records.append((fivek.USER_SET, user, photo, edit))
            user_edits += 1
    catalog_records = []
    raw_root = os.path.abspath(root / fivek.RAW_DIR)
    for collection_set, collection, photo, edit in records:
        settings, process_version = develop_settings(
            edit, keyed_rng(seed, photo.photo_id, collection_set, collection, "settings"))
        truth.append(_truth_row(photo, collection, "expert" if collection_set == fivek.EXPERT_SET else "user",
                                edit, process_version, settings))
        capture = keyed_rng(seed, photo.photo_id, "capture")
        catalog_records.append(CatalogRecord(
            collection_set=collection_set, collection=collection, base_name=photo.base_name,
            extension="dng", folder=f"{raw_root}/{fivek.raw_folder(photo.photo_id)}/photos/",
            settings_text=format_lua_table(settings),
            capture_time=f"2008-{int(capture.integers(1, 13)):02d}-{int(capture.integers(1, 29)):02d}"
                         f"T{int(capture.integers(6, 21)):02d}:{int(capture.integers(60)):02d}:00"))
    catalog.parent.mkdir(parents=True, exist_ok=True)
    write_catalog(str(catalog), catalog_records)
    _write_metadata(root, generated, seed)
    truth_path = root / TRUTH_FILE
    truth_path.write_text(json.dumps({"seed": seed, "photos": photos, "users": users,
                                      "size": [config.width, config.height], "edits": truth}, indent=1))
    log.debug("sample: %d photos, %d expert + %d user edits in %.1f s", photos, 5 * photos, user_edits,
             time.monotonic() - started)
    return SampleSummary(root=str(root), photos=photos, expert_edits=len(fivek.EXPERTS) * photos, user_edits=user_edits,
                         users=users, catalog=str(catalog), truth=str(truth_path))
