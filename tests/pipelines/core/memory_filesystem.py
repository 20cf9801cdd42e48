"""A Beam filesystem in memory, scheme memtest://, standing in for an object store (gs://) in tests.

Like an object store it has no folders and no rename but copy + delete per object; defining the class
registers it with Beam's FileSystems (FileSystem.get_all_subclasses()).
"""
from __future__ import annotations

import io
import time

from apache_beam.io.filesystem import BeamIOError, CompressionTypes, FileMetadata, FileSystem

SCHEME = "memtest"
OBJECTS: dict[str, bytes] = {}


class _Writer(io.BytesIO):
    def __init__(self, path: str):
        super().__init__()
        self._path = path

    def close(self) -> None:
        if not self.closed:
            OBJECTS[self._path] = self.getvalue()
        super().close()


class MemoryFileSystem(FileSystem):
    """memtest://bucket/key objects in the module's OBJECTS dict."""

    @classmethod
    def scheme(cls) -> str:
        return SCHEME

    def join(self, basepath: str, *paths: str) -> str:
        return "/".join([basepath.rstrip("/"), *(p.strip("/") for p in paths)])

    def split(self, path: str) -> tuple[str, str]:
        head, _, tail = path.rstrip("/").rpartition("/")
        return head, tail

    def mkdirs(self, path: str) -> None:
        pass

    def has_dirs(self) -> bool:
        return False

    def _list(self, dir_or_prefix: str):
        for path in sorted(OBJECTS):
            if path.startswith(dir_or_prefix):
                yield FileMetadata(path, len(OBJECTS[path]), time.time())

    def create(self, path, mime_type="application/octet-stream", compression_type=CompressionTypes.AUTO):
        return _Writer(path)

    def open(self, path, mime_type="application/octet-stream", compression_type=CompressionTypes.AUTO):
        if path not in OBJECTS:
            raise BeamIOError(f"no object {path}")
        return io.BytesIO(OBJECTS[path])

    def copy(self, source_file_names, destination_file_names) -> None:
        for source, destination in zip(source_file_names, destination_file_names):
            OBJECTS[destination] = OBJECTS[source]

    def rename(self, source_file_names, destination_file_names) -> None:
        for source, destination in zip(source_file_names, destination_file_names):
            OBJECTS[destination] = OBJECTS.pop(source)

    def exists(self, path: str) -> bool:
        return path in OBJECTS

    def size(self, path: str) -> int:
        return len(OBJECTS[path])

    def last_updated(self, path: str) -> float:
        return time.time()

    def checksum(self, path: str) -> str:
        return str(hash(OBJECTS[path]))

    def metadata(self, path: str) -> FileMetadata:
        return FileMetadata(path, len(OBJECTS[path]), time.time())

    def delete(self, paths) -> None:
        for path in paths:
            for key in [k for k in OBJECTS if k == path or k.startswith(path.rstrip("/") + "/")]:
                del OBJECTS[key]
