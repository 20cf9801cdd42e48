"""The demo end to end on a tiny generated sample: every stage's outputs, then a restart skips them."""
import json
import os

import numpy as np
import pyarrow.parquet as pq

from pipelines import demo
from pipelines.demo_dataset import expert_edit
from pipelines.parquet_io import read_table
from rendering.sliders import PROCESS_2003


def test_expert_styles_are_photo_dependent_and_multimodal():
    rng = np.random.default_rng(0)
    dark = np.array([expert_edit("A", 0.15, 0.5, 5000.0, rng) for _ in range(200)])
    bright = np.array([expert_edit("A", 1.0, 0.5, 5000.0, rng) for _ in range(200)])
    exposure = PROCESS_2003.index("Exposure")
    assert dark[:, exposure].mean() > bright[:, exposure].mean() + 0.5      # dark scenes get lifted
    clarity = PROCESS_2003.to_model(dark)[:, PROCESS_2003.index("Clarity")]
    mixed = np.array([expert_edit("B", 0.4, 0.5, 5000.0, rng) for _ in range(400)])
    contrast = PROCESS_2003.to_model(mixed)[:, PROCESS_2003.index("Contrast")]
    # two modes of expert B: Contrast around 0.5 and 0.3, clearly separated from each other
    assert np.sum(np.abs(contrast - 0.5) < 0.08) > 40 and np.sum(np.abs(contrast - 0.3) < 0.08) > 40
    assert clarity.std() > 0.0


def test_demo_runs_end_to_end_and_restarts(tmp_path, capsys):
    out = tmp_path / "demo"
    argv = ["--out", str(out), "--photos", "40", "--size", "48", "--epochs", "3",
            "--direct_running_mode=in_memory"]
    assert demo.run(argv) == 0
    photos = read_table(str(out / "photos"))
    assert photos.num_rows == 40
    assert read_table(str(out / "edits")).num_rows == 200
    variants = read_table(str(out / "variants"))
    assert variants.num_rows == 120
    assert all(os.path.isfile(u) for u in variants.column("image_uri").to_pylist())
    features = read_table(str(out / "features"))
    assert features.num_rows == 120
    assert pq.ParquetFile(next((out / "features").glob("*.parquet"))).schema_arrow.field("fc7").type.list_size == 4096
    summary = json.loads((out / "models" / "summary.json").read_text())
    assert sorted(r["model"] for r in summary["models"]) == ["cgmvae", "lbn", "mdn", "mlp", "pvae"]
    assert all(np.isfinite(r["ll"]) and 0 <= r["jsd"] <= 1 for r in summary["models"])
    table = capsys.readouterr().out
    for name in ("cgmvae", "lbn", "mdn", "mlp", "pvae"):
        assert f"| {name} |" in table
    stamp = (out / "_stages" / "augment.json").stat().st_mtime
    assert demo.run(argv) == 0                       # second run skips finished stages
    assert (out / "_stages" / "augment.json").stat().st_mtime == stamp
