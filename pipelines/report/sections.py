"""Report sections made of figures: per-slider histograms, proposal grids and the P-VAE personalisation curve."""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from modeling.metrics import slider_jsd
from modeling.registry import MODEL_ORDER
from pipelines.core import storage
from pipelines.core.photos import as_shot_white, open_photo, unedited
from pipelines.core.schemas import NO_ADJUSTMENT
from pipelines.report.document import DASH, Section, Table
from pipelines.report.figures import (
    FIGURES,
    FigureInfo,
    plot_personalisation,
    plot_proposal_grid,
    plot_slider_histograms,
    slider_histograms,
)
from pipelines.report.inputs import (
    Inputs,
    optional_json,
    slider_matrix,
    split_photo_ids,
)
from rendering.sliders import PROCESS_2003

log = logging.getLogger(__name__)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def held_out_slider_matrix(photos: pa.Table, edits: pa.Table, split: str = "test") -> np.ndarray:
    """Sliders of every edit of a photo of `split` [N, 11], model space."""
    test = set(split_photo_ids(photos, split))
    mask = np.isin(np.asarray(edits.column("photo_id").to_pylist()), list(test)) if test else np.zeros(edits.num_rows, bool)
    return PROCESS_2003.to_model(slider_matrix(edits.filter(pa.array(mask))))


def proposal_slider_matrices(predictions: pa.Table) -> dict[str, np.ndarray]:
    """Every proposal per model [M, 11], model space."""
    models = np.asarray(predictions.column("model").to_pylist())
    return {name: PROCESS_2003.to_model(slider_matrix(predictions.filter(pa.array(models == name))))
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
    true = held_out_slider_matrix(inputs.photos, inputs.edits, inputs.split)
    if len(true) == 0:
        section.paragraphs.append(f"No edits of {inputs.split}-split photos: nothing to compare.")
        return section, []
    names = PROCESS_2003.names
    infos, rows = [], []
    for model, sampled in proposal_slider_matrices(inputs.predictions).items():
        hist = slider_histograms(true, sampled, bins=bins)
        jsd = slider_jsd(true, sampled, bins=bins)
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
        f"Panel titles give that slider's JSD (log base 2) on {bins} bins of the same width with one centred on "
        f"the slider's neutral value, as in evaluate-models.")
    return section, infos


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
    input_sliders, input_curve = unedited(as_shot)
    sliders = [input_sliders]
    curves: list = [input_curve]
    expert_sliders = slider_matrix(mine)
    rows = mine.column("tone_curve").to_pylist()
    delta_e: dict[str, dict[str, float]] = {}
    ev = None
    if evaluation is not None:
        ev = evaluation.filter(pc.equal(evaluation.column("photo_id"), photo_id))
        for r in ev.select(["model", "expert", "lab_error"]).to_pylist():
            delta_e.setdefault(r["model"], {})[r["expert"]] = r["lab_error"]
    top_cells, top_labels = [0], ["unedited (input)"]
    for i, expert in enumerate(experts):
        sliders.append(expert_sliders[i])
        curves.append(rows[i])
        top_cells.append(len(sliders) - 1)
        ref = delta_e.get(NO_ADJUSTMENT, {}).get(expert)
        top_labels.append(f"expert {expert}" + (f"\ninput ΔE {ref:.2f}" if ref is not None else ""))
    cells, labels, names = [top_cells], [top_labels], ["experts"]
    if ev is not None:
        ev_sliders = slider_matrix(ev)
        ev_rows = ev.select(["model", "expert", "proposal", "lab_error"]).to_pylist()
        models = [m for m in MODEL_ORDER if m in delta_e] + sorted(set(delta_e) - set(MODEL_ORDER) - {NO_ADJUSTMENT})
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
    models = plan.row_names[1:] + ([NO_ADJUSTMENT] if NO_ADJUSTMENT in plan.delta_e else [])
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
            photo = open_photo(photos[photo_id], size)                # gs:// etc. as well as local paths
            plan = plan_grid(photo_id, as_shot_white(photos[photo_id], photo), inputs.edits,
                             inputs.protocol_evaluation)
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
                                     f"raw files at {size} px long side. Top row: the unedited input (Camera Raw defaults) and each "
                                     f"expert's rendition (with its tone curve); then per model the proposal aligned "
                                     f"to each expert (#proposal → expert) with its ΔE76.")
    else:
        section.paragraphs.append("No test photo could be shown (no test photos, or none renderable).")
    if skipped:
        section.paragraphs.append("Skipped: " + "; ".join(skipped))
    return section, infos


def personalisation_section(inputs: Inputs, figures_dir: str) -> tuple[Section, list[FigureInfo]]:
    """Section 4: the P-VAE personalisation curve from models/pvae/personalisation.json."""
    section = Section("P-VAE personalisation")
    path = storage.join(inputs.folders.get("pvae", inputs.layout.model_dir("pvae")), "personalisation.json")
    curve = optional_json(path)
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
    kinds = [k for k in ("amortised", "sampled") if k in curve]
    rel = f"{FIGURES}/personalisation.png"
    info = plot_personalisation(history, {k: curve[k] for k in kinds}, os.path.join(figures_dir, "personalisation.png"),
                                title=f"P-VAE: {curve.get('users', '?')} users, {curve.get('held_out', '?')} held-out edits each")
    section.figures.append((rel, "LL_k − LL_0 (nats/edit) vs history edits, amortised q and importance-sampled posterior, ±1 s.e. (clustered by editor)"))
    section.paragraphs.append(
        f"{str(curve.get('definition', '')).rstrip('.')}. Bands: ±1 s.e. of the per-user gain over users, clustered by editor. Users: "
        f"{curve.get('users')}; held-out edits per user: {curve.get('held_out')}; importance samples: "
        f"{curve.get('num_samples')}.")
    picks = sorted({0, int(history[-1]), *[int(k) for k in history if int(k) in (1, 2, 5, 10, 20, 30)]})
    rows = []
    for k in picks:
        i = int(np.flatnonzero(history == k)[0])
        users = curve.get("users_at_k", [None] * len(history))[i]
        cells = [f"{curve[kind]['ll'][i]:.3f}" for kind in kinds]
        cells += [f"{curve[kind]['gain'][i]:+.3f} ± {curve[kind]['gain_se'][i]:.3f}" for kind in kinds]
        cells += [f"{curve[kind]['max_posterior'][i]:.2f}" for kind in kinds]
        rows.append([str(k), *cells, str(users)])
    header = ([f"LL_k {k}" for k in kinds] + [f"LL_k − LL_0 {k}" for k in kinds]
              + [f"max posterior {k}" for k in kinds])
    section.tables.append(Table(["history edits", *header, "users"], rows))
    return section, [info]
