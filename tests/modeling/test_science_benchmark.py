"""benchmarks/science.py writes known-answer datasets in the Parquet contract that modeling.data reads
back unchanged: splits by photo, five experts per photo, FiveK-like atoms and Lightroom steps."""
from __future__ import annotations

import dataclasses
import json
import logging
import re

import numpy as np
import torch

from benchmarks.science import personalisation_ceiling, write_dataset
from modeling.known_answer import REGIMES, KnownAnswer
from modeling.likelihood import CELL_COUNTS, NEUTRAL, cell_index
from pipelines.core.model_store import read_edits


def test_written_dataset_reads_back_with_atoms_on_the_lightroom_lattice(tmp_path):
    truth = KnownAnswer(dataclasses.replace(REGIMES["fivek_atoms"], feature_dim=6))
    write_dataset(str(tmp_path), truth, photos=40, seed=1)
    data = read_edits(str(tmp_path))
    assert len(data) == 200 and data.feature_dim == 6
    assert sorted(set(data.editors.tolist())) == ["A", "B", "C", "D", "E"]
    for photo in set(data.photo_ids.tolist()):
        assert len(set(data.splits[data.photo_ids == photo].tolist())) == 1
    y = data.y.double()
    on_lattice = -1.0 + 2.0 * cell_index(y) / CELL_COUNTS
    assert torch.allclose(on_lattice[:, 1:], y[:, 1:], atol=1e-6)          # Lightroom steps (not Temperature)
    assert float((y[:, 2:] == NEUTRAL[2:].double()).float().mean()) > 0.1   # untouched sliders exactly neutral
    assert float((y.abs() == 1).float().mean()) > 0.05                      # clipped at the range ends
    ll = truth.log_likelihood(data.x, data.y)
    assert torch.isfinite(ll).all() and float(ll.max()) <= 0.0
    x_first = data.features[0].numpy()
    assert np.allclose(x_first, truth.features(40, 1)[0].numpy())          # features stored as drawn


def test_personalisation_ceiling_is_what_knowing_the_editor_gives(tmp_path):
    """Editors who prefer a style: knowing the editor gains (about 0.2 nats for a = 0.5, 3 separated styles);
    editors who share one distribution: it gains nothing. The per-editor densities average back to p(y | x)."""
    gains = {}
    for name in ("separated", "photo_weights"):
        truth = KnownAnswer(dataclasses.replace(REGIMES[name], feature_dim=6))
        write_dataset(str(tmp_path / name), truth, photos=300, seed=1)
        data = read_edits(str(tmp_path / name))
        per_editor = torch.stack([truth.log_prob_given_editor(data.x, data.y, torch.full((len(data),), e))
                                  for e in range(5)], 1).double()
        unknown = torch.logsumexp(per_editor, 1) - np.log(5)
        assert torch.allclose(unknown, truth.log_likelihood(data.x, data.y).double(), atol=1e-4)
        gains[name] = personalisation_ceiling(truth, data)
    assert gains["separated"]["gain"] > 0.1 and gains["separated"]["gain"] > 5 * gains["separated"]["gain_se"]
    assert abs(gains["photo_weights"]["gain"]) < 1e-4


def run_main(args: list[str]) -> int:
    """benchmarks.science.main, its logging handlers restored afterwards (main configures logging for a script)."""
    from benchmarks.science import main
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        return main(args)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def test_benchmark_runs_end_to_end_at_a_tiny_size(tmp_path, capsys):
    """`python benchmarks/science.py` (tiny): trains through run_training, prints the table, writes the JSON."""
    results = tmp_path / "science.md"
    rc = run_main(["--regimes", "separated", "--models", "mlp", "pvae", "--photo-prior", "--photos", "60",
                   "--trials", "1", "--epochs", "1", "--is-samples", "10", "--weight-strength", "0", "--seeds", "1",
                   "--truth-users", "2", "--out", str(tmp_path), "--results", str(results)])
    assert rc == 0
    out, err = capsys.readouterr()
    assert "separated mlp (training seed 0): " in err and "separated pvae (training seed 0): " in err
    [regime] = json.loads((tmp_path / "science.json").read_text())["problems"]
    assert [r["model"] for r in regime["rows"]] == ["truth", "truth, fixed p(s)", "mlp", "pvae", "cgmvae p(s|x)",
                                                    "floor"]
    assert abs(regime["rows"][1]["ll_minus_truth"]) < 1e-4      # weights that ignore the photo: all they are here
    assert regime["rows"][0]["ll_minus_truth"] == 0.0 and all(r["ll_minus_truth"] < 0.5 for r in regime["rows"])
    assert regime["personalisation_ceiling"]["gain"] > 0 and regime["truth_curve"]["ceiling"] > 0
    assert regime["description"].endswith("(style-weight strength set to 0)")
    assert (tmp_path / "separated" / "models" / "pvae" / "checkpoint.pt").exists()
    assert json.loads((tmp_path / "separated" / "models" / "cgmvae_photo_prior" / "config.json").read_text()
                      )["kwargs"]["cluster_prior"] == "photo"
    assert "| mlp |" in out and "Ceiling (editor known" in out and results.read_text() in out + "\n"
    assert "Input screen (per seed): " in out


FAMILY_ARGS = ["--family", "2", "--models", "mlp", "--photos", "40", "--epochs", "1", "--is-samples", "5",
               "--max-feature-dim", "16", "--truth-users", "2"]


def test_family_draws_its_seed_at_run_time_prints_it_and_reproduces_with_it(tmp_path, capsys):
    """--family 2: the seed comes from the OS and is printed; one row per problem, the summary, the JSON;
    --family-seed S draws the same problems (whatever --seeds) and, training seed for training seed, the same figures."""
    assert run_main([*FAMILY_ARGS, "--seeds", "2", "--out", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    match = re.search(r"family seed: (\d+) \(reproduce with --family-seed \1\)", out)
    assert match, out[:300]
    first = json.loads((tmp_path / "a" / "science.json").read_text())
    assert first["family_seed"] == match.group(1) and len(first["problems"]) == 2
    assert set(first["summary"]) == {"truth, fixed p(s)", "mlp", "floor"}
    for key in ("median", "worst", "within_1_nat", "below_floor", "below_floor_minus_0.2"):
        assert key in first["summary"]["mlp"]
    for p in first["problems"]:
        assert p["description"] in out and len(p["training_seeds"]) == 2
        mlp = next(r for r in p["rows"] if r["model"] == "mlp")
        assert len(mlp["ll_minus_truth_per_seed"]) == 2 and mlp["ll_minus_truth_sd"] is not None
        assert "ceiling" in p["truth_curve"] and "Ceiling (editor known" in out
        screens = p["input_screen"]                    # one per training seed, scored against the raw signal
        assert len(screens) == 2 and all(0 <= r["raw_signal_kept"] <= r["raw_signal"] for r in screens)
        assert all(r["raw_signal"] == (p["settings"]["raw_informative"] or 0) for r in screens)
    assert run_main([*FAMILY_ARGS, "--seeds", "1", "--family-seed", match.group(1), "--out", str(tmp_path / "b")]) == 0
    second = json.loads((tmp_path / "b" / "science.json").read_text())
    for a, b in zip(first["problems"], second["problems"]):
        assert a["description"] == b["description"] and a["data_seed"] == b["data_seed"]
        rows_a, rows_b = ({r["model"]: r for r in p["rows"]} for p in (a, b))
        assert rows_a["truth"]["ll"] == rows_b["truth"]["ll"] and rows_a["floor"]["ll"] == rows_b["floor"]["ll"]
        assert rows_a["mlp"]["ll_minus_truth_per_seed"][0] == rows_b["mlp"]["ll_minus_truth_per_seed"][0]
    # --only reruns one problem of the seed: the same draw, numbered as in the whole run
    assert run_main([*FAMILY_ARGS, "--seeds", "1", "--family-seed", match.group(1), "--only", "1",
                     "--out", str(tmp_path / "c")]) == 0
    (alone,) = json.loads((tmp_path / "c" / "science.json").read_text())["problems"]
    assert alone["index"] == 1 and alone["description"] == second["problems"][1]["description"]
    assert alone["data_seed"] == second["problems"][1]["data_seed"] and "| 1 | " in capsys.readouterr().out
