"""One photo's LAB evaluation (what `photoedit evaluate` does per photo, pipelines.jobs.evaluate): draw P
proposals per model, align them one-to-one to the experts (and the first P' of them), render the aligned
proposals, the unedited photo and, with the renderer reference, the experts' own sliders in one batch,
and measure the mean and RMS per-pixel CIE76 ΔE (D50) of each against the expert's rendition.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from modeling.alignment import align_proposals
from modeling.proposals import Proposals, draw_proposals
from pipelines.core import storage
from pipelines.core.photos import as_shot_white, open_photo, unedited
from pipelines.core.schemas import NO_ADJUSTMENT, SLIDER_KEYS
from pipelines.core.seeding import keyed_rng
from pipelines.fivek.layout import expert_rendition_path
from rendering.colour import lab_error_stats
from rendering.sliders import PROCESS_2003

REFERENCES = ("renderer", "tiff")


class EvaluateInputError(ValueError):
    """A photo's inputs are missing or unusable (features, edits, TIFF); `uri` names the culprit."""

    def __init__(self, message: str, uri: str | None = None):
        super().__init__(message)
        self.uri = uri


@dataclass(frozen=True)
class EvaluateConfig:
    """How one photo is measured: experts, P proposals, the smaller P' (0: none), size (px), reference, device, seed."""

    experts: tuple[str, ...]
    proposals: int = 20
    size: int = 256
    reference: str = "renderer"
    tiff_root: str | None = None
    device: str = "cpu"
    seed: int = 0
    few_proposals: int = 3

    def __post_init__(self) -> None:
        if not self.experts:
            raise ValueError("no expert to compare with")
        if self.proposals < len(self.experts):
            raise ValueError(f"proposals ({self.proposals}) < {len(self.experts)} experts: alignment is one-to-one")
        if self.few_proposals and not len(self.experts) <= self.few_proposals < self.proposals:
            raise ValueError(f"few proposals ({self.few_proposals}) must lie in [{len(self.experts)} experts, "
                             f"{self.proposals} proposals) or be 0 (none)")
        if self.reference not in REFERENCES:
            raise ValueError(f"reference must be one of {', '.join(REFERENCES)}, got {self.reference!r}")
        if self.reference == "tiff" and not self.tiff_root:
            raise ValueError("--reference tiff needs --tiff-root")
        if self.size < 16:
            raise ValueError(f"size must be at least 16 px, got {self.size}")


@dataclass
class PhotoResult:
    """Rows of one photo: EVALUATION rows and PREDICTIONS rows."""

    evaluation: list[dict[str, Any]]
    predictions: list[dict[str, Any]]


def proposal_generator(seed: int, photo_id: str, model_name: str) -> torch.Generator:
    """CPU torch generator seeded from keyed_rng(seed, photo_id, model_name) (worker-independent)."""
    value = int(keyed_rng(seed, photo_id, model_name, "proposals").integers(0, 2**63 - 1))
    return torch.Generator(device="cpu").manual_seed(value)


def lab_errors(renders: np.ndarray, references: np.ndarray, reference_index: Sequence[int] | None = None,
               device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """(mean, RMS) per-pixel CIE76 ΔE [N] of renders [N, 3, H, W] vs references[reference_index] (linear ProPhoto)."""
    def tensor(images: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.asarray(images, dtype=np.float32)).to(device)

    index = None if reference_index is None else torch.as_tensor(np.asarray(reference_index, dtype=np.int64))
    mean, rms = lab_error_stats(tensor(renders), tensor(references), index)
    return mean.cpu().numpy(), rms.cpu().numpy()


def read_reference_tiff(uri: str, shape: tuple[int, int], size: int) -> np.ndarray:
    """An expert's TIFF as linear ProPhoto [3, H, W] at long side `size`; EvaluateInputError if absent or mis-sized."""
    from rendering.image_io import read_image, resize_long_side

    if not storage.exists(uri):
        raise EvaluateInputError(f"expert rendition not found: {uri}", uri)
    image = resize_long_side(read_image(storage.read_bytes(uri), name=uri), size)
    if tuple(image.shape[1:]) != tuple(shape):
        raise EvaluateInputError(f"expert rendition {uri} is {image.shape[2]}x{image.shape[1]} at long side "
                                 f"{size}, the raw renders {shape[1]}x{shape[0]}", uri)
    return image


def expert_sliders(edits: Mapping[str, Mapping[str, Any]], experts: Sequence[str], photo_id: str) -> np.ndarray:
    """Lightroom sliders [E, 11] of the chosen experts' edits of one photo (SliderError for NaN / out of range)."""
    missing = [e for e in experts if e not in edits]
    if missing:
        raise EvaluateInputError(f"photo {photo_id} has no edit by expert(s) {', '.join(missing)}")
    values = np.array([[edits[e][k] for k in SLIDER_KEYS] for e in experts], dtype=np.float64)  # None -> NaN
    return PROCESS_2003.validate(values)


def _slider_columns(sliders: np.ndarray) -> dict[str, float]:
    return {k: float(v) for k, v in zip(SLIDER_KEYS, sliders)}


def proposal_pools(config: EvaluateConfig) -> list[int]:
    """The pool sizes P each model's proposals are aligned from: P, then the few proposals P' if any."""
    return [config.proposals] + ([config.few_proposals] if config.few_proposals else [])


def evaluate_photo(photo_row: Mapping[str, Any], edits: Mapping[str, Mapping[str, Any]], fc7: np.ndarray,
                   models: Mapping[str, torch.nn.Module], renderer: Any, config: EvaluateConfig,
                   timings: dict[str, float] | None = None) -> PhotoResult:
    """EVALUATION and PREDICTIONS rows of one photo (edits: expert -> edits/ row; fc7 [D] of variant 0).

    Per model, P proposals are aligned to the E experts and so are the first P' of them (the pools
    of proposal_pools); each distinct aligned proposal, the unedited render and, with the renderer
    reference, the E expert renditions go through one `renderer.render` call. `timings`, if given,
    accumulates seconds spent in 'sampling', 'decode', 'render' and 'lab'.
    """
    clock = time.perf_counter
    photo_id = photo_row["photo_id"]
    experts = list(config.experts)
    num_experts = len(experts)
    pools = proposal_pools(config)
    experts_lr = expert_sliders(edits, experts, photo_id)
    experts_ms = np.clip(PROCESS_2003.to_model(experts_lr), -1.0, 1.0)

    t = clock()
    drawn: dict[str, Proposals] = {}
    aligned: dict[tuple[str, int], np.ndarray] = {}       # (model, P) -> proposal index per expert [E]
    for name, model in models.items():
        drawn[name] = draw_proposals(model, fc7, config.proposals,
                                     proposal_generator(config.seed, photo_id, name))
        for pool in pools:
            aligned[name, pool] = align_proposals(drawn[name].model_space[:pool], experts_ms)
    t_sampling = clock() - t

    t = clock()
    photo = open_photo(photo_row, config.size)
    neutral, neutral_curve = unedited(as_shot_white(photo_row, photo))
    if config.reference == "tiff":  # read before rendering: a missing TIFF fails the photo early
        references = np.stack([read_reference_tiff(expert_rendition_path(config.tiff_root, e, photo_row["file_name"]),
                                                   photo.shape, config.size) for e in experts])
    t_decode = clock() - t

    names = list(models)
    slot: dict[tuple[str, int], int] = {}                 # (model, proposal) -> index into the render batch
    batch: list[np.ndarray] = []
    for name in names:
        for proposal in sorted({int(i) for pool in pools for i in aligned[name, pool]}):
            slot[name, proposal] = len(batch)
            batch.append(drawn[name].lightroom[proposal])
    neutral_slot = len(batch)
    batch.append(neutral)
    curves: list[Any] = [None] * neutral_slot + [neutral_curve]
    if config.reference == "renderer":
        batch += list(experts_lr)
        curves += [edits[e].get("tone_curve") for e in experts]
    t = clock()
    renders = renderer.render(photo, np.stack(batch), tone_curves=curves, spec=PROCESS_2003,
                              batch_size=len(batch))
    t_render = clock() - t

    if config.reference == "renderer":
        references = renders[neutral_slot + 1:]
    # candidates: per model and pool the aligned proposal of each expert, then the unedited render per expert
    keys = [(name, pool, e) for name in names for pool in pools for e in range(num_experts)]
    render_index = [slot[name, int(aligned[name, pool][e])] for name, pool, e in keys] + [neutral_slot] * num_experts
    expert_index = [e for _, _, e in keys] + list(range(num_experts))
    t = clock()
    mean, rms = lab_errors(renders[render_index], references, expert_index, device=config.device)
    t_lab = clock() - t
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(rms))):
        raise ValueError(f"non-finite LAB error for photo {photo_id}")

    evaluation, predictions = [], []
    base = {"photo_id": photo_id, "reference": config.reference, "size": int(config.size)}
    for k, (name, pool, e) in enumerate(keys + [(NO_ADJUSTMENT, 0, e) for e in range(num_experts)]):
        if name == NO_ADJUSTMENT:
            proposal, sliders = -1, neutral
        else:
            proposal = int(aligned[name, pool][e])
            sliders = drawn[name].lightroom[proposal]
        evaluation.append({**base, "model": name, "expert": experts[e], "proposals": int(pool),
                           "proposal": proposal, "lab_error": float(mean[k]), "lab_rms": float(rms[k]),
                           **_slider_columns(sliders)})
    for name in names:
        p = drawn[name]
        for j in range(config.proposals):
            predictions.append({"photo_id": photo_id, "model": name, "proposal": j,
                                "cluster": None if p.clusters is None else int(p.clusters[j]),
                                **_slider_columns(p.lightroom[j])})
    if timings is not None:
        for key, value in (("sampling", t_sampling), ("decode", t_decode), ("render", t_render), ("lab", t_lab)):
            timings[key] = timings.get(key, 0.0) + value
    return PhotoResult(evaluation, predictions)
