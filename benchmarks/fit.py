"""Benchmark: slider fitting (modeling.slider_fit) — seconds per pair, final ΔE, slider errors, pinned sliders.

    python benchmarks/fit.py --pairs 3 --size 256 [--source dng|synthetic] [--device cuda] [--restarts 4]
                             [--steps 30] [--refine-steps 6] [--prior-weight 0.02] [--threads 1]

Generated pairs with known answers: BEFORE is the Blackmagic fixture DNG (--source dng, default) or
a pidng DNG of smooth random content (tests/pipelines/dataset_factory.py, --source synthetic, a new
one per pair), decoded at long side --size; AFTER is the same photo rendered with a moderate
expert-like edit of all 11 sliders, drawn (keyed by pair index) from the built-in FiveK-like prior
within ±1.5 sigma. Each pair is fitted with the CLI's defaults (MAP under the built-in prior); the
table gives per pair the wall seconds (and the fitting thread's CPU seconds, steadier on a shared
machine with --threads 1), the mean ΔE76 of the plain decode and of the fit, the
sliders left at a range end, and the error of every slider (Temperature in mired, the others in
Lightroom units). Runs on CPU, and on CUDA too when a GPU is present (or --device picks one).
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

from modeling.slider_fit import FitConfig, builtin_prior, fit_sliders  # noqa: E402
from pipelines.core.seeding import keyed_rng  # noqa: E402
from rendering.sliders import PROCESS_2003  # noqa: E402
from tests.pipelines.dataset_factory import write_dng  # noqa: E402

DNG = PROJECT.parent / "shared" / "fixtures" / "raw" / "blackmagic_pocket4k.dng"
SIGMAS = 1.5   # truths are drawn within this many prior standard deviations of its centre


def expert_like_truth(neutral: np.ndarray, index: int) -> np.ndarray:
    """A moderate expert-like edit [11] (Lightroom units): the built-in prior's centre + U(±1.5 sigma), in range."""
    spec, rng = PROCESS_2003, keyed_rng(0, "benchmark-fit", index)
    prior = builtin_prior(spec)
    model = prior.centre(spec.to_model(neutral)) + prior.std * rng.uniform(-SIGMAS, SIGMAS, len(spec))
    return spec.clip(spec.from_model(np.clip(model, -0.98, 0.98)))


def bench(device: str, photos: list, config: FitConfig) -> list[dict]:
    """Fit every pair on `device`; one result row per pair."""
    from rendering.renderer import CameraMatrices, render_sliders

    spec, rows = PROCESS_2003, []
    for index, photo in enumerate(photos):
        camera = CameraMatrices.from_profiles([photo.profile], device)
        before = torch.from_numpy(np.ascontiguousarray(photo.camera_rgb, dtype=np.float32)).to(device)
        neutral = spec.neutral(*photo.profile.as_shot_white())
        truth = expert_like_truth(neutral, index)
        with torch.no_grad():
            after = render_sliders(before[None], torch.tensor(truth[None], dtype=torch.float32, device=device),
                                   camera, spec=spec)[0]
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t, cpu = time.perf_counter(), time.thread_time()
        result = fit_sliders(before, camera, after, neutral, config, spec, rng=keyed_rng(0, "fit", index))
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds, cpu = time.perf_counter() - t, time.thread_time() - cpu
        fitted = result.to_mapping()
        errors = {k: abs(fitted[k] - truth[spec.index(k)]) for k in spec.keys if k != "Temperature"}
        t_true = truth[spec.index("Temperature")]
        errors = {"Temp(mired)": abs(1e6 / fitted["Temperature"] - 1e6 / t_true), **errors}
        rows.append({"device": device, "pair": index, "h x w": f"{before.shape[1]}x{before.shape[2]}",
                     "seconds": seconds, "thread s": cpu, "dE start": result.delta_e_start, "dE fit": result.delta_e,
                     "pinned": len(result.pinned), **errors})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--size", type=int, default=256, help="long side in px (default 256, the CLI's)")
    parser.add_argument("--source", choices=("dng", "synthetic"), default="dng")
    parser.add_argument("--restarts", type=int, default=FitConfig.restarts)
    parser.add_argument("--steps", type=int, default=FitConfig.coarse_iterations,
                        help="Levenberg-Marquardt iterations of the restarts on the coarse copy")
    parser.add_argument("--refine-steps", type=int, default=FitConfig.refine_iterations,
                        help="LM iterations of the best restart at each refining size")
    parser.add_argument("--prior-weight", type=float, default=FitConfig.prior_weight)
    parser.add_argument("--device", action="append", help="cpu / cuda (default: cpu, plus cuda if available)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = args.device or (["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
    from rendering.raw import load_photo

    config = FitConfig(restarts=args.restarts, coarse_iterations=args.steps, refine_iterations=args.refine_steps,
                       prior_weight=args.prior_weight)
    with tempfile.TemporaryDirectory() as tmp:
        paths = ([str(DNG)] * args.pairs if args.source == "dng" else
                 [write_dng(os.path.join(tmp, f"p{i}.dng"), size=args.size, seed=i) for i in range(args.pairs)])
        photos = [load_photo(path, long_side=args.size, name=path) for path in paths]
        rows = [row for device in devices for row in bench(device, photos, config)]
    cols = list(rows[0])
    print(f"slider fit ({args.source}), {args.restarts} restarts x <= {args.steps} Levenberg-Marquardt iterations at "
          f"{config.coarse_side} px, then <= {config.refine_iterations} at {config.refine_side} px, each doubling and "
          f"full size; prior weight {config.prior_weight:g} (built-in FiveK-like), torch threads "
          f"{torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f}")
    print(" | ".join(f"{c[:11]:>11}" for c in cols))
    for row in rows:
        print(" | ".join(f"{row[c]:>11.3f}" if isinstance(row[c], float) else f"{row[c]!s:>11}" for c in cols))
    for device in devices:
        sel = [r for r in rows if r["device"] == device]
        print(f"{device}: mean {np.mean([r['seconds'] for r in sel]):.2f} s/pair (this thread's CPU time "
              f"{np.mean([r['thread s'] for r in sel]):.2f} s), mean final ΔE "
              f"{np.mean([r['dE fit'] for r in sel]):.3f} (start {np.mean([r['dE start'] for r in sel]):.2f}), "
              f"{sum(r['pinned'] > 0 for r in sel)} pairs with a pinned slider")


if __name__ == "__main__":
    main()
