"""Per-model LAB error of evaluation/ rows: what `photoedit evaluate` prints and the report's Table 1 uses."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pyarrow as pa

from modeling.metrics import grouped_mean_se


def summarise(evaluation: pa.Table | list[dict[str, Any]]) -> dict[str, dict[str, float | int]]:
    """Per model (and no_adjustment): lab_mean, lab_se (s.e. over photos), lab_rms_mean, photos.

    Each photo counts once: its LAB error is the mean over the experts of that photo's rows.
    """
    table = evaluation if isinstance(evaluation, pa.Table) else pa.Table.from_pylist(list(evaluation))
    if table.num_rows == 0:
        return {}
    models = np.asarray(table.column("model").to_pylist())
    photos = np.asarray(table.column("photo_id").to_pylist())
    lab = table.column("lab_error").to_numpy()
    rms = table.column("lab_rms").to_numpy()
    out = {}
    for name in sorted(set(models.tolist())):
        sel = models == name
        mean, se, count = grouped_mean_se(lab[sel], photos[sel])
        rms_mean, _, _ = grouped_mean_se(rms[sel], photos[sel])
        out[name] = {"lab_mean": mean, "lab_se": se, "lab_rms_mean": rms_mean, "photos": count}
    return out


def summary_table(models: Mapping[str, Mapping[str, float | int]]) -> str:
    """Markdown table of summarise() output, best (lowest LAB error) first."""
    lines = ["| model | LAB ΔE76 mean ± s.e. | RMS ΔE76 | photos |", "| --- | --- | --- | --- |"]
    for name, m in sorted(models.items(), key=lambda kv: kv[1]["lab_mean"]):
        lines.append(f"| {name} | {m['lab_mean']:.2f} ± {m['lab_se']:.2f} | {m['lab_rms_mean']:.2f} | {m['photos']} |")
    return "\n".join(lines)
