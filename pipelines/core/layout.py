"""Where each stage's outputs live under one dataset root (a local path or any Beam filesystem URI)."""
from __future__ import annotations

from dataclasses import dataclass

from apache_beam.io.filesystems import FileSystems


@dataclass(frozen=True)
class DatasetLayout:
    """Paths of every stage output under `root`; each is a folder of Parquet shards or files."""

    root: str

    def path(self, *parts: str) -> str:
        """Join `parts` under the root with the root's own filesystem rules."""
        return FileSystems.join(self.root, *parts)

    @property
    def photos(self) -> str:
        return self.path("photos")

    @property
    def edits(self) -> str:
        return self.path("edits")

    @property
    def variants(self) -> str:
        return self.path("variants")

    @property
    def variant_edits(self) -> str:
        return self.path("variant_edits")

    @property
    def images(self) -> str:
        return self.path("images")

    @property
    def features(self) -> str:
        return self.path("features")

    @property
    def models(self) -> str:
        return self.path("models")

    @property
    def evaluation(self) -> str:
        return self.path("evaluation")

    @property
    def predictions(self) -> str:
        return self.path("predictions")

    @property
    def report(self) -> str:
        return self.path("report")

    def errors(self, stage: str) -> str:
        """Folder of the error rows written by one stage."""
        return self.path("errors", stage)

    def model_dir(self, name: str) -> str:
        return self.path("models", name)

    @property
    def fits(self) -> str:
        return self.path("fits")

    @property
    def logs(self) -> str:
        """Log files of the commands run on this dataset (local roots)."""
        return self.path("_logs")

    def stage_marker(self, stage: str) -> str:
        """_stages/<stage>.json: what `photoedit demo` records of a finished stage (settings, seconds)."""
        return self.path("_stages", f"{stage}.json")
