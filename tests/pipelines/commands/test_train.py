"""`photoedit train` and `photoedit evaluate-models` end to end on a tiny Parquet dataset."""
from __future__ import annotations

import json

import pytest

from pipelines.cli import main
from pipelines.core.model_store import load_model
from tests.modeling.synthetic import write_tiny_dataset


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    write_tiny_dataset(str(root), num_photos=60, dim=16)
    return root


@pytest.mark.parametrize("name", ["mlp", "pvae", "lbn"])
def test_train_writes_a_loadable_model(dataset, name, capsys):
    rc = main(["train", "--dataset", str(dataset), "--model", name, "--epochs", "3", "--hidden", "16",
               "--is-samples", "10", "--no-progress"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "test LL" in out and "JSD" in out
    folder = dataset / "models" / name
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
        assert len(curve["exact"]["gain"]) == 5 and curve["normalised"] == curve["amortised"]["gain"]


def test_resume_and_evaluate_models(dataset, capsys):
    rc = main(["train", "--dataset", str(dataset), "--model", "mlp", "--epochs", "5", "--hidden", "16",
               "--is-samples", "10", "--no-progress", "--resume"])
    assert rc == 0
    metrics = json.loads((dataset / "models" / "mlp" / "metrics.json").read_text())
    assert [h["epoch"] for h in metrics["history"]] == [0, 1, 2, 3, 4]  # 3 from before + 2 resumed
    capsys.readouterr()
    rc = main(["evaluate-models", "--dataset", str(dataset), "--is-samples", "10"])
    assert rc == 0
    out = capsys.readouterr().out
    summary = json.loads((dataset / "models" / "summary.json").read_text())
    names = [r["model"] for r in summary["models"]]
    assert {"mlp", "pvae", "lbn"} <= set(names)
    assert (dataset / "models" / "summary.md").read_text() in out
    for r in summary["models"]:
        assert r["ll_se"] > 0 and 0 <= r["jsd"] <= 1 and "ll_minus_floor" in r and len(r["jsd_per_slider"]) == 11
    assert summary["floor"]["model"] == "feature_blind_floor" and summary["floor"]["ll_num_samples"] == 1
    assert [b["metric"] for b in summary["best"]] == ["ll", "jsd", "slider_error"]
    assert "| feature_blind_floor |" in out and summary["best"][0]["line"] in out
    assert "| mlp |" in out and "| 1 |" in out and "| 10 |" in out  # IS samples column: MLP exact, LBN S=10


def test_search_applies_to_every_model(dataset, tmp_path, capsys):
    out = tmp_path / "mdn"
    rc = main(["train", "--dataset", str(dataset), "--model", "mdn", "--search", "--trials", "2", "--epochs", "2",
               "--is-samples", "10", "--no-progress", "--out", str(out)])
    assert rc == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["search"]) == 2 and metrics["selection"].startswith("kept trial")
    assert "kept trial" in capsys.readouterr().out


def test_cluster_prior_photo_trains_a_cgmvae_whose_checkpoint_keeps_it_and_is_refused_elsewhere(dataset, tmp_path,
                                                                                                capsys):
    out = tmp_path / "px"
    rc = main(["train", "--dataset", str(dataset), "--model", "cgmvae", "--cluster-prior", "photo", "--epochs", "2",
               "--hidden", "16", "--is-samples", "10", "--no-progress", "--out", str(out)])
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
    assert "--search" in text and "latent dim" in text
    with pytest.raises(SystemExit):
        main(["train", "--dataset", "x", "--model", "nope"])


def test_train_and_evaluate_models_on_an_empty_dataset_say_what_to_run(tmp_path, capsys):
    assert main(["train", "--dataset", str(tmp_path), "--model", "mlp"]) == 2
    err = capsys.readouterr().err
    assert f"no Parquet shards under {tmp_path / 'features'}: run `photoedit features` first" in err
    assert "Traceback" not in err
    assert main(["evaluate-models", "--dataset", str(tmp_path)]) == 2
    assert "no trained models under" in capsys.readouterr().err
