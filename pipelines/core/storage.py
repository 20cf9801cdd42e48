"""One storage layer for every stage: local paths and Beam filesystem URIs (gs://, s3://, ...) alike.

Everything in `pipelines/` that reads or writes a file goes through here (Parquet goes through
`parquet_io`, which uses this module); `modeling/`, `rendering/` and `features/` receive bytes and
tables, never paths. A path is local when Beam's FileSystems names no scheme for it; local writes
create their parent folders and replace the target atomically (write to `.tmp`, then rename), so a
crash never leaves half a file where a finished one was.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from typing import Any, Iterator

from apache_beam.io.filesystems import FileSystems


def is_local(path: str) -> bool:
    """True for a plain local path, False for a URI with a scheme Beam knows (gs://, s3://, ...)."""
    return FileSystems.get_scheme(path) is None


def join(root: str, *parts: str) -> str:
    """Join `parts` under `root` with the root's own filesystem rules."""
    return FileSystems.join(root, *parts) if parts else root


def exists(path: str) -> bool:
    """Whether a file (or, locally, a folder) exists."""
    return os.path.exists(path) if is_local(path) else FileSystems.exists(path)


def read_bytes(path: str) -> bytes:
    """The whole file as bytes; FileNotFoundError (naming the path) when it does not exist."""
    if is_local(path):
        with open(path, "rb") as f:
            return f.read()
    if not FileSystems.exists(path):
        raise FileNotFoundError(f"no such file: {path}")
    with FileSystems.open(path) as f:
        return f.read()


def write_bytes(path: str, data: bytes) -> str:
    """Write `data` to `path` (local: parents created, atomic replace); returns the path."""
    if is_local(path):
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        tmp = f"{path}.tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
        return path
    with FileSystems.create(path) as f:
        f.write(data)
    return path


def read_json(path: str) -> Any:
    """A JSON file's value (FileNotFoundError when absent, ValueError when malformed)."""
    return json.loads(read_bytes(path).decode("utf-8"))


def write_json(path: str, payload: Any) -> str:
    """Write `payload` as indented, key-sorted JSON; returns the path."""
    return write_bytes(path, json.dumps(payload, indent=2, sort_keys=True).encode("utf-8"))


def make_folder(path: str) -> None:
    """Create a local folder and its parents (object stores have no folders: nothing to do)."""
    if is_local(path):
        os.makedirs(path, exist_ok=True)


def match(pattern: str) -> list[str]:
    """Sorted paths matching a glob pattern (e.g. `<folder>/*.parquet`); [] when none."""
    return sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)


def delete(paths: list[str]) -> None:
    """Delete files (no-op for an empty list)."""
    if paths:
        FileSystems.delete(paths)


@contextlib.contextmanager
def local_copy(path: str, suffix: str = "") -> Iterator[str]:
    """A local path holding the file's bytes for libraries that need one (SQLite): the path itself
    when it is local, else a temporary copy removed on exit."""
    if is_local(path):
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="photoedit-") as workdir:
        local = os.path.join(workdir, "copy" + suffix)
        with FileSystems.open(path) as src, open(local, "wb") as dst:
            shutil.copyfileobj(src, dst)
        yield local


@contextlib.contextmanager
def staged_folder(path: str) -> Iterator[str]:
    """A local folder to write into that ends up at `path`: `path` itself when local, else a
    temporary folder whose files are copied to the URI on a clean exit."""
    if is_local(path):
        make_folder(path)
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="photoedit-") as staging:
        yield staging
        for folder, _, files in os.walk(staging):
            for name in files:
                local = os.path.join(folder, name)
                target = FileSystems.join(path, *os.path.relpath(local, staging).split(os.sep))
                with open(local, "rb") as src, FileSystems.create(target) as dst:
                    shutil.copyfileobj(src, dst)


def parent(path: str) -> str:
    """The folder a file or folder path is in (local or URI)."""
    path = path.rstrip("/")
    return os.path.dirname(path) if is_local(path) else FileSystems.split(path)[0]
