"""Training speed of every model on generated FC7-sized data: seconds per epoch, peak memory and the
share of the epoch spent slicing/moving minibatches ("data loading"), on CPU and CUDA when present.

    python benchmarks/train.py                      # 15 000 x 4096, 1 epoch per model, all models
    python benchmarks/train.py --epochs 2 --devices cpu cuda --models cgmvae mlp

Each model has `photoedit train`'s default setting (modeling.search.DEFAULTS; --hidden overrides the
width). Each (model, device) runs in its own subprocess so that peak RSS (resource.getrusage) belongs
to it. Epoch time includes the validation LL on a 1 500-edit set (early stopping; importance-sampled
for the VAEs and the LBN).
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np
import torch

sys.path.insert(0, __file__.rsplit("/benchmarks/", 1)[0])

from modeling.data import EditsData  # noqa: E402
from modeling.registry import MODELS  # noqa: E402
from modeling.search import default_kwargs  # noqa: E402
from modeling.training import TrainConfig, new_model, train  # noqa: E402


def generated_data(rows: int, dim: int, seed: int = 0) -> EditsData:
    """rows x dim float32 features, sliders from a random 3-mode mixture, 5 editors per image."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(size=(rows, dim), dtype=np.float32)
    proj = rng.normal(size=(dim, 11)).astype(np.float32) / np.sqrt(dim)
    modes = rng.uniform(-0.6, 0.6, size=(3, 11))
    y = np.tanh(x @ proj) * 0.3 + modes[rng.integers(0, 3, rows)] + 0.05 * rng.normal(size=(rows, 11))
    y = np.clip(y, -1, 1).astype(np.float32)
    image = np.arange(rows) // 5
    ids = np.array([f"i{i}" for i in image])
    editors = np.array(list("ABCDE"))[np.arange(rows) % 5]
    return EditsData(torch.from_numpy(x), torch.from_numpy(y), ids, ids, editors,
                     np.array(["expert"] * rows), np.array(["train"] * rows))


def run_one(model_name: str, device: str, rows: int, dim: int, epochs: int, batch_size: int, hidden: int) -> dict:
    """Train one model for `epochs` and return timing and memory figures."""
    t0 = time.perf_counter()
    data = generated_data(rows + 1500, dim)
    train_data = data.subset(np.arange(len(data)) < rows)
    val_data = data.subset(np.arange(len(data)) >= rows)
    train_data.users = np.arange(rows) // 50  # pseudo-users of 50 edits for the P-VAE
    val_data.users = np.arange(1500) // 50
    gen_seconds = time.perf_counter() - t0
    model = new_model(model_name, train_data, seed=0, **{**default_kwargs(model_name), "hidden": hidden})
    if device.startswith("cuda"):
        train_data, val_data = train_data.to(device), val_data.to(device)
        torch.cuda.reset_peak_memory_stats()
    result = train(model, train_data, val_data, TrainConfig(epochs=epochs, batch_size=batch_size, device=device,
                                                            progress=False, patience=100))
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    epoch_seconds = [h["seconds"] for h in result.history]
    return {
        "model": model_name, "device": device, "threads": torch.get_num_threads(),
        "seconds_per_epoch": float(np.mean(epoch_seconds)),
        "data_share": result.data_seconds / max(result.seconds, 1e-9),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_cuda_mib": torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else None,
        "generate_seconds": gen_seconds,
        "parameters": sum(p.numel() for p in model.parameters()),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=15_000)
    p.add_argument("--dim", type=int, default=4096)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--models", nargs="*", default=sorted(MODELS))
    p.add_argument("--devices", nargs="*", default=["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
    p.add_argument("--one", nargs=2, metavar=("MODEL", "DEVICE"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(args.one[0], args.one[1], args.rows, args.dim, args.epochs,
                                 args.batch_size, args.hidden)))
        return 0
    rows = []
    for device in args.devices:
        for name in args.models:
            cmd = [sys.executable, __file__, "--one", name, device, "--rows", str(args.rows), "--dim", str(args.dim),
                   "--epochs", str(args.epochs), "--batch-size", str(args.batch_size), "--hidden", str(args.hidden)]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
    print(f"training speed: {args.rows} x {args.dim} features, batch {args.batch_size}, hidden {args.hidden}, "
          f"{args.epochs} epoch(s) per model, default settings; epoch = train pass + 1500-edit validation LL")
    print("| model | device | threads | s / epoch | data loading share | peak RSS (MiB) | peak CUDA (MiB) | parameters |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        cuda = f"{r['peak_cuda_mib']:.0f}" if r["peak_cuda_mib"] is not None else "-"
        print(f"| {r['model']} | {r['device']} | {r['threads']} | {r['seconds_per_epoch']:.2f} | "
              f"{100 * r['data_share']:.1f} % | {r['peak_rss_mib']:.0f} | {cuda} | {r['parameters']:,} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
