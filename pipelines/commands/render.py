"""`photoedit render`: render one photo (DNG/raw/JPEG/PNG/TIFF) with Lightroom sliders to a file."""
from __future__ import annotations

import argparse
import logging
import sys

import numpy as np

from pipelines.core import storage
from pipelines.core.console import configure_logging
from rendering.image_io import encode_image, format_for_path
from rendering.raw import PhotoDecodeError, load_photo
from rendering.renderer import PhotoRenderer
from rendering.sliders import SliderError, spec_for

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    """Argument parser of `photoedit render`."""
    p = argparse.ArgumentParser(
        prog="photoedit render",
        description="Render one photo with Lightroom sliders. Sliders not given are neutral "
                    "(white balance: as shot). .jpg/.png -> 8-bit sRGB, .tif -> 16-bit ProPhoto.")
    p.add_argument("input", help="DNG/raw, JPEG, PNG or TIFF file")
    p.add_argument("-o", "--output", required=True, help="output file (.jpg, .png or .tif)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="slider in Lightroom units by catalog key or name, e.g. Exposure=0.5 (repeatable)")
    p.add_argument("--process", default="2003", choices=["2003", "2012"],
                   help="Camera Raw process version of the slider keys (default 2003, FiveK's)")
    p.add_argument("--tone-curve", default=None,
                   help="point curve as comma-separated 0..255 pairs x0,y0,x1,y1,...")
    p.add_argument("--size", type=int, default=None, help="long side in pixels (default: full size)")
    p.add_argument("--device", default="cpu", help="torch device: cpu or cuda")
    return p


def parse_settings(pairs: list[str], spec) -> dict[str, float]:
    """['Exposure=0.5', ...] -> {catalog key: value}; raises SliderError on bad keys or values."""
    settings: dict[str, float] = {}
    for pair in pairs:
        if "=" not in pair:
            raise SliderError(f"--set expects KEY=VALUE, got {pair!r}")
        key, raw = (part.strip() for part in pair.split("=", 1))
        slider = spec.sliders[spec.index(key)]  # SliderError for an unknown key
        try:
            value = float(raw)
        except ValueError:
            raise SliderError(f"slider {slider.key}: {raw!r} is not a number") from None
        settings[slider.key] = value
    return settings


def run(argv: list[str] | None = None) -> int:
    """Entry point of `photoedit render`; returns the exit code (2 on bad arguments or input)."""
    configure_logging()
    args = build_parser().parse_args(argv)
    spec = spec_for(args.process)
    try:
        settings = parse_settings(args.set, spec)
        fmt = format_for_path(args.output)
        curve = None
        if args.tone_curve:
            try:
                curve = np.array([float(v) for v in args.tone_curve.split(",")])
            except ValueError:
                raise SliderError(f"--tone-curve: not a list of numbers: {args.tone_curve!r}") from None
        photo = load_photo(args.input, long_side=args.size)
        temperature, tint = photo.profile.as_shot_white()
        sliders = spec.from_mapping(settings, temperature, tint)
        image = PhotoRenderer(args.device).render(photo, sliders[None], [curve], spec=spec)[0]
    except (SliderError, PhotoDecodeError, ValueError) as exc:
        log.error("render: %s", exc)
        return 2
    space, bits = ("prophoto", 16) if fmt == "tiff" else ("srgb", 8)
    data = encode_image(image, fmt=fmt, space=space, bits=bits)
    storage.write_bytes(args.output, data)
    shown = ", ".join(f"{k}={v:g}" for k, v in spec.to_mapping(sliders).items())
    print(f"wrote {args.output} ({image.shape[2]}x{image.shape[1]}, {bits}-bit {space}, "
          f"process {spec.process}): {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(run())
