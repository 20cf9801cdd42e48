"""`photoedit render`: outputs, slider parsing, and exit code 2 on bad keys, values or inputs."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pipelines.commands.render import run
from rendering.image_io import read_image, write_image


@pytest.fixture()
def small_tiff(tmp_path) -> str:
    img = np.random.default_rng(0).uniform(0.05, 0.6, (3, 20, 30)).astype(np.float32)
    return write_image(str(tmp_path / "in.tif"), img)


def test_render_writes_srgb_and_prophoto(tmp_path, small_tiff, capsys):
    out_png = str(tmp_path / "out.png")
    assert run([small_tiff, "--set", "Exposure=0.5", "--set", "Contrast=25", "-o", out_png]) == 0
    assert "wrote" in capsys.readouterr().out
    png = Image.open(out_png)
    assert png.size == (30, 20) and "icc_profile" in png.info
    out_tif = str(tmp_path / "out.tif")
    assert run([small_tiff, "--process", "2012", "--set", "Exposure2012=1", "--size", "15", "-o", out_tif]) == 0
    brighter = read_image(out_tif)
    assert brighter.shape == (3, 10, 15)
    assert brighter.mean() > read_image(small_tiff).mean() * 1.5


def test_render_real_dng(tmp_path, fixtures_dir):
    out = str(tmp_path / "dng.jpg")
    src = str(fixtures_dir / "raw" / "blackmagic_pocket4k.dng")
    assert run([src, "--size", "96", "--set", "Temperature=6000", "-o", out]) == 0
    assert Image.open(out).size[0] == 96


@pytest.mark.parametrize("args", [["--set", "Exposur=1"], ["--set", "Exposure=abc"], ["--set", "Exposure"],
                                  ["--set", "Exposure=nan"], ["--set", "Contrast=400"],
                                  ["--process", "2012", "--set", "FillLight=10"]])
def test_bad_sliders_exit_2(tmp_path, small_tiff, args, capsys):
    assert run([small_tiff, *args, "-o", str(tmp_path / "x.png")]) == 2
    assert "error" in capsys.readouterr().err


def test_bad_inputs_exit_2(tmp_path, fixtures_dir, capsys):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    assert run([str(text), "-o", str(tmp_path / "x.png")]) == 2
    assert "notes.txt" in capsys.readouterr().err
    stripped = str(fixtures_dir / "raw" / "canon350d_stripped.dng")
    assert run([stripped, "-o", str(tmp_path / "x.png")]) == 2
    assert "canon350d_stripped.dng" in capsys.readouterr().err
    assert run([str(text), "-o", str(tmp_path / "x.bmp")]) == 2
