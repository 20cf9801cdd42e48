"""Benchmark: slider fitting (modeling.slider_fit) — seconds per pair and final ΔE at 512 px.

    python benchmarks/fit.py --pairs 3 --size 512 [--device cuda] [--restarts 4] [--steps 150]

Generated pairs with known answers: BEFORE is a pidng DNG (tests/pipelines/dataset_factory.py,
smooth random content) decoded at long side --size, AFTER is the same photo rendered with random
but plausible sliders (keyed by pair index). Each pair is fitted with the CLI's defaults; the table
gives per pair the wall seconds, the mean ΔE76 of the plain decode and of the fit, and the largest
error of the well-identified sliders (Temperature in mired, Tint, Exposure, Contrast, Saturation).
Runs on CPU, and on CUDA too when a GPU is present (or --device picks one).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from modeling.slider_fit import FitConfig, fit_sliders  # noqa: E402
from pipelines.core.seeding import keyed_rng  # noqa: E402
from rendering.sliders import PROCESS_2003  # noqa: E402
from tests.pipelines.dataset_factory import write_dng  # noqa: E402

IDENTIFIED = ("Tint", "Exposure", "Contrast", "Saturation")


def random_truth(neutral: np.ndarray, index: int) -> np.ndarray:
    """Random sliders around neutral: WB ±30 mired, Tint ±20, Exposure ±0.8, Contrast/Saturation/Vibrance."""
    spec, rng = PROCESS_2003, keyed_rng(0, "benchmark-fit", index)
    truth = neutral.copy()
    t = spec.index("Temperature")
    truth[t] = 1e6 / (1e6 / neutral[t] + rng.uniform(-30, 30))
    truth[spec.index("Tint")] += rng.uniform(-20, 20)
    truth[spec.index("Exposure")] = rng.uniform(-0.8, 0.8)
    truth[spec.index("Contrast")] = rng.uniform(-20, 50)
    truth[spec.index("Saturation")] = rng.uniform(-40, 40)
    truth[spec.index("Vibrance")] = rng.uniform(-30, 30)
    return truth


def bench(device: str, pairs: list, config: FitConfig) -> list[dict]:
    """Fit every pair on `device`; one result row per pair."""
    from rendering.renderer import CameraMatrices, render_sliders

    spec, rows = PROCESS_2003, []
    for index, photo in enumerate(pairs):
        camera = CameraMatrices.from_profiles([photo.profile], device)
        before = torch.from_numpy(np.ascontiguousarray(photo.camera_rgb, dtype=np.float32)).to(device)
        neutral = spec.neutral(*photo.profile.as_shot_white())
        truth = random_truth(neutral, index)
        with torch.no_grad():
            after = render_sliders(before[None], torch.tensor(truth[None], dtype=torch.float32, device=device),
                                   camera, spec=spec)[0]
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t = time.perf_counter()
        result = fit_sliders(before, camera, after, neutral, config, spec, rng=keyed_rng(0, "fit", index))
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t
        fitted = result.to_mapping()
        errors = {k: abs(fitted[k] - truth[spec.index(k)]) for k in IDENTIFIED}
        t_true = truth[spec.index("Temperature")]
        errors["Temp(mired)"] = abs(1e6 / fitted["Temperature"] - 1e6 / t_true)
        rows.append({"device": device, "pair": index, "h x w": f"{before.shape[1]}x{before.shape[2]}",
                     "seconds": seconds, "dE start": result.delta_e_start, "dE fit": result.delta_e, **errors})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--size", type=int, default=512, help="long side in px (default 512)")
    parser.add_argument("--restarts", type=int, default=FitConfig.restarts)
    parser.add_argument("--steps", type=int, default=FitConfig.adam_steps)
    parser.add_argument("--device", action="append", help="cpu / cuda (default: cpu, plus cuda if available)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = args.device or (["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
    from rendering.raw import load_photo

    config = FitConfig(restarts=args.restarts, adam_steps=args.steps)
    with tempfile.TemporaryDirectory() as tmp:
        photos = []
        for i in range(args.pairs):
            path = write_dng(os.path.join(tmp, f"p{i}.dng"), size=args.size, seed=i)
            photos.append(load_photo(path, long_side=args.size, name=path))
        rows = [row for device in devices for row in bench(device, photos, config)]
    cols = list(rows[0])
    print(f"slider fit, {args.restarts} restarts x {args.steps} Adam steps at {config.coarse_side} px + "
          f"<= {config.lbfgs_iterations} L-BFGS iterations at full size, torch threads "
          f"{torch.get_num_threads()}")
    print(" | ".join(f"{c:>11}" for c in cols))
    for row in rows:
        print(" | ".join(f"{row[c]:>11.3f}" if isinstance(row[c], float) else f"{row[c]!s:>11}" for c in cols))
    for device in devices:
        sel = [r for r in rows if r["device"] == device]
        print(f"{device}: mean {np.mean([r['seconds'] for r in sel]):.2f} s/pair, mean final ΔE "
              f"{np.mean([r['dE fit'] for r in sel]):.3f} (start {np.mean([r['dE start'] for r in sel]):.2f})")


if __name__ == "__main__":
    main()
