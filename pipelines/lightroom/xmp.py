"""Camera Raw XMP sidecars: write and read the 11 basic sliders and the point tone curve.

A sidecar is an `x:xmpmeta` packet holding one `rdf:Description` whose `crs:` properties
(namespace http://ns.adobe.com/camera-raw-settings/1.0/) are what Lightroom / Camera Raw read.

Process versions (what `crs:ProcessVersion` says, which decides how Camera Raw reads the sliders):
- process 2003 (PV1, the FiveK catalog's and our renderer's tone model): ProcessVersion "5.0" by
  default, or "5.7" (PV2010: the same Basic sliders, newer sharpening / noise reduction / Fill Light
  tuning) when asked; keys Temperature, Tint, Exposure, HighlightRecovery, FillLight, Shadows
  (Blacks), Brightness, Contrast, Clarity, Vibrance, Saturation; curve `crs:ToneCurve` +
  `crs:ToneCurveName`; `crs:Version` (the writer's Camera Raw version) "5.4" / "6.7".
- process 2012 (PV3): ProcessVersion "6.7", keys Exposure2012, Contrast2012, Highlights2012,
  Shadows2012, Whites2012, Blacks2012, Clarity2012 plus Temperature, Tint, Vibrance, Saturation;
  curve `crs:ToneCurvePV2012` + `crs:ToneCurveName2012`; `crs:Version` "7.0".

Every slider is written explicitly (also zeros): a key missing from a sidecar means Camera Raw's
default (PV2003: Brightness +50, Contrast +25, Blacks 5, Medium Contrast curve), which is not our
renderer's neutral. Values are rounded the way Camera Raw stores them: Exposure to 0.01 EV
(written with a sign, "+0.50"), Temperature to 1 K, every other slider to an integer.
The curve is an `rdf:Seq` of "x, y" items (0..255). Temperature / Tint are kelvin / tint of a raw
file; Camera Raw ignores them on JPEG / TIFF (which use IncrementalTemperature), see `write_xmp`.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Sequence
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from pipelines.core import storage
from pipelines.lightroom.develop_settings import (
    LINEAR_CURVE,
    CameraRawSettings,
    round_sliders,
)
from rendering.sliders import PROCESS_2003, PROCESS_2012

NS_X = "adobe:ns:meta/"
NS_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
NS_CRS = "http://ns.adobe.com/camera-raw-settings/1.0/"

# process -> (default crs:ProcessVersion, crs:Version, curve key, curve-name key)
PROCESS_TAGS = {
    "2003": ("5.0", "5.4", "ToneCurve", "ToneCurveName"),
    "2012": ("6.7", "7.0", "ToneCurvePV2012", "ToneCurveName2012"),
}
PROCESS_VERSIONS_2003 = ("5.0", "5.7")  # PV2003, PV2010: both read the 2003 Basic sliders


class XmpError(ValueError):
    """An XMP packet is not valid RDF/XML or lacks the Camera Raw settings; the message names it."""


def _format_value(key: str, value: float) -> str:
    """Camera Raw's text for a slider: '+0.50' for exposure, '+10' / '-5' / '0', kelvin unsigned."""
    if key.startswith("Exposure"):
        text = f"{value:+.2f}"
        return "0.00" if text in ("+0.00", "-0.00") else text
    if key == "Temperature":
        return f"{int(round(value))}"
    number = int(round(value))
    return f"{number:+d}" if number != 0 else "0"


def _curve_pairs(curve: Sequence[float]) -> list[tuple[int, int]]:
    flat = [float(v) for v in curve]
    if len(flat) < 4 or len(flat) % 2:
        raise XmpError(f"tone curve needs an even number (>= 4) of values, got {len(flat)}")
    if not all(0.0 <= v <= 255.0 for v in flat):
        raise XmpError("tone curve values must lie in 0..255")
    return [(int(round(flat[i])), int(round(flat[i + 1]))) for i in range(0, len(flat), 2)]


def xmp_packet(settings: CameraRawSettings, creator: str = "photoedit") -> str:
    """The sidecar text (UTF-8 XML) for one set of Camera Raw settings."""
    spec = settings.spec
    process = spec.process
    if process not in PROCESS_TAGS:
        raise XmpError(f"no XMP mapping for process {process!r}")
    _, version, curve_key, curve_name_key = PROCESS_TAGS[process]
    if process == "2003" and settings.process_version not in PROCESS_VERSIONS_2003:
        raise XmpError(f"process 2003 sliders need ProcessVersion 5.0 or 5.7, not {settings.process_version}")
    if process == "2012" and settings.process_version != "6.7":
        raise XmpError(f"process 2012 sliders need ProcessVersion 6.7, not {settings.process_version}")
    values = spec.validate(np.asarray(settings.sliders, dtype=np.float64).reshape(len(spec)))
    values = round_sliders(values, spec)
    attrs = [("crs:Version", version), ("crs:ProcessVersion", settings.process_version),
             ("crs:WhiteBalance", settings.white_balance)]
    attrs += [(f"crs:{s.key}", _format_value(s.key, v)) for s, v in zip(spec.sliders, values)]
    attrs += [(f"crs:{curve_name_key}", settings.tone_curve_name), ("crs:HasSettings", "True"),
              ("crs:AlreadyApplied", "False")]
    pairs = _curve_pairs(settings.tone_curve)
    attr_text = "\n".join(f"    {name}={quoteattr(str(value))}" for name, value in attrs)
    items = "\n".join(f"      <rdf:li>{escape(f'{x}, {y}')}</rdf:li>" for x, y in pairs)
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<x:xmpmeta xmlns:x="{NS_X}" x:xmptk={quoteattr(creator)}>\n'
        f' <rdf:RDF xmlns:rdf="{NS_RDF}">\n'
        f'  <rdf:Description rdf:about=""\n'
        f'    xmlns:crs="{NS_CRS}"\n'
        f'{attr_text}>\n'
        f'   <crs:{curve_key}>\n'
        f'    <rdf:Seq>\n'
        f'{items}\n'
        f'    </rdf:Seq>\n'
        f'   </crs:{curve_key}>\n'
        f'  </rdf:Description>\n'
        f' </rdf:RDF>\n'
        f'</x:xmpmeta>\n')


def write_xmp(path: str, settings: CameraRawSettings, creator: str = "photoedit") -> str:
    """Write a sidecar file (UTF-8); returns the path.

    For JPEG / TIFF photos Camera Raw reads white balance as IncrementalTemperature / Tint, not the
    kelvin written here, so only the tone sliders of such a sidecar carry over exactly.
    """
    return storage.write_bytes(path, xmp_packet(settings, creator).encode("utf-8"))


def _crs_values(description: ET.Element) -> dict[str, str | list[str]]:
    """All crs: properties of one rdf:Description, in attribute or element form; Seq -> list."""
    values: dict[str, str | list[str]] = {}
    prefix = "{" + NS_CRS + "}"
    for name, value in description.attrib.items():
        if name.startswith(prefix):
            values[name[len(prefix):]] = value
    for child in description:
        if not child.tag.startswith(prefix):
            continue
        key = child.tag[len(prefix):]
        seq = child.find(f"{{{NS_RDF}}}Seq")
        if seq is not None:
            values[key] = [(li.text or "").strip() for li in seq.findall(f"{{{NS_RDF}}}li")]
        else:
            values[key] = (child.text or "").strip()
    return values


def parse_xmp(text: str | bytes, name: str = "<xmp>") -> CameraRawSettings:
    """Camera Raw settings of an XMP packet; the spec follows crs:ProcessVersion (>= 6.7 is 2012).

    A slider missing from the packet is Camera Raw's 'absent' value 0 (as-shot 5000 K / 0 for
    white balance); the curve defaults to linear.
    """
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise XmpError(f"{name} is not valid XML: {exc}") from exc
    values: dict[str, str | list[str]] = {}
    for description in root.iter(f"{{{NS_RDF}}}Description"):
        values.update(_crs_values(description))
    if not values:
        raise XmpError(f"{name} holds no Camera Raw (crs:) settings")
    process_version = str(values.get("ProcessVersion", "5.0"))
    try:
        spec = PROCESS_2012 if float(process_version) >= 6.7 else PROCESS_2003
    except ValueError:
        raise XmpError(f"{name}: unreadable crs:ProcessVersion {process_version!r}") from None
    _, _, curve_key, curve_name_key = PROCESS_TAGS[spec.process]
    numbers = {}
    for key in spec.keys:
        if key in values:
            try:
                numbers[key] = float(str(values[key]))
            except ValueError:
                raise XmpError(f"{name}: crs:{key}={values[key]!r} is not a number") from None
    sliders = spec.from_mapping(numbers)
    curve_items = values.get(curve_key, [])
    curve: list[float] = []
    for item in curve_items if isinstance(curve_items, list) else []:
        try:
            x, y = (float(v) for v in item.split(","))
        except ValueError:
            raise XmpError(f"{name}: tone curve point {item!r} is not 'x, y'") from None
        curve += [x, y]
    return CameraRawSettings(sliders=sliders, spec=spec, tone_curve=tuple(curve) or LINEAR_CURVE,
                             tone_curve_name=str(values.get(curve_name_key, "Linear")),
                             white_balance=str(values.get("WhiteBalance", "As Shot")),
                             process_version=process_version)


def read_xmp(path: str) -> CameraRawSettings:
    """Camera Raw settings of a sidecar file (see parse_xmp)."""
    return parse_xmp(storage.read_bytes(path), name=path)
