"""Render fidelity: our renderer against the DNG SDK's reference renders of the Blackmagic DNG.

For each render in ../shared/fixtures/dng_sdk_reference/ (see its README): decode the DNG (default
crop applied) at the reference's size, render Camera Raw 2003's default look (Brightness 50,
Contrast 25, the Medium Contrast point curve) with that render's Exposure and Shadows at the as-shot
white balance, decode both to CIE-LAB (D50) and print mean / 90th-percentile ΔE76 and mean L*.

    python benchmarks/render_fidelity.py [--fixtures DIR] [--size 1024]

--size below the references' 1024 px also area-averages the reference to that size (the tests do).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from rendering.colour import delta_e76, linear_prophoto_to_lab
from rendering.image_io import read_image
from rendering.raw import Photo, decode_raw
from rendering.renderer import PhotoRenderer
from rendering.sliders import PROCESS_2003, default_look
from rendering.tone import MEDIUM_CONTRAST

DEFAULT_FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"
# (reference file, user Exposure EV, Shadows): the five renders of the README's table.
REFERENCES = (("blackmagic_ev0_shadows5.tif", 0.0, 5.0), ("blackmagic_ev+1_shadows5.tif", 1.0, 5.0),
              ("blackmagic_ev-1_shadows5.tif", -1.0, 5.0), ("blackmagic_ev0_shadows0.tif", 0.0, 0.0),
              ("blackmagic_ev0_shadows30.tif", 0.0, 30.0))


def reference_sliders(photo: Photo, exposure: float, shadows: float) -> np.ndarray:
    """The default look [11] at the photo's as-shot white balance with a reference's Exposure and Shadows."""
    sliders = default_look(*photo.profile.as_shot_white())
    sliders[PROCESS_2003.index("Exposure")] = exposure
    sliders[PROCESS_2003.index("Shadows")] = shadows
    return sliders


def read_reference(path: Path, size: tuple[int, int]) -> np.ndarray:
    """A reference render -> linear ProPhoto [3,h,w], area-averaged to (h, w) when smaller."""
    ref = torch.from_numpy(read_image(str(path)))[None]
    if tuple(ref.shape[-2:]) != size:
        ref = F.interpolate(ref, size=size, mode="area")
    return ref[0].numpy()


def render_references(fixtures: Path, size: int) -> list[tuple[str, float, float, torch.Tensor, torch.Tensor]]:
    """(file, Exposure, Shadows, our LAB [3,h,w], the SDK's LAB [3,h,w]) per reference, D50, float64."""
    photo = decode_raw(str(fixtures / "raw" / "blackmagic_pocket4k.dng"), long_side=size)
    sliders = np.stack([reference_sliders(photo, ev, shadows) for _, ev, shadows in REFERENCES])
    ours = PhotoRenderer().render(photo, sliders, [MEDIUM_CONTRAST] * len(REFERENCES))
    out = []
    for (name, ev, shadows), image in zip(REFERENCES, ours):
        ref = read_reference(fixtures / "dng_sdk_reference" / name, photo.shape)
        lab = [linear_prophoto_to_lab(torch.from_numpy(a)[None].double())[0] for a in (image, ref)]
        out.append((name, ev, shadows, *lab))
    return out


def fidelity(fixtures: Path, size: int) -> list[dict]:
    """One row per reference: file, settings, mean / p90 ΔE76 and mean L* of ours and the SDK's."""
    rows = []
    for name, ev, shadows, lab_ours, lab_ref in render_references(fixtures, size):
        de = delta_e76(lab_ours[None], lab_ref[None]).flatten()
        rows.append({"reference": name, "exposure": ev, "shadows": shadows, "mean": float(de.mean()),
                     "p90": float(de.quantile(0.9)), "L_ours": float(lab_ours[0].mean()),
                     "L_sdk": float(lab_ref[0].mean())})
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fixtures", default=str(DEFAULT_FIXTURES))
    p.add_argument("--size", type=int, default=1024, help="long side in px (the references are 1024)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    rows = fidelity(Path(args.fixtures), args.size)
    print(f"DNG SDK reference renders vs photoedit at {args.size} px long side "
          "(Brightness 50, Contrast 25, Medium Contrast curve, as-shot white balance)")
    print(f"{'reference':<32} {'EV':>4} {'shadows':>7} {'mean dE76':>9} {'p90 dE76':>8} {'L* ours':>7} {'L* SDK':>7}")
    for r in rows:
        print(f"{r['reference']:<32} {r['exposure']:>+4.0f} {r['shadows']:>7.0f} {r['mean']:>9.2f} "
              f"{r['p90']:>8.2f} {r['L_ours']:>7.1f} {r['L_sdk']:>7.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
