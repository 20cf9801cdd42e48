"""Camera Raw XMP sidecars: valid RDF/XML, right process version, values read back by exiftool."""
from __future__ import annotations

import json
import shutil
import subprocess
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from pipelines.lightroom.develop_settings import CameraRawSettings, round_sliders
from pipelines.lightroom.xmp import (
    NS_CRS,
    NS_RDF,
    XmpError,
    parse_xmp,
    read_xmp,
    write_xmp,
    xmp_packet,
)
from rendering.sliders import PROCESS_2003, PROCESS_2012, SliderError

CURVE = (0.0, 0.0, 32.0, 22.0, 64.0, 56.0, 128.0, 128.0, 192.0, 196.0, 255.0, 255.0)


def random_sliders(spec, seed: int) -> np.ndarray:
    """Lightroom-unit sliders [11] spread over the whole range (model space uniform in [-0.95, 0.95])."""
    return spec.from_model(np.random.default_rng(seed).uniform(-0.95, 0.95, size=11))


def exiftool_json(path) -> dict:
    """exiftool's reading of a sidecar's crs: tags (skip when exiftool is not installed)."""
    exe = shutil.which("exiftool")
    if exe is None:
        pytest.skip("exiftool not installed (Debian package libimage-exiftool-perl): XMP read-back not checked")
    out = subprocess.run([exe, "-j", "-XMP-crs:all", str(path)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)[0]


# exiftool's tag names differ from the crs: property names for a few keys
EXIFTOOL_NAME = {"Temperature": "ColorTemperature"}


@pytest.mark.parametrize("spec,version", [(PROCESS_2003, "5.0"), (PROCESS_2003, "5.7"), (PROCESS_2012, "6.7")])
def test_exiftool_reads_back_the_same_values(tmp_path, spec, version):
    sliders = random_sliders(spec, seed=int(float(version) * 10))
    path = write_xmp(str(tmp_path / "a.xmp"),
                     CameraRawSettings(sliders, spec, CURVE, "Custom", "Custom", version))
    tags = exiftool_json(path)
    expected = round_sliders(sliders, spec)
    for key, value in zip(spec.keys, expected):
        got = float(str(tags[EXIFTOOL_NAME.get(key, key)]))
        assert got == pytest.approx(value, abs=1e-9), key
    assert str(tags["ProcessVersion"]) == version
    assert tags["WhiteBalance"] == "Custom"
    curve_key = "ToneCurve" if spec.process == "2003" else "ToneCurvePV2012"
    points = [tuple(float(v) for v in item.split(",")) for item in tags[curve_key]]
    assert points == [(CURVE[i], CURVE[i + 1]) for i in range(0, len(CURVE), 2)]
    assert tags["ToneCurveName" if spec.process == "2003" else "ToneCurveName2012"] == "Custom"


def test_packet_is_valid_rdf_with_the_crs_namespace_and_every_slider_explicit():
    sliders = PROCESS_2003.neutral(5500.0, 3.0)  # zeros must still be written
    root = ET.fromstring(xmp_packet(CameraRawSettings(sliders)))
    assert root.tag == "{adobe:ns:meta/}xmpmeta"
    description = root.find(f"{{{NS_RDF}}}RDF/{{{NS_RDF}}}Description")
    assert description is not None
    attrs = {k.split("}")[1]: v for k, v in description.attrib.items() if k.startswith("{" + NS_CRS)}
    assert set(PROCESS_2003.keys) <= set(attrs)
    assert attrs["ProcessVersion"] == "5.0" and attrs["Version"] == "5.4"
    assert attrs["Brightness"] == "0" and attrs["Contrast"] == "0" and attrs["Shadows"] == "0"
    assert attrs["Exposure"] == "0.00" and attrs["Temperature"] == "5500" and attrs["Tint"] == "+3"
    assert attrs["ToneCurveName"] == "Linear"
    seq = description.find(f"{{{NS_CRS}}}ToneCurve/{{{NS_RDF}}}Seq")
    assert [li.text for li in seq] == ["0, 0", "255, 255"]


@pytest.mark.parametrize("spec,version", [(PROCESS_2003, "5.0"), (PROCESS_2012, "6.7")])
def test_own_reader_round_trip(tmp_path, spec, version):
    sliders = random_sliders(spec, seed=3)
    settings = CameraRawSettings(sliders, spec, CURVE, "Medium Contrast", "As Shot", version)
    back = read_xmp(write_xmp(str(tmp_path / "b.xmp"), settings))
    assert back.spec is spec and back.process_version == version
    np.testing.assert_allclose(back.sliders, round_sliders(sliders, spec), atol=1e-9)
    assert back.tone_curve == CURVE and back.tone_curve_name == "Medium Contrast"
    assert back.white_balance == "As Shot"
    # rounding as Camera Raw stores: 0.01 EV, integer elsewhere
    assert np.max(np.abs(back.sliders - sliders)) <= 0.5 + 1e-9


def test_reader_understands_exiftools_element_form(tmp_path):
    exe = shutil.which("exiftool")
    if exe is None:
        pytest.skip("exiftool not installed (Debian package libimage-exiftool-perl)")
    sliders = random_sliders(PROCESS_2003, seed=9)
    src = write_xmp(str(tmp_path / "src.xmp"), CameraRawSettings(sliders, tone_curve=CURVE))
    dst = tmp_path / "dst.xmp"  # exiftool rewrites the properties as child elements
    subprocess.run([exe, "-q", "-tagsfromfile", src, "-XMP-crs:all", "-o", str(dst)], check=True)
    assert "<crs:Exposure>" in dst.read_text()
    back = read_xmp(str(dst))
    np.testing.assert_allclose(back.sliders, round_sliders(sliders, PROCESS_2003), atol=1e-9)
    assert back.tone_curve == CURVE


def test_bad_input_is_refused_with_a_named_error():
    with pytest.raises(XmpError, match="not valid XML"):
        parse_xmp(b"<x:xmpmeta", name="broken.xmp")
    with pytest.raises(XmpError, match="no Camera Raw"):
        parse_xmp(f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="{NS_RDF}">'
                  '<rdf:Description rdf:about=""/></rdf:RDF></x:xmpmeta>')
    bad = PROCESS_2003.neutral()
    bad[PROCESS_2003.index("Exposure")] = 7.0
    with pytest.raises(SliderError, match="Exposure"):
        xmp_packet(CameraRawSettings(bad))
    with pytest.raises(XmpError, match="ProcessVersion"):
        xmp_packet(CameraRawSettings(PROCESS_2003.neutral(), PROCESS_2003, process_version="6.7"))
    with pytest.raises(XmpError, match="tone curve"):
        xmp_packet(CameraRawSettings(PROCESS_2003.neutral(), tone_curve=(0.0, 0.0, 300.0, 255.0)))
