"""The demo end to end on a tiny generated sample: every stage's outputs, then a restart skips them."""
import json
import os

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.commands import demo
from pipelines.core.parquet_io import read_table
from pipelines.fivek.sample.styles import _MODES, calibrated, expert_edit
from rendering.sliders import PROCESS_2003


def test_expert_styles_are_photo_dependent_and_multimodal():
    rng = np.random.default_rng(0)
    white = (5000.0, 5.0)
    dark = np.array([expert_edit("A", 0.15, 0.5, white, rng) for _ in range(200)])
    bright = np.array([expert_edit("A", 1.0, 0.5, white, rng) for _ in range(200)])
    exposure = PROCESS_2003.index("Exposure")
    assert dark[:, exposure].mean() > bright[:, exposure].mean() + 0.5      # dark scenes get lifted
    clarity = PROCESS_2003.to_model(dark)[:, PROCESS_2003.index("Clarity")]
    contrast = PROCESS_2003.index("Contrast")
    # expert B has two modes and which one it picks depends on the scene: Contrast clusters at each
    # mode's value, the darkest scenes at one, the brightest at the other
    low, high = sorted(calibrated(mode)[contrast - 2] for mode in _MODES["B"])
    assert high - low > 0.06
    for gain, mode in ((0.4, high), (1.0, low)):
        picks = PROCESS_2003.to_model(np.array([expert_edit("B", gain, 0.5, white, rng) for _ in range(300)]))
        assert abs(np.median(picks[:, contrast]) - mode) < 0.02, (gain, mode)
    mixed = np.array([expert_edit("B", 0.63, 0.5, white, rng) for _ in range(400)])   # both modes likely
    assert clarity.std() > 0.0
    tint = PROCESS_2003.index("Tint")
    assert abs(np.median(mixed[:, tint]) - white[1]) <= 2                # tint stays near the as-shot tint


def test_demo_runs_end_to_end_and_restarts(tmp_path, capsys):
    """sample -> ingest -> augment -> features -> train x5 (3 seeds each) -> evaluate-models -> evaluate -> report."""
    out = tmp_path / "demo"
    argv = ["--out", str(out), "--photos", "100", "--users", "6", "--size", "48", "--epochs", "3",
            "--direct_running_mode=in_memory"]
    assert demo.run(argv) == 0
    assert (out / "fivek" / "raw_photos" / "fivek.lrcat").is_file()              # the FiveK-shaped sample
    photos = read_table(str(out / "photos"))
    assert photos.num_rows == 100
    edits = read_table(str(out / "edits"))
    kinds = edits.column("editor_kind").to_pylist()
    assert kinds.count("expert") == 500 and kinds.count("user") > 0
    variants = read_table(str(out / "variants"))
    assert variants.num_rows == 300
    assert all(os.path.isfile(u) for u in variants.column("image_uri").to_pylist())
    features = read_table(str(out / "features"))
    assert features.num_rows == 300
    assert pq.ParquetFile(next((out / "features").glob("*.parquet"))).schema_arrow.field("fc7").type.list_size == 4096
    summary = json.loads((out / "models" / "summary.json").read_text())
    assert sorted(r["model"] for r in summary["models"]) == ["cgmvae", "lbn", "mdn", "mlp", "pvae"]
    assert all(np.isfinite(r["ll"]) and 0 <= r["jsd"] <= 1 for r in summary["models"])
    assert all(r["seeds"] == demo.DEFAULT_DEMO_SEEDS and r["ll_seed_sd"] is not None for r in summary["models"])
    assert all((out / "models" / m / f"seed-{s}" / "checkpoint.pt").is_file()
               for m in ("mlp", "pvae") for s in range(demo.DEFAULT_DEMO_SEEDS))

    test_ids = set(photos.filter(pc.equal(photos.column("split"), "test")).column("photo_id").to_pylist())
    evaluation = read_table(str(out / "evaluation"))
    lab = json.loads((out / "evaluation" / "_summary.json").read_text())
    models = {"cgmvae", "lbn", "mdn", "mlp", "pvae", "feature_blind_floor"}
    assert set(lab["models"]) == models | {"no_adjustment"} and set(lab["by_proposals"]) == {"20", "3"}
    assert set(evaluation.column("photo_id").to_pylist()) == test_ids and test_ids
    assert evaluation.num_rows == len(test_ids) * (len(models) * 2 + 1) * len(lab["experts"])
    assert all(np.isfinite(evaluation.column("lab_error").to_numpy()))

    html = (out / "report" / "index.html").read_text()
    markdown = (out / "report" / "report.md").read_text()
    for name in ("cgmvae", "lbn", "mdn", "mlp", "pvae", "no_adjustment", "feature_blind_floor"):
        assert name in html and f"| {name} " in markdown
    assert "LAB ΔE76, P = 20 (paper)" in markdown and "LAB ΔE76, P = 3 |" in markdown
    figures = sorted((out / "report" / "figures").glob("*.png"))
    assert figures and all(f"figures/{f.name}" in html for f in figures)
    assert {f"sliders_{m}.png" for m in ("cgmvae", "lbn", "mdn", "mlp", "pvae")} <= {f.name for f in figures}
    assert sum(f.name.startswith("grid_") for f in figures) >= 1                     # proposal grids
    curve = json.loads((out / "models" / "pvae" / "seed-0" / "personalisation.json").read_text())
    assert curve["users"] > 0 and len(curve["normalised"]) > 1
    assert (out / "report" / "figures" / "personalisation.png").is_file()
    assert "report" in capsys.readouterr().out                                      # where the report is

    stamp = (out / "_stages" / "augment.json").stat().st_mtime
    assert demo.run(argv) == 0                       # second run skips finished stages
    assert (out / "_stages" / "augment.json").stat().st_mtime == stamp
