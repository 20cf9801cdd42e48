"""`photoedit ingest`: a FiveK root (raw DNGs + Lightroom catalog) -> photos/ and edits/ Parquet.

The driver opens the catalog read-only (SQLite immutable mode: its bytes never change), lists the
members of the collection set "Experts" (collections A..E) and, when present, "Users", and finds
each photo's DNG where the catalog says (its root folder's absolute path, else the root's path
relative to the catalog: pipelines.lightroom.catalog.locate_photo), else under
ROOT/raw_photos/*/photos/. A photo is every base name in an Experts collection. The Beam job then,
per photo, reads the as-shot white balance from its DNG (rendering.raw.read_camera_profile(...).
as_shot_white()) and, per edit, parses the settings text as data (pipelines.lightroom.lua_table:
never evaluated, code is rejected) into the 11 Camera Raw 2003 sliders in Lightroom units by the
rules of pipelines.lightroom.develop_settings (a missing slider means 0; white balance by the
text's WhiteBalance mode, a missing Tint beside a Temperature means 0), checks their ranges
(rendering.sliders.PROCESS_2003) and keeps the point curve, process version and white-balance mode.
The driver hands the plan (photos and catalog members) to the workers as Parquet files under
OUT/_plans/ (deleted after the run), not inside the job. Outputs, in shards of about 5 000 rows
sorted by key (one shard up to 5 000 rows) so any runner and worker count gives the same bytes of rows:

    photos/  (schema PHOTOS, sorted by photo_id)         edits/  (schema EDITS, sorted by photo_id, editor)
    errors/ingest/  (id, stage, reason, uri): missing DNG, photo missing from an expert's collection,
                    settings that are not a plain Lua table, non-numeric or out-of-range sliders,
                    duplicate members, user edits of photos outside the Experts collections.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import math
import os
import uuid
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping, Sequence

import apache_beam as beam
import pyarrow as pa

from pipelines.core import storage
from pipelines.core.console import configure_logging, local_log_dir
from pipelines.core.errors import ERRORS_TAG, error_row, write_errors
from pipelines.core.layout import DatasetLayout
from pipelines.core.options import BEAM_HELP, split_args
from pipelines.core.parquet_io import SHARD_NAME, all_written, read_rows, table_bytes, write_rows
from pipelines.core.progress import WorkerProgress
from pipelines.core.schemas import EDITS, PHOTOS, SLIDER_KEYS
from pipelines.core.stage import run_stage
from pipelines.core.transforms import TaggedParDo
from pipelines.fivek import layout as fivek
from pipelines.lightroom import develop_settings
from rendering.sliders import PROCESS_2003

log = logging.getLogger(__name__)
STAGE = "ingest"


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
    member: Any = None        # the catalog's CatalogEdit (folder, relative folder), for locating the photo


# --------------------------------------------------------------------------- plain functions

def edit_row(edit: EditInput, as_shot: tuple[float, float] | None) -> dict[str, Any]:
    """One edits/ row from a catalog member's settings text; raises on anything malformed."""
    settings = develop_settings.parse_settings_text(edit.settings_text)
    sliders = develop_settings.settings_sliders(settings, as_shot, PROCESS_2003)
    return {"photo_id": edit.photo_id, "editor": edit.editor, "editor_kind": edit.editor_kind,
            **{k: float(v) for k, v in zip(SLIDER_KEYS, sliders)},
            "process_version": develop_settings.text_field(settings.get("ProcessVersion") or settings.get("Version")),
            "tone_curve": develop_settings.tone_curve_points(settings.get("ToneCurve")),
            "white_balance": develop_settings.text_field(settings.get("WhiteBalance")),
            "settings_sha256": develop_settings.settings_sha256(edit.settings_text)}


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
    Each EditInput keeps its CatalogEdit (`member`) so its photo can be located as Lightroom would.
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
                               image_id=m.image_id, settings_text=m.settings_text or "", uri=uri, member=m))
    return edits, errors


def locate_raw(edit: EditInput, catalog: str, raw_files: Mapping[str, str]) -> str | None:
    """A photo's raw file: where the catalog says (pipelines.lightroom.catalog.locate_photo), else the
    FiveK layout's copy under ROOT/raw_photos/*/photos/ (raw_files), else None."""
    from pipelines.lightroom.catalog import locate_photo

    if edit.member is not None:
        try:
            return locate_photo(edit.member, catalog)
        except FileNotFoundError:
            pass
    return raw_files.get(edit.photo_id)


def plan_photos(expert_edits: list[EditInput], root: str, catalog: str, raw_files: Mapping[str, str] | None,
                metadata: Mapping[str, fivek.PhotoMetadata], split_of: fivek.SplitAssigner) -> list[PhotoInput]:
    """One PhotoInput per photo id in the Experts collections, with its raw file located (locate_raw).

    raw_files None (--no-raw-check): the DNG is assumed at its download path and not looked for.
    """
    first: dict[str, EditInput] = {}
    for edit in expert_edits:
        first.setdefault(edit.photo_id, edit)
    photos = []
    for photo_id in sorted(first):
        edit = first[photo_id]
        found = locate_raw(edit, catalog, raw_files) if raw_files is not None else None
        photos.append(PhotoInput(photo_id=photo_id, base_name=edit.base_name,
                                 raw_uri=found or fivek.raw_path(root, edit.base_name), raw_found=found is not None,
                                 split=split_of(photo_id), metadata=metadata.get(photo_id)))
    return photos


# --------------------------------------------------------------------------- Beam wiring

class ReadPhoto(beam.DoFn):
    """PhotoInput -> photos/ row with the DNG's as-shot white balance; a missing/unreadable DNG -> errors."""

    def __init__(self, config: IngestConfig):
        self._config = config

    def setup(self) -> None:
        self._photos = beam.metrics.Metrics.counter(STAGE, "photos")
        self._progress = WorkerProgress(log, STAGE)

    def process(self, photo: PhotoInput) -> Iterator[Any]:
        as_shot, camera = None, None
        if self._config.raw_check:
            try:
                if not photo.raw_found:
                    raise FileNotFoundError(f"no DNG for {photo.base_name}: not where the catalog says, nor "
                                            "under raw_photos/*/photos/")
                from rendering.raw import read_camera_profile

                profile = read_camera_profile(storage.read_bytes(photo.raw_uri), name=photo.raw_uri)
                as_shot = profile.as_shot_white()
                camera = profile.camera_model or None
            except Exception as exc:  # missing or unreadable raw: the job goes on
                yield beam.pvalue.TaggedOutput(ERRORS_TAG, error_row(photo.photo_id, STAGE, exc, photo.raw_uri))
                return
        yield photo_row(photo, as_shot, camera)
        self._photos.inc()
        self._progress.step()

    def finish_bundle(self) -> None:
        self._progress.flush()


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
        read = photos | "ReadPhotos" >> TaggedParDo(ReadPhoto(self._config), ERRORS_TAG, main="photos")
        joined = ({"photo": read.photos | "KeyPhotos" >> beam.Map(lambda r: (r["photo_id"], r)),
                   "edits": edits | "KeyEdits" >> beam.Map(lambda e: (e.photo_id, e))}
                  | "JoinEdits" >> beam.CoGroupByKey())
        built = joined | "BuildEdits" >> TaggedParDo(BuildEdits(self._config), ERRORS_TAG, main="edits")
        errors = (read[ERRORS_TAG], built[ERRORS_TAG]) | "MergeErrors" >> beam.Flatten()
        return read.photos, built.edits, errors


# --------------------------------------------------------------------------- driver

@dataclass
class IngestPlan:
    """Everything the driver read: photos and edits to process, errors found while planning."""

    photos: list[PhotoInput]
    edits: list[EditInput]
    errors: list[dict[str, Any]] = field(default_factory=list)
    experts: tuple[str, ...] = fivek.EXPERTS
    unlisted_raws: int = 0


def plan_ingest(config: "IngestJobConfig") -> IngestPlan:
    """Read the catalog (read-only), the metadata files and the raw listing into an IngestPlan."""
    from pipelines.lightroom.catalog import (
        CatalogError,
        collection_edits,
        collection_names,
    )

    catalog = config.catalog_uri
    with storage.local_copy(catalog, suffix=".lrcat") as local:
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
    root, metadata_dir = config.root, config.metadata_uri
    raw_files = fivek.find_raw_files(root) if config.raw_check else None
    metadata = fivek.read_metadata([metadata_dir] if metadata_dir == root else [metadata_dir, root])
    photos = plan_photos(expert_edits, root, catalog, raw_files, metadata,
                         fivek.split_assigner(config.split, metadata_dir))
    unlisted = 0 if raw_files is None else len(set(raw_files) - expert_photos)
    return IngestPlan(photos=photos, edits=expert_edits + user_edits, errors=errors, experts=experts,
                      unlisted_raws=unlisted)


@dataclass(frozen=True)
class IngestJobConfig:
    """The ingest job: FiveK root, dataset root to write, split scheme, metadata folder, catalog, DNG check."""

    fivek: str
    out: str
    split: str = "hash"
    metadata: str | None = None
    catalog: str | None = None
    raw_check: bool = True

    def __post_init__(self) -> None:
        if self.split not in fivek.SPLIT_SCHEMES:
            raise ValueError(f"split must be one of {', '.join(fivek.SPLIT_SCHEMES)}, got {self.split!r}")

    @property
    def root(self) -> str:
        return self.fivek.rstrip("/")

    @property
    def catalog_uri(self) -> str:
        return self.catalog or storage.join(self.root, fivek.CATALOG)

    @property
    def metadata_uri(self) -> str:
        return self.metadata or self.root

    @property
    def layout(self) -> DatasetLayout:
        return DatasetLayout(self.out)


PLAN_PHOTOS = pa.schema([
    pa.field("photo_id", pa.string(), nullable=False), pa.field("base_name", pa.string(), nullable=False),
    pa.field("raw_uri", pa.string(), nullable=False), pa.field("raw_found", pa.bool_(), nullable=False),
    pa.field("split", pa.string(), nullable=False),
    pa.field("metadata", pa.string()),                 # PhotoMetadata as JSON, null when the files say nothing
])
PLAN_EDITS = pa.schema([
    pa.field("photo_id", pa.string(), nullable=False), pa.field("base_name", pa.string(), nullable=False),
    pa.field("editor", pa.string(), nullable=False), pa.field("editor_kind", pa.string(), nullable=False),
    pa.field("image_id", pa.int64(), nullable=False), pa.field("settings_text", pa.string(), nullable=False),
    pa.field("uri", pa.string(), nullable=False),
])
ROWS_PER_SHARD = 5000   # about this many rows per photos/ and edits/ shard: no worker holds a whole table


def photo_plan_row(photo: PhotoInput) -> dict[str, Any]:
    """A PhotoInput as a PLAN_PHOTOS row."""
    meta = None if photo.metadata is None else json.dumps(dataclasses.asdict(photo.metadata), sort_keys=True)
    return {"photo_id": photo.photo_id, "base_name": photo.base_name, "raw_uri": photo.raw_uri,
            "raw_found": photo.raw_found, "split": photo.split, "metadata": meta}


def photo_input(row: Mapping[str, Any]) -> PhotoInput:
    """A PLAN_PHOTOS row back as the PhotoInput it was written from."""
    meta = None if row["metadata"] is None else fivek.PhotoMetadata(**json.loads(row["metadata"]))
    return PhotoInput(photo_id=row["photo_id"], base_name=row["base_name"], raw_uri=row["raw_uri"],
                      raw_found=bool(row["raw_found"]), split=row["split"], metadata=meta)


def edit_plan_row(edit: EditInput) -> dict[str, Any]:
    """An EditInput as a PLAN_EDITS row (its catalog member, needed only to locate photos, is left out)."""
    return {"photo_id": edit.photo_id, "base_name": edit.base_name, "editor": edit.editor,
            "editor_kind": edit.editor_kind, "image_id": int(edit.image_id), "settings_text": edit.settings_text,
            "uri": edit.uri}


def edit_input(row: Mapping[str, Any]) -> EditInput:
    """A PLAN_EDITS row as an EditInput."""
    return EditInput(**{k: row[k] for k in PLAN_EDITS.names})


@dataclass(frozen=True)
class PlanFiles:
    """Where the driver wrote the plan for the workers to read (one Parquet folder of photos, one of
    edits) and how many of each it holds."""

    root: str
    num_photos: int = 0
    num_edits: int = 0

    @property
    def photos(self) -> str:
        return storage.join(self.root, "photos")

    @property
    def edits(self) -> str:
        return storage.join(self.root, "edits")


def write_plan(plan: IngestPlan, root: str) -> PlanFiles:
    """The plan's photos and edits as Parquet under `root` (so the job graph carries paths, not the catalog)."""
    files = PlanFiles(root, len(plan.photos), len(plan.edits))
    for folder, rows, schema in ((files.photos, [photo_plan_row(p) for p in plan.photos], PLAN_PHOTOS),
                                 (files.edits, [edit_plan_row(e) for e in plan.edits], PLAN_EDITS)):
        storage.write_bytes(storage.join(folder, SHARD_NAME.format(index=0, count=1)),
                            table_bytes(pa.Table.from_pylist(rows, schema=schema)))
    return files


def shard_count(rows: int) -> int:
    """Shards of an output of `rows` rows: about ROWS_PER_SHARD rows each, at least one."""
    return max(1, math.ceil(rows / ROWS_PER_SHARD))


def build_pipeline(pipeline: beam.Pipeline, config: IngestJobConfig, plan: IngestPlan, files: PlanFiles) -> None:
    """The plan written under `files` -> IngestFiveK -> photos/, edits/ (sorted shards of about
    ROWS_PER_SHARD rows), errors/ingest; `plan` gives the experts and the planning errors."""
    layout = config.layout
    step = IngestConfig(catalog=config.catalog_uri, raw_check=config.raw_check, experts=plan.experts)
    photos = pipeline | "ReadPhotoPlan" >> read_rows(files.photos) | "PhotoInputs" >> beam.Map(photo_input)
    edits = pipeline | "ReadEditPlan" >> read_rows(files.edits) | "EditInputs" >> beam.Map(edit_input)
    photo_rows, edit_rows, errors = (photos, edits) | "Ingest" >> IngestFiveK(step)
    planned = pipeline | "CreatePlanErrors" >> beam.Create(plan.errors)
    all_written(write_rows(photo_rows, layout.photos, PHOTOS, label="WritePhotos", keys=("photo_id",),
                           num_shards=shard_count(files.num_photos)),
                write_rows(edit_rows, layout.edits, EDITS, label="WriteEdits",
                           keys=("photo_id", "editor_kind", "editor"), num_shards=shard_count(files.num_edits)),
                write_errors((errors, planned) | "AllErrors" >> beam.Flatten(), layout, STAGE))


def run_job(config: IngestJobConfig, beam_args: Sequence[str] = (),
            test_pipeline: beam.Pipeline | None = None) -> dict[str, int]:
    """Plan (catalog, metadata, raw files), run the ingest job, return its counters.

    The plan goes to the workers as Parquet under <out>/_plans/ingest-<id>/ (deleted after the run),
    not inside the job: the job's size does not grow with the catalog.
    Raises CatalogError, FiveKLayoutError or FileNotFoundError when the root or catalog is unusable.
    """
    layout = config.layout
    plan = plan_ingest(config)
    log.info("ingest: catalog %s: %d photos in %s, %d edits, %d planning errors; %d raw files not in the "
             "catalog (ignored)", config.catalog_uri, len(plan.photos), fivek.EXPERT_SET, len(plan.edits),
             len(plan.errors), plan.unlisted_raws)
    outputs = {"photos": layout.photos, "edits": layout.edits, "errors": layout.errors(STAGE)}
    plan_root = layout.path("_plans", f"{STAGE}-{uuid.uuid4().hex[:12]}")
    try:
        files = write_plan(plan, plan_root)
        plan = dataclasses.replace(plan, photos=[], edits=[])   # the workers read them from the files
        run = run_stage(STAGE, outputs, files.num_photos, "photos",
                        lambda pipeline: build_pipeline(pipeline, config, plan, files), beam_args, test_pipeline)
    finally:
        storage.delete_folder(plan_root)
        if storage.is_local(layout.path("_plans")):
            with contextlib.suppress(OSError):
                os.rmdir(layout.path("_plans"))
    log.info("ingest: %d photos, %d edits, %d errors -> %s (%.1f s)", run.counters.get("photos", 0),
             run.counters.get("edits", 0), run.counters.get("errors", 0), layout.root, run.seconds)
    return run.counters


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
    parser.add_argument("--verbose", action="store_true", help="every log line, Beam's and the workers' too")
    return parser


def run(argv: list[str] | None = None, test_pipeline: beam.Pipeline | None = None) -> int:
    """Entry point of `photoedit ingest`; 0 when the job ran (bad items are rows in errors/ingest), 2 on bad setup."""
    from pipelines.lightroom.catalog import CatalogError

    parser = build_parser()
    args, beam_args = split_args(parser, argv)
    configure_logging(args.verbose, local_log_dir(args.out), STAGE)
    config = IngestJobConfig(fivek=args.fivek, out=args.out, split=args.split, metadata=args.metadata,
                             catalog=args.catalog, raw_check=args.raw_check)
    try:
        run_job(config, beam_args, test_pipeline)
    except (CatalogError, fivek.FiveKLayoutError, FileNotFoundError) as exc:
        log.error("ingest: %s", exc)
        return 2
    return 0
