"""Feldman–Zhang ensemble training: models per second, vectorised (torch.func) vs one model at a time.

The quick configuration of the book's FZ chapter (MLP 784-512-256-10, 10 epochs, batch 128, 70% of a
1,000-image MNIST subset). Prints models/s for both and the speed-up, and writes
benchmarks/results/fz_ensemble_<device>.json.
"""
from __future__ import annotations

import json
import sys
import time
from dataclasses import replace
from pathlib import Path

from curvlib.experiments import PRESETS, FZConfig, model_factory, prepare_data
from curvlib.memorization import subset_membership, train_ensemble
from curvlib.results import atomic_write, environment_info


def main() -> None:
    device = sys.argv[1] if len(sys.argv) > 1 else "cpu"
    config = FZConfig(replace(PRESETS["mnist_quick"], subset=1000, noise=0.0))
    data, _ = prepare_data(config.data)
    make = model_factory(replace(config.data, model=config.model, width=config.width), data)
    rows = []
    for vectorize, k in ((True, 25), (False, 4)):
        membership = subset_membership(len(data), k, config.fraction, seed=0)
        tic = time.perf_counter()
        train_ensemble(make, data, membership, config.train, seed=0, device=device, vectorize=vectorize)
        seconds = time.perf_counter() - tic
        rows.append({"vectorized": vectorize, "models": k, "seconds": seconds, "models_per_s": k / seconds})
    speedup = rows[0]["models_per_s"] / rows[1]["models_per_s"]
    print(f"FZ ensemble, MLP 784-512-256-10, 10 epochs on 700 MNIST images, device {device}")
    for r in rows:
        print(f"  {'vectorised' if r['vectorized'] else 'one at a time':14s} {r['models']:3d} models in {r['seconds']:6.1f} s: {r['models_per_s']:.3f} models/s")
    print(f"  speed-up {speedup:.2f}x")
    out = Path(__file__).parent / "results" / f"fz_ensemble_{device.split(':')[0]}.json"
    payload = {"benchmark": "fz_ensemble", "rows": rows, "speedup": speedup, "environment": environment_info(device)}
    atomic_write(out, lambda tmp: Path(tmp).write_text(json.dumps(payload, indent=2) + "\n"))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
