"""Ingest's plan: a Lightroom catalog's FiveK members as Parquet parts, read in one streaming pass per set.

The driver never holds the catalog. A first pass over the Experts members keeps, per photo, only its
first member without the settings text (to locate its DNG); the photos sorted by id are then dealt
into parts of PHOTOS_PER_PART consecutive photos. A second pass over the Experts members, then the
Users members, writes each member's settings text to its photo's part: members come ordered by
(collection, base name, image id), so within one collection the parts follow one another and only
the current part's rows are held (flushed as one chunk file when the part or collection changes,
or at CHUNK_ROWS rows). Layout under the plan folder P (a scratch folder of the stage's staging run,
pipelines.core.staging.Staging.scratch, so a killed run leaves nothing outside staging):

    P/photos/part-KKKKK.parquet           (PLAN_PHOTOS: the photos of part K, sorted by id)
    P/edits/part-KKKKK/CCCCC.parquet      (PLAN_EDITS: chunks of part K's members)

One worker handles one part (pipelines.jobs.ingest): its photos, their DNGs and their edits, written
as output shard K of photos/ and edits/, so no row of the catalog crosses a shuffle.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping

import pyarrow as pa

from pipelines.core import storage
from pipelines.core.errors import error_row
from pipelines.core.parquet_io import parquet_files, read_table_file, table_bytes
from pipelines.fivek import layout as fivek

log = logging.getLogger(__name__)
STAGE = "ingest"
PHOTOS_PER_PART = 250   # photos a worker ingests at a time (one output shard of photos/ and of edits/)
CHUNK_ROWS = 2000       # most members the planner holds before it writes them out


class MissingExpertEditError(ValueError):
    """A photo is in some Experts collections but not in this expert's."""


class DuplicateMemberError(ValueError):
    """A collection holds more than one virtual copy of a photo; the first by image id is kept."""


class MissingPhotoError(ValueError):
    """A user's edit is of a photo that no Experts collection holds."""


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


def iter_edits(members: Iterable[Any], editor_kind: str, catalog: str,
               errors: list[dict[str, Any]]) -> Iterator[EditInput]:
    """Catalog members (CatalogEdit, ordered by collection, base name, image id) -> EditInputs, one per
    (photo, collection), streamed; a member whose base name is not a FiveK name, or the second virtual copy
    of a photo in one collection, is appended to `errors` instead. Each EditInput keeps its CatalogEdit
    (`member`) so its photo can be located as Lightroom would."""
    seen: dict[str, int] = {}        # photo id -> image id kept, within the current collection
    collection = None
    for m in members:
        if m.collection != collection:
            collection, seen = m.collection, {}
        uri = f"{catalog}#{m.collection_set}/{m.collection}/{m.image_id}"
        try:
            photo_id = fivek.photo_id_of(m.base_name)
        except fivek.FiveKLayoutError as exc:
            errors.append(error_row(m.base_name, STAGE, exc, uri))
            continue
        if photo_id in seen:
            errors.append(error_row(photo_id, STAGE, DuplicateMemberError(
                f"{m.collection_set}/{m.collection} holds image {m.image_id} and image {seen[photo_id]} of "
                f"{m.base_name}; kept image {seen[photo_id]}"), uri))
            continue
        seen[photo_id] = m.image_id
        yield EditInput(photo_id=photo_id, base_name=m.base_name, editor=m.collection, editor_kind=editor_kind,
                        image_id=m.image_id, settings_text=m.settings_text or "", uri=uri, member=m)


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


def part_count(photos: int) -> int:
    """Parts of a plan of `photos` photos: PHOTOS_PER_PART consecutive photos each, at least one."""
    return max(1, math.ceil(photos / PHOTOS_PER_PART))


@dataclass(frozen=True)
class PlanFiles:
    """Where a plan lies (module docstring): `parts` parts of `num_photos` photos and `num_edits` members."""

    root: str
    parts: int = 1
    num_photos: int = 0
    num_edits: int = 0

    def photos(self, part: int) -> str:
        """The PLAN_PHOTOS file of one part."""
        return storage.join(self.root, "photos", f"part-{part:05d}.parquet")

    def edits(self, part: int) -> str:
        """The folder of one part's PLAN_EDITS chunks."""
        return storage.join(self.root, "edits", f"part-{part:05d}")

    def read_photos(self, part: int) -> list[PhotoInput]:
        """The photos of one part, by photo id."""
        return [photo_input(r) for r in read_table_file(self.photos(part)).to_pylist()]

    def read_edits(self, part: int) -> list[EditInput]:
        """The members of one part's photos, in the order they were planned."""
        return [edit_input(r) for path in parquet_files(self.edits(part)) for r in read_table_file(path).to_pylist()]


@dataclass
class IngestPlan:
    """A written plan: its files, errors found while planning, the Experts collections, raw files not in it."""

    files: PlanFiles
    errors: list[dict[str, Any]] = field(default_factory=list)
    experts: tuple[str, ...] = fivek.EXPERTS
    unlisted_raws: int = 0


class _PartWriter:
    """Members -> chunk files of their photos' parts, holding only the current part's rows (module docstring)."""

    def __init__(self, files: PlanFiles, part_of: Mapping[str, int]):
        self._files, self._part_of = files, part_of
        self._rows: list[dict[str, Any]] = []
        self._key: tuple[str, str, int] | None = None
        self.chunks = self.written = 0

    def add(self, edit: EditInput) -> None:
        """Queue one member; a member of another part or collection writes out what is queued first."""
        key = (edit.editor_kind, edit.editor, self._part_of[edit.photo_id])
        if key != self._key or len(self._rows) >= CHUNK_ROWS:
            self.flush()
            self._key = key
        self._rows.append(edit_plan_row(edit))

    def flush(self) -> None:
        """Write the queued members as one chunk of their part."""
        if not self._rows:
            return
        path = storage.join(self._files.edits(self._key[2]), f"{self.chunks:05d}.parquet")
        storage.write_bytes(path, table_bytes(pa.Table.from_pylist(self._rows, schema=PLAN_EDITS)))
        self.chunks += 1
        self.written += len(self._rows)
        self._rows = []


def write_plan(catalog: str, local_catalog: str, root: str, raw_files: Mapping[str, str] | None,
               metadata: Mapping[str, fivek.PhotoMetadata], split_of: fivek.SplitAssigner, plan_root: str
               ) -> IngestPlan:
    """Plan an ingest of the catalog (a local copy `local_catalog` of `catalog`) into parts under `plan_root`
    (module docstring). raw_files None (--no-raw-check): each DNG is assumed at its download path.
    Raises CatalogError when the catalog has no Experts set."""
    from pipelines.lightroom.catalog import CatalogError, collection_edits, collection_names

    experts = tuple(collection_names(local_catalog, fivek.EXPERT_SET))
    first: dict[str, EditInput] = {}     # photo id -> its first Experts member, settings text dropped
    for edit in iter_edits(collection_edits(local_catalog, fivek.EXPERT_SET), "expert", catalog, []):
        if edit.photo_id not in first:
            first[edit.photo_id] = dataclasses.replace(
                edit, settings_text="", member=dataclasses.replace(edit.member, settings_text=""))
    photo_ids = sorted(first)
    files = PlanFiles(plan_root, part_count(len(photo_ids)), len(photo_ids))
    for part in range(files.parts):
        photos = []
        for photo_id in photo_ids[part * PHOTOS_PER_PART:(part + 1) * PHOTOS_PER_PART]:
            edit = first[photo_id]
            found = locate_raw(edit, catalog, raw_files) if raw_files is not None else None
            photos.append(photo_plan_row(PhotoInput(
                photo_id=photo_id, base_name=edit.base_name, raw_uri=found or fivek.raw_path(root, edit.base_name),
                raw_found=found is not None, split=split_of(photo_id), metadata=metadata.get(photo_id))))
        storage.write_bytes(files.photos(part), table_bytes(pa.Table.from_pylist(photos, schema=PLAN_PHOTOS)))
    part_of = {photo_id: index // PHOTOS_PER_PART for index, photo_id in enumerate(photo_ids)}
    errors: list[dict[str, Any]] = []
    writer = _PartWriter(files, part_of)
    for edit in iter_edits(collection_edits(local_catalog, fivek.EXPERT_SET), "expert", catalog, errors):
        writer.add(edit)
    try:
        users = collection_edits(local_catalog, fivek.USER_SET)
    except CatalogError:
        users = iter(())
    for edit in iter_edits(users, "user", catalog, errors):
        if edit.photo_id in part_of:
            writer.add(edit)
        else:
            errors.append(error_row(edit.photo_id, STAGE, MissingPhotoError(
                f"user {edit.editor} edited {edit.photo_id}, which no {fivek.EXPERT_SET} collection holds"), edit.uri))
    writer.flush()
    unlisted = 0 if raw_files is None else len(set(raw_files) - set(part_of))
    return IngestPlan(files=dataclasses.replace(files, num_edits=writer.written), errors=errors, experts=experts,
                      unlisted_raws=unlisted)
