"""Lightroom catalogs (.lrcat, SQLite): a read-only reader of develop edits and a writer of Lightroom-shaped catalogs.

Reading (the FiveK catalog, a user's own catalog): the file is opened read-only and immutable, so
it is never modified, locked or journalled. Expert edits are the members of the collections under
a collection set (FiveK: set `Experts`, collections `A`..`E`), each a virtual copy of the photo's
master image:

    AgLibraryCollection (set) -> AgLibraryCollection (collection, parent = set)
      -> AgLibraryCollectionImage -> Adobe_images (virtual copy; masterImage = the master)
      -> AgLibraryFile (baseName, extension) -> AgLibraryFolder (pathFromRoot) -> AgLibraryRootFolder (absolutePath)
    Adobe_images.developSettingsIDCache -> Adobe_imageDevelopSettings.id_local (text = Lua table literal)

An image can own several Adobe_imageDevelopSettings rows (the real catalog has an empty one beside
the real one), so settings are taken from the row its developSettingsIDCache names, else its row
with non-empty text; never by joining on `image`, which doubles the rows.

A photo's file is found the way Lightroom finds it (`locate_photo`): under its root folder's
`absolutePath` when that holds the file, else under the root's `relativePathFromCatalog` taken from
the catalog's own folder (so a tree moved to another machine still resolves), else a per-photo
`PhotoNotFoundError` naming both places. Catalogs are written by `pipelines.fivek.sample.catalog_writer`.
"""
from __future__ import annotations

import logging
import os
import sqlite3
from dataclasses import dataclass
from typing import Iterator
from urllib.parse import quote

log = logging.getLogger(__name__)

SET_CREATION_ID = "com.adobe.ag.library.group"
COLLECTION_CREATION_ID = "com.adobe.ag.library.collection"
REQUIRED_TABLES = ("Adobe_imageDevelopSettings", "Adobe_images", "AgLibraryCollection",
                   "AgLibraryCollectionImage", "AgLibraryFile", "AgLibraryFolder", "AgLibraryRootFolder")
_SQLITE_MAGIC = b"SQLite format 3\x00"


class CatalogError(ValueError):
    """Not a readable SQLite file, not a Lightroom catalog (missing tables named), or no such collection set."""


class PhotoNotFoundError(FileNotFoundError):
    """A catalog's photo is neither under its root folder's absolute path nor relative to the catalog."""


@dataclass(frozen=True)
class CatalogEdit:
    """One develop edit of a catalog: the (virtual copy) image, its file and its settings text (unparsed)."""

    collection_set: str      # e.g. "Experts"; "" when the image is in no collection
    collection: str          # e.g. "A"; "" when the image is in no collection
    image_id: int            # Adobe_images.id_local of the image (a virtual copy for FiveK members)
    master_id: int | None    # Adobe_images.masterImage; None for a master image
    base_name: str           # AgLibraryFile.baseName, e.g. "a0001-jmac_DSC1459"
    extension: str           # AgLibraryFile.extension, e.g. "dng"
    folder: str              # AgLibraryRootFolder.absolutePath + AgLibraryFolder.pathFromRoot
    capture_time: str | None # Adobe_images.captureTime, e.g. "2005-06-14T15:50:05"
    settings_text: str       # Adobe_imageDevelopSettings.text, the Lua table literal
    relative_folder: str | None = None  # AgLibraryRootFolder.relativePathFromCatalog + pathFromRoot

    @property
    def path(self) -> str:
        """The photo file's path as the catalog records it: folder + base_name + "." + extension."""
        return f"{self.folder}{self.base_name}.{self.extension}"


# ------------------------------------------------------------------ reading
def open_catalog(path: str) -> sqlite3.Connection:
    """Read-only, immutable SQLite connection to a Lightroom catalog; CatalogError if it is not one."""
    if not os.path.isfile(path):
        raise CatalogError(f"{path}: no such catalog file")
    with open(path, "rb") as f:
        magic = f.read(len(_SQLITE_MAGIC))
    if magic != _SQLITE_MAGIC:
        raise CatalogError(f"{path}: not a Lightroom catalog (not an SQLite database file)")
    con = sqlite3.connect(f"file:{quote(os.path.abspath(path))}?mode=ro&immutable=1", uri=True)
    try:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        con.close()
        raise CatalogError(f"{path}: not a Lightroom catalog (unreadable SQLite database: {exc})") from exc
    missing = [t for t in REQUIRED_TABLES if t not in tables]
    if missing:
        con.close()
        raise CatalogError(f"{path}: an SQLite database but not a Lightroom catalog "
                           f"(missing tables {', '.join(missing)})")
    columns = {r[1] for r in con.execute("PRAGMA table_info(AgLibraryRootFolder)")}
    if "relativePathFromCatalog" not in columns:
        con.close()
        raise CatalogError(f"{path}: AgLibraryRootFolder has no relativePathFromCatalog column: not a "
                           "Lightroom catalog this reader knows")
    return con


def _set_ids(con: sqlite3.Connection, path: str, collection_set: str) -> list[int]:
    """id_local of the collection set(s) named `collection_set`; CatalogError naming the known sets if none."""
    ids = [r[0] for r in con.execute(
        "SELECT id_local FROM AgLibraryCollection WHERE name = ? AND creationId = ?",
        (collection_set, SET_CREATION_ID))]
    if not ids:
        known = sorted({r[0] for r in con.execute(
            "SELECT name FROM AgLibraryCollection WHERE creationId = ?", (SET_CREATION_ID,))})
        raise CatalogError(f"{path}: no collection set named {collection_set!r} (sets: {known or 'none'})")
    return ids


def collection_names(path: str, collection_set: str = "Experts") -> list[str]:
    """Sorted names of the collections directly under the collection set."""
    con = open_catalog(path)
    try:
        ids = _set_ids(con, path, collection_set)
        rows = con.execute(
            f"SELECT DISTINCT name FROM AgLibraryCollection WHERE creationId = ? "
            f"AND parent IN ({','.join('?' * len(ids))}) ORDER BY name", (COLLECTION_CREATION_ID, *ids))
        return [r[0] for r in rows]
    finally:
        con.close()


# Settings of image `i`: the row developSettingsIDCache names if its text is non-empty, else the
# image's newest row with non-empty text, else "" (a scalar subquery: one row per image, never doubled).
_SETTINGS = """COALESCE(
    (SELECT ds.text FROM Adobe_imageDevelopSettings ds
      WHERE ds.id_local = i.developSettingsIDCache AND ds.text IS NOT NULL AND ds.text != ''),
    (SELECT ds.text FROM Adobe_imageDevelopSettings ds
      WHERE ds.image = i.id_local AND ds.text IS NOT NULL AND ds.text != ''
      ORDER BY ds.id_local DESC LIMIT 1),
    '')"""
_FILE_JOINS = """JOIN AgLibraryFile f ON f.id_local = i.rootFile
    LEFT JOIN AgLibraryFolder fo ON fo.id_local = f.folder
    LEFT JOIN AgLibraryRootFolder r ON r.id_local = fo.rootFolder"""
_EDIT_COLUMNS = f"""i.id_local AS image_id, i.masterImage, f.baseName, f.extension,
    COALESCE(r.absolutePath, '') || COALESCE(fo.pathFromRoot, '') AS folder, i.captureTime AS capture_time,
    {_SETTINGS} AS settings_text, r.relativePathFromCatalog || COALESCE(fo.pathFromRoot, '') AS relative_folder"""


def _edit(collection_set: str, collection: str, row: tuple) -> CatalogEdit:
    """A CatalogEdit from the _EDIT_COLUMNS of a row."""
    image_id, master_id, base_name, extension, folder, capture_time, text, relative = row
    return CatalogEdit(collection_set, collection, int(image_id), None if master_id is None else int(master_id),
                       base_name or "", extension or "", folder, capture_time, text, relative)


def locate_photo(edit: CatalogEdit, catalog: str) -> str:
    """The path of an edit's photo file, found as Lightroom does (module docstring); PhotoNotFoundError if absent.

    `catalog` is the catalog's own path (local or a Beam URI); relative folders are taken from its folder.
    """
    from pipelines.core import storage

    name = f"{edit.base_name}.{edit.extension}"
    candidates = []
    if edit.folder and os.path.isabs(edit.folder):
        candidates.append(edit.folder + name)
    for folder in (edit.relative_folder, None if os.path.isabs(edit.folder) else edit.folder):
        if folder is not None:
            candidates.append(storage.join(storage.parent(catalog), *[p for p in folder.split("/") if p], name))
    for path in candidates:
        if storage.exists(path):
            return path
    raise PhotoNotFoundError(f"{name} is neither at {' nor at '.join(dict.fromkeys(candidates)) or '(no folder)'} "
                             f"(catalog {catalog})")


def collection_edits(path: str, collection_set: str = "Experts") -> Iterator[CatalogEdit]:
    """Every member of every collection directly under the set, one per member, by (collection, base_name, image_id)."""
    con = open_catalog(path)
    try:
        ids = _set_ids(con, path, collection_set)
    except BaseException:
        con.close()
        raise
    query = f"""SELECT c.name, {_EDIT_COLUMNS}
        FROM AgLibraryCollection c
        JOIN AgLibraryCollectionImage ci ON ci.collection = c.id_local
        JOIN Adobe_images i ON i.id_local = ci.image
        {_FILE_JOINS}
        WHERE c.creationId = ? AND c.parent IN ({','.join('?' * len(ids))})
        ORDER BY c.name, f.baseName, i.id_local"""
    return _stream(con, query, (COLLECTION_CREATION_ID, *ids), collection_set)


def _stream(con: sqlite3.Connection, query: str, params: tuple, collection_set: str) -> Iterator[CatalogEdit]:
    """Rows of `query` as CatalogEdits from a cursor; closes the connection when done or dropped."""
    try:
        for row in con.execute(query, params):
            yield _edit(collection_set, row[0], row[1:])
    finally:
        con.close()


def developed_photos(path: str) -> list[CatalogEdit]:
    """Every image with non-empty develop settings (in a collection or not), by (capture_time, image_id)."""
    con = open_catalog(path)
    try:
        query = f"""SELECT * FROM (
            SELECT COALESCE(s.name, '') AS set_name, COALESCE(c.name, '') AS collection_name, {_EDIT_COLUMNS}
            FROM Adobe_images i
            {_FILE_JOINS}
            LEFT JOIN AgLibraryCollection c ON c.id_local = (
                SELECT c2.id_local FROM AgLibraryCollectionImage ci2
                JOIN AgLibraryCollection c2 ON c2.id_local = ci2.collection
                WHERE ci2.image = i.id_local AND c2.creationId = ?
                ORDER BY c2.name, c2.id_local LIMIT 1)
            LEFT JOIN AgLibraryCollection s ON s.id_local = c.parent AND s.creationId = ?)
            WHERE settings_text != '' ORDER BY capture_time, image_id"""
        rows = con.execute(query, (COLLECTION_CREATION_ID, SET_CREATION_ID)).fetchall()
    finally:
        con.close()
    return [_edit(row[0], row[1], row[2:]) for row in rows]
