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
The tables are plain data (`Section`, `Table`) built by functions below and rendered twice.
"""
from __future__ import annotations

import argparse
import datetime
import html
import json
import logging
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from apache_beam.io.filesystems import FileSystems

from modeling.checkpoints import read_json
from modeling.metrics import histogram_jsd
from pipelines.augment import as_shot_white
from pipelines.evaluate import summarise
from pipelines.layout import DatasetLayout
from pipelines.options import configure_logging, split_args
from pipelines.parquet_io import count_rows, parquet_files, read_table
from pipelines.report_figures import (FigureInfo, plot_personalisation, plot_proposal_grid,
                                      plot_slider_histograms, slider_histograms)
from pipelines.schemas import SLIDER_KEYS
from rendering.sliders import PROCESS_2003

log = logging.getLogger(__name__)

MODEL_ORDER = ("mlp", "mdn", "lbn", "cgmvae", "pvae")
REFERENCE_MODEL = "no_adjustment"
FIGURES = "figures"
DASH = "—"


@dataclass
class ReportConfig:
    """Settings of one report run: dataset root, output folder, grid photos and thumbnail size (px)."""

    dataset: str
    out: str
    grid_photos: int = 4
    size: int = 160
    bins: int = 20
    device: str = "cpu"


@dataclass
class Table:
    """A table as strings: header [C] and rows [R][C]."""

    header: list[str]
    rows: list[list[str]]


@dataclass
class Section:
    """One report section: paragraphs, tables and figures (path relative to the report folder, caption)."""

    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figures: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Inputs:
    """The dataset's stage outputs as read for the report (None where a stage has not run)."""

    layout: DatasetLayout
    photos: pa.Table
    edits: pa.Table | None
    evaluation: pa.Table | None
    predictions: pa.Table | None
    eval_summary: dict | None
    models_summary: dict | None
    configs: dict[str, dict]
    metrics: dict[str, dict]
    models: list[str]

    @property
    def split(self) -> str:
        """The split `photoedit evaluate` ran on (evaluation/_summary.json), test by default."""
        return str((self.eval_summary or {}).get("split") or "test")


# ---------------------------------------------------------------------------------------- reading

def _optional_table(folder: str, what: str, command: str) -> pa.Table | None:
    """A stage's Parquet folder, or None with a warning naming the command that writes it."""
    if not parquet_files(folder):
        log.warning("no %s under %s (run `%s`)", what, folder, command)
        return None
    return read_table(folder)


def _optional_json(path: str) -> dict | None:
    try:
        return read_json(path)
    except FileNotFoundError:
        return None
    except (ValueError, UnicodeDecodeError) as exc:
        log.warning("ignoring unreadable %s: %s", path, exc)
        return None


def load_inputs(layout: DatasetLayout) -> Inputs:
    """Read every stage output the report uses; FileNotFoundError when photos/ is missing."""
    photos = read_table(layout.photos, sort_by=["photo_id"])
    edits = _optional_table(layout.edits, "edits", "photoedit ingest")
    evaluation = _optional_table(layout.evaluation, "evaluation rows", f"photoedit evaluate --dataset {layout.root}")
    predictions = _optional_table(layout.predictions, "predictions", f"photoedit evaluate --dataset {layout.root}")
    eval_summary = _optional_json(FileSystems.join(layout.evaluation, "_summary.json"))
    models_summary = _optional_json(layout.path("models", "summary.json"))
    names = set(MODEL_ORDER)
    for table in (evaluation, predictions):
        if table is not None:
            names.update(table.column("model").to_pylist())
    names.discard(REFERENCE_MODEL)
    configs, metrics = {}, {}
    for name in sorted(names):
        config = _optional_json(FileSystems.join(layout.model_dir(name), "config.json"))
        if config is not None:
            configs[name] = config
        metric = _optional_json(FileSystems.join(layout.model_dir(name), "metrics.json"))
        if metric is not None:
            metrics[name] = metric
    models = list(MODEL_ORDER) + sorted(names - set(MODEL_ORDER))
    return Inputs(layout=layout, photos=photos, edits=edits, evaluation=evaluation, predictions=predictions,
                  eval_summary=eval_summary, models_summary=models_summary, configs=configs,
                  metrics=metrics, models=models)


def split_photo_ids(photos: pa.Table, split: str = "test") -> list[str]:
    """Sorted photo ids of one split."""
    return sorted(p for p, s in zip(photos.column("photo_id").to_pylist(), photos.column("split").to_pylist())
                  if s == split)


def _sliders(table: pa.Table) -> np.ndarray:
    """Slider columns of a table -> [N, 11] Lightroom units."""
    return np.stack([np.asarray(table.column(k).to_numpy(zero_copy_only=False), dtype=np.float64)
                     for k in SLIDER_KEYS], axis=1) if table.num_rows else np.zeros((0, len(SLIDER_KEYS)))


# ------------------------------------------------------------------------------------- Table 1

def lab_summary(evaluation: pa.Table) -> dict[str, dict[str, float]]:
    """Per model: LAB ΔE76 mean ± s.e. over photos (each photo the mean over experts), RMS mean, photos."""
    return summarise(evaluation)


def cross_check(computed: dict[str, dict[str, float]], summary: dict | None, rel: float = 1e-6) -> list[str]:
    """Disagreements between LAB figures computed from evaluation rows and evaluation/_summary.json."""
    if not summary:
        return []
    problems = []
    reported = summary.get("models", {})
    for name, row in computed.items():
        if name not in reported:
            if name == REFERENCE_MODEL:
                continue
            problems.append(f"{name} has evaluation rows but no entry in evaluation/_summary.json")
            continue
        for key in ("lab_mean", "lab_se", "lab_rms_mean", "photos"):
            if key not in reported[name]:
                continue
            a, b = float(row[key]), float(reported[name][key])
            if not (np.isclose(a, b, rtol=rel, atol=rel) or (np.isnan(a) and np.isnan(b))):
                problems.append(f"{name} {key}: rows give {a:.6g}, _summary.json says {b:.6g}")
    for name in reported:
        if name not in computed:
            problems.append(f"{name} is in evaluation/_summary.json but has no evaluation rows")
    return problems


def model_scores(inputs: Inputs) -> dict[str, dict[str, Any]]:
    """Per model: test LL, JSD (± s.e.), IS samples and bins, from models/summary.json else metrics.json."""
    out: dict[str, dict[str, Any]] = {}
    summary = inputs.models_summary or {}
    for row in summary.get("models", []):
        out[row["model"]] = {"ll": row.get("ll"), "ll_se": row.get("ll_se"), "jsd": row.get("jsd"),
                             "jsd_se": row.get("jsd_se"), "is_samples": row.get("ll_num_samples", summary.get("is_samples")),
                             "bins": row.get("jsd_bins", summary.get("jsd_bins")), "source": "models/summary.json"}
    for name, m in inputs.metrics.items():
        if name in out or "test_ll" not in m:
            continue
        out[name] = {"ll": m.get("test_ll"), "ll_se": m.get("test_ll_se"), "jsd": m.get("test_jsd"),
                     "jsd_se": m.get("test_jsd_se"), "is_samples": m.get("test_ll_num_samples"),
                     "bins": m.get("test_jsd_bins"), "source": f"models/{name}/metrics.json"}
    return out


def _pm(mean: Any, se: Any, digits: int) -> str:
    if mean is None or not np.isfinite(float(mean)):
        return DASH
    se_text = DASH if se is None or not np.isfinite(float(se)) else f"{float(se):.{digits}f}"
    return f"{float(mean):.{digits}f} ± {se_text}"


def table_one(models: list[str], scores: dict[str, dict], lab: dict[str, dict]) -> Table:
    """Table 1: per model (and no_adjustment) test LL ± s.e., JSD ± s.e., LAB ΔE76 ± s.e., RMS, photos."""
    rows = []
    for name in [*models, REFERENCE_MODEL]:
        s, l = scores.get(name, {}), lab.get(name)
        if name != REFERENCE_MODEL and not s and l is None:
            rows.append([name, "not trained", DASH, DASH, DASH, DASH])
            continue
        rows.append([name, _pm(s.get("ll"), s.get("ll_se"), 3), _pm(s.get("jsd"), s.get("jsd_se"), 4),
                     _pm(l["lab_mean"], l["lab_se"], 2) if l else DASH,
                     f"{l['lab_rms_mean']:.2f}" if l else DASH, str(l["photos"]) if l else DASH])
    return Table(["model", "test LL (nats/edit)", "JSD", "LAB ΔE76", "ΔE RMS", "photos"], rows)


def _unique(table: pa.Table | None, column: str) -> list:
    return sorted(set(table.column(column).to_pylist())) if table is not None and table.num_rows else []


def table_one_section(inputs: Inputs) -> Section:
    """Section 1: the Table-1-style comparison with units and definitions, and what is missing."""
    root = inputs.layout.root
    section = Section("Table 1: held-out likelihood, histogram JSD and LAB error")
    scores = model_scores(inputs)
    lab = lab_summary(inputs.evaluation) if inputs.evaluation is not None else {}
    section.tables.append(table_one(inputs.models, scores, lab))
    samples = sorted({str(s["is_samples"]) for s in scores.values() if s.get("is_samples") is not None})
    bins = sorted({str(s["bins"]) for s in scores.values() if s.get("bins") is not None})
    sources = sorted({s["source"] for s in scores.values()})
    section.paragraphs.append(
        f"LL: predictive log-likelihood of the test split's edits in nats per edit, in model space [-1, 1]^11; "
        f"importance-sampled with the recognition network as proposal for CGM-VAE / P-VAE "
        f"(S = {', '.join(samples) or 'n/a'} samples), log-mean-exp over gate draws for the LBN, exact for "
        f"MLP / MDN; ± s.e. over photos (edits of a photo averaged first). P-VAE LL uses the prior over "
        f"clusters (no user history). Source: {', '.join(sources) or 'none'}.")
    section.paragraphs.append(
        f"JSD: Jensen-Shannon divergence between normalised histograms of true and sampled sliders, "
        f"{', '.join(bins) or 'n/a'} equal bins on [-1, 1], log base 2 (0 ≤ JSD ≤ 1), averaged over the "
        f"11 sliders; ± bootstrap s.e. over photos.")
    if inputs.evaluation is not None:
        summary = inputs.eval_summary or {}
        sizes = _unique(inputs.evaluation, "size")
        refs = _unique(inputs.evaluation, "reference")
        experts = _unique(inputs.evaluation, "expert")
        section.paragraphs.append(
            f"LAB ΔE76: mean per-pixel CIE-LAB ΔE76 (D50) at {', '.join(map(str, sizes))} px long side between "
            f"each expert's rendition (reference: {', '.join(refs)}; experts {', '.join(experts)}) and the "
            f"model proposal aligned to that expert ({summary.get('proposals', '?')} proposals per photo, "
            f"aligned one-to-one by minimum total cost); per photo the mean over experts, then mean ± s.e. "
            f"over photos. ΔE RMS: the same average of the per-image RMS ΔE. {REFERENCE_MODEL}: the as-shot "
            f"render with no slider changes.")
        problems = cross_check(lab, inputs.eval_summary)
        if inputs.eval_summary is None:
            section.paragraphs.append("evaluation/_summary.json is missing: LAB figures come from the rows only.")
        elif problems:
            for p in problems:
                log.warning("LAB cross-check: %s", p)
            section.paragraphs.append("Cross-check against evaluation/_summary.json FAILED: " + "; ".join(problems))
        else:
            section.paragraphs.append("LAB figures agree with evaluation/_summary.json.")
    else:
        section.paragraphs.append(f"Missing LAB error: no evaluation/ rows; run `photoedit evaluate --dataset {root}`.")
    missing = [n for n in inputs.models if n not in scores]
    if missing:
        section.paragraphs.append(
            f"Missing LL / JSD for {', '.join(missing)}: run `photoedit train --dataset {root} --model NAME` "
            f"then `photoedit evaluate-models --dataset {root}`.")
    return section


# --------------------------------------------------------------------------------- histograms

def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def held_out_edit_sliders(photos: pa.Table, edits: pa.Table, split: str = "test") -> np.ndarray:
    """Sliders of every edit of a photo of `split` [N, 11], model space."""
    test = set(split_photo_ids(photos, split))
    mask = np.isin(np.asarray(edits.column("photo_id").to_pylist()), list(test)) if test else np.zeros(edits.num_rows, bool)
    return PROCESS_2003.to_model(_sliders(edits.filter(pa.array(mask))))


def predicted_sliders(predictions: pa.Table) -> dict[str, np.ndarray]:
    """Every proposal per model [M, 11], model space."""
    models = np.asarray(predictions.column("model").to_pylist())
    return {name: PROCESS_2003.to_model(_sliders(predictions.filter(pa.array(models == name))))
            for name in sorted(set(models.tolist()))}


def histogram_section(inputs: Inputs, figures_dir: str, bins: int) -> tuple[Section, list[FigureInfo]]:
    """Section 2: per model one PNG of 11 per-slider histograms, true test edits vs sampled proposals."""
    section = Section("Slider distributions: true test edits vs proposals")
    root = inputs.layout.root
    if inputs.edits is None or inputs.predictions is None:
        what = "edits/ (run `photoedit ingest`)" if inputs.edits is None else \
            f"predictions/ (run `photoedit evaluate --dataset {root}`)"
        section.paragraphs.append(f"Missing: no {what}.")
        return section, []
    true = held_out_edit_sliders(inputs.photos, inputs.edits, inputs.split)
    if len(true) == 0:
        section.paragraphs.append(f"No edits of {inputs.split}-split photos: nothing to compare.")
        return section, []
    names = PROCESS_2003.names
    infos, rows = [], []
    for model, sampled in predicted_sliders(inputs.predictions).items():
        hist = slider_histograms(true, sampled, bins=bins)
        jsd = [histogram_jsd(true[:, j], sampled[:, j], bins=bins) for j in range(len(names))]
        rel = f"{FIGURES}/sliders_{_safe(model)}.png"
        infos.append(plot_slider_histograms(hist, names, os.path.join(figures_dir, os.path.basename(rel)),
                                            title=model, panel_notes=[f"JSD {v:.3f}" for v in jsd],
                                            sampled_label=f"{model} proposals"))
        section.figures.append((rel, f"{model}: per-slider histograms (grey: test edits, line: proposals)"))
        rows.append([model, str(len(sampled)), f"{np.nanmean(jsd):.4f}"])
    section.tables.append(Table(["model", "proposals", "mean JSD of these histograms"], rows))
    section.paragraphs.append(
        f"Model space [-1, 1] (Temperature on the mired scale), {bins} bins, frequencies normalised per "
        f"slider; {len(true)} edits of {inputs.split}-split photos (edits/) vs every proposal in predictions/. "
        f"Panel titles give that slider's JSD (log base 2).")
    return section, infos


# ------------------------------------------------------------------------------- proposal grids

def grid_photo_ids(inputs: Inputs) -> list[str]:
    """Candidate photos for the grids, in order: test photos with evaluation rows (else all test photos)."""
    ids = split_photo_ids(inputs.photos, inputs.split)
    if inputs.evaluation is not None:
        evaluated = set(inputs.evaluation.column("photo_id").to_pylist())
        ids = [p for p in ids if p in evaluated]
    return ids


@dataclass
class GridPlan:
    """What to render for one photo: slider sets [N, 11] (Lightroom units), tone curves, and their cells."""

    photo_id: str
    sliders: np.ndarray
    tone_curves: list
    cells: list[list[int | None]]     # [rows][cols] index into sliders, None = empty
    labels: list[list[str]]
    row_names: list[str]
    delta_e: dict[str, dict[str, float]]   # model -> expert -> ΔE


def plan_grid(photo_id: str, as_shot: tuple[float, float], edits: pa.Table, evaluation: pa.Table | None) -> GridPlan:
    """Rows: experts (input + each expert's rendition), then one row per model with the proposal aligned to each expert."""
    mine = edits.filter(pc.and_(pc.equal(edits.column("photo_id"), photo_id),
                                pc.equal(edits.column("editor_kind"), "expert"))).sort_by("editor")
    experts = mine.column("editor").to_pylist()
    sliders = [PROCESS_2003.neutral(*as_shot)]
    curves: list = [None]
    expert_sliders = _sliders(mine)
    rows = mine.column("tone_curve").to_pylist()
    delta_e: dict[str, dict[str, float]] = {}
    ev = None
    if evaluation is not None:
        ev = evaluation.filter(pc.equal(evaluation.column("photo_id"), photo_id))
        for r in ev.select(["model", "expert", "lab_error"]).to_pylist():
            delta_e.setdefault(r["model"], {})[r["expert"]] = r["lab_error"]
    top_cells, top_labels = [0], ["as shot (input)"]
    for i, expert in enumerate(experts):
        sliders.append(expert_sliders[i])
        curves.append(rows[i])
        top_cells.append(len(sliders) - 1)
        ref = delta_e.get(REFERENCE_MODEL, {}).get(expert)
        top_labels.append(f"expert {expert}" + (f"\ninput ΔE {ref:.2f}" if ref is not None else ""))
    cells, labels, names = [top_cells], [top_labels], ["experts"]
    if ev is not None:
        ev_sliders = _sliders(ev)
        ev_rows = ev.select(["model", "expert", "proposal", "lab_error"]).to_pylist()
        models = [m for m in MODEL_ORDER if m in delta_e] + sorted(set(delta_e) - set(MODEL_ORDER) - {REFERENCE_MODEL})
        for model in models:
            row_cells, row_labels = [None], [""]
            for expert in experts:
                hit = [i for i, r in enumerate(ev_rows) if r["model"] == model and r["expert"] == expert]
                if not hit:
                    row_cells.append(None)
                    row_labels.append("")
                    continue
                r = ev_rows[hit[0]]
                sliders.append(ev_sliders[hit[0]])
                curves.append(None)
                row_cells.append(len(sliders) - 1)
                row_labels.append(f"#{r['proposal']} → {expert}\nΔE {r['lab_error']:.2f}")
            cells.append(row_cells)
            labels.append(row_labels)
            names.append(model)
    return GridPlan(photo_id=photo_id, sliders=np.stack(sliders), tone_curves=curves, cells=cells,
                    labels=labels, row_names=names, delta_e=delta_e)


def delta_e_table(plan: GridPlan) -> Table:
    """One photo's ΔE76 per model row (and no_adjustment) and expert column."""
    experts = sorted({e for per in plan.delta_e.values() for e in per})
    models = plan.row_names[1:] + ([REFERENCE_MODEL] if REFERENCE_MODEL in plan.delta_e else [])
    rows = [[m, *[f"{plan.delta_e[m][e]:.2f}" if e in plan.delta_e[m] else DASH for e in experts]] for m in models]
    return Table([f"{plan.photo_id}: ΔE76", *[f"expert {e}" for e in experts]], rows)


def render_thumbnails(photo: Any, plan: GridPlan, device: str = "cpu") -> np.ndarray:
    """Render a plan's slider sets on a decoded photo (rendering.raw.Photo) -> sRGB uint8 [N, H, W, 3]."""
    import torch

    from rendering.colour import linear_prophoto_to_srgb
    from rendering.renderer import PhotoRenderer

    linear = PhotoRenderer(device).render(photo, plan.sliders, tone_curves=plan.tone_curves)
    srgb = linear_prophoto_to_srgb(torch.from_numpy(linear)).numpy()
    return np.round(np.clip(srgb, 0.0, 1.0) * 255).astype(np.uint8).transpose(0, 2, 3, 1)


def grid_section(inputs: Inputs, figures_dir: str, count: int, size: int, device: str) -> tuple[Section, list[FigureInfo]]:
    """Section 3: proposal grids of the first `count` renderable test photos (sorted ids)."""
    from rendering.raw import load_photo

    section = Section("Proposal grids")
    root = inputs.layout.root
    if inputs.edits is None:
        section.paragraphs.append("Missing: no edits/ (run `photoedit ingest`).")
        return section, []
    if inputs.evaluation is None:
        section.paragraphs.append(f"No evaluation/ rows: showing the inputs and expert renditions only; run "
                                  f"`photoedit evaluate --dataset {root}` for the aligned proposals and ΔE.")
    photos = {r["photo_id"]: r for r in inputs.photos.to_pylist()}
    infos: list[FigureInfo] = []
    skipped, shown = [], []
    for photo_id in grid_photo_ids(inputs):
        if len(infos) >= count:
            break
        raw_uri = photos[photo_id]["raw_uri"]
        try:
            with FileSystems.open(raw_uri) as f:                     # gs:// etc. as well as local paths
                photo = load_photo(f.read(), long_side=size, name=raw_uri)
            plan = plan_grid(photo_id, as_shot_white(photos[photo_id], photo), inputs.edits, inputs.evaluation)
            thumbs = render_thumbnails(photo, plan, device)
        except Exception as exc:  # a missing or bad raw, or bad sliders: skip this photo, keep going
            log.warning("proposal grid: skipping %s (%s): %s: %s", photo_id, raw_uri, type(exc).__name__, exc)
            skipped.append(f"{photo_id} ({type(exc).__name__}: {exc})")
            continue
        images = [[None if i is None else thumbs[i] for i in row] for row in plan.cells]
        rel = f"{FIGURES}/grid_{_safe(photo_id)}.png"
        infos.append(plot_proposal_grid(images, plan.labels, plan.row_names,
                                        os.path.join(figures_dir, os.path.basename(rel)),
                                        title=f"{photo_id}: input, expert renditions, aligned proposals"))
        section.figures.append((rel, f"{photo_id}"))
        shown.append(photo_id)
        if plan.delta_e:
            section.tables.append(delta_e_table(plan))
    if infos:
        section.paragraphs.insert(0, f"Photos: {', '.join(shown)} "
                                     f"(the first {inputs.split}-split photo ids in sorted order), thumbnails rendered from the "
                                     f"raw files at {size} px long side. Top row: the as-shot input and each "
                                     f"expert's rendition (with its tone curve); then per model the proposal aligned "
                                     f"to each expert (#proposal → expert) with its ΔE76.")
    else:
        section.paragraphs.append("No test photo could be shown (no test photos, or none renderable).")
    if skipped:
        section.paragraphs.append("Skipped: " + "; ".join(skipped))
    return section, infos


# ----------------------------------------------------------------------------- personalisation

def personalisation_section(inputs: Inputs, figures_dir: str) -> tuple[Section, list[FigureInfo]]:
    """Section 4: the P-VAE personalisation curve from models/pvae/personalisation.json."""
    section = Section("P-VAE personalisation")
    path = FileSystems.join(inputs.layout.model_dir("pvae"), "personalisation.json")
    curve = _optional_json(path)
    if curve is None:
        log.warning("no %s", path)
        section.paragraphs.append(f"Missing: no models/pvae/personalisation.json; run `photoedit train --dataset "
                                  f"{inputs.layout.root} --model pvae` or `photoedit evaluate-models`.")
        return section, []
    if not curve.get("history"):
        section.paragraphs.append("personalisation.json has no curve: no user had enough test edits "
                                  "(held-out edits + 1).")
        return section, []
    history = np.asarray(curve["history"], dtype=np.float64)
    ll = np.asarray(curve["ll"], dtype=np.float64)
    ll_se = np.asarray(curve.get("ll_se", np.zeros_like(ll)), dtype=np.float64)
    normalised = np.asarray(curve["normalised"], dtype=np.float64)
    scale = abs(ll[0]) if ll[0] != 0 else np.nan
    band = ll_se / scale
    rel = f"{FIGURES}/personalisation.png"
    info = plot_personalisation(history, normalised, band, os.path.join(figures_dir, "personalisation.png"),
                                title=f"P-VAE: {curve.get('users', '?')} users, {curve.get('held_out', '?')} held-out edits each")
    section.figures.append((rel, "normalised LL vs history edits, ±1 s.e. band"))
    section.paragraphs.append(
        f"{str(curve.get('definition', '')).rstrip('.')}. Band: ±1 s.e. of LL_k over users divided by |LL_0|. Users: "
        f"{curve.get('users')}; held-out edits per user: {curve.get('held_out')}; importance samples: "
        f"{curve.get('num_samples')}.")
    picks = sorted({0, int(history[-1]), *[int(k) for k in history if int(k) in (1, 5, 10, 20, 30)]})
    rows = []
    for k in picks:
        i = int(np.flatnonzero(history == k)[0])
        users = curve.get("users_at_k", [None] * len(history))[i]
        rows.append([str(k), f"{ll[i]:.3f} ± {ll_se[i]:.3f}", f"{normalised[i]:.3f}", str(users)])
    section.tables.append(Table(["history edits", "LL (nats/edit)", "normalised LL", "users"], rows))
    return section, [info]


# ---------------------------------------------------------------------------------- provenance

def error_counts(layout: DatasetLayout) -> dict[str, int]:
    """Rows under errors/<stage>/ per stage."""
    matches = FileSystems.match([layout.path("errors", "*", "*.parquet")])[0].metadata_list
    stages = sorted({m.path.replace("\\", "/").rstrip("/").split("/")[-2] for m in matches})
    return {s: count_rows(layout.errors(s)) or 0 for s in stages}


def stage_markers(layout: DatasetLayout) -> dict[str, dict]:
    """_stages/<stage>.json markers written by `photoedit demo` (stage -> {config, seconds})."""
    matches = FileSystems.match([layout.path("_stages", "*.json")])[0].metadata_list
    out = {}
    for m in sorted(matches, key=lambda m: m.path):
        marker = _optional_json(m.path)
        if marker is not None:
            out[m.path.replace("\\", "/").split("/")[-1][:-len(".json")]] = marker
    return out


def photoedit_version() -> str:
    """The installed photoedit version, or 'unknown (not installed)'."""
    from importlib import metadata
    try:
        return metadata.version("photoedit")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def data_counts(inputs: Inputs) -> dict[str, Any]:
    """Counts of the dataset: photos per split, edits (by kind), variants, features, predictions, evaluation rows."""
    layout = inputs.layout
    splits: dict[str, int] = {}
    for s in inputs.photos.column("split").to_pylist():
        splits[s] = splits.get(s, 0) + 1
    counts: dict[str, Any] = {"photos": inputs.photos.num_rows, "photos_per_split": dict(sorted(splits.items()))}
    if inputs.edits is not None:
        kinds: dict[str, int] = {}
        for k in inputs.edits.column("editor_kind").to_pylist():
            kinds[k] = kinds.get(k, 0) + 1
        counts["edits"] = inputs.edits.num_rows
        counts["edits_per_kind"] = dict(sorted(kinds.items()))
    else:
        counts["edits"] = None
    counts["variants"] = count_rows(layout.variants)
    counts["variant_edits"] = count_rows(layout.variant_edits)
    counts["features"] = count_rows(layout.features)
    counts["predictions"] = inputs.predictions.num_rows if inputs.predictions is not None else None
    counts["evaluation"] = inputs.evaluation.num_rows if inputs.evaluation is not None else None
    counts["errors"] = error_counts(layout)
    return counts


def _text(value: Any) -> str:
    if value is None:
        return "missing"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_text(v)}" for k, v in value.items()) or "none"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def provenance_section(inputs: Inputs, generated: str) -> Section:
    """Section 5: dataset root, counts, model configs, stage markers, evaluate settings, version, time."""
    section = Section("Run configuration and provenance")
    counts = data_counts(inputs)
    section.tables.append(Table(["item", "value"], [
        ["dataset root", inputs.layout.root],
        ["photoedit version", photoedit_version()],
        ["generated", generated],
        *[[k.replace("_", " "), _text(counts[k])] for k in
          ("photos", "photos_per_split", "edits", "edits_per_kind", "variants", "variant_edits", "features",
           "predictions", "evaluation")],
        ["error rows per stage", _text(counts["errors"]) if counts["errors"] else "none"],
    ]))
    rows = []
    for name in inputs.models:
        config, metric = inputs.configs.get(name), inputs.metrics.get(name, {})
        if config is None:
            rows.append([name, "missing", DASH, DASH, DASH, DASH])
            continue
        train = config.get("train", {})
        kwargs = {k: v for k, v in config.get("kwargs", {}).items() if k != "feature_dim"}
        rows.append([name, str(config.get("model_class", DASH)),
                     _text({"feature_dim": config.get("feature_dim"), **kwargs}),
                     _text({k: train.get(k) for k in ("epochs", "batch_size", "lr", "patience") if k in train}),
                     _text({k: metric.get(k) for k in ("best_epoch", "epochs_run") if k in metric}) if metric else DASH,
                     _text(train.get("seed"))])
    section.tables.append(Table(["model", "class", "hyper-parameters", "training", "run", "seed"], rows))
    markers = stage_markers(inputs.layout)
    if markers:
        section.tables.append(Table(["stage", "seconds", "config"], [
            [stage, _text(m.get("seconds")), json.dumps(m.get("config", {}), sort_keys=True)] for stage, m in markers.items()]))
    else:
        section.paragraphs.append("No stage markers (_stages/*.json, written by `photoedit demo`).")
    if inputs.eval_summary is not None:
        s = inputs.eval_summary
        section.tables.append(Table(["evaluate setting", "value"], [
            [k, _text(s[k]) if not isinstance(s[k], list) else ", ".join(map(str, s[k]))]
            for k in ("split", "experts", "proposals", "size", "reference", "seed") if k in s]))
    else:
        section.paragraphs.append(f"No evaluation/_summary.json (run `photoedit evaluate --dataset {inputs.layout.root}`).")
    if inputs.models_summary is not None:
        s = inputs.models_summary
        section.paragraphs.append(f"evaluate-models: importance samples {s.get('is_samples')}, JSD bins "
                                  f"{s.get('jsd_bins')}, log base {s.get('jsd_log_base')}, split "
                                  f"{s.get('split')}, {s.get('edits')} edits.")
    return section


# ------------------------------------------------------------------------------------ rendering

CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:14px}th,td{border:1px solid #bbb;padding:3px 8px;text-align:left}
th{background:#eee}figure{margin:1em 0}img{max-width:100%;border:1px solid #ddd}figcaption{font-size:13px;color:#555}
p{line-height:1.4}code{background:#f3f3f3}"""


def to_html(title: str, sections: list[Section]) -> str:
    """A self-contained HTML page (inline CSS, figures by relative path); every data string escaped."""
    e = html.escape
    out = ["<!DOCTYPE html>", "<html lang=\"en\"><head><meta charset=\"utf-8\">", f"<title>{e(title)}</title>",
           f"<style>{CSS}</style></head><body>", f"<h1>{e(title)}</h1>"]
    for s in sections:
        out.append(f"<h2>{e(s.title)}</h2>")
        for t in s.tables:
            out.append("<table><thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in t.header) + "</tr></thead><tbody>")
            for row in t.rows:
                out.append("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>")
            out.append("</tbody></table>")
        for p in s.paragraphs:
            out.append(f"<p>{e(p)}</p>")
        for path, caption in s.figures:
            out.append(f"<figure><img src=\"{e(path, quote=True)}\" alt=\"{e(caption, quote=True)}\">"
                       f"<figcaption>{e(caption)}</figcaption></figure>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _md(text: str) -> str:
    return html.escape(text, quote=False).replace("|", "\\|").replace("\n", " ")


def to_markdown(title: str, sections: list[Section]) -> str:
    """The same report as GitHub Markdown: pipe tables and image links."""
    out = [f"# {_md(title)}", ""]
    for s in sections:
        out += [f"## {_md(s.title)}", ""]
        for t in s.tables:
            out.append("| " + " | ".join(_md(h) for h in t.header) + " |")
            out.append("|" + " --- |" * len(t.header))
            out += ["| " + " | ".join(_md(c) for c in row) + " |" for row in t.rows]
            out.append("")
        for p in s.paragraphs:
            out += [_md(p), ""]
        for path, caption in s.figures:
            out += [f"![{_md(caption)}]({path})", ""]
    return "\n".join(out)


# --------------------------------------------------------------------------------------- driver

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


def _publish(staging: str, out: str) -> None:
    """Copy a local staging folder to a Beam filesystem URI (gs://, s3://)."""
    for folder, _, files in os.walk(staging):
        for name in files:
            local = os.path.join(folder, name)
            target = FileSystems.join(out, *os.path.relpath(local, staging).split(os.sep))
            with open(local, "rb") as src, FileSystems.create(target) as dst:
                shutil.copyfileobj(src, dst)


def report(config: ReportConfig) -> ReportResult:
    """Build the report into config.out (a local folder or any Beam filesystem URI)."""
    if "://" not in config.out:
        return build_report(config, config.out)
    with tempfile.TemporaryDirectory(prefix="photoedit-report-") as staging:
        result = build_report(config, staging)
        _publish(staging, config.out)
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
    p.add_argument("--bins", type=int, default=20, help="histogram bins on [-1, 1] (default 20)")
    p.add_argument("--device", default="cpu", help="torch device for the thumbnails (default cpu)")
    p.add_argument("--verbose", action="store_true")
    return p


def run(argv: list[str] | None = None) -> int:
    """`photoedit report`: write the report; 0 on success, 2 when the dataset has no photos/."""
    args, extra = split_args(_parser(), argv)
    configure_logging(args.verbose)
    if extra:
        log.warning("ignoring options the report does not use (it runs no Beam pipeline): %s", " ".join(extra))
    layout = DatasetLayout(args.dataset)
    if not parquet_files(layout.photos):
        print(f"photoedit report: no photos/ Parquet under {args.dataset}: not a dataset root "
              f"(run `photoedit ingest` or `photoedit sample` first)", file=sys.stderr)
        return 2
    config = ReportConfig(dataset=args.dataset, out=args.out or layout.report, grid_photos=args.grid_photos,
                          size=args.size, bins=args.bins, device=args.device)
    result = report(config)
    missing = sum(1 for s in result.sections for p in s.paragraphs if p.startswith("Missing"))
    print(f"report written to {FileSystems.join(config.out, 'index.html')} and report.md "
          f"({len(result.figures)} figures, {missing} sections with missing inputs)")
    return 0


if __name__ == "__main__":
    sys.exit(run())
