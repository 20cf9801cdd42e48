"""The report's matplotlib figures (Agg backend, no display): per-slider histograms of true vs
sampled edits (paper Fig. 3), per-photo proposal grids with their ΔE labels (Fig. 4) and the P-VAE
personalisation curve (Fig. 5). Plain functions taking arrays and an output path; each returns a
FigureInfo describing what it drew so callers and tests can check it without reading pixels."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

log = logging.getLogger(__name__)

DPI = 100
FIGURES = "figures"     # the report folder's figure subfolder
TRUE_COLOUR = "#444444"
SAMPLED_COLOUR = "#d95f02"


@dataclass
class FigureInfo:
    """What a figure function wrote: its path, pixel size, panel count and the text labels drawn."""

    path: str
    width: int
    height: int
    panels: int
    labels: list[str] = field(default_factory=list)


@dataclass
class SliderHistograms:
    """Normalised histograms per slider: edges [bins+1], true and sampled frequencies [S, bins] (rows sum to 1)."""

    edges: np.ndarray
    true: np.ndarray
    sampled: np.ndarray
    true_count: int
    sampled_count: int


def slider_histograms(true: np.ndarray, sampled: np.ndarray, bins: int = 20, low: float = -1.0,
                      high: float = 1.0) -> SliderHistograms:
    """Bin true [N, S] and sampled [M, S] sliders (model space) per slider on [low, high].

    Values outside the range are clipped into the end bins; a slider without samples gets an
    all-zero row.
    """
    true = np.atleast_2d(np.asarray(true, dtype=np.float64))
    sampled = np.atleast_2d(np.asarray(sampled, dtype=np.float64))
    edges = np.linspace(low, high, bins + 1)

    def freq(values: np.ndarray) -> np.ndarray:
        out = np.zeros((values.shape[1], bins))
        for j in range(values.shape[1]):
            col = values[:, j]
            col = np.clip(col[np.isfinite(col)], low, high)
            counts, _ = np.histogram(col, bins=edges)
            out[j] = counts / counts.sum() if counts.sum() else counts
        return out

    return SliderHistograms(edges=edges, true=freq(true), sampled=freq(sampled),
                            true_count=int(true.shape[0]), sampled_count=int(sampled.shape[0]))


def _save(fig: "plt.Figure", path: str, panels: int, labels: list[str]) -> FigureInfo:
    fig.savefig(path, dpi=DPI)
    width, height = (int(round(v)) for v in fig.get_size_inches() * DPI)
    plt.close(fig)
    log.debug("wrote figure %s (%dx%d px, %d panels)", path, width, height, panels)
    return FigureInfo(path=path, width=width, height=height, panels=panels, labels=labels)


def plot_slider_histograms(hist: SliderHistograms, names: list[str], path: str, title: str,
                           panel_notes: list[str] | None = None, sampled_label: str = "sampled") -> FigureInfo:
    """One PNG with a small panel per slider: true vs sampled frequencies (model space [-1, 1])."""
    count = hist.true.shape[0]
    cols = 4
    rows = int(np.ceil(count / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2.4 * cols, 1.9 * rows + 0.5), squeeze=False)
    centres = 0.5 * (hist.edges[:-1] + hist.edges[1:])
    width = hist.edges[1] - hist.edges[0]
    labels = []
    for j, ax in enumerate(axes.ravel()):
        if j >= count:
            ax.set_visible(False)
            continue
        ax.bar(centres, hist.true[j], width=width, color=TRUE_COLOUR, alpha=0.55, label="true edits")
        ax.step(hist.edges, np.r_[hist.sampled[j], hist.sampled[j][-1:]], where="post",
                color=SAMPLED_COLOUR, linewidth=1.4, label=sampled_label)
        label = names[j] if panel_notes is None else f"{names[j]} ({panel_notes[j]})"
        labels.append(label)
        ax.set_title(label, fontsize=8)
        ax.set_xlim(hist.edges[0], hist.edges[-1])
        ax.tick_params(labelsize=6)
    axes.ravel()[0].legend(fontsize=6, loc="upper left")
    fig.suptitle(f"{title}: {hist.true_count} true edits, {hist.sampled_count} samples", fontsize=10)
    fig.tight_layout()
    return _save(fig, path, count, labels)


def plot_proposal_grid(images: list[list[np.ndarray | None]], labels: list[list[str]], row_names: list[str],
                       path: str, title: str) -> FigureInfo:
    """A grid of sRGB thumbnails [H, W, 3] (uint8 or float in [0, 1]) with a label under each.

    `images[r][c]` may be None (an empty cell); `row_names[r]` labels each row on the left.
    """
    rows = len(images)
    cols = max((len(r) for r in images), default=1)
    fig, axes = plt.subplots(rows, cols, figsize=(1.7 * cols + 0.6, 1.9 * rows + 0.4), squeeze=False)
    drawn = []
    panels = 0
    for r in range(rows):
        for c in range(cols):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            image = images[r][c] if c < len(images[r]) else None
            if image is None:
                ax.axis("off")
                continue
            ax.imshow(image)
            panels += 1
            text = labels[r][c] if c < len(labels[r]) else ""
            ax.set_xlabel(text, fontsize=7)
            drawn.append(text)
            for spine in ax.spines.values():
                spine.set_visible(False)
        axes[r][0].set_ylabel(row_names[r], fontsize=8)
        if images[r] and images[r][0] is None:  # keep the row name visible on an empty first cell
            axes[r][0].axis("on")
            axes[r][0].set_frame_on(False)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return _save(fig, path, panels, drawn)


def plot_personalisation(history: np.ndarray, curves: dict[str, dict], path: str, title: str) -> FigureInfo:
    """LL_k - LL_0 (nats/edit) vs number of history edits per posterior kind, ±1 s.e. bands (paper Fig. 5)."""
    history = np.asarray(history, dtype=np.float64)
    fig, ax = plt.subplots(figsize=(5.0, 3.4))
    for (kind, curve), colour in zip(curves.items(), (SAMPLED_COLOUR, TRUE_COLOUR)):
        gain = np.asarray(curve["gain"], dtype=np.float64)
        se = np.nan_to_num(np.asarray(curve["gain_se"], dtype=np.float64))
        ax.fill_between(history, gain - se, gain + se, color=colour, alpha=0.2)
        ax.plot(history, gain, color=colour, marker="o", markersize=3, label=f"P-VAE, {kind} posterior")
    ax.axhline(0.0, color=TRUE_COLOUR, linewidth=0.8, linestyle="--")
    ax.set_xlabel("edits in the user's history")
    ax.set_ylabel("LL_k − LL_0 (nats/edit)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, path, 1, [title])
