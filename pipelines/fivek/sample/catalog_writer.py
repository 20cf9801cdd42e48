"""Write Lightroom-shaped catalogs (.lrcat, SQLite) for the sample generator and tests.

`write_catalog` builds a NEW catalog with the tables `pipelines.lightroom.catalog` reads, ids from one
counter as in Lightroom, the doubled settings rows of the real FiveK catalog (an empty row beside the
real one), and each root folder both as `absolutePath` and as `relativePathFromCatalog`, as
Lightroom keeps them, so a catalog still finds its photos after the whole tree has moved.
"""
from __future__ import annotations

import logging
import os
import sqlite3
from dataclasses import dataclass
from typing import Iterable

from pipelines.lightroom.catalog import (
    COLLECTION_CREATION_ID,
    REQUIRED_TABLES,
    SET_CREATION_ID,
)

log = logging.getLogger(__name__)


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

    def __init__(self, catalog_folder: str) -> None:
        self.catalog_folder = catalog_folder
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
                relative = _relative_path(root, self.catalog_folder)
                self.tables["AgLibraryRootFolder"].append((self.roots[root], root, name, relative))
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


def _relative_path(root: str, catalog_folder: str) -> str | None:
    """relativePathFromCatalog of an absolute root folder ("../x/", "HQa1/"), None for a relative root."""
    if not os.path.isabs(root):
        return None
    relative = os.path.relpath(root, catalog_folder).replace(os.sep, "/")
    return "" if relative == "." else relative.rstrip("/") + "/"


def _split_folder(folder: str) -> tuple[str, str]:
    """("/a/b/", "c/") of a folder "/a/b/c/": root folder absolutePath and pathFromRoot."""
    parent, _, last = folder.rstrip("/").rpartition("/")
    if not last:
        return folder, ""
    return (parent + "/" if parent or folder.startswith("/") else ""), last + "/"


_INSERTS = {
    "AgLibraryRootFolder": ("INSERT INTO AgLibraryRootFolder (id_local, absolutePath, name, relativePathFromCatalog) "
                            "VALUES (?, ?, ?, ?)"),
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
    rows = _CatalogRows(os.path.dirname(os.path.abspath(path)))
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
    log.debug("wrote catalog %s: %d edits of %d files", path, count, len(rows.files))
    return count
