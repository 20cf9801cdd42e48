"""Benchmark: the Beam features stage vs a bare Keras predict loop over the same images.

    python benchmarks/features.py --images 64 --batch-size 16 [--weights FILE.h5]

Both sides decode the same PNGs, use the same preprocessing (features.preprocess.vgg16_input) and
the same model (VGG-16 `fc2`, random weights unless --weights); both include model building. The
Beam side is `photoedit features` on the in-process runner with one worker
(--direct_running_mode=in_memory), or --workers N processes. Target: beam / bare <= 1.15.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipelines.core.parquet_io import write_table  # noqa: E402
from pipelines.core.schemas import VARIANTS  # noqa: E402


def make_images(root: Path, n: int, size: int) -> list[str]:
    """n random-content PNGs (size x 3/4 size) and a variants/ table listing them."""
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True, exist_ok=True)
    rows, uris = [], []
    yy, xx = np.mgrid[0:size * 3 // 4, 0:size] / size
    for i in range(n):
        base = np.stack([xx, yy, np.sin(8 * xx * yy + i)], -1) * rng.uniform(0.3, 1.0, 3)
        img = np.clip(base * 255 + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8)
        uri = str(root / "images" / f"p{i:05d}_v0.png")
        Image.fromarray(img).save(uri)
        uris.append(uri)
        rows.append(dict(image_id=f"p{i:05d}_v0", photo_id=f"p{i:05d}", variant=0, seed=0, noise=[0.0] * 11,
                         sliders=[0.0] * 11, image_uri=uri, width=img.shape[1], height=img.shape[0]))
    write_table(pa.Table.from_pylist(rows, schema=VARIANTS), str(root / "variants"))
    return uris


BARE = """
import sys, time, numpy as np
t0 = time.perf_counter()
from features.preprocess import vgg16_input
from features.vgg16 import build_fc7_model
weights, batch, uris = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
model = build_fc7_model(weights)
out = []
for s in range(0, len(uris), batch):
    x = np.stack([vgg16_input(open(u, 'rb').read()) for u in uris[s:s + batch]])
    out.append(model.predict(x, batch_size=batch, verbose=0))
feats = np.concatenate(out)
assert feats.shape == (len(uris), 4096)
print(time.perf_counter() - t0)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--size", type=int, default=512, help="long side of the test images")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--weights", default="random")
    parser.add_argument("--workers", type=int, default=1, help="Beam worker processes (1 = in_memory)")
    args = parser.parse_args()
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    project = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        uris = make_images(root, args.images, args.size)
        # bare Keras, in a fresh interpreter like the Beam run (imports + model build included)
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", BARE, args.weights, str(args.batch_size), *uris],
                       check=True, env=env, cwd=project, capture_output=True)
        bare = time.perf_counter() - t
        runner = (["--direct_running_mode=in_memory"] if args.workers == 1 else
                  ["--direct_running_mode=multi_processing", f"--direct_num_workers={args.workers}"])
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "pipelines", "features", "--dataset", tmp, "--weights",
                        args.weights, "--batch-size", str(args.batch_size), "--runner=FnApiRunner", *runner],
                       check=True, env=env, cwd=project, capture_output=True)
        beam_s = time.perf_counter() - t
    n = args.images
    print(f"features benchmark: {n} images ({args.size}px long side -> 224x224), batch {args.batch_size}, "
          f"weights={args.weights}, Beam workers={args.workers}, cpu cores={os.cpu_count()}")
    print(f"| {'path':<28} | {'wall s':>8} | {'images/s':>8} |")
    print(f"| {'-' * 28} | {'-' * 8} | {'-' * 8} |")
    print(f"| {'bare Keras predict loop':<28} | {bare:8.2f} | {n / bare:8.2f} |")
    print(f"| {'Beam features stage':<28} | {beam_s:8.2f} | {n / beam_s:8.2f} |")
    print(f"ratio beam / bare = {beam_s / bare:.3f} (target <= 1.15)")


if __name__ == "__main__":
    main()
