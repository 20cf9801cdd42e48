"""Report sections made of tables: Table 1 (LL, JSD, LAB error per model) and the run's provenance."""
from __future__ import annotations

import json
import logging
from typing import Any

import numpy as np
import pyarrow as pa

from modeling.comparison import FLOOR, LEAD_SES, clear_lead
from modeling.metrics import mean_se
from pipelines.core.lab_summary import summarise, summarise_by_proposals
from pipelines.core.schemas import NO_ADJUSTMENT
from pipelines.fivek.sample.generator import CAMERA_MAKE
from pipelines.report.document import DASH, Section, Table
from pipelines.report.inputs import (
    Inputs,
    data_counts,
    photoedit_version,
    stage_markers,
)
from rendering.sliders import PROCESS_2003

log = logging.getLogger(__name__)


def _disagreements(computed: dict[str, dict[str, float]], reported: dict, where: str, rel: float) -> list[str]:
    problems = []
    for name, row in computed.items():
        if name not in reported:
            if name == NO_ADJUSTMENT:
                continue
            problems.append(f"{name} has evaluation rows but no entry in {where}")
            continue
        for key in ("lab_mean", "lab_se", "lab_rms_mean", "photos"):
            if key not in reported[name]:
                continue
            a, b = float(row[key]), float(reported[name][key])
            if not (np.isclose(a, b, rtol=rel, atol=rel) or (np.isnan(a) and np.isnan(b))):
                problems.append(f"{name} {key}: rows give {a:.6g}, {where} says {b:.6g}")
    for name in reported:
        if name not in computed:
            problems.append(f"{name} is in {where} but has no evaluation rows")
    return problems


def cross_check(computed: dict[str, dict[str, float]], summary: dict | None, rel: float = 1e-6,
                by_proposals: dict[int, dict[str, dict[str, float]]] | None = None) -> list[str]:
    """Disagreements between LAB figures computed from evaluation rows and evaluation/_summary.json:
    `computed` against its `models` (the paper's protocol), `by_proposals` (per pool P) against its `by_proposals`."""
    if not summary:
        return []
    problems = _disagreements(computed, summary.get("models", {}), "evaluation/_summary.json", rel)
    reported = summary.get("by_proposals", {})
    for pool, rows in (by_proposals or {}).items():
        if str(pool) not in reported:
            problems.append(f"P = {pool} has evaluation rows but no entry in evaluation/_summary.json by_proposals")
            continue
        problems += _disagreements(rows, reported[str(pool)], f"evaluation/_summary.json (P = {pool})", rel)
    return problems


SCORE_KEYS = ("ll", "ll_se", "jsd", "jsd_se", "slider_error", "slider_error_se", "ll_minus_floor",
              "ll_minus_floor_se", "jsd_per_slider", "seeds", "ll_seed_sd", "jsd_seed_sd", "slider_error_seed_sd")


def model_scores(inputs: Inputs) -> dict[str, dict[str, Any]]:
    """Per model (and the feature-blind floor): test LL, JSD, slider error (± s.e.), LL - floor, JSD per slider,
    sample counts and bins, from models/summary.json else the model's metrics.json."""
    out: dict[str, dict[str, Any]] = {}
    summary = inputs.models_summary or {}
    rows = [*summary.get("models", []), *([summary["floor"]] if summary.get("floor") else [])]
    for row in rows:
        out[row["model"]] = {**{k: row.get(k) for k in SCORE_KEYS},
                             "is_samples": row.get("ll_num_samples", summary.get("is_samples")),
                             "bins": row.get("jsd_bins", summary.get("jsd_bins")), "source": "models/summary.json"}
    for name, m in inputs.metrics.items():
        if name in out or "test_ll" not in m:
            continue
        folder = inputs.folders.get(name, inputs.layout.model_dir(name))
        where = folder[len(inputs.layout.root):].lstrip("/\\") if folder.startswith(inputs.layout.root) else folder
        out[name] = {**{k: m.get(f"test_{k}") for k in SCORE_KEYS}, "seeds": 1,
                     "is_samples": m.get("test_ll_num_samples"), "bins": m.get("test_jsd_bins"),
                     "source": f"{where}/metrics.json (one seed)"}
    return out


def _pm(mean: Any, se: Any, digits: int, sign: bool = False) -> str:
    if mean is None or not np.isfinite(float(mean)):
        return DASH
    se_text = DASH if se is None or not np.isfinite(float(se)) else f"{float(se):.{digits}f}"
    return f"{float(mean):{'+' if sign else ''}.{digits}f} ± {se_text}"


def _over_seeds(s: dict, metric: str, digits: int) -> str:
    """'mean ± s.d.' over training seeds; the mean alone where the spread is unknown (one seed)."""
    mean, sd = s.get(metric), s.get(f"{metric}_seed_sd")
    if mean is None or not np.isfinite(float(mean)):
        return DASH
    if sd is None or not np.isfinite(float(sd)):
        return f"{float(mean):.{digits}f}"
    return f"{float(mean):.{digits}f} ± {float(sd):.{digits}f}"


def _value(value: Any, digits: int) -> str:
    return DASH if value is None or not np.isfinite(float(value)) else f"{float(value):.{digits}f}"


def table_one(models: list[str], scores: dict[str, dict], lab: dict[str, dict]) -> Table:
    """Table 1: per model, the feature-blind floor and no_adjustment: training seeds, test LL, JSD and slider
    error (mean ± s.d. over seeds, then the s.e. over photos), LL − floor (± s.e.), LAB ΔE76 ± s.e. of the
    paper's protocol, RMS ΔE, photos."""
    rows = []
    for name in [*models, FLOOR, NO_ADJUSTMENT]:
        s, l = scores.get(name, {}), lab.get(name)
        if name == FLOOR and not s and l is None:
            continue
        if name not in (NO_ADJUSTMENT, FLOOR) and not s and l is None:
            rows.append([name, "not trained", *[DASH] * 10])
            continue
        seeds = DASH if name in (NO_ADJUSTMENT, FLOOR) or not s else str(s.get("seeds") or 1)
        rows.append([name, seeds, _over_seeds(s, "ll", 3), _value(s.get("ll_se"), 3),
                     _pm(s.get("ll_minus_floor"), s.get("ll_minus_floor_se"), 3, sign=True),
                     _over_seeds(s, "jsd", 4), _value(s.get("jsd_se"), 4),
                     _over_seeds(s, "slider_error", 4), _value(s.get("slider_error_se"), 4),
                     _pm(l["lab_mean"], l["lab_se"], 2) if l else DASH,
                     f"{l['lab_rms_mean']:.2f}" if l else DASH, str(l["photos"]) if l else DASH])
    return Table(["model", "seeds", "test LL (nats/edit)", "LL s.e.", "LL − floor", "JSD", "JSD s.e.",
                  "slider error", "slider s.e.", "LAB ΔE76", "ΔE RMS", "photos"], rows)


def lab_pools_table(models: list[str], by_proposals: dict[int, dict[str, dict]], protocol: int | None) -> Table | None:
    """The LAB table: per model, the feature-blind floor and no_adjustment, LAB ΔE76 ± s.e. over photos for each
    proposal pool P (the paper's protocol first); None without pools."""
    pools = sorted(by_proposals, key=lambda p: (p != protocol, -p))
    if not pools:
        return None
    names = [n for n in [*models, FLOOR, NO_ADJUSTMENT] if any(n in by_proposals[p] for p in pools)]
    rows = []
    for name in names:
        cells = [_pm(by_proposals[p][name]["lab_mean"], by_proposals[p][name]["lab_se"], 2)
                 if name in by_proposals[p] else DASH for p in pools]
        photos = max(by_proposals[p][name]["photos"] for p in pools if name in by_proposals[p])
        rows.append([name, *cells, str(photos)])
    header = [f"P = {p}" + (" (paper)" if p == protocol else "") for p in pools]
    return Table(["model", *[f"LAB ΔE76, {h}" for h in header], "photos"], rows)


def jsd_per_slider_table(models: list[str], scores: dict[str, dict]) -> Table | None:
    """JSD of each slider's histogram per model (and the floor); None when no model has them."""
    names = [n for n in [*models, FLOOR] if scores.get(n, {}).get("jsd_per_slider")]
    if not names:
        return None
    return Table(["model", *PROCESS_2003.names],
                 [[n, *[f"{v:.3f}" for v in scores[n]["jsd_per_slider"]]] for n in names])


def best_lines(inputs: Inputs, lab: dict[str, dict]) -> list[str]:
    """Per metric the leader and whether its lead over the runner-up exceeds LEAD_SES s.e. of that lead."""
    lines = [row["line"] for row in (inputs.models_summary or {}).get("best", [])]
    ranked = sorted((m for m in lab if m not in (NO_ADJUSTMENT, FLOOR)), key=lambda m: lab[m]["lab_mean"])
    evaluation = inputs.protocol_evaluation
    if len(ranked) > 1 and evaluation is not None:
        lead, se = paired_lab_lead(evaluation, ranked[0], ranked[1])
        clear = clear_lead(lead, se)
        lines.append(f"LAB ΔE76: {'best ' + ranked[0] if clear else 'no clear best'}: {ranked[0]} "
                     f"({lab[ranked[0]]['lab_mean']:.2f}) leads {ranked[1]} by {lead:+.2f} ± {se:.2f} (paired s.e. "
                     f"over photos, one training seed), {'more' if clear else 'not more'} than {LEAD_SES:g} s.e.")
    return lines


def paired_lab_lead(evaluation: pa.Table, best: str, runner_up: str) -> tuple[float, float]:
    """best - runner_up LAB ΔE76 over the photos both were evaluated on: (mean, paired s.e. over photos)."""
    rows = evaluation.select(["photo_id", "model", "lab_error"]).to_pylist()
    per: dict[str, dict[str, list[float]]] = {}
    for r in rows:
        if r["model"] in (best, runner_up):
            per.setdefault(r["photo_id"], {}).setdefault(r["model"], []).append(r["lab_error"])
    diffs = np.array([np.mean(v[best]) - np.mean(v[runner_up]) for v in per.values() if best in v and runner_up in v])
    return mean_se(diffs)


def _unique(table: pa.Table | None, column: str) -> list:
    return sorted(set(table.column(column).to_pylist())) if table is not None and table.num_rows else []


SAMPLE_NOTE = (
    "About the data: this dataset is photoedit's generated sample, not MIT-Adobe FiveK. Its photos are "
    "synthetic scenes (sky, ground, discs, texture) in Bayer DNGs of a made-up camera; its five experts are "
    "generated styles, two modes each, whose choice and exposure lift depend on the scene's brightness "
    "and light colour; casual users each keep one of those styles. The styles are calibrated so that the "
    "unedited photo lies about 10 ΔE76 from the experts' renditions, the paper's FiveK figure (10.2), so "
    "LAB errors are on FiveK's scale. What it is not: real photos or real experts' taste, and the demo's "
    "VGG-16 has random weights, so the model ranking says nothing about FiveK.")


def about_the_data(inputs: Inputs) -> str:
    """What the photos are: the generated sample (with what that means), or the camera makes of real photos."""
    makes = sorted({m for m in inputs.photos.column("camera_make").to_pylist() if m})
    if makes == [CAMERA_MAKE]:
        return SAMPLE_NOTE
    return (f"About the data: {inputs.photos.num_rows} photos"
            + (f", cameras by {', '.join(makes)}" if makes else "") + ".")


def table_one_section(inputs: Inputs) -> Section:
    """Section 1: the Table-1-style comparison with units and definitions, and what is missing."""
    root = inputs.layout.root
    section = Section("Table 1: held-out likelihood, histogram JSD and LAB error")
    section.paragraphs.append(about_the_data(inputs))
    scores = model_scores(inputs)
    protocol = inputs.protocol_proposals
    lab = summarise(inputs.evaluation, protocol) if inputs.evaluation is not None else {}
    by_proposals = summarise_by_proposals(inputs.evaluation) if inputs.evaluation is not None else {}
    section.tables.append(table_one(inputs.models, scores, lab))
    pools = lab_pools_table(inputs.models, by_proposals, protocol)
    if pools is not None:
        section.tables.append(pools)
    per_slider = jsd_per_slider_table(inputs.models, scores)
    if per_slider is not None:
        section.tables.append(per_slider)
    section.paragraphs.extend(f"Best: {line}" for line in best_lines(inputs, lab))
    samples = sorted({str(s["is_samples"]) for name, s in scores.items()
                      if s.get("is_samples") is not None and name != FLOOR})
    bins = sorted({str(s["bins"]) for s in scores.values() if s.get("bins") is not None})
    sources = sorted({s["source"] for s in scores.values()})
    section.paragraphs.append(
        f"LL: predictive log-likelihood of the test split's edits in nats per edit, model space [-1, 1]^11, the "
        f"same for every model: each slider's Lightroom step is a cell, the range ends are censored and an "
        f"untouched slider is an explicit atom, so the figure needs no variance floor (modeling.likelihood). "
        f"Importance-sampled with the recognition network as proposal for CGM-VAE / P-VAE and with a learned "
        f"gate proposal for the LBN (S = {', '.join(samples) or 'n/a'} samples), exact for MLP / MDN and the "
        f"floor. Each figure is the mean over the model's training seeds (column seeds; models/NAME/seed-S/) "
        f"± the s.d. over those seeds, and beside it the s.e. over photos of the seed-averaged figure (edits of a "
        f"photo averaged first). {FLOOR}: a diagonal Gaussian mixture fitted by EM to the train sliders, "
        f"ignoring the photo; LL − floor is the paired gap (± s.e., the seed spread included). A model is "
        f"called best on a metric only when its paired lead over the runner-up exceeds {LEAD_SES:g} s.e. of the "
        f"lead (over photos and seeds); otherwise the line says 'no clear best'. P-VAE LL uses the prior over "
        f"clusters (no user history). Source: {', '.join(sources) or 'none'}.")
    section.paragraphs.append(
        f"JSD: Jensen-Shannon divergence between normalised histograms of true and sampled sliders, "
        f"{', '.join(bins) or 'n/a'} bins per slider centred so that no edge falls on its neutral value, log base "
        f"2 (0 ≤ JSD ≤ 1), averaged over the 11 sliders (per slider in the second table); ± bootstrap s.e. over "
        f"photos. Slider error: mean absolute model-space distance of a sampled edit from the true one.")
    if inputs.evaluation is not None:
        summary = inputs.eval_summary or {}
        sizes = _unique(inputs.evaluation, "size")
        refs = _unique(inputs.evaluation, "reference")
        experts = _unique(inputs.evaluation, "expert")
        few = [p for p in by_proposals if p != protocol]
        section.paragraphs.append(
            f"LAB ΔE76: mean per-pixel CIE-LAB ΔE76 (D50) at {', '.join(map(str, sizes))} px long side between "
            f"each expert's rendition (reference: {', '.join(refs)}; experts {', '.join(experts)}) and the "
            f"model proposal aligned to that expert ({protocol or summary.get('proposals', '?')} proposals per "
            f"photo, aligned one-to-one by minimum total cost: the paper's protocol, Table 1's column); per photo "
            f"the mean over experts, then mean ± s.e. over photos, for each model's lowest training seed. ΔE RMS: "
            f"the same average of the per-image RMS ΔE. {NO_ADJUSTMENT}: the photo unedited, as Lightroom shows "
            f"it (Camera Raw 2003 defaults: Brightness 50, Contrast 25, Shadows 5, Medium Contrast curve, as-shot "
            f"white balance). {FLOOR}: proposals drawn from the feature-blind mixture, one distribution whatever the photo.")
        if few:
            section.paragraphs.append(
                f"LAB table: the same protocol with P = {', '.join(map(str, few))}: only the first "
                f"{', '.join(map(str, few))} of the drawn proposals (independent draws, so a draw of that many) "
                f"aligned to the {len(experts)} experts. With 20 proposals for 3 experts, alignment picks the "
                f"closest of many draws, which rewards spread as much as accuracy: a model, or the floor, that "
                f"sprays proposals widely gains from it; with as many proposals as experts it cannot.")
        problems = cross_check(lab, inputs.eval_summary, by_proposals=by_proposals)
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


def _text(value: Any) -> str:
    if value is None:
        return "missing"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_text(v)}" for k, v in value.items()) or "none"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def seeds_text(seeds: list, config_seed: Any) -> str:
    """The training seeds found (models/<name>/seed-<s>/), else the one config.json names (the layout before seeds)."""
    named = [str(s) for s in seeds if s is not None]
    return ", ".join(named) if named else _text(config_seed)


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
                     seeds_text(inputs.seeds.get(name, []), train.get("seed"))])
    section.tables.append(Table(["model", "class", "hyper-parameters", "training (lowest seed)", "run", "seeds"],
                                rows))
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
