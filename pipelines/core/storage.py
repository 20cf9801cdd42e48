"""One storage layer for every stage: local paths and Beam filesystem URIs (gs://, s3://, ...) alike.

Everything in `pipelines/` that reads or writes a file goes through here (Parquet goes through
`parquet_io`, which uses this module); `modeling/`, `rendering/` and `features/` receive bytes and
tables, never paths. A path is local when Beam's FileSystems names no scheme for it; local writes
create their parent folders and replace the target atomically (write to `.tmp`, then rename), so a
crash never leaves half a file where a finished one was. Whole folders are replaced through
`pipelines.core.staging` (written aside, moved in on success) with the folder primitives here.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from typing import Any, BinaryIO, Iterator

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


@contextlib.contextmanager
def open_read(path: str) -> Iterator[BinaryIO]:
    """A seekable binary stream of a file, read as it is consumed (not loaded whole); FileNotFoundError
    (naming the path) when it does not exist."""
    if not exists(path):
        raise FileNotFoundError(f"no such file: {path}")
    with (open(path, "rb") if is_local(path) else FileSystems.open(path)) as f:
        yield f


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
def staged_folder(path: str, stage: str = "report") -> Iterator[str]:
    """A local folder to write into whose contents replace the folder `path` on a clean exit, all at
    once (pipelines.core.staging); on an error `path` keeps what it held. A remote `path` is written
    to a local temporary folder first and uploaded before the replace."""
    from pipelines.core import staging  # staging is built on this module

    with staging.staged_outputs(stage, [path]) as run:
        target = run.path(path)
        if is_local(target):
            make_folder(target)
            yield target
            return
        with tempfile.TemporaryDirectory(prefix="photoedit-") as local:
            yield local
            upload_folder(local, target)


def upload_folder(local: str, target: str) -> None:
    """Copy every file under the local folder `local` to the same relative path under `target` (any filesystem)."""
    for folder, _, files in os.walk(local):
        for name in files:
            source = os.path.join(folder, name)
            destination = join(target, *os.path.relpath(source, local).split(os.sep))
            if is_local(destination):
                os.makedirs(os.path.dirname(destination), exist_ok=True)
                shutil.copyfile(source, destination)
                continue
            with open(source, "rb") as src, FileSystems.create(destination) as dst:
                shutil.copyfileobj(src, dst)


def parent(path: str) -> str:
    """The folder a file or folder path is in (local or URI)."""
    path = path.rstrip("/")
    return os.path.dirname(path) if is_local(path) else FileSystems.split(path)[0]


def _parts(path: str) -> tuple[str, list[str]]:
    """(prefix, names) of a path: ('gs://', ['bucket', 'a', 'b']), ('/', ['x']) or ('', ['rel', 'x'])."""
    if is_local(path):
        path = os.path.normpath(path)
        prefix = os.sep if os.path.isabs(path) else ""
        return prefix, [p for p in path.split(os.sep) if p and p != "."]
    scheme, rest = path.split("://", 1)
    return scheme + "://", [p for p in rest.split("/") if p]


def common_parent(paths: list[str]) -> str:
    """The deepest folder that holds every path's parent folder (local paths or URIs of one filesystem)."""
    if not paths:
        raise ValueError("common_parent of no paths")
    prefixes, names = zip(*(_parts(parent(p)) for p in paths))
    if len(set(prefixes)) != 1:
        raise ValueError(f"paths on different filesystems or mixed relative/absolute: {list(paths)}")
    shared = []
    for level in zip(*names):
        if len(set(level)) != 1:
            break
        shared.append(level[0])
    return _from_parts(prefixes[0], shared)


def _from_parts(prefix: str, names: list[str]) -> str:
    if prefix in ("", os.sep):
        return prefix + os.sep.join(names) if names else (prefix or ".")
    return prefix + "/".join(names)


def relative(path: str, root: str) -> list[str]:
    """The names leading from folder `root` to `path` (ValueError when `path` is not under `root`)."""
    (prefix, names), (root_prefix, root_names) = _parts(path), _parts(root)
    if prefix != root_prefix or names[:len(root_names)] != root_names or len(names) == len(root_names):
        raise ValueError(f"{path} is not under {root}")
    return names[len(root_names):]


def list_files(folder: str) -> list[str]:
    """Sorted paths of every file under `folder`, at any depth ([] when there is none or no folder)."""
    if is_local(folder):
        found = [os.path.join(d, name) for d, _, names in os.walk(folder) for name in names]
        return sorted(found)
    return match(join(folder, "**"))


def delete_folder(folder: str) -> None:
    """Delete a folder and everything in it; nothing to do when it does not exist."""
    if is_local(folder):
        if os.path.islink(folder) or os.path.isfile(folder):
            os.remove(folder)
        elif os.path.isdir(folder):
            shutil.rmtree(folder)
        return
    delete(list_files(folder))


def move_folder(source: str, target: str) -> None:
    """Move the folder `source` to `target`, which must not exist: locally one rename (atomic), on an
    object store every file renamed to the same relative path (not atomic: pipelines.core.staging
    makes it resumable)."""
    if is_local(source):
        os.makedirs(os.path.dirname(os.path.normpath(target)) or ".", exist_ok=True)
        os.replace(source, target)
        return
    files = list_files(source)
    targets = [join(target, *relative(f, source)) for f in files]
    if files:
        FileSystems.rename(files, targets)
