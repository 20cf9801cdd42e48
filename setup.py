"""Shim so Beam's --setup_file=./setup.py can build the sdist offline (metadata is in pyproject.toml).

Beam stages --setup_file with `python -m build --sdist` when the `build` package is installed and
falls back to `python setup.py sdist` otherwise; this file makes the fallback work.
"""
from setuptools import setup

setup()
