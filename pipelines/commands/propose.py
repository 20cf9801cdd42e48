"""`photoedit propose`: diverse, personalised slider proposals for your photos as Camera Raw XMP sidecars.

For every PHOTO (DNG / camera raw, JPEG, PNG or TIFF): decode (rendering.raw.load_photo, long side
--size), render at neutral sliders (as-shot white balance) to 8-bit sRGB and extract the features
the model was trained on (VGG-16 FC7 with --features-weights, or --hub-module), then draw
candidates per style cluster from the model (pipelines.core.model_store.load_model: CGM-VAE, P-VAE or
a baseline) and keep n diverse ones (modeling.diversity: slots shared among clusters in proportion
to their weights, no two proposals closer than --min-distance in model space).

Personalisation (P-VAE): --history gives the user's past edits, either a Lightroom catalog
(.lrcat, opened read-only; the photos' pixels are read from the paths the catalog records) or an
edits/ Parquet file or folder (pipelines.core.schemas.EDITS; features from the dataset's features/
rows `<photo_id>_v0`, else extracted from photos/ raw_uri); the P-VAE's posterior over style
clusters given those edits replaces the prior weights. Other models ignore the history (logged).

Outputs under --out (default ./proposals), for a photo `<stem>.<ext>`:
  <stem>_proposal<k>.xmp  k = 1..n, Camera Raw settings of proposal k (pipelines.lightroom.xmp)
  <stem>_proposal<k>.jpg  preview of proposal k rendered by rendering.renderer.PhotoRenderer
  <stem>.xmp              a copy of proposal 1 under the standard sidecar name, so placing it next
                          to a raw file makes Lightroom / Camera Raw read it (never written over a
                          sidecar that already sits next to the photo)
  contact_sheet.png       one row per photo: the neutral render, then proposals 1..n
  proposals.json          sliders (Lightroom units and model space), cluster, file names per proposal
A photo that cannot be decoded is reported and skipped; the rest proceed; exit code 1 if any failed.
"""
from __future__ import annotations

import argparse
import functools
import logging
import os
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from modeling.diversity import DEFAULT_MIN_DISTANCE, cluster_weights, diverse_proposals
from pipelines.core import storage
from pipelines.core.console import configure_logging
from pipelines.core.model_store import load_model
from pipelines.lightroom.develop_settings import process_of, settings_sliders
from pipelines.lightroom.xmp import CameraRawSettings, write_xmp
from rendering.sliders import SliderSpec, spec_for

log = logging.getLogger(__name__)
FEATURE_RENDER_SIZE = 512     # long side of the neutral render features are taken from (= augment's default)
THUMB_SIZE = 256              # long side of the contact-sheet thumbnails
HISTORY_LIMIT = 30            # most recent edits used for the posterior (the paper uses 0-30)


class HistoryError(ValueError):
    """A --history source is not a Lightroom catalog / edits Parquet, or has no usable edits."""


@dataclass
class History:
    """A user's past edits: features [N, D] and sliders [N, 11] model space, plus what was skipped."""

    x: torch.Tensor
    y: torch.Tensor
    skipped: list[str] = field(default_factory=list)


# ------------------------------------------------------------------ features and rendering
FeatureFn = Callable[[np.ndarray], np.ndarray]   # neutral render [3, H, W] linear ProPhoto -> features [D]


def neutral_sliders(photo, spec: SliderSpec) -> np.ndarray:
    """The photo's neutral sliders [11] (Lightroom units, as-shot white balance)."""
    return spec.neutral(*photo.profile.as_shot_white())


def build_feature_fn(weights: str, hub_module: str | None) -> FeatureFn:
    """features [D] of a linear-ProPhoto render, the way the features stage saw images (8-bit sRGB PNG)."""
    from features.inference import FeatureConfig
    from rendering.image_io import encode_image

    config = FeatureConfig(weights=weights, hub_module=hub_module, batch_size=1)
    extract = config.build()

    def features(image: np.ndarray) -> np.ndarray:
        png = encode_image(image, fmt="png", space="srgb", bits=8)
        return np.asarray(extract(config.preprocess(png)[None]), dtype=np.float32)[0]

    return features


# ------------------------------------------------------------------ history
def history_from_edits(path: str, feature_fn: FeatureFn | None, renderer, editor: str | None,
                       dataset: str | None, spec: SliderSpec, limit: int = HISTORY_LIMIT,
                       feature_dim: int | None = None) -> History:
    """History from an edits/ Parquet file or folder (pipelines.core.schemas.EDITS rows, Lightroom units)."""
    import pyarrow.parquet as pq

    from pipelines.core.parquet_io import read_table
    try:
        table = read_table(path) if os.path.isdir(path) else pq.read_table(path)
    except Exception as exc:
        raise HistoryError(f"--history {path}: not an edits Parquet file or folder ({type(exc).__name__}: {exc})") from exc
    missing = [c for c in ["photo_id", "editor", *spec.keys] if c not in table.column_names]
    if missing:
        raise HistoryError(f"--history {path}: not an edits Parquet (missing columns {missing})")
    rows = table.to_pylist()
    if editor is not None:
        rows = [r for r in rows if r["editor"] == editor]
    editors = sorted({r["editor"] for r in rows})
    if len(editors) > 1:
        raise HistoryError(f"--history {path} holds edits of several editors {editors}: pick one with --history-editor")
    rows = sorted(rows, key=lambda r: r["photo_id"])[-limit:] if limit else rows
    root = dataset or (os.path.dirname(os.path.abspath(path.rstrip("/")))
                       if os.path.basename(path.rstrip("/")) == "edits" else None)
    stored = _dataset_features(root) if root else {}
    raw_uris = _dataset_raw_uris(root) if root else {}
    xs, ys, skipped = [], [], []
    for r in rows:
        pid = r["photo_id"]
        try:
            feat = stored.get(f"{pid}_v0")
            if feat is None:
                if pid not in raw_uris or feature_fn is None:
                    raise HistoryError(f"no features/ row {pid}_v0 and no photos/ raw_uri for {pid}")
                feat = photo_features(raw_uris[pid], feature_fn, renderer, spec)
            if feature_dim is not None and len(feat) != feature_dim:
                raise HistoryError(f"features of width {len(feat)}, the model expects {feature_dim}")
            sliders = np.array([float(r[k]) for k in spec.keys])
            spec.validate(sliders)
        except Exception as exc:  # one bad history item is skipped, the rest count
            skipped.append(f"{pid}: {type(exc).__name__}: {exc}")
            continue
        xs.append(np.asarray(feat, dtype=np.float32))
        ys.append(np.clip(spec.to_model(sliders), -1, 1).astype(np.float32))
    return _history(xs, ys, skipped, path)


def check_lightroom_catalog(path: str) -> None:
    """Raise HistoryError unless `path` is a Lightroom catalog (pipelines.lightroom.catalog.open_catalog, read-only)."""
    from pipelines.lightroom.catalog import CatalogError, open_catalog

    try:
        open_catalog(path).close()
    except CatalogError as exc:
        raise HistoryError(f"--history {exc}") from exc


def history_from_catalog(path: str, feature_fn: FeatureFn | None, renderer, spec: SliderSpec,
                         limit: int = HISTORY_LIMIT, feature_dim: int | None = None) -> History:
    """History from a Lightroom catalog (read-only): every developed photo's sliders and pixels."""
    check_lightroom_catalog(path)
    entries = catalog_entries(path)
    entries = entries[-limit:] if limit else entries
    xs, ys, skipped = [], [], []
    for entry in entries:
        try:
            process = process_of(entry.settings)
            if process != spec.process:
                raise HistoryError(f"process {process} edit, the model predicts process {spec.process}")
            photo, _ = decode_photo(entry.locate(path), FEATURE_RENDER_SIZE)
            sliders = settings_sliders(entry.settings, photo.profile.as_shot_white(), spec)
            feat = _features_of_photo(photo, feature_fn, renderer, spec)
            if feature_dim is not None and len(feat) != feature_dim:
                raise HistoryError(f"features of width {len(feat)}, the model expects {feature_dim}")
        except Exception as exc:
            skipped.append(f"{entry.edit.path}: {type(exc).__name__}: {exc}")
            continue
        xs.append(feat)
        ys.append(np.clip(spec.to_model(sliders), -1, 1).astype(np.float32))
    return _history(xs, ys, skipped, path)


@dataclass(frozen=True)
class CatalogEntry:
    """One developed photo of a catalog (pipelines.lightroom.catalog.CatalogEdit); settings parsed on access."""

    edit: Any

    @functools.cached_property
    def settings(self) -> dict:
        """Develop settings {key: value} (LuaTableError / SettingsError if the text is malformed)."""
        from pipelines.lightroom.develop_settings import parse_settings_text

        return parse_settings_text(self.edit.settings_text)

    def locate(self, catalog: str) -> str:
        """The photo file, found as Lightroom finds it (pipelines.lightroom.catalog.locate_photo)."""
        from pipelines.lightroom.catalog import locate_photo

        return locate_photo(self.edit, catalog)

    @property
    def process(self) -> str | None:
        """Camera Raw process version of the edit ('5.0', '6.7', ...) or None when the text names none."""
        version = self.settings.get("ProcessVersion")
        return None if version is None else str(version)


def catalog_entries(path: str) -> list[CatalogEntry]:
    """Developed photos of a Lightroom catalog in capture order (pipelines.lightroom.catalog.developed_photos, read-only)."""
    from pipelines.lightroom.catalog import CatalogError, developed_photos

    try:
        return [CatalogEntry(edit) for edit in developed_photos(path)]
    except CatalogError as exc:
        raise HistoryError(f"--history {exc}") from exc


def _history(xs: list, ys: list, skipped: list[str], path: str) -> History:
    for reason in skipped:
        log.warning("history item skipped: %s", reason)
    if not xs:
        raise HistoryError(f"--history {path}: no usable edits ({len(skipped)} skipped)")
    return History(torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys)), skipped)


def _dataset_features(root: str) -> dict[str, np.ndarray]:
    from pipelines.core.layout import DatasetLayout
    from pipelines.core.parquet_io import read_table
    table = read_table(DatasetLayout(root).features, ["image_id", "fc7"], required=False)
    if not table.num_columns:
        return {}
    return {i: np.asarray(f, dtype=np.float32) for i, f in
            zip(table.column("image_id").to_pylist(), table.column("fc7").to_pylist())}


def _dataset_raw_uris(root: str) -> dict[str, str]:
    from pipelines.core.layout import DatasetLayout
    from pipelines.core.parquet_io import read_table
    table = read_table(DatasetLayout(root).photos, ["photo_id", "raw_uri"], required=False)
    if not table.num_columns:
        return {}
    return dict(zip(table.column("photo_id").to_pylist(), table.column("raw_uri").to_pylist()))


# ------------------------------------------------------------------ per photo
def decode_photo(path: str, size: int):
    """(Photo, source bytes) of a DNG / raw / JPEG / PNG / TIFF file at long side `size`."""
    data = storage.read_bytes(path)
    return _decode_bytes(data, size, path), data


def _decode_bytes(data: bytes, size: int, name: str):
    from rendering.raw import load_photo
    return load_photo(data, long_side=size, name=name)


def _features_of_photo(photo, feature_fn: FeatureFn | None, renderer, spec: SliderSpec) -> np.ndarray:
    """Features [D] of a decoded photo's neutral render."""
    if feature_fn is None:
        raise HistoryError("no feature extractor")
    neutral = renderer.render(photo, neutral_sliders(photo, spec)[None], spec=spec)[0]
    return np.array(feature_fn(neutral), dtype=np.float32)


def photo_features(path: str, feature_fn: FeatureFn, renderer, spec: SliderSpec) -> np.ndarray:
    """Features [D] of a photo file, from its neutral render at FEATURE_RENDER_SIZE."""
    photo, _ = decode_photo(path, FEATURE_RENDER_SIZE)
    return _features_of_photo(photo, feature_fn, renderer, spec)


@dataclass(frozen=True)
class ProposalConfig:
    """How many proposals, their minimum model-space distance, candidates per cluster, seed, outputs."""

    n: int = 5
    min_distance: float = DEFAULT_MIN_DISTANCE
    per_cluster: int = 32
    seed: int = 0
    size: int = 1024
    process_version: str = "5.0"
    out: str = "proposals"


def propose_photo(path: str, model, spec: SliderSpec, weights: np.ndarray | None, feature_fn: FeatureFn,
                  renderer, config: ProposalConfig) -> dict:
    """Proposals for one photo: XMP sidecars + previews under config.out; returns its summary dict."""
    from rendering.image_io import encode_image, resize_long_side

    feature_photo, data = decode_photo(path, FEATURE_RENDER_SIZE)   # features as the dataset's were made
    x = torch.from_numpy(_features_of_photo(feature_photo, feature_fn, renderer, spec))
    photo = feature_photo if config.size == FEATURE_RENDER_SIZE else _decode_bytes(data, config.size, path)
    stem = os.path.splitext(os.path.basename(path))[0]
    neutral = neutral_sliders(photo, spec)
    neutral_image = renderer.render(photo, neutral[None], spec=spec)[0]
    selection = diverse_proposals(model, x, config.n, weights, per_cluster=config.per_cluster,
                                  min_distance=config.min_distance, seed=config.seed)
    if len(selection.indices) < config.n:
        log.warning("%s: only %d proposals are %.2f apart (asked for %d)", path, len(selection.indices),
                    config.min_distance, config.n)
    sliders = spec.clip(spec.from_model(selection.sliders))
    previews = renderer.render(photo, sliders, spec=spec)
    proposals = []
    for k, (lr, ym, cluster, image) in enumerate(zip(sliders, selection.sliders, selection.clusters, previews), 1):
        settings = CameraRawSettings(lr, spec, white_balance="Custom",
                                     process_version=config.process_version if spec.process == "2003" else "6.7")
        xmp_path = write_xmp(os.path.join(config.out, f"{stem}_proposal{k}.xmp"), settings)
        jpg_path = storage.write_bytes(os.path.join(config.out, f"{stem}_proposal{k}.jpg"),
                                       encode_image(image, fmt="jpeg", space="srgb", bits=8))
        proposals.append({"k": k, "cluster": int(cluster), "xmp": xmp_path, "preview": jpg_path,
                          "sliders": spec.to_mapping(lr), "model_space": [round(float(v), 6) for v in ym]})
    standard = os.path.join(config.out, f"{stem}.xmp")
    beside_photo = os.path.abspath(os.path.dirname(path)) == os.path.abspath(config.out)
    if proposals and not (beside_photo and os.path.exists(standard)):
        write_xmp(standard, CameraRawSettings(sliders[0], spec, white_balance="Custom",
                                              process_version=config.process_version if spec.process == "2003" else "6.7"))
    elif proposals:
        log.warning("%s already exists next to the photo: left alone (proposal 1 is in %s)", standard,
                    proposals[0]["xmp"])
        standard = None
    return {"photo": path, "stem": stem, "standard_xmp": standard, "proposals": proposals,
            "thumbnails": [resize_long_side(neutral_image, THUMB_SIZE)] +
                          [resize_long_side(p, THUMB_SIZE) for p in previews]}


def contact_sheet(rows: list[dict], path: str) -> str:
    """PNG grid: one row per photo (neutral render, proposals 1..n), labelled; returns the path."""
    import io

    from PIL import Image, ImageDraw

    from rendering.image_io import encode_image

    label_h, pad = 16, 4
    cols = max(len(r["thumbnails"]) for r in rows)
    cell_w = max(t.shape[2] for r in rows for t in r["thumbnails"])
    cell_h = max(t.shape[1] for r in rows for t in r["thumbnails"])
    sheet = Image.new("RGB", (cols * (cell_w + pad) + pad, len(rows) * (cell_h + label_h + pad) + pad), "white")
    draw = ImageDraw.Draw(sheet)
    for i, row in enumerate(rows):
        for j, thumb in enumerate(row["thumbnails"]):
            tile = Image.open(io.BytesIO(encode_image(thumb, fmt="png", space="srgb", bits=8))).convert("RGB")
            x0, y0 = pad + j * (cell_w + pad), pad + i * (cell_h + label_h + pad)
            sheet.paste(tile, (x0, y0 + label_h))
            label = f"{row['stem']} neutral" if j == 0 else f"proposal {j} (cluster {row['proposals'][j - 1]['cluster']})"
            draw.text((x0, y0 + 2), label, fill="black")
    sheet.save(path)
    return path


# ------------------------------------------------------------------ command line
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="photoedit propose", description=__doc__.split("\n")[0],
        epilog=__doc__.split("\n", 2)[2], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("photos", nargs="+", metavar="PHOTO", help="DNG / camera raw, JPEG, PNG or TIFF files")
    p.add_argument("--model", required=True, help="trained model folder (models/<name>/ of `photoedit train`)")
    p.add_argument("-n", type=int, default=5, help="proposals per photo (default 5)")
    p.add_argument("--history", help="your past edits: a Lightroom catalog (.lrcat) or an edits/ Parquet file/folder")
    p.add_argument("--history-editor", help="which editor's rows of an edits Parquet are yours")
    p.add_argument("--history-limit", type=int, default=HISTORY_LIMIT, help="most recent edits used (default 30)")
    p.add_argument("--dataset", help="dataset root whose features/ and photos/ hold the history photos "
                                     "(default: the parent of an edits/ folder)")
    p.add_argument("--features-weights", default="random",
                   help="VGG-16 weights file (the one the model's features were made with) or 'random' "
                        "(only meaningful for models trained on random-weight features, e.g. the demo)")
    p.add_argument("--hub-module", help="TF-Hub feature-vector module folder instead of VGG-16")
    p.add_argument("--out", default="proposals", help="output folder (default ./proposals)")
    p.add_argument("--size", type=int, default=1024, help="long side of decode and previews in px (default 1024)")
    p.add_argument("--min-distance", type=float, default=DEFAULT_MIN_DISTANCE,
                   help="minimum Euclidean model-space distance between two proposals (default 0.2)")
    p.add_argument("--per-cluster", type=int, default=32, help="candidates drawn per style cluster (default 32)")
    p.add_argument("--process-version", default="5.0", choices=["5.0", "5.7"],
                   help="crs:ProcessVersion of 2003-process sidecars: 5.0 = PV2003 (FiveK, default), 5.7 = PV2010")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="torch device of the model and renderer (cpu, cuda)")
    p.add_argument("--verbose", action="store_true")
    return p


def load_history(args, feature_fn: FeatureFn, renderer, spec: SliderSpec, feature_dim: int) -> History:
    """The --history source as a History (catalog or edits Parquet, decided by content)."""
    path = args.history
    if not os.path.exists(path):
        raise HistoryError(f"--history {path}: no such file or folder")
    if os.path.isfile(path):
        with open(path, "rb") as f:
            magic = f.read(16)
        if magic.startswith(b"SQLite format 3"):
            return history_from_catalog(path, feature_fn, renderer, spec, args.history_limit, feature_dim)
        if path.lower().endswith(".lrcat"):
            raise HistoryError(f"--history {path}: not a Lightroom catalog (not an SQLite database)")
        if not magic.startswith(b"PAR1"):
            raise HistoryError(f"--history {path}: neither a Lightroom catalog (SQLite) nor a Parquet file")
    return history_from_edits(path, feature_fn, renderer, args.history_editor, args.dataset, spec,
                              args.history_limit, feature_dim)


def run(argv: list[str] | None = None) -> int:
    """`photoedit propose`: proposals per photo; 0 when all photos worked, 1 if any failed, 2 on bad setup."""
    args = _parser().parse_args(argv)
    configure_logging(args.verbose, os.path.join(os.path.abspath(args.out), "_logs"), "propose")
    from rendering.renderer import PhotoRenderer

    try:
        model, config = load_model(args.model, device=args.device)
    except Exception as exc:
        log.error("propose: cannot load model %s: %s: %s", args.model, type(exc).__name__, exc)
        return 2
    spec = spec_for(str(config.get("slider_process", "2003")))
    renderer = PhotoRenderer(device=args.device)
    feature_fn = build_feature_fn(args.features_weights, args.hub_module)
    weights, history_note = None, "no history (prior cluster weights)"
    if args.history:
        if not hasattr(model, "cluster_posterior"):
            log.warning("%s is not a P-VAE: --history is ignored", config.get("model"))
            history_note = f"--history ignored ({config.get('model')} is not a P-VAE)"
        else:
            try:
                history = load_history(args, feature_fn, renderer, spec, model.feature_dim)
            except HistoryError as exc:
                log.error("propose: %s", exc)
                return 2
            weights = cluster_weights(model, history.x, history.y)
            history_note = (f"history {len(history.x)} edits ({len(history.skipped)} skipped), cluster weights "
                            f"{np.round(weights, 3).tolist()}")
            log.info("history: %d edits (%d skipped) -> cluster weights %s", len(history.x),
                     len(history.skipped), np.round(weights, 3).tolist())
    proposal_config = ProposalConfig(n=args.n, min_distance=args.min_distance, per_cluster=args.per_cluster,
                                     seed=args.seed, size=args.size, process_version=args.process_version,
                                     out=args.out)
    rows, failures, stems = [], [], set()
    for path in args.photos:
        stem = os.path.splitext(os.path.basename(path))[0]
        try:
            if stem in stems:
                raise ValueError(f"another photo named {stem} was already proposed for in this run (outputs would collide)")
            stems.add(stem)
            rows.append(propose_photo(path, model, spec, weights, feature_fn, renderer, proposal_config))
        except Exception as exc:  # one bad photo: report, go on
            failures.append({"photo": path, "reason": f"{type(exc).__name__}: {exc}"})
            log.error("propose failed for %s: %s: %s", path, type(exc).__name__, exc)
    storage.make_folder(args.out)
    sheet = contact_sheet(rows, os.path.join(args.out, "contact_sheet.png")) if rows else None
    summary = {"model": args.model, "model_kind": config.get("model"), "process": spec.process,
               "cluster_weights": None if weights is None else [float(w) for w in weights],
               "min_distance": args.min_distance, "contact_sheet": sheet,
               "photos": [{k: v for k, v in r.items() if k != "thumbnails"} for r in rows], "failed": failures}
    storage.write_json(os.path.join(args.out, "proposals.json"), summary)
    log.info("propose: %d photo(s), %d proposals -> %s (contact sheet %s); %s; %d failed", len(rows),
             sum(len(r["proposals"]) for r in rows), args.out, sheet, history_note, len(failures))
    return 1 if failures else 0
