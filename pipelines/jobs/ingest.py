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
The driver streams the catalog into a plan of parts (pipelines.fivek.ingest_plan: PHOTOS_PER_PART
consecutive photos and their members each) written under a scratch folder of the stage's staging run,
so a killed run leaves nothing outside _staging/ and the next run deletes it. One worker ingests one
part and writes it as one shard of each output, sorted by key, so no catalog row crosses a shuffle and
any runner and worker count gives the same bytes of rows:

    photos/  (schema PHOTOS, part K = photos K*250.., sorted by photo_id)
    edits/   (schema EDITS, part K = their edits, sorted by photo_id, editor_kind, editor)
    errors/ingest/  (id, stage, reason, uri): missing DNG, photo missing from an expert's collection,
                    settings that are not a plain Lua table, non-numeric or out-of-range sliders,
                    duplicate members, user edits of photos outside the Experts collections.
"""
from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Mapping, Sequence

import apache_beam as beam

from pipelines.core import storage
from pipelines.core.console import configure_logging, local_log_dir
from pipelines.core.errors import ERRORS_TAG, error_row, write_errors
from pipelines.core.layout import DatasetLayout
from pipelines.core.options import BEAM_HELP, split_args
from pipelines.core.parquet_io import all_written, write_shard
from pipelines.core.progress import WorkerProgress
from pipelines.core.schemas import EDITS, PHOTOS, SLIDER_KEYS
from pipelines.core.stage import run_stage
from pipelines.core.staging import Staging, staged_path
from pipelines.core.transforms import TaggedParDo
from pipelines.fivek import layout as fivek
from pipelines.fivek.ingest_plan import (
    EditInput,
    IngestPlan,
    MissingExpertEditError,
    PhotoInput,
    PlanFiles,
    write_plan,
)
from pipelines.lightroom import develop_settings
from rendering.sliders import PROCESS_2003

log = logging.getLogger(__name__)
STAGE = "ingest"
PHOTO_KEYS = ("photo_id",)
EDIT_KEYS = ("photo_id", "editor_kind", "editor")


@dataclass(frozen=True)
class IngestConfig:
    """What the per-photo and per-edit steps need: catalog URI (for error rows), DNG check on/off."""

    catalog: str
    raw_check: bool = True
    experts: tuple[str, ...] = fivek.EXPERTS


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


# --------------------------------------------------------------------------- one photo

def read_photo(photo: PhotoInput, config: IngestConfig) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(photos/ row, None) with the DNG's as-shot white balance, or (None, error row) for a missing or
    unreadable DNG; without the DNG check the row has no as-shot white."""
    as_shot, camera = None, None
    if config.raw_check:
        try:
            if not photo.raw_found:
                raise FileNotFoundError(f"no DNG for {photo.base_name}: not where the catalog says, nor "
                                        "under raw_photos/*/photos/")
            from rendering.raw import read_camera_profile

            profile = read_camera_profile(storage.read_bytes(photo.raw_uri), name=photo.raw_uri)
            as_shot = profile.as_shot_white()
            camera = profile.camera_model or None
        except Exception as exc:  # missing or unreadable raw: the job goes on
            return None, error_row(photo.photo_id, STAGE, exc, photo.raw_uri)
    return photo_row(photo, as_shot, camera), None


def photo_edits(row: Mapping[str, Any], edits: Iterable[EditInput], config: IngestConfig
                ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(edits/ rows, error rows) of one photo's catalog members given its photos/ row: an expert's
    collection without the photo and settings that do not parse or hold a bad slider are errors."""
    photo_id = row["photo_id"]
    as_shot = None
    if row["as_shot_temperature"] is not None:
        as_shot = (row["as_shot_temperature"], row["as_shot_tint"])
    edits = sorted(edits, key=lambda e: (e.editor_kind, e.editor))
    have = {e.editor for e in edits if e.editor_kind == "expert"}
    errors = [error_row(photo_id, STAGE, MissingExpertEditError(
        f"{row['file_name']} is not in collection {fivek.EXPERT_SET}/{expert}"), config.catalog)
        for expert in config.experts if expert not in have]
    rows = []
    for edit in edits:
        try:
            rows.append(edit_row(edit, as_shot))
        except Exception as exc:  # hostile or malformed text, bad slider: the job goes on
            errors.append(error_row(photo_id, STAGE, f"{type(exc).__name__}: {edit.editor_kind} {edit.editor}: {exc}",
                                    edit.uri))
    return rows, errors


# --------------------------------------------------------------------------- Beam wiring

class IngestPart(beam.DoFn):
    """Part index -> the part's photos/ and edits/ shards written (their paths); failed items -> errors.

    Reads the part's plan files, each photo's DNG and its members' settings, and writes shard `part`
    of `parts` of each output folder (staged folders, resolved in the driver), sorted by key.
    """

    def __init__(self, config: IngestConfig, files: PlanFiles, photos_folder: str, edits_folder: str):
        self._config, self._files = config, files
        self._photos_folder, self._edits_folder = photos_folder, edits_folder

    def setup(self) -> None:
        self._photos = beam.metrics.Metrics.counter(STAGE, "photos")
        self._edits = beam.metrics.Metrics.counter(STAGE, "edits")
        self._skipped = beam.metrics.Metrics.counter(STAGE, "edits_of_failed_photos")
        self._progress = WorkerProgress(log, STAGE)

    def process(self, part: int) -> Iterator[Any]:
        members: dict[str, list[EditInput]] = {}
        for edit in self._files.read_edits(part):
            members.setdefault(edit.photo_id, []).append(edit)
        photo_rows, edit_rows = [], []
        for photo in self._files.read_photos(part):
            row, error = read_photo(photo, self._config)
            edits = members.pop(photo.photo_id, [])
            if row is None:   # its DNG failed: that photo's error row says why
                self._skipped.inc(len(edits))
                yield beam.pvalue.TaggedOutput(ERRORS_TAG, error)
                continue
            rows, errors = photo_edits(row, edits, self._config)
            for e in errors:
                yield beam.pvalue.TaggedOutput(ERRORS_TAG, e)
            photo_rows.append(row)
            edit_rows += rows
            self._photos.inc()
            self._edits.inc(len(rows))
            self._progress.step()
        parts = self._files.parts
        yield write_shard((part, photo_rows), self._photos_folder, PHOTOS, PHOTO_KEYS, parts)
        yield write_shard((part, edit_rows), self._edits_folder, EDITS, EDIT_KEYS, parts)

    def finish_bundle(self) -> None:
        self._progress.flush()


# --------------------------------------------------------------------------- driver

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


def plan_ingest(config: IngestJobConfig, plan_root: str) -> IngestPlan:
    """Stream the catalog (read-only), the metadata files and the raw listing into a plan under `plan_root`."""
    root, metadata_dir = config.root, config.metadata_uri
    raw_files = fivek.find_raw_files(root) if config.raw_check else None
    metadata = fivek.read_metadata([metadata_dir] if metadata_dir == root else [metadata_dir, root])
    split_of = fivek.split_assigner(config.split, metadata_dir)
    with storage.local_copy(config.catalog_uri, suffix=".lrcat") as local:
        plan = write_plan(config.catalog_uri, local, root, raw_files, metadata, split_of, plan_root)
    if plan.experts != fivek.EXPERTS:
        log.warning("ingest: the Experts collections are %s, not A..E", list(plan.experts))
    return plan


def build_pipeline(pipeline: beam.Pipeline, config: IngestJobConfig, plan: IngestPlan) -> None:
    """The plan's parts -> IngestPart -> photos/, edits/ (one sorted shard per part), errors/ingest (with the
    planning errors)."""
    layout = config.layout
    step = IngestConfig(catalog=config.catalog_uri, raw_check=config.raw_check, experts=plan.experts)
    part = IngestPart(step, plan.files, staged_path(layout.photos), staged_path(layout.edits))
    out = (pipeline | "Parts" >> beam.Create(list(range(plan.files.parts)))
           | "IngestParts" >> TaggedParDo(part, ERRORS_TAG, main="shards"))
    planned = pipeline | "CreatePlanErrors" >> beam.Create(plan.errors)
    all_written(out.shards, write_errors((out[ERRORS_TAG], planned) | "AllErrors" >> beam.Flatten(), layout, STAGE))


def run_job(config: IngestJobConfig, beam_args: Sequence[str] = (),
            test_pipeline: beam.Pipeline | None = None) -> dict[str, int]:
    """Plan (catalog, metadata, raw files) into the staging run's scratch folder, run the ingest job, return
    its counters. Raises CatalogError, FiveKLayoutError or FileNotFoundError when the root or catalog is unusable
    (the outputs untouched)."""
    layout = config.layout
    planned: list[IngestPlan] = []

    def prepare(run: Staging) -> int:
        plan = plan_ingest(config, run.scratch("plan"))
        planned.append(plan)
        log.info("ingest: catalog %s: %d photos in %s (%d parts), %d edits, %d planning errors; %d raw files not "
                 "in the catalog (ignored)", config.catalog_uri, plan.files.num_photos, fivek.EXPERT_SET,
                 plan.files.parts, plan.files.num_edits, len(plan.errors), plan.unlisted_raws)
        return plan.files.num_photos

    outputs = {"photos": layout.photos, "edits": layout.edits, "errors": layout.errors(STAGE)}
    run = run_stage(STAGE, outputs, None, "photos", lambda pipeline: build_pipeline(pipeline, config, planned[0]),
                    beam_args, test_pipeline, prepare=prepare)
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
