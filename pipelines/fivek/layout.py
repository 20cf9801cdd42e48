"""The MIT-Adobe FiveK layout: raw folders, base names <-> photo ids, metadata files and split schemes.

A FiveK root (the folder that holds raw_photos/) looks like the real download::

    ROOT/raw_photos/HQa1to700/photos/a0001-jmac_DSC1459.dng   (seven HQa... folders)
    ROOT/raw_photos/fivek.lrcat                               (the Lightroom catalog)
    ROOT/filesAdobe.txt, filesAdobeMIT.txt                     (base names per licence)
    ROOT/categories.txt                                        (base,location,time,light,subject)
    ROOT/tiff16_a/a0001-jmac_DSC1459.tif ... tiff16_e/          (expert renditions, separate download)

Split metadata may sit in the root or in a separate folder: training/validation/testing.json (the
3500/500/1000 split of a public loader, per-photo categories and camera) and the Exposure paper's
1-based id folds FiveK_train_first2k.txt, FiveK_train_second2k.txt, FiveK_test.txt.
"""
from __future__ import annotations

import csv
import io
import json
import logging
import re
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

from apache_beam.io.filesystems import FileSystems

from modeling.splits import split_for

log = logging.getLogger(__name__)

NUM_PHOTOS = 5000
CATALOG = "raw_photos/fivek.lrcat"
RAW_DIR = "raw_photos"
EXPERT_SET = "Experts"
USER_SET = "Users"
EXPERTS = ("A", "B", "C", "D", "E")
CATEGORY_KEYS = ("location", "time", "light", "subject")
# (folder, first id, last id); the third folder's name says 1400 but holds 1401..2100, as in the download.
RAW_FOLDERS = (("HQa1to700", 1, 700), ("HQa701to1400", 701, 1400), ("HQa1400to2100", 1401, 2100),
               ("HQa2101to2800", 2101, 2800), ("HQa2801to3500", 2801, 3500),
               ("HQa3501to4200", 3501, 4200), ("HQa4201to5000", 4201, 5000))
JSON_SPLITS = (("training.json", "train"), ("validation.json", "validation"), ("testing.json", "test"))
EXPOSURE_FOLDS = (("FiveK_train_first2k.txt", "train"), ("FiveK_train_second2k.txt", "train"),
                  ("FiveK_test.txt", "test"))
SPLIT_SCHEMES = ("hash", "fivek", "first4500", "exposure")
UNASSIGNED = "unassigned"
SPLIT_HELP = """\
hash: 80/10/10 train/validation/test by a stable SHA-256 of the photo id (default);
fivek: the 3500/500/1000 training/validation/testing .json lists (photos in none -> "unassigned");
first4500: ids 1-4000 train, 4001-4500 validation (the last 500 of the usual first 4500), 4501-5000 test;
exposure: FiveK_train_first2k + FiveK_train_second2k train, FiveK_test test, no validation
(the folds cover all 5000 ids; a photo in none of them -> "unassigned", which no model trains on)."""

_BASE_NAME = re.compile(r"^a(\d{4})(?:-.*)?$")


class FiveKLayoutError(ValueError):
    """A name or file does not follow the FiveK layout; the message says which and why."""


def photo_id_of(base_name: str) -> str:
    """Photo id of a FiveK base name: 'a0001-jmac_DSC1459' -> 'a0001'."""
    match = _BASE_NAME.match(base_name)
    if not match:
        raise FiveKLayoutError(f"{base_name!r} is not a FiveK base name (aNNNN-...)")
    return f"a{match.group(1)}"


def photo_number(photo_id: str) -> int:
    """1-based FiveK number of a photo id or base name: 'a0001' -> 1."""
    return int(photo_id_of(photo_id)[1:])


def raw_folder(photo_id: str) -> str:
    """The raw_photos/ folder (e.g. 'HQa1to700') of a photo id or base name."""
    number = photo_number(photo_id)
    for name, first, last in RAW_FOLDERS:
        if first <= number <= last:
            return name
    raise FiveKLayoutError(f"{photo_id}: FiveK ids run from a0001 to a{NUM_PHOTOS:04d}")


def raw_path(root: str, base_name: str, extension: str = "dng") -> str:
    """Where the download keeps a photo's raw file: ROOT/raw_photos/HQa.../photos/<base>.dng."""
    return FileSystems.join(root, RAW_DIR, raw_folder(base_name), "photos", f"{base_name}.{extension}")


def expert_rendition_path(root: str, expert: str, base_name: str) -> str:
    """ROOT/tiff16_<expert>/<base>.tif, an expert's 16-bit ProPhoto rendition."""
    return FileSystems.join(root, f"tiff16_{expert.lower()}", f"{base_name}.tif")


def find_raw_files(root: str) -> dict[str, str]:
    """{photo id: path} of the DNGs under ROOT/raw_photos/*/photos/ (any Beam filesystem)."""
    pattern = FileSystems.join(root, RAW_DIR, "*", "photos", "*")
    found: dict[str, str] = {}
    for meta in sorted(FileSystems.match([pattern])[0].metadata_list, key=lambda m: m.path):
        name = meta.path.rsplit("/", 1)[-1]
        stem, _, ext = name.rpartition(".")
        if ext.lower() != "dng":
            continue
        try:
            photo_id = photo_id_of(stem)
        except FiveKLayoutError:
            log.warning("ignoring %s: not a FiveK base name", meta.path)
            continue
        if photo_id in found:
            log.warning("two raw files for %s: keeping %s, ignoring %s", photo_id, found[photo_id], meta.path)
            continue
        found[photo_id] = meta.path
    return found


@dataclass(frozen=True)
class PhotoMetadata:
    """What the metadata files say about one photo (None where they say nothing)."""

    base_name: str
    camera_make: str | None = None
    camera_model: str | None = None
    categories: Mapping[str, str | None] = field(default_factory=dict)
    license: str | None = None


def _read_text(path: str) -> str | None:
    """A text file's content through Beam FileSystems, or None when it does not exist."""
    if not FileSystems.exists(path):
        return None
    with FileSystems.open(path) as f:
        return f.read().decode("utf-8")


def _category(value: str | None) -> str | None:
    """'None' / 'unknown' / '' in the metadata -> None."""
    return None if value in (None, "", "None", "unknown") else value


def read_json_metadata(text: str) -> dict[str, PhotoMetadata]:
    """A training/validation/testing .json ({base name: {categories, camera, license, ...}}) -> metadata."""
    out = {}
    for base_name, item in json.loads(text).items():
        categories = item.get("categories") or {}
        camera = item.get("camera") or {}
        out[photo_id_of(base_name)] = PhotoMetadata(
            base_name=base_name, camera_make=camera.get("make"), camera_model=camera.get("model"),
            categories={k: _category(categories.get(k)) for k in CATEGORY_KEYS}, license=item.get("license"))
    return out


def read_categories_txt(text: str) -> dict[str, PhotoMetadata]:
    """The download's categories.txt ('base,location,time,light,subject', 'None' = unknown) -> metadata."""
    out = {}
    for row in csv.reader(io.StringIO(text)):
        if len(row) != 1 + len(CATEGORY_KEYS) or not _BASE_NAME.match(row[0].strip()):
            continue                                   # a header or a malformed line
        base_name = row[0].strip()
        out[photo_id_of(base_name)] = PhotoMetadata(
            base_name=base_name, categories={k: _category(v.strip()) for k, v in zip(CATEGORY_KEYS, row[1:])})
    return out


def read_camera_csv(text: str) -> dict[str, PhotoMetadata]:
    """camera_models.csv (file_id,make,normalized_make,model,normalized_model) -> metadata."""
    return {photo_id_of(r["file_id"]): PhotoMetadata(base_name=r["file_id"], camera_make=r.get("make"),
                                                    camera_model=r.get("model"))
            for r in csv.DictReader(io.StringIO(text))}


def _merge(first: PhotoMetadata | None, second: PhotoMetadata) -> PhotoMetadata:
    """Fields of `first` where it has them, else those of `second`."""
    if first is None:
        return second
    categories = {k: first.categories.get(k) or second.categories.get(k) for k in CATEGORY_KEYS}
    return PhotoMetadata(base_name=first.base_name, camera_make=first.camera_make or second.camera_make,
                         camera_model=first.camera_model or second.camera_model, categories=categories,
                         license=first.license or second.license)


def read_metadata(folders: Iterable[str]) -> dict[str, PhotoMetadata]:
    """{photo id: metadata} from the .json lists, categories.txt, camera_models.csv, filesAdobe*.txt.

    Folders are read in order; an earlier folder's value wins. Missing files are skipped.
    """
    merged: dict[str, PhotoMetadata] = {}
    for folder in folders:
        sources: list[dict[str, PhotoMetadata]] = []
        for name, _ in JSON_SPLITS:
            text = _read_text(FileSystems.join(folder, name))
            if text is not None:
                sources.append(read_json_metadata(text))
        for name, reader in (("categories.txt", read_categories_txt), ("camera_models.csv", read_camera_csv)):
            text = _read_text(FileSystems.join(folder, name))
            if text is not None:
                sources.append(reader(text))
        for licence in ("Adobe", "AdobeMIT"):
            text = _read_text(FileSystems.join(folder, f"files{licence}.txt"))
            if text is not None:
                sources.append({photo_id_of(b): PhotoMetadata(base_name=b, license=licence)
                                for b in (line.strip() for line in text.splitlines()) if b})
        for source in sources:
            for photo_id, meta in source.items():
                merged[photo_id] = _merge(merged.get(photo_id), meta)
    return merged


def read_fold(text: str) -> list[int]:
    """A 1-based id fold (one number a line, '#' comments) -> ids."""
    return [int(line) for line in (raw.strip() for raw in text.splitlines()) if line and not line.startswith("#")]


def _read_split_lists(folder: str, scheme: str, files: tuple[tuple[str, str], ...],
                      photo_ids: Callable[[str], Iterable[str]]) -> dict[str, str]:
    """{photo id: split} from (file name, split) list files in a folder; `photo_ids` parses one file."""
    out: dict[str, str] = {}
    for name, split in files:
        text = _read_text(FileSystems.join(folder, name))
        if text is None:
            raise FiveKLayoutError(f"--split {scheme} needs {name} in {folder} (see --metadata)")
        for photo_id in photo_ids(text):
            out[photo_id] = split
    return out


def read_json_splits(folder: str) -> dict[str, str]:
    """{photo id: train|validation|test} from training/validation/testing.json in a folder."""
    return _read_split_lists(folder, "fivek", JSON_SPLITS,
                             lambda text: (photo_id_of(base_name) for base_name in json.loads(text)))


def read_exposure_splits(folder: str) -> dict[str, str]:
    """{photo id: train|test} from the Exposure paper's 1-based FiveK_*.txt folds in a folder."""
    return _read_split_lists(folder, "exposure", EXPOSURE_FOLDS,
                             lambda text: (f"a{number:04d}" for number in read_fold(text)))


def first4500_split(photo_id: str) -> str:
    """ids 1-4000 train, 4001-4500 validation, 4501-5000 test."""
    number = photo_number(photo_id)
    if number <= 4000:
        return "train"
    return "validation" if number <= 4500 else "test"


@dataclass(frozen=True)
class SplitAssigner:
    """A split scheme made picklable for workers: the scheme and, for list-based ones, its table."""

    scheme: str
    table: Mapping[str, str] = field(default_factory=dict)

    def __call__(self, photo_id: str) -> str:
        """train | validation | test (or 'unassigned' when a list-based scheme does not list it)."""
        if self.scheme == "hash":
            return split_for(photo_id)
        if self.scheme == "first4500":
            return first4500_split(photo_id)
        return self.table.get(photo_id, UNASSIGNED)


def split_assigner(scheme: str, metadata_dir: str) -> SplitAssigner:
    """The SplitAssigner of a scheme (see SPLIT_HELP); list-based schemes read their lists now."""
    if scheme in ("hash", "first4500"):
        return SplitAssigner(scheme)
    if scheme == "fivek":
        return SplitAssigner(scheme, read_json_splits(metadata_dir))
    if scheme == "exposure":
        return SplitAssigner(scheme, read_exposure_splits(metadata_dir))
    raise ValueError(f"unknown split scheme {scheme!r}; use one of {SPLIT_SCHEMES}")
