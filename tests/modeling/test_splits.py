"""Stable hash splits: fixed by photo id, close to 80/10/10, independent of Python's hash seed."""
import subprocess
import sys
from collections import Counter

from modeling.splits import split_for


def test_split_fractions_close_to_80_10_10():
    counts = Counter(split_for(f"a{i:04d}") for i in range(1, 5001))
    assert abs(counts["train"] / 5000 - 0.8) < 0.02
    assert abs(counts["validation"] / 5000 - 0.1) < 0.015
    assert abs(counts["test"] / 5000 - 0.1) < 0.015


def test_split_is_stable_across_interpreters():
    ids = [f"a{i:04d}" for i in range(1, 200)]
    here = [split_for(i) for i in ids]
    code = ("import sys; from modeling.splits import split_for; "
            "print(','.join(split_for(f'a{i:04d}') for i in range(1, 200)))")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": "123", "PATH": ""}, cwd=str(__import__("pathlib").Path(__file__).parents[2]))
    assert other.stdout.strip().split(",") == here
