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

Writing (the sample generator, tests): write_catalog builds a new catalog with the same tables,
ids from one counter as in Lightroom, and the doubled settings rows of the real one.
"""
from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
from dataclasses import dataclass
from typing import Iterable, Iterator
from urllib.parse import quote

log = logging.getLogger(__name__)

SET_CREATION_ID = "com.adobe.ag.library.group"
COLLECTION_CREATION_ID = "com.adobe.ag.library.collection"
REQUIRED_TABLES = ("Adobe_imageDevelopSettings", "Adobe_images", "AgLibraryCollection",
                   "AgLibraryCollectionImage", "AgLibraryFile", "AgLibraryFolder", "AgLibraryRootFolder")
_SQLITE_MAGIC = b"SQLite format 3\x00"


class CatalogError(ValueError):
    """Not a readable SQLite file, not a Lightroom catalog (missing tables named), or no such collection set."""


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

    @property
    def path(self) -> str:
        """The photo file's path as the catalog records it: folder + base_name + "." + extension."""
        return f"{self.folder}{self.base_name}.{self.extension}"


@dataclass(frozen=True)
class CatalogRecord:
    """One edit to write: collection set and collection, the photo file, its settings text, capture time."""

    collection_set: str
    collection: str
    base_name: str
    extension: str
    folder: str              # ends with "/" (one is appended to a non-empty folder otherwise)
    settings_text: str
    capture_time: str | None = None


def settings_sha256(text: str) -> str:
    """Hex SHA-256 of the UTF-8 bytes of a settings text (identifies an edit's exact settings)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


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
    {_SETTINGS} AS settings_text"""


def _edit(collection_set: str, collection: str, row: tuple) -> CatalogEdit:
    """A CatalogEdit from the _EDIT_COLUMNS of a row."""
    image_id, master_id, base_name, extension, folder, capture_time, text = row
    return CatalogEdit(collection_set, collection, int(image_id), None if master_id is None else int(master_id),
                       base_name or "", extension or "", folder, capture_time, text)


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


# ------------------------------------------------------------------ writing
_SCHEMA = """
CREATE TABLE AgLibraryRootFolder (id_local INTEGER PRIMARY KEY, absolutePath UNIQUE NOT NULL DEFAULT '',
    name NOT NULL DEFAULT '', relativePathFromCatalog);
CREATE TABLE AgLibraryFolder (id_local INTEGER PRIMARY KEY, rootFolder INTEGER NOT NULL DEFAULT 0,
    pathFromRoot NOT NULL DEFAULT '', visibility INTEGER);
CREATE TABLE AgLibraryFile (id_local INTEGER PRIMARY KEY, baseName NOT NULL DEFAULT '',
    extension NOT NULL DEFAULT '', folder INTEGER NOT NULL DEFAULT 0, idx_filename NOT NULL DEFAULT '',
    originalFilename NOT NULL DEFAULT '');
CREATE TABLE Adobe_images (id_local INTEGER PRIMARY KEY, rootFile INTEGER NOT NULL DEFAULT 0,
    masterImage INTEGER, copyName, developSettingsIDCache, captureTime, fileFormat NOT NULL DEFAULT 'unset');
CREATE TABLE Adobe_imageDevelopSettings (id_local INTEGER PRIMARY KEY, image INTEGER, text,
    processVersion, hasDevelopAdjustments INTEGER);
CREATE TABLE AgLibraryCollection (id_local INTEGER PRIMARY KEY, name NOT NULL DEFAULT '', parent INTEGER,
    creationId NOT NULL DEFAULT '', genealogy NOT NULL DEFAULT '', imageCount, systemOnly NOT NULL DEFAULT '');
CREATE TABLE AgLibraryCollectionImage (id_local INTEGER PRIMARY KEY, collection INTEGER NOT NULL DEFAULT 0,
    image INTEGER NOT NULL DEFAULT 0, pick NOT NULL DEFAULT 0, positionInCollection);
"""
_INDEXES = """
CREATE INDEX index_AgLibraryCollectionImage_collection ON AgLibraryCollectionImage(collection);
CREATE INDEX index_AgLibraryCollectionImage_image ON AgLibraryCollectionImage(image);
CREATE INDEX index_Adobe_imageDevelopSettings_image ON Adobe_imageDevelopSettings(image);
CREATE INDEX index_Adobe_images_rootFile ON Adobe_images(rootFile);
CREATE INDEX index_Adobe_images_masterImage ON Adobe_images(masterImage);
CREATE INDEX index_AgLibraryFile_folder ON AgLibraryFile(folder);
CREATE INDEX index_AgLibraryCollection_parent ON AgLibraryCollection(parent);
"""
_FILE_FORMATS = {"dng": "DNG", "jpg": "JPG", "jpeg": "JPG", "tif": "TIFF", "tiff": "TIFF", "png": "PNG",
                 "psd": "PSD"}


class _CatalogRows:
    """Rows of every table of a catalog being written; ids from one counter, as Lightroom's are."""

    def __init__(self) -> None:
        self.next_id = 1
        self.roots: dict[str, int] = {}                                  # absolutePath -> id
        self.folders: dict[str, int] = {}                                # folder -> id
        self.files: dict[tuple[str, str, str], tuple[int, int, str]] = {}  # file -> (file id, master id, format)
        self.collections: dict[str, tuple[int, dict[str, int]]] = {}     # set -> (id, {collection: id})
        self.tables: dict[str, list[tuple]] = {t: [] for t in REQUIRED_TABLES}

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def folder_id(self, folder: str) -> int:
        if folder not in self.folders:
            root, path_from_root = _split_folder(folder)
            if root not in self.roots:
                self.roots[root] = self.new_id()
                name = os.path.basename(root.rstrip("/")) or root
                self.tables["AgLibraryRootFolder"].append((self.roots[root], root, name))
            self.folders[folder] = self.new_id()
            self.tables["AgLibraryFolder"].append((self.folders[folder], self.roots[root], path_from_root))
        return self.folders[folder]

    def master(self, record: CatalogRecord, folder: str) -> tuple[int, int, str]:
        key = (folder, record.base_name, record.extension)
        if key not in self.files:
            file_id, image_id, settings_id = self.new_id(), self.new_id(), self.new_id()
            filename = f"{record.base_name}.{record.extension}"
            self.tables["AgLibraryFile"].append((file_id, record.base_name, record.extension,
                                                 self.folder_id(folder), filename, filename))
            fmt = _FILE_FORMATS.get(record.extension.lower(), "RAW")
            self.tables["Adobe_images"].append((image_id, file_id, None, None, settings_id,
                                                record.capture_time, fmt))
            self.tables["Adobe_imageDevelopSettings"].append((settings_id, image_id, "", 0))
            self.files[key] = (file_id, image_id, fmt)
        return self.files[key]

    def collection_id(self, collection_set: str, collection: str) -> int:
        if collection_set not in self.collections:
            set_id = self.new_id()
            self.collections[collection_set] = (set_id, {})
            self.tables["AgLibraryCollection"].append((set_id, collection_set, None, SET_CREATION_ID, "", 0))
        set_id, members = self.collections[collection_set]
        if collection not in members:
            members[collection] = self.new_id()
            self.tables["AgLibraryCollection"].append((members[collection], collection, set_id,
                                                       COLLECTION_CREATION_ID, "", 0))
        return members[collection]

    def add(self, record: CatalogRecord) -> None:
        folder = record.folder if record.folder.endswith("/") or not record.folder else record.folder + "/"
        file_id, master, fmt = self.master(record, folder)
        collection = self.collection_id(record.collection_set, record.collection)
        copy_id, empty_id, settings_id, member_id = (self.new_id() for _ in range(4))
        self.tables["Adobe_images"].append((copy_id, file_id, master, record.collection, settings_id,
                                            record.capture_time, fmt))
        # like the real catalog: an empty settings row beside the real one, so a join on `image` doubles rows
        self.tables["Adobe_imageDevelopSettings"].append((empty_id, copy_id, "", 0))
        self.tables["Adobe_imageDevelopSettings"].append((settings_id, copy_id, record.settings_text, 1))
        self.tables["AgLibraryCollectionImage"].append((member_id, collection, copy_id))


def _split_folder(folder: str) -> tuple[str, str]:
    """("/a/b/", "c/") of a folder "/a/b/c/": root folder absolutePath and pathFromRoot."""
    parent, _, last = folder.rstrip("/").rpartition("/")
    if not last:
        return folder, ""
    return (parent + "/" if parent or folder.startswith("/") else ""), last + "/"


_INSERTS = {
    "AgLibraryRootFolder": "INSERT INTO AgLibraryRootFolder (id_local, absolutePath, name) VALUES (?, ?, ?)",
    "AgLibraryFolder": "INSERT INTO AgLibraryFolder (id_local, rootFolder, pathFromRoot) VALUES (?, ?, ?)",
    "AgLibraryFile": "INSERT INTO AgLibraryFile (id_local, baseName, extension, folder, idx_filename, "
                     "originalFilename) VALUES (?, ?, ?, ?, ?, ?)",
    "Adobe_images": "INSERT INTO Adobe_images (id_local, rootFile, masterImage, copyName, developSettingsIDCache, "
                    "captureTime, fileFormat) VALUES (?, ?, ?, ?, ?, ?, ?)",
    "Adobe_imageDevelopSettings": "INSERT INTO Adobe_imageDevelopSettings (id_local, image, text, "
                                  "hasDevelopAdjustments) VALUES (?, ?, ?, ?)",
    "AgLibraryCollection": "INSERT INTO AgLibraryCollection (id_local, name, parent, creationId, genealogy, "
                           "systemOnly) VALUES (?, ?, ?, ?, ?, ?)",
    "AgLibraryCollectionImage": "INSERT INTO AgLibraryCollectionImage (id_local, collection, image) VALUES (?, ?, ?)",
}


def write_catalog(path: str, records: Iterable[CatalogRecord]) -> int:
    """Write a NEW Lightroom-shaped catalog of `records` (one virtual copy each); returns how many were written."""
    if os.path.exists(path):
        raise FileExistsError(f"{path}: already exists; write_catalog never overwrites a catalog")
    rows = _CatalogRows()
    count = 0
    for record in records:
        rows.add(record)
        count += 1
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        con = sqlite3.connect(tmp)
        try:
            con.execute("PRAGMA journal_mode = OFF")
            con.execute("PRAGMA synchronous = OFF")
            con.executescript(_SCHEMA)
            with con:
                for table in REQUIRED_TABLES:
                    con.executemany(_INSERTS[table], rows.tables[table])
            con.executescript(_INDEXES)
        finally:
            con.close()
        if os.path.exists(path):
            raise FileExistsError(f"{path}: appeared while the catalog was written; not overwritten")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    log.info("wrote catalog %s: %d edits of %d files", path, count, len(rows.files))
    return count
