"""Proposal-to-expert alignment and the choice of the most diverse experts, in model space [-1, 1]^11.

Alignment cost: the mean squared difference over the 11 sliders in model space,
cost[p, e] = mean_j (proposal[p, j] - expert[e, j])^2. Proposals are matched one-to-one to experts
with minimum total cost (Hungarian method, scipy's `linear_sum_assignment`), as in Saeedi et al.:
each expert gets its own proposal and no proposal serves two experts.

Expert diversity: the distance of two experts is the mean over the photos both edited of the
Euclidean model-space distance between their two edits of that photo; the k most diverse experts
are the k-subset with the largest sum of pairwise distances (exhaustive over subsets; ties go to
the alphabetically first subset).
"""
from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
from scipy.optimize import linear_sum_assignment

from rendering.sliders import PROCESS_2003, SliderSpec

if TYPE_CHECKING:
    import pyarrow as pa

MAX_SUBSETS = 200_000  # exhaustive search limit for most_diverse_experts (5 experts: 10 subsets)


def alignment_cost(proposals: np.ndarray, experts: np.ndarray) -> np.ndarray:
    """Cost matrix [P, E]: mean squared model-space difference over sliders of proposals [P, 11] vs experts [E, 11]."""
    p = np.asarray(proposals, dtype=np.float64)
    e = np.asarray(experts, dtype=np.float64)
    if p.ndim != 2 or e.ndim != 2 or p.shape[1] != e.shape[1]:
        raise ValueError(f"proposals [P, n] and experts [E, n] needed, got {p.shape} and {e.shape}")
    return ((p[:, None, :] - e[None, :, :]) ** 2).mean(axis=-1)


def align_proposals(proposals: np.ndarray, experts: np.ndarray) -> np.ndarray:
    """Proposal index per expert [E] (int, distinct) minimising the total alignment cost; needs P >= E."""
    cost = alignment_cost(proposals, experts)
    num_proposals, num_experts = cost.shape
    if num_proposals < num_experts:
        raise ValueError(f"{num_proposals} proposals cannot be matched one-to-one to {num_experts} experts")
    if not np.all(np.isfinite(cost)):
        raise ValueError("non-finite slider values in the proposals or the experts' edits")
    rows, cols = linear_sum_assignment(cost.T)  # rows: experts, cols: proposals
    out = np.empty(num_experts, dtype=np.int64)
    out[rows] = cols
    return out


def expert_distances(edits_by_expert: Mapping[str, np.ndarray]) -> tuple[list[str], np.ndarray]:
    """(sorted expert names, [K, K] mean Euclidean model-space distance of their edits over the same photos).

    `edits_by_expert` maps an expert to sliders [N, 11] in model space, row i of every array being
    the same photo; rows with a NaN in either expert are left out of that pair's mean (NaN if none).
    """
    names = sorted(edits_by_expert)
    arrays = [np.asarray(edits_by_expert[n], dtype=np.float64) for n in names]
    lengths = {a.shape[0] for a in arrays}
    if len(lengths) > 1:
        raise ValueError(f"experts' edit arrays must share the same photo rows, got lengths {sorted(lengths)}")
    k = len(names)
    dist = np.zeros((k, k))
    for i, j in itertools.combinations(range(k), 2):
        d = np.sqrt(((arrays[i] - arrays[j]) ** 2).sum(axis=1))
        d = d[np.isfinite(d)]
        dist[i, j] = dist[j, i] = d.mean() if d.size else np.nan
    return names, dist


def most_diverse_experts(edits_model_space_by_expert: Mapping[str, np.ndarray], k: int = 3) -> list[str]:
    """The k experts (sorted names) maximising the sum of pairwise mean edit distances over the same photos."""
    names, dist = expert_distances(edits_model_space_by_expert)
    if k <= 0:
        raise ValueError("k must be positive")
    if k >= len(names):
        return names
    if math.comb(len(names), k) > MAX_SUBSETS:
        raise ValueError(f"{math.comb(len(names), k)} subsets of {k} among {len(names)} editors: too many "
                         "to search; pass the experts explicitly")
    dist = np.nan_to_num(dist, nan=0.0)
    best, best_score = None, -np.inf
    for subset in itertools.combinations(range(len(names)), k):
        score = sum(dist[i, j] for i, j in itertools.combinations(subset, 2))
        if score > best_score + 1e-12:
            best, best_score = subset, score
    return [names[i] for i in best]


class ExpertChoiceError(ValueError):
    """No photo was edited by every expert, so the most diverse experts cannot be chosen."""


def choose_experts(edits: "pa.Table", photos: "pa.Table", k: int = 3,
                   spec: SliderSpec = PROCESS_2003) -> tuple[list[str], dict[str, Any]]:
    """The k most diverse experts (most_diverse_experts) from the train-split expert edits.

    edits: edits/ rows (photo_id, editor, editor_kind and the slider columns of `spec`, Lightroom
    units); photos: photo_id, split. Falls back to every split when the train split has no expert
    edit. Returns (chosen experts, {"editors", "photos", "split"} of what they were chosen from).
    """
    split_of = dict(zip(photos.column("photo_id").to_pylist(), photos.column("split").to_pylist()))
    rows = [r for r in edits.to_pylist() if r["editor_kind"] == "expert"]
    train = [r for r in rows if split_of.get(r["photo_id"]) == "train"]
    split = "train" if train else "all"
    by_photo: dict[str, dict[str, np.ndarray]] = {}
    for r in train or rows:
        sliders = np.array([r[key] for key in spec.keys], dtype=np.float64)    # None -> NaN
        by_photo.setdefault(r["photo_id"], {})[r["editor"]] = sliders
    editors = sorted({e for per in by_photo.values() for e in per})
    shared = sorted(p for p, e in by_photo.items() if len(e) == len(editors))
    if not shared:
        raise ExpertChoiceError("no photo was edited by every expert; pass the experts explicitly")
    arrays = {e: np.clip(spec.to_model(np.stack([by_photo[p][e] for p in shared])), -1.0, 1.0) for e in editors}
    return most_diverse_experts(arrays, k=k), {"editors": editors, "photos": len(shared), "split": split}
