"""`photoedit report`: one HTML + Markdown report of a dataset's models and evaluation.

Reads what the earlier stages wrote under <dataset> (nothing is recomputed except the thumbnails):
photos/, edits/, variants/, features/, errors/*, models/<name>/{config,metrics,personalisation}.json,
models/summary.json (`photoedit evaluate-models`), evaluation/ + evaluation/_summary.json and
predictions/ (`photoedit evaluate`), _stages/*.json (`photoedit demo`). Writes <out>/index.html,
<out>/report.md and <out>/figures/*.png (default <out> = <dataset>/report).

Sections: Table 1 (LL, JSD, LAB error per model and the no-adjustment reference), per-slider
histograms of true vs sampled edits, proposal grids rendered from the raw files, the P-VAE
personalisation curve, and run configuration / provenance. A missing input turns its section into
a note naming the command that produces it; only a dataset without photos/ is an error (exit 2).
The sections are plain data (pipelines.report.document) built by pipelines.report.tables and
pipelines.report.sections and rendered twice.
"""
from __future__ import annotations

import argparse
import datetime
import logging
import os
import sys
from dataclasses import dataclass

from modeling.metrics import DEFAULT_BINS
from pipelines.core import storage
from pipelines.core.console import configure_logging, local_log_dir
from pipelines.core.layout import DatasetLayout
from pipelines.core.options import split_args
from pipelines.core.parquet_io import parquet_files
from pipelines.report.document import Section, to_html, to_markdown
from pipelines.report.figures import FIGURES, FigureInfo
from pipelines.report.inputs import load_inputs
from pipelines.report.sections import (
    grid_section,
    histogram_section,
    personalisation_section,
)
from pipelines.report.tables import provenance_section, table_one_section

log = logging.getLogger(__name__)


@dataclass
class ReportConfig:
    """Settings of one report run: dataset root, output folder, grid photos and thumbnail size (px)."""

    dataset: str
    out: str
    grid_photos: int = 4
    size: int = 160
    bins: int = DEFAULT_BINS
    device: str = "cpu"


@dataclass
class ReportResult:
    """What a report run produced: the sections and the figures written (paths under the staging dir)."""

    sections: list[Section]
    figures: list[FigureInfo]
    html_path: str
    markdown_path: str


def build_report(config: ReportConfig, staging: str) -> ReportResult:
    """Read the dataset, draw the figures and write index.html + report.md under `staging` (local)."""
    layout = DatasetLayout(config.dataset)
    inputs = load_inputs(layout)
    figures_dir = os.path.join(staging, FIGURES)
    os.makedirs(figures_dir, exist_ok=True)
    for old in os.listdir(figures_dir):
        if old.endswith(".png"):
            os.remove(os.path.join(figures_dir, old))
    generated = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    sections = [table_one_section(inputs)]
    figures: list[FigureInfo] = []
    for section, infos in (histogram_section(inputs, figures_dir, config.bins),
                           grid_section(inputs, figures_dir, config.grid_photos, config.size, config.device),
                           personalisation_section(inputs, figures_dir)):
        sections.append(section)
        figures += infos
    sections.append(provenance_section(inputs, generated))
    title = f"photoedit report: {layout.root}"
    html_path, md_path = os.path.join(staging, "index.html"), os.path.join(staging, "report.md")
    with open(html_path, "w", encoding="utf-8") as f:
        f.write(to_html(title, sections))
    with open(md_path, "w", encoding="utf-8") as f:
        f.write(to_markdown(title, sections))
    return ReportResult(sections=sections, figures=figures, html_path=html_path, markdown_path=md_path)


def report(config: ReportConfig) -> ReportResult:
    """Build the report into config.out (a local folder or any Beam filesystem URI)."""
    with storage.staged_folder(config.out) as staging:
        result = build_report(config, staging)
    log.info("report: %d figures -> %s", len(result.figures), storage.join(config.out, "index.html"))
    return result


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="photoedit report",
        description="HTML + Markdown report of a dataset: Table 1 (test LL, JSD, LAB ΔE76 per model and the "
                    "no-adjustment reference), per-slider histograms of true vs proposed edits, proposal grids "
                    "rendered from the raw files, the P-VAE personalisation curve, run configuration and "
                    "provenance. Writes <out>/index.html, <out>/report.md and <out>/figures/*.png. Missing "
                    "stage outputs become notes naming the command to run; exit 2 only without photos/.",
        epilog="Runs no Beam pipeline: other flags are accepted (so stage scripts can pass Beam options) "
               "and ignored.")
    p.add_argument("--dataset", required=True, help="dataset root (local path or Beam filesystem URI)")
    p.add_argument("--out", default=None, help="report folder (default <dataset>/report)")
    p.add_argument("--grid-photos", type=int, default=4, help="test photos in the proposal grids (default 4)")
    p.add_argument("--size", type=int, default=160, help="thumbnail long side in px (default 160)")
    p.add_argument("--bins", type=int, default=DEFAULT_BINS,
                   help=f"histogram and JSD bins on [-1, 1] (default {DEFAULT_BINS}: odd, so that 0 is a bin centre)")
    p.add_argument("--device", default="cpu", help="torch device for the thumbnails (default cpu)")
    p.add_argument("--verbose", action="store_true", help="every log line")
    return p


def run(argv: list[str] | None = None) -> int:
    """`photoedit report`: write the report; 0 on success, 2 when the dataset has no photos/."""
    args, extra = split_args(_parser(), argv)
    configure_logging(args.verbose, local_log_dir(args.dataset), "report")
    if extra:
        log.warning("ignoring options the report does not use (it runs no Beam pipeline): %s", " ".join(extra))
    layout = DatasetLayout(args.dataset)
    if not parquet_files(layout.photos):
        log.error("report: no photos/ Parquet under %s: not a dataset root (run `photoedit ingest` first)",
                  args.dataset)
        return 2
    config = ReportConfig(dataset=args.dataset, out=args.out or layout.report, grid_photos=args.grid_photos,
                          size=args.size, bins=args.bins, device=args.device)
    result = report(config)
    missing = sum(1 for s in result.sections for p in s.paragraphs if p.startswith("Missing"))
    if missing:
        log.info("report: %d sections say which inputs are missing", missing)
    return 0


if __name__ == "__main__":
    sys.exit(run())
