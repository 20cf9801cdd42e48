"""Per-model LAB error of evaluation/ rows: what `photoedit evaluate` prints and the report's tables use.

Rows carry `proposals`, the pool P their aligned proposal was chosen from (20: the paper's protocol,
3: as many proposals as experts); no_adjustment rows have P = 0 and belong to every pool's table.
Rows written before that column existed (or with it empty) form one pool.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from modeling.metrics import grouped_mean_se
from pipelines.core.schemas import NO_ADJUSTMENT


def _table(evaluation: pa.Table | list[dict[str, Any]]) -> pa.Table:
    return evaluation if isinstance(evaluation, pa.Table) else pa.Table.from_pylist(list(evaluation))


def proposal_pools(evaluation: pa.Table | list[dict[str, Any]]) -> list[int]:
    """The pools P of the rows, largest first (no_adjustment's 0 left out); [] without a `proposals` column."""
    table = _table(evaluation)
    if table.num_rows == 0 or "proposals" not in table.column_names:
        return []
    return sorted({int(p) for p in table.column("proposals").to_pylist() if p}, reverse=True)


def pool_rows(evaluation: pa.Table | list[dict[str, Any]], proposals: int | None) -> pa.Table:
    """The rows of one pool P and the no_adjustment rows; every row when P is None or the rows name no pool."""
    table = _table(evaluation)
    if proposals is None or not proposal_pools(table):
        return table
    keep = pc.or_(pc.equal(table.column("proposals"), int(proposals)),
                  pc.equal(table.column("model"), NO_ADJUSTMENT))
    return table.filter(keep)


def summarise(evaluation: pa.Table | list[dict[str, Any]],
              proposals: int | None = None) -> dict[str, dict[str, float | int]]:
    """Per model (and no_adjustment): lab_mean, lab_se (s.e. over photos), lab_rms_mean, photos; of pool P if given.

    Each photo counts once: its LAB error is the mean over the experts of that photo's rows.
    """
    table = pool_rows(evaluation, proposals)
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


def summarise_by_proposals(evaluation: pa.Table | list[dict[str, Any]]) -> dict[int, dict[str, dict[str, float | int]]]:
    """summarise() per pool P (largest first); {} without rows or a `proposals` column."""
    return {p: summarise(evaluation, p) for p in proposal_pools(evaluation)}


def lab_table(by_proposals: Mapping[int, Mapping[str, Mapping[str, float | int]]]) -> str:
    """Markdown table of summarise_by_proposals() output: one row per model, one LAB ΔE76 ± s.e. column per P."""
    pools = list(by_proposals)
    if not pools:
        return ""
    first = by_proposals[pools[0]]
    names = sorted(first, key=lambda n: first[n]["lab_mean"])           # best first, by the first pool
    names += sorted({n for p in pools for n in by_proposals[p]} - set(names))
    lines = ["| model | " + " | ".join(f"LAB ΔE76, P = {p}" for p in pools) + " | photos |",
             "| --- | " + " | ".join("---" for _ in pools) + " | --- |"]
    for name in names:
        cells = [f"{by_proposals[p][name]['lab_mean']:.2f} ± {by_proposals[p][name]['lab_se']:.2f}"
                 if name in by_proposals[p] else "-" for p in pools]
        photos = max(by_proposals[p][name]["photos"] for p in pools if name in by_proposals[p])
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {photos} |")
    return "\n".join(lines)
