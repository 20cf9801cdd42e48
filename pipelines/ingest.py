"""`photoedit ingest`: a FiveK root (raw DNGs + Lightroom catalog) -> photos/ and edits/ Parquet.

The driver opens the catalog read-only (SQLite immutable mode: its bytes never change), lists the
members of the collection set "Experts" (collections A..E) and, when present, "Users", and finds
the DNGs under ROOT/raw_photos/*/photos/. A photo is every base name in an Experts collection. The
Beam job then, per photo, reads the as-shot white balance from its DNG (rendering.raw.
read_camera_profile(...).as_shot_white()) and, per edit, parses the settings text as data
(pipelines.lua_table: never evaluated, code is rejected) into the 11 Camera Raw 2003 sliders in
Lightroom units (a missing key means 0, missing Temperature/Tint mean the as-shot values), checks
their ranges (rendering.sliders.PROCESS_2003) and keeps the point curve, process version and
white-balance mode. Outputs, each one shard sorted by key so any runner and worker count gives
the same bytes of rows:

    photos/  (schema PHOTOS, sorted by photo_id)         edits/  (schema EDITS, sorted by photo_id, editor)
    errors/ingest/  (id, stage, reason, uri): missing DNG, photo missing from an expert's collection,
                    settings that are not a plain Lua table, non-numeric or out-of-range sliders,
                    duplicate members, user edits of photos outside the Experts collections.
"""
from __future__ import annotations

import argparse
import logging
import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from pipelines import fivek
from pipelines.errors import ERRORS_TAG, error_row, write_errors
from pipelines.layout import DatasetLayout
from pipelines.options import BEAM_HELP, beam_options, configure_logging, split_args
from pipelines.parquet_io import clear_folder, write_table
from pipelines.progress import WorkerProgress, stage_counters
from pipelines.schemas import EDITS, PHOTOS, SLIDER_KEYS
from rendering.sliders import PROCESS_2003

log = logging.getLogger(__name__)
STAGE = "ingest"


class SettingsError(ValueError):
    """Develop settings parse as a table but cannot give the sliders; the message names the key."""


class MissingExpertEditError(ValueError):
    """A photo is in some Experts collections but not in this expert's."""


class DuplicateMemberError(ValueError):
    """A collection holds more than one virtual copy of a photo; the first by image id is kept."""


class MissingPhotoError(ValueError):
    """A user's edit is of a photo that no Experts collection holds."""


@dataclass(frozen=True)
class IngestConfig:
    """What the per-photo and per-edit steps need: catalog URI (for error rows), DNG check on/off."""

    catalog: str
    raw_check: bool = True
    experts: tuple[str, ...] = fivek.EXPERTS


@dataclass(frozen=True)
class PhotoInput:
    """One photo to ingest: ids, where its DNG is (or would be), metadata and split."""

    photo_id: str
    base_name: str
    raw_uri: str
    raw_found: bool
    split: str
    metadata: fivek.PhotoMetadata | None = None


@dataclass(frozen=True)
class EditInput:
    """One catalog member: who edited which photo, and the settings text."""

    photo_id: str
    base_name: str
    editor: str
    editor_kind: str          # expert | user
    image_id: int
    settings_text: str
    uri: str                  # catalog#set/collection/image id, for error rows


# --------------------------------------------------------------------------- plain functions

def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def tone_curve_points(value: Any) -> list[float] | None:
    """A catalog ToneCurve (flat x0, y0, x1, y1, ... in 0..255) -> floats, None when absent or empty."""
    if value is None or value == {} or value == []:
        return None
    if not isinstance(value, list) or not all(_is_number(v) for v in value):
        raise SettingsError(f"ToneCurve must be a flat list of numbers, got {value!r:.80}")
    points = [float(v) for v in value]
    if len(points) < 4 or len(points) % 2:
        raise SettingsError(f"ToneCurve needs x, y pairs (at least two points), got {len(points)} numbers")
    if not all(math.isfinite(v) and 0.0 <= v <= 255.0 for v in points):
        raise SettingsError("ToneCurve points must lie in 0..255")
    return points


def _text(value: Any) -> str | None:
    """A catalog string field as text (numbers written as their literal), None when absent."""
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        raise SettingsError(f"expected a string, got a table {value!r:.60}")
    return str(value)


def settings_sliders(settings: Mapping[str, Any], as_shot: tuple[float, float] | None) -> list[float]:
    """The 11 sliders (Lightroom units) of parsed settings; missing -> 0, missing WB -> as shot.

    Raises SettingsError for a non-numeric value or an as-shot white balance that is unknown
    (as_shot None), SliderError (from PROCESS_2003.validate) for NaN or out-of-range values.
    """
    for key in SLIDER_KEYS:
        value = settings.get(key)
        if value is not None and not _is_number(value):
            raise SettingsError(f"{key} = {value!r:.60} is not a number")
    if as_shot is None and (settings.get("Temperature") is None or settings.get("Tint") is None):
        raise SettingsError("white balance is as shot (no Temperature/Tint) and the DNG was not read "
                            "(--no-raw-check), so the as-shot values are unknown")
    sliders = PROCESS_2003.from_mapping(settings, *(as_shot or (5000.0, 0.0)))
    PROCESS_2003.validate(sliders)
    return [float(v) for v in sliders]


def edit_row(edit: EditInput, as_shot: tuple[float, float] | None) -> dict[str, Any]:
    """One edits/ row from a catalog member's settings text; raises on anything malformed."""
    from pipelines.catalog import settings_sha256
    from pipelines.lua_table import parse_lua_table

    settings = parse_lua_table(edit.settings_text)
    if not isinstance(settings, dict):
        raise SettingsError("settings are a list, not a table of keys")
    sliders = settings_sliders(settings, as_shot)
    return {"photo_id": edit.photo_id, "editor": edit.editor, "editor_kind": edit.editor_kind,
            **dict(zip(SLIDER_KEYS, sliders)),
            "process_version": _text(settings.get("ProcessVersion") or settings.get("Version")),
            "tone_curve": tone_curve_points(settings.get("ToneCurve")),
            "white_balance": _text(settings.get("WhiteBalance")),
            "settings_sha256": settings_sha256(edit.settings_text)}


def photo_row(photo: PhotoInput, as_shot: tuple[float, float] | None, dng_camera: str | None = None) -> dict[str, Any]:
    """One photos/ row; camera from the metadata files, else the DNG's UniqueCameraModel."""
    meta = photo.metadata or fivek.PhotoMetadata(base_name=photo.base_name)
    categories = meta.categories or {}
    return {"photo_id": photo.photo_id, "file_name": photo.base_name, "raw_uri": photo.raw_uri,
            "camera_make": meta.camera_make, "camera_model": meta.camera_model or dng_camera,
            **{k: categories.get(k) for k in fivek.CATEGORY_KEYS}, "split": photo.split,
            "as_shot_temperature": None if as_shot is None else float(as_shot[0]),
            "as_shot_tint": None if as_shot is None else float(as_shot[1])}


def plan_edits(members: Iterable[Any], editor_kind: str, catalog: str) -> tuple[list[EditInput], list[dict[str, Any]]]:
    """Catalog members (CatalogEdit) -> EditInputs, one per (photo, collection), and error rows.

    A member whose base name is not a FiveK name, or the second virtual copy of a photo in one
    collection, becomes an error row (members come ordered by collection, base name, image id).
    """
    edits: list[EditInput] = []
    errors: list[dict[str, Any]] = []
    seen: dict[tuple[str, str], int] = {}
    for m in members:
        uri = f"{catalog}#{m.collection_set}/{m.collection}/{m.image_id}"
        try:
            photo_id = fivek.photo_id_of(m.base_name)
        except fivek.FiveKLayoutError as exc:
            errors.append(error_row(m.base_name, STAGE, exc, uri))
            continue
        key = (photo_id, m.collection)
        if key in seen:
            errors.append(error_row(photo_id, STAGE, DuplicateMemberError(
                f"{m.collection_set}/{m.collection} holds image {m.image_id} and image {seen[key]} of "
                f"{m.base_name}; kept image {seen[key]}"), uri))
            continue
        seen[key] = m.image_id
        edits.append(EditInput(photo_id=photo_id, base_name=m.base_name, editor=m.collection, editor_kind=editor_kind,
                               image_id=m.image_id, settings_text=m.settings_text or "", uri=uri))
    return edits, errors


def plan_photos(expert_edits: list[EditInput], root: str, raw_files: Mapping[str, str] | None,
                metadata: Mapping[str, fivek.PhotoMetadata], split_of: fivek.SplitAssigner) -> list[PhotoInput]:
    """One PhotoInput per photo id in the Experts collections, joined with the DNGs found on disk.

    raw_files None (--no-raw-check): the DNG is assumed at its download path and not looked for.
    """
    base_names: dict[str, str] = {}
    for edit in expert_edits:
        base_names.setdefault(edit.photo_id, edit.base_name)
    photos = []
    for photo_id in sorted(base_names):
        base_name = base_names[photo_id]
        found = raw_files.get(photo_id) if raw_files is not None else None
        photos.append(PhotoInput(photo_id=photo_id, base_name=base_name,
                                 raw_uri=found or fivek.raw_path(root, base_name), raw_found=found is not None,
                                 split=split_of(photo_id), metadata=metadata.get(photo_id)))
    return photos


# --------------------------------------------------------------------------- Beam wiring

class ReadPhoto(beam.DoFn):
    """PhotoInput -> photos/ row with the DNG's as-shot white balance; a missing/unreadable DNG -> errors."""

    def __init__(self, config: IngestConfig):
        self._config = config

    def setup(self) -> None:
        self._photos = beam.metrics.Metrics.counter(STAGE, "photos")
        self._progress = WorkerProgress(log, "ingest: %d photos read by this worker")

    def process(self, photo: PhotoInput) -> Iterator[Any]:
        as_shot, camera = None, None
        if self._config.raw_check:
            try:
                if not photo.raw_found:
                    raise FileNotFoundError(f"no DNG for {photo.base_name} under raw_photos/*/photos/")
                from rendering.raw import read_camera_profile

                with FileSystems.open(photo.raw_uri) as f:
                    profile = read_camera_profile(f.read(), name=photo.raw_uri)
                as_shot = profile.as_shot_white()
                camera = profile.camera_model or None
            except Exception as exc:  # missing or unreadable raw: the job goes on
                yield beam.pvalue.TaggedOutput(ERRORS_TAG, error_row(photo.photo_id, STAGE, exc, photo.raw_uri))
                return
        yield photo_row(photo, as_shot, camera)
        self._photos.inc()
        self._progress.step()


class BuildEdits(beam.DoFn):
    """(photo_id, {photo: [row], edits: [EditInput]}) -> edits/ rows; bad settings and gaps -> errors."""

    def __init__(self, config: IngestConfig):
        self._config = config

    def setup(self) -> None:
        self._edits = beam.metrics.Metrics.counter(STAGE, "edits")
        self._skipped = beam.metrics.Metrics.counter(STAGE, "edits_of_failed_photos")

    def process(self, joined: tuple[str, dict[str, list[Any]]]) -> Iterator[Any]:
        photo_id, group = joined
        edits = sorted(group["edits"], key=lambda e: (e.editor_kind, e.editor))
        if not group["photo"]:             # its DNG failed: that photo's error row says why
            self._skipped.inc(len(edits))
            return
        row = group["photo"][0]
        as_shot = None
        if row["as_shot_temperature"] is not None:
            as_shot = (row["as_shot_temperature"], row["as_shot_tint"])
        have = {e.editor for e in edits if e.editor_kind == "expert"}
        for expert in self._config.experts:
            if expert not in have:
                yield beam.pvalue.TaggedOutput(ERRORS_TAG, error_row(photo_id, STAGE, MissingExpertEditError(
                    f"{row['file_name']} is not in collection {fivek.EXPERT_SET}/{expert}"), self._config.catalog))
        for edit in edits:
            try:
                out = edit_row(edit, as_shot)
            except Exception as exc:  # hostile or malformed text, bad slider: the job goes on
                reason = f"{type(exc).__name__}: {edit.editor_kind} {edit.editor}: {exc}"
                yield beam.pvalue.TaggedOutput(ERRORS_TAG, error_row(photo_id, STAGE, reason, edit.uri))
                continue
            self._edits.inc()
            yield out


class IngestFiveK(beam.PTransform):
    """(PhotoInputs, EditInputs) -> (photos rows, edits rows, error rows)."""

    def __init__(self, config: IngestConfig):
        super().__init__()
        self._config = config

    def expand(self, inputs: tuple[beam.PCollection, beam.PCollection]):
        photos, edits = inputs
        read = photos | "ReadPhotos" >> beam.ParDo(ReadPhoto(self._config)).with_outputs(ERRORS_TAG, main="photos")
        joined = ({"photo": read.photos | "KeyPhotos" >> beam.Map(lambda r: (r["photo_id"], r)),
                   "edits": edits | "KeyEdits" >> beam.Map(lambda e: (e.photo_id, e))}
                  | "JoinEdits" >> beam.CoGroupByKey())
        built = joined | "BuildEdits" >> beam.ParDo(BuildEdits(self._config)).with_outputs(ERRORS_TAG, main="edits")
        errors = (read[ERRORS_TAG], built[ERRORS_TAG]) | "MergeErrors" >> beam.Flatten()
        return read.photos, built.edits, errors


def write_sorted(rows: list[dict[str, Any]], folder: str, schema: Any, keys: tuple[str, ...]) -> str:
    """Write rows as one Parquet shard sorted by `keys` (deterministic for any runner and worker count)."""
    import pyarrow as pa

    rows = sorted(rows, key=lambda r: tuple(r[k] for k in keys))
    return write_table(pa.Table.from_pylist(rows, schema=schema), folder)


def _sink_sorted(pcoll: beam.PCollection, folder: str, schema: Any, keys: tuple[str, ...], label: str) -> None:
    """Gather a (small: one row per photo x editor) output and write it as one sorted shard."""
    _ = (pcoll | f"Gather{label}" >> beam.combiners.ToList()
         | f"Write{label}" >> beam.Map(lambda rows: write_sorted(rows, folder, schema, keys)))


# --------------------------------------------------------------------------- driver

@dataclass
class IngestPlan:
    """Everything the driver read: photos and edits to process, errors found while planning."""

    photos: list[PhotoInput]
    edits: list[EditInput]
    errors: list[dict[str, Any]] = field(default_factory=list)
    experts: tuple[str, ...] = fivek.EXPERTS
    unlisted_raws: int = 0


def _local_catalog(catalog: str, workdir: str) -> str:
    """A local path of the catalog (copied down from gs:// etc. since SQLite needs a file)."""
    if "://" not in catalog:
        return catalog
    local = os.path.join(workdir, "fivek.lrcat")
    with FileSystems.open(catalog) as src, open(local, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return local


def plan_ingest(root: str, catalog: str, metadata_dir: str, split: str, raw_check: bool) -> IngestPlan:
    """Read the catalog (read-only), the metadata files and the raw listing into an IngestPlan."""
    from pipelines.catalog import CatalogError, collection_edits, collection_names

    with tempfile.TemporaryDirectory() as workdir:
        local = _local_catalog(catalog, workdir)
        experts = tuple(collection_names(local, fivek.EXPERT_SET))
        expert_edits, errors = plan_edits(collection_edits(local, fivek.EXPERT_SET), "expert", catalog)
        try:
            user_members = list(collection_edits(local, fivek.USER_SET))
        except CatalogError:
            user_members = []
    if experts != fivek.EXPERTS:
        log.warning("ingest: the Experts collections are %s, not A..E", list(experts))
    user_edits, user_errors = plan_edits(user_members, "user", catalog)
    errors += user_errors
    expert_photos = {e.photo_id for e in expert_edits}
    for edit in user_edits:
        if edit.photo_id not in expert_photos:
            errors.append(error_row(edit.photo_id, STAGE, MissingPhotoError(
                f"user {edit.editor} edited {edit.photo_id}, which no {fivek.EXPERT_SET} collection holds"), edit.uri))
    user_edits = [e for e in user_edits if e.photo_id in expert_photos]
    raw_files = fivek.find_raw_files(root) if raw_check else None
    metadata = fivek.read_metadata([metadata_dir] if metadata_dir == root else [metadata_dir, root])
    photos = plan_photos(expert_edits, root, raw_files, metadata, fivek.split_assigner(split, metadata_dir))
    unlisted = 0 if raw_files is None else len(set(raw_files) - expert_photos)
    return IngestPlan(photos=photos, edits=expert_edits + user_edits, errors=errors, experts=experts,
                      unlisted_raws=unlisted)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="photoedit ingest",
        description="MIT-Adobe FiveK root -> photos/ and edits/ Parquet (+ errors/ingest).\n\n"
                    "ROOT is the folder of the real download that contains raw_photos/ (fivek_dataset/ "
                    "when unpacked from fivek_dataset.tar): DNGs at ROOT/raw_photos/HQa1to700/photos/"
                    "a0001-jmac_DSC1459.dng ... (seven HQa folders), the Lightroom catalog at "
                    "ROOT/raw_photos/fivek.lrcat, categories.txt and filesAdobe*.txt at ROOT. "
                    "`photoedit sample --out ROOT` generates a small root of the same shape.\n\n"
                    "Photos are the members of the catalog's collection set Experts (collections A..E) "
                    "joined with the DNGs on disk; edits are those members plus, when present, the "
                    "collection set Users (one collection per user). The catalog is opened read-only.",
        epilog="splits (--split):\n" + fivek.SPLIT_HELP + "\n\n" + BEAM_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fivek", required=True, metavar="ROOT",
                        help="FiveK root: the folder containing raw_photos/ (local path or gs://...)")
    parser.add_argument("--out", required=True, metavar="DATASET", help="dataset root to write photos/, edits/, errors/ingest/ under")
    parser.add_argument("--split", choices=fivek.SPLIT_SCHEMES, default="hash", help="split scheme (see below)")
    parser.add_argument("--metadata", metavar="DIR", default=None,
                        help="folder with training/validation/testing.json, FiveK_*.txt folds, camera_models.csv "
                             "(default: ROOT; categories.txt and filesAdobe*.txt are also read from ROOT)")
    parser.add_argument("--catalog", metavar="PATH", default=None,
                        help="Lightroom catalog (default ROOT/raw_photos/fivek.lrcat); opened read-only, never modified")
    parser.add_argument("--no-raw-check", dest="raw_check", action="store_false",
                        help="do not look for or read the DNGs: raw_uri is the download path, unchecked; "
                             "as_shot_temperature/as_shot_tint stay null; edits with an as-shot white balance "
                             "(no Temperature/Tint) cannot be resolved and go to errors/ingest")
    parser.add_argument("--verbose", action="store_true")
    return parser


def run(argv: list[str] | None = None) -> int:
    """Entry point of `photoedit ingest`; 0 when the job ran (bad items are rows in errors/ingest), 2 on bad setup."""
    from pipelines.catalog import CatalogError

    args, beam_args = split_args(build_parser(), argv)
    configure_logging(args.verbose)
    root = args.fivek.rstrip("/")
    catalog = args.catalog or FileSystems.join(root, fivek.CATALOG)
    metadata_dir = args.metadata or root
    layout = DatasetLayout(args.out)
    started = time.monotonic()
    try:
        plan = plan_ingest(root, catalog, metadata_dir, args.split, args.raw_check)
    except (CatalogError, fivek.FiveKLayoutError, FileNotFoundError) as exc:
        log.error("ingest: %s", exc)
        return 2
    log.info("ingest: catalog %s: %d photos in %s, %d edits, %d planning errors; %d DNGs not in the catalog "
             "(ignored)", catalog, len(plan.photos), fivek.EXPERT_SET, len(plan.edits), len(plan.errors),
             plan.unlisted_raws)
    config = IngestConfig(catalog=catalog, raw_check=args.raw_check, experts=plan.experts)
    for folder in (layout.photos, layout.edits):
        clear_folder(folder)

    with beam.Pipeline(options=beam_options(beam_args)) as pipeline:
        photos = pipeline | "CreatePhotos" >> beam.Create(plan.photos, reshuffle=True)
        edits = pipeline | "CreateEdits" >> beam.Create(plan.edits, reshuffle=True)
        photo_rows, edit_rows, errors = (photos, edits) | "Ingest" >> IngestFiveK(config)
        planned = pipeline | "CreatePlanErrors" >> beam.Create(plan.errors)
        _sink_sorted(photo_rows, layout.photos, PHOTOS, ("photo_id",), "Photos")
        _sink_sorted(edit_rows, layout.edits, EDITS, ("photo_id", "editor_kind", "editor"), "Edits")
        write_errors((errors, planned) | "AllErrors" >> beam.Flatten(), layout, STAGE)
    counters = stage_counters(pipeline.result, STAGE)
    log.info("ingest: %s in %.1f s", counters, time.monotonic() - started)
    print(f"ingest: {counters.get('photos', 0)} photos, {counters.get('edits', 0)} edits, "
          f"{counters.get('errors', 0)} errors -> {layout.root}")
    return 0
