"""`photoedit train` and `photoedit evaluate-models` end to end on a tiny Parquet dataset."""
from __future__ import annotations

import json
import shutil

import pytest

from pipelines.cli import main
from pipelines.core.model_store import load_model, primary_folder, seed_folders
from tests.modeling.synthetic import write_tiny_dataset


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    write_tiny_dataset(str(root), num_photos=60, dim=16)
    return root


@pytest.mark.parametrize("name", ["mlp", "pvae", "lbn"])
def test_train_writes_a_loadable_model(dataset, name, capsys):
    rc = main(["train", "--dataset", str(dataset), "--model", name, "--epochs", "3", "--hidden", "16",
               "--is-samples", "10", "--no-progress", "--seeds", "1"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "test LL" in out and "JSD" in out and f"{name} seed 0:" in out
    folder = dataset / "models" / name / "seed-0"
    metrics = json.loads((folder / "metrics.json").read_text())
    for key in ("validation_ll", "selection", "test_ll", "test_ll_se", "test_jsd", "test_jsd_se",
                "test_jsd_per_slider", "test_slider_error", "test_ll_convergence"):
        assert key in metrics
    assert metrics["test_ll_num_samples"] == (1 if name == "mlp" else 10) and metrics["test_ll_photos"] == 12
    assert metrics["selection"].startswith(f"kept epoch {metrics['best_epoch']}")
    model, config = load_model(str(folder))
    assert config["model"] == name and config["feature_dim"] == 16 and len(config["feature_std"]) == 16
    assert (folder / "training_state.pt").exists()
    if name == "pvae":
        curve = json.loads((folder / "personalisation.json").read_text())
        # test split: 24 images -> each of 5 experts and 2 casual users has 24 edits: 20 held out, 0..4 history
        assert curve["users"] == 7 and curve["history"] == [0, 1, 2, 3, 4] and curve["normalised"][0] == 0.0
        assert len(curve["sampled"]["gain"]) == 5 and curve["normalised"] == curve["amortised"]["gain"]


def test_train_seeds_writes_one_model_per_seed(dataset, capsys):
    rc = main(["train", "--dataset", str(dataset), "--model", "mdn", "--epochs", "2", "--hidden", "16",
               "--is-samples", "10", "--no-progress", "--seeds", "3", "--seed", "4"])
    assert rc == 0
    out = capsys.readouterr().out
    folder = dataset / "models" / "mdn"
    assert [s for s, _ in seed_folders(str(folder))] == [4, 5, 6]
    weights = []
    for seed in (4, 5, 6):
        model, config = load_model(str(folder / f"seed-{seed}"))
        assert config["train"]["seed"] == seed and f"mdn seed {seed}:" in out
        weights.append(next(model.parameters()).detach().clone())      # not a buffer: feature stats are shared
    assert not weights[0].equal(weights[1])                         # the seeds train different models
    assert load_model(str(folder))[1]["train"]["seed"] == 4          # a model folder loads its lowest seed
    assert primary_folder(str(folder), 5).endswith("seed-5")


def test_train_chooses_how_the_features_enter_unless_told_not_to(dataset, tmp_path, capsys):
    base = ["train", "--dataset", str(dataset), "--model", "mlp", "--epochs", "2", "--hidden", "8",
            "--no-progress", "--seeds", "1"]
    assert main([*base, "--out", str(tmp_path / "searched")]) == 0
    metrics = json.loads((tmp_path / "searched" / "seed-0" / "metrics.json").read_text())
    kept_inputs = bool(metrics["input_screen"]["columns"])       # an empty screen adds nothing to PCA 32
    assert [r["input"] for r in metrics["input_candidates"]] == [
        "PCA 32", "raw features + input group lasso 0.1", "screened inputs"] + ["PCA 32 + screened inputs"] * kept_inputs
    assert metrics["input_screen"]["model"] == "mdn" and "input: " in metrics["selection"]
    assert main([*base, "--out", str(tmp_path / "given"), "--no-input-search"]) == 0
    metrics = json.loads((tmp_path / "given" / "seed-0" / "metrics.json").read_text())
    assert "input_candidates" not in metrics and "input_screen" not in metrics and "input: " not in metrics["selection"]
    capsys.readouterr()


def test_a_model_folder_of_the_layout_before_seeds_still_loads(dataset, tmp_path):
    flat = tmp_path / "flat"
    shutil.copytree(dataset / "models" / "mlp" / "seed-0", flat)
    assert seed_folders(str(flat)) == [(None, str(flat))]
    assert load_model(str(flat))[1]["model"] == "mlp"
    assert seed_folders(str(tmp_path / "none")) == []


def test_resume_and_evaluate_models(dataset, capsys):
    rc = main(["train", "--dataset", str(dataset), "--model", "mlp", "--epochs", "5", "--hidden", "16",
               "--is-samples", "10", "--no-progress", "--resume", "--seeds", "1"])
    assert rc == 0
    metrics = json.loads((dataset / "models" / "mlp" / "seed-0" / "metrics.json").read_text())
    assert [h["epoch"] for h in metrics["history"]] == [0, 1, 2, 3, 4]  # 3 from before + 2 resumed
    capsys.readouterr()
    rc = main(["evaluate-models", "--dataset", str(dataset), "--is-samples", "10"])
    assert rc == 0
    out = capsys.readouterr().out
    summary = json.loads((dataset / "models" / "summary.json").read_text())
    rows = {r["model"]: r for r in summary["models"]}
    assert {"mlp", "pvae", "lbn", "mdn"} <= set(rows)
    assert (dataset / "models" / "summary.md").read_text() in out
    for r in summary["models"]:
        assert r["ll_se"] > 0 and 0 <= r["jsd"] <= 1 and "ll_minus_floor" in r and len(r["jsd_per_slider"]) == 11
    # mdn: three seeds, mean ± s.d. over them; the others one seed, spread unknown
    mdn = rows["mdn"]
    assert mdn["seeds"] == 3 and mdn["seed_values"] == [4, 5, 6] and mdn["ll_seed_sd"] > 0
    assert mdn["ll"] == pytest.approx(sum(r["ll"] for r in mdn["per_seed"]) / 3)
    assert rows["mlp"]["seeds"] == 1 and rows["mlp"]["ll_seed_sd"] is None
    assert f"| mdn | 3 | {mdn['ll']:.3f} ± {mdn['ll_seed_sd']:.3f} | {mdn['ll_se']:.3f} |" in out
    assert summary["floor"]["model"] == "feature_blind_floor" and summary["floor"]["ll_num_samples"] == 1
    assert summary["lead_threshold_se"] == 2.0
    assert [b["metric"] for b in summary["best"]] == ["ll", "jsd", "slider_error"]
    for b in summary["best"]:   # a best model is named only past 2 s.e. of its lead
        assert (b["best"] is not None) == (abs(b["lead"]) > 2 * b["lead_se"])
        assert ("no clear best" in b["line"]) == (b["best"] is None)
    assert "| feature_blind_floor |" in out and summary["best"][0]["line"] in out
    assert "| mlp | 1 |" in out and "| 10 |" in out  # IS samples column: MLP exact, LBN S=10


def test_search_applies_to_every_model(dataset, tmp_path, capsys):
    out = tmp_path / "mdn"
    rc = main(["train", "--dataset", str(dataset), "--model", "mdn", "--search", "--trials", "2", "--epochs", "2",
               "--is-samples", "10", "--no-progress", "--out", str(out), "--seeds", "1"])
    assert rc == 0
    metrics = json.loads((out / "seed-0" / "metrics.json").read_text())
    assert len(metrics["search"]) == 2 and metrics["selection"].startswith("kept trial")
    assert "kept trial" in capsys.readouterr().out


def test_cluster_prior_photo_trains_a_cgmvae_whose_checkpoint_keeps_it_and_is_refused_elsewhere(dataset, tmp_path,
                                                                                                capsys):
    out = tmp_path / "px"
    rc = main(["train", "--dataset", str(dataset), "--model", "cgmvae", "--cluster-prior", "photo", "--epochs", "2",
               "--hidden", "16", "--is-samples", "10", "--no-progress", "--out", str(out), "--seeds", "1"])
    assert rc == 0
    model, config = load_model(str(out))
    assert config["kwargs"]["cluster_prior"] == "photo" and model.prior_net is not None
    capsys.readouterr()
    assert main(["train", "--dataset", str(dataset), "--model", "pvae", "--cluster-prior", "photo",
                 "--out", str(tmp_path / "no")]) == 2
    assert "--cluster-prior photo is a CGM-VAE option" in capsys.readouterr().err


def test_help_and_bad_model(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    assert "--search" in text and "latent dim" in text and "--seeds" in text
    with pytest.raises(SystemExit):
        main(["train", "--dataset", "x", "--model", "nope"])


def test_train_and_evaluate_models_on_an_empty_dataset_say_what_to_run(tmp_path, capsys):
    assert main(["train", "--dataset", str(tmp_path), "--model", "mlp"]) == 2
    err = capsys.readouterr().err
    assert f"no Parquet shards under {tmp_path / 'features'}: run `photoedit features` first" in err
    assert "Traceback" not in err
    assert main(["evaluate-models", "--dataset", str(tmp_path)]) == 2
    assert "no trained models under" in capsys.readouterr().err
