"""Model folders through the storage layer: written, read back, refused when they are not model folders."""
import json

import pytest
import torch

from modeling.checkpoints import CheckpointError
from modeling.registry import build_model
from pipelines.core.model_store import (
    ModelFolder,
    is_model_folder,
    load_model,
    read_edits,
    read_sliders,
    save_model,
)


def test_a_saved_model_folder_loads_back_in_eval_mode(tmp_path):
    model = build_model("mdn", feature_dim=4, hidden=8, components=2)
    folder = str(tmp_path / "models" / "mdn")
    assert not is_model_folder(folder)
    save_model(model, {"slider_process": "2003"}, {"test_ll": 2.0}, folder)
    assert is_model_folder(folder) and json.loads((tmp_path / "models" / "mdn" / "metrics.json").read_text()) == {"test_ll": 2.0}
    loaded, config = load_model(folder)
    assert config["model"] == "mdn" and not loaded.training
    for a, b in zip(model.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(a, b)
    store = ModelFolder(folder)
    assert store.read("training_state.pt") is None
    store.write("training_state.pt", b"state")
    assert store.read("training_state.pt") == b"state"


def test_not_a_model_folder_and_missing_training_data_are_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match="not a model folder"):
        load_model(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="photoedit features"):
        read_edits(str(tmp_path))


def test_a_split_read_and_a_sliders_read_give_the_full_reads_rows(tmp_path):
    """read_edits(splits=...) reads only those photos' features; read_sliders none: the same edits otherwise."""
    import numpy as np

    from benchmarks.scale import write_synthetic_training_set
    from modeling.train_run import split_edits

    write_synthetic_training_set(tmp_path, edits=600, dim=8)
    train, val, test = split_edits(read_edits(str(tmp_path)))
    only_test = read_edits(str(tmp_path), splits=("test",))
    assert set(only_test.splits.tolist()) == {"test"} and 0 < only_test.features.shape[0] < train.features.shape[0]
    part = only_test.split("test")
    assert torch.equal(part.x, test.x) and torch.equal(part.y, test.y)
    assert part.image_ids.tolist() == test.image_ids.tolist() and np.array_equal(part.users, test.users)
    sliders = read_sliders(str(tmp_path))
    assert sliders.features.shape == (1, 8) and sliders.feature_dim == 8
    s_train, s_val, _ = split_edits(sliders)
    assert torch.equal(s_train.y, train.y) and torch.equal(s_val.y, val.y)
    assert s_train.image_ids.tolist() == train.image_ids.tolist()
