"""A training run replaces its model folder only when it finished; a killed run is resumed from its own files."""
from __future__ import annotations

import pytest

from modeling.training import TRAINING_STATE
from pipelines.core import staging
from pipelines.core.model_store import staged_model_folder
from tests.pipelines.core.test_staging import pretend_the_owner_died


def test_a_failed_run_keeps_the_old_model_and_resume_continues_from_the_failed_runs_state(tmp_path):
    folder = tmp_path / "models" / "mlp" / "seed-0"
    folder.mkdir(parents=True)
    (folder / "checkpoint.pt").write_bytes(b"old model")
    (folder / TRAINING_STATE).write_bytes(b"old state")
    with pytest.raises(KeyboardInterrupt):
        with staged_model_folder(str(folder)) as store:
            assert store.read(TRAINING_STATE) is None          # not resuming: a fresh start
            store.write("checkpoint.pt", b"epoch 3")
            store.write(TRAINING_STATE, b"state after epoch 3")
            raise KeyboardInterrupt
    assert (folder / "checkpoint.pt").read_bytes() == b"old model"
    pretend_the_owner_died(folder.parent / staging.STAGING)
    with staged_model_folder(str(folder), resume=True) as store:
        assert store.read(TRAINING_STATE) == b"state after epoch 3"
        assert (folder / "checkpoint.pt").read_bytes() == b"old model"
        store.write("checkpoint.pt", b"finished")
    assert sorted(p.name for p in folder.iterdir()) == ["checkpoint.pt", TRAINING_STATE]
    assert (folder / "checkpoint.pt").read_bytes() == b"finished"
    assert (folder / TRAINING_STATE).read_bytes() == b"state after epoch 3"
    assert sorted(p.name for p in folder.parent.iterdir()) == ["seed-0"]


def test_resume_without_an_unfinished_run_reads_the_finished_folder_and_a_plain_rerun_drops_leftovers(tmp_path, caplog):
    folder = tmp_path / "mlp" / "seed-1"
    folder.mkdir(parents=True)
    (folder / TRAINING_STATE).write_bytes(b"finished state")
    with staged_model_folder(str(folder), resume=True) as store:
        assert store.read(TRAINING_STATE) == b"finished state"
        store.write(TRAINING_STATE, b"more epochs")
    assert (folder / TRAINING_STATE).read_bytes() == b"more epochs"
    with pytest.raises(RuntimeError):
        with staged_model_folder(str(folder)) as store:
            store.write(TRAINING_STATE, b"lost")
            raise RuntimeError
    pretend_the_owner_died(folder.parent / staging.STAGING)
    with caplog.at_level("WARNING", logger="pipelines.core.staging"):
        with staged_model_folder(str(folder)) as store:
            assert store.read(TRAINING_STATE) is None
            store.write("config.json", b"{}")
    assert "of an unfinished train run" in caplog.text
    assert sorted(p.name for p in folder.iterdir()) == ["config.json"]
    assert sorted(p.name for p in folder.parent.iterdir()) == ["seed-1"]
