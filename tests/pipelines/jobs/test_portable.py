"""The augment job through Beam's portable job service with external worker processes (offline)."""
from __future__ import annotations

import tarfile

import pytest

from pipelines.jobs import augment
from tests.pipelines.augment_checks import AUGMENT_ARGS, IN_PROCESS, augment_outputs
from tests.pipelines.beam_services import PROJECT, portable_services
from tests.pipelines.dataset_factory import make_dataset

pytestmark = pytest.mark.slow


def test_portable_runner_with_external_workers_gives_the_in_process_rows(tmp_path):
    local, portable = tmp_path / "local", tmp_path / "portable"
    for root in (local, portable):
        make_dataset(root, num_photos=4, corrupt=("a0004",))
    assert augment.run(["--dataset", str(local), *AUGMENT_ARGS, *IN_PROCESS]) == 0

    staging = tmp_path / "staging"
    with portable_services(staging_dir=str(staging), log_dir=str(tmp_path)) as flags:
        assert "--environment_type=EXTERNAL" in flags
        # the package ships as an sdist built from pyproject.toml via the setup.py shim
        assert augment.run(["--dataset", str(portable), *AUGMENT_ARGS, *flags,
                            f"--setup_file={PROJECT / 'setup.py'}"]) == 0

    want, got = augment_outputs(local), augment_outputs(portable)
    assert len(got["variants"]) == 9 and len(got["variant_edits"]) == 27
    for key in ("variants", "variant_edits", "images"):
        assert got[key] == want[key], key
    assert [e["id"] for e in got["errors"]] == ["a0004"] == [e["id"] for e in want["errors"]]
    # the workers really were separate processes started by the pool
    assert "Starting worker with command" in (tmp_path / "worker_pool.log").read_text()

    staged = list(staging.glob("*/*workflow.tar.gz"))
    assert len(staged) == 1
    with tarfile.open(staged[0]) as sdist:
        names = sdist.getnames()
    for module in ("pipelines/jobs/augment.py", "pipelines/fivek/augmentation.py", "rendering/renderer.py",
                   "features/inference.py"):
        assert any(n.endswith(module) for n in names), module
