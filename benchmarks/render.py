"""Rendering speed: our batched slider renderer vs rawtherapee-cli, per image, on one DNG.

Decodes the fixture DNG once at --size px long side, renders --n random Camera Raw 2003 slider sets
batched on CPU (and CUDA when present), then times rawtherapee-cli rendering the same DNG to the
same size with an equivalent pp3 (exposure, contrast, saturation, resize) --rt-runs times. Prints a
table of images/s and the speed-up over rawtherapee-cli (both the best of their runs, wall clock,
measured in this one run: on a shared machine compare the ratio; with one thread also by the
rendering thread's CPU time, which waiting for a busy core does not inflate), then the CPU renderer's time per
image in each stage of rendering.renderer (torch.profiler over one more pass; the stages are the
`render.*` record_function ranges). rawtherapee-cli must decode and demosaic for every image: that
is the peer's real cost for "render many variants of one photo", our pipeline's pattern.

    python benchmarks/render.py [--dng PATH] [--n 64] [--size 512] [--batch-size 8] [--threads 1] [--repeats 3]
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from rendering.raw import load_photo
from rendering.renderer import PhotoRenderer
from rendering.sliders import PROCESS_2003

DEFAULT_DNG = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "raw" / "blackmagic_pocket4k.dng"


def random_sliders(n: int, seed: int, as_shot: tuple[float, float]) -> np.ndarray:
    """n random 2003 slider sets [n,11] in Lightroom units, white balance around as-shot."""
    rng = np.random.default_rng(seed)
    model = rng.uniform(-0.8, 0.8, (n, len(PROCESS_2003)))
    sliders = PROCESS_2003.from_model(model)
    ti = PROCESS_2003.index("Temperature")
    sliders[:, ti] = as_shot[0] * np.exp(rng.uniform(-0.3, 0.3, n))
    sliders[:, PROCESS_2003.index("Tint")] = as_shot[1] + rng.uniform(-20, 20, n)
    return PROCESS_2003.clip(sliders)


def time_ours(photo, sliders: np.ndarray, device: str, batch_size: int, repeats: int = 3) -> tuple[float, float]:
    """Best wall seconds and best seconds of this thread's CPU time of `repeats` renders of all slider sets on `device`.

    After one warm-up batch. The CPU time is steadier than the wall clock on a shared machine (with
    one torch thread it is the render's own time; it leaves out time spent waiting for a core).
    """
    renderer = PhotoRenderer(device)
    renderer.render(photo, sliders[:batch_size], batch_size=batch_size)
    best = best_cpu = float("inf")
    for _ in range(max(1, repeats)):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start, cpu = time.perf_counter(), time.thread_time()
        renderer.render(photo, sliders, batch_size=batch_size)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        best, best_cpu = min(best, time.perf_counter() - start), min(best_cpu, time.thread_time() - cpu)
    return best, best_cpu


def stage_times(photo, sliders: np.ndarray, batch_size: int) -> tuple[dict[str, float], float]:
    """Seconds per image in each `render.*` stage of one profiled CPU pass, and the pass's wall seconds per image."""
    from torch.profiler import ProfilerActivity, profile

    renderer = PhotoRenderer("cpu")
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        renderer.render(photo, sliders, batch_size=batch_size)
        wall = time.perf_counter() - start
    stages = {e.key[len("render."):]: e.cpu_time_total * 1e-6 / len(sliders)
              for e in prof.key_averages() if e.key.startswith("render.")}
    return stages, wall / len(sliders)


def pp3_text(sliders: np.ndarray, size: int) -> str:
    """A RawTherapee profile with the equivalent Exposure/Contrast/Saturation and a resize."""
    s = dict(zip(PROCESS_2003.keys, sliders))
    return "\n".join([
        "[Exposure]", "Auto=false", f"Compensation={s['Exposure']:.3f}",
        f"Contrast={int(round(s['Contrast']))}", f"Saturation={int(round(s['Saturation']))}",
        f"Black={int(round(s['Shadows'] * 20))}", f"HighlightCompr={int(round(s['HighlightRecovery']))}",
        "", "[White Balance]", "Setting=Custom", f"Temperature={int(round(s['Temperature']))}",
        f"Green={1.0 - s['Tint'] / 300.0:.3f}",
        "", "[Resize]", "Enabled=true", "Scale=1", "AppliesTo=Cropped area", "Method=Lanczos",
        "DataSpecified=3", f"Width={size}", f"Height={size}", ""])


def time_rawtherapee(dng: str, sliders: np.ndarray, size: int) -> tuple[float | None, str]:
    """Seconds per image for rawtherapee-cli (None if not installed), and a note."""
    exe = shutil.which("rawtherapee-cli")
    if exe is None:
        return None, "not installed"
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, s in enumerate(sliders):
            pp3 = os.path.join(tmp, f"{i}.pp3")
            Path(pp3).write_text(pp3_text(s, size))
            out = os.path.join(tmp, f"{i}.jpg")
            start = time.perf_counter()
            proc = subprocess.run([exe, "-o", out, "-p", pp3, "-Y", "-j90", "-c", dng],
                                  capture_output=True, text=True)
            times.append(time.perf_counter() - start)
            if proc.returncode != 0 or not os.path.exists(out):
                return None, f"failed: {proc.stderr.strip()[-200:]}"
    return float(np.min(times)), f"best of {len(times)} runs, mean {np.mean(times):.2f} s"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dng", default=str(DEFAULT_DNG))
    p.add_argument("--n", type=int, default=64, help="slider sets to render")
    p.add_argument("--size", type=int, default=512, help="long side in px")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--rt-runs", type=int, default=3, help="rawtherapee-cli images to time")
    p.add_argument("--repeats", type=int, default=3, help="timed renders of all slider sets (best counts)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    load_start = os.getloadavg()[0]

    start = time.perf_counter()
    photo = load_photo(args.dng, long_side=args.size)
    decode_s = time.perf_counter() - start
    sliders = random_sliders(args.n, args.seed, photo.profile.as_shot_white())
    h, w = photo.shape
    rows = []
    cpu_s, cpu_thread_s = time_ours(photo, sliders, "cpu", args.batch_size, args.repeats)
    rows.append((f"photoedit cpu ({args.threads} thread, batch {args.batch_size})", args.n / cpu_s, True, "wall clock"))
    if args.threads == 1:   # no ratio: rawtherapee-cli is timed by the wall clock only
        rows.append((f"photoedit cpu ({args.threads} thread, batch {args.batch_size})", args.n / cpu_thread_s, False,
                     "the thread's CPU time"))
    if torch.cuda.is_available():
        gpu_s, _ = time_ours(photo, sliders, "cuda", max(args.batch_size, 64), args.repeats)
        rows.append((f"photoedit cuda ({torch.cuda.get_device_name()}, batch {max(args.batch_size, 64)})",
                     args.n / gpu_s, True, ""))
    rt_s, note = time_rawtherapee(args.dng, sliders[:args.rt_runs], args.size)
    rows.append(("rawtherapee-cli (decode + render per image)", None if rt_s is None else 1.0 / rt_s, True, note))

    stages, profiled_s = stage_times(photo, sliders, args.batch_size)

    print(f"DNG {Path(args.dng).name}, rendered at {w}x{h}; one decode: {decode_s:.2f} s; "
          f"{args.n} slider sets; torch threads {args.threads}; best of {args.repeats}; "
          f"load average {load_start:.1f} at start, {os.getloadavg()[0]:.1f} at end ({os.cpu_count()} CPUs)")
    print(f"{'renderer':<58} {'images/s':>10} {'x rawtherapee':>14}  note")
    for name, ips, compare, note in rows:
        ratio = "" if ips is None or rt_s is None or not compare else f"{ips * rt_s:.1f}"
        shown = "n/a" if ips is None else f"{ips:.1f}"
        print(f"{name:<58} {shown:>10} {ratio:>14}  {note}")
    print(f"\nCPU stages per image (one profiled pass, {profiled_s * 1e3:.2f} ms/image wall under the profiler)")
    print(f"{'stage':<12} {'ms/image':>9} {'share':>7}")
    for name, seconds in stages.items():
        print(f"{name:<12} {seconds * 1e3:>9.2f} {seconds / profiled_s:>7.0%}")
    rest = profiled_s - sum(stages.values())
    print(f"{'other':<12} {rest * 1e3:>9.2f} {rest / profiled_s:>7.0%}  (per-batch parameters, tone curves, copies)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
