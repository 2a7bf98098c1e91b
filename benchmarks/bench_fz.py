"""Feldman–Zhang ensemble training: models per second, vectorised (torch.func) vs one model at a time.

Two configurations: the quick configuration of the book's FZ chapter (MLP 784-512-256-10, 10 epochs,
batch 128, 70% of a 1,000-image MNIST subset), whose matrix products keep 2 CPU cores busy either way,
and a small MLP on the 8×8 digits (64-64-32-10), where per-model Python and kernel-launch overhead
dominates and vectorising pays most. Prints models/s and speed-ups; writes
benchmarks/results/fz_ensemble_<device>.json.
"""
from __future__ import annotations

import json
import sys
import time
from dataclasses import replace
from pathlib import Path

from curvlib.memorization import subset_membership, train_ensemble
from curvlib.pipeline import PRESETS, model_factory, prepare_data
from curvlib.results import atomic_write, environment_info
from curvlib.runs.feldman_zhang import FZConfig


def ensemble_speed(make, data, train, fraction: float, device: str, *, loop_models: int) -> dict[str, float]:
    """Models per second training 25 models as one vectorised ensemble and ``loop_models`` one at a time,
    each on a random ``fraction`` of ``data`` with the recipe ``train``; and the speed-up."""
    timing = {}
    for vectorize, k in ((True, 25), (False, loop_models)):
        membership = subset_membership(len(data), k, fraction, seed=0)
        tic = time.perf_counter()
        train_ensemble(make, data, membership, train, seed=0, device=device, vectorize=vectorize)
        timing[vectorize] = k / (time.perf_counter() - tic)
    return {"vectorized_models_per_s": timing[True], "loop_models_per_s": timing[False], "speedup": timing[True] / timing[False]}


def main() -> None:
    device = sys.argv[1] if len(sys.argv) > 1 else "cpu"
    mnist = FZConfig(replace(PRESETS["mnist_quick"], subset=1000, noise=0.0))
    digits = FZConfig(replace(PRESETS["digits_quick"], noise=0.0), width=64)
    rows = []
    for name, config in (("MNIST 1,000, MLP 784-512-256-10 (FZ recipe)", mnist), ("digits 1,347, MLP 64-64-32-10", digits)):
        data, _ = prepare_data(config.data)
        make = model_factory(replace(config.data, model=config.model, width=config.width), data)
        rows.append({"case": name, **ensemble_speed(make, data, config.train, config.fraction, device, loop_models=4)})
    print(f"FZ ensemble training, {mnist.train.epochs} epochs per model, device {device}")
    for r in rows:
        print(f"  {r['case']:45s} vectorised {r['vectorized_models_per_s']:7.2f} models/s, "
              f"one at a time {r['loop_models_per_s']:6.2f} models/s: {r['speedup']:.2f}x")
    out = Path(__file__).parent / "results" / f"fz_ensemble_{device.split(':')[0]}.json"
    payload = {"benchmark": "fz_ensemble", "rows": rows, "environment": environment_info(device)}
    atomic_write(out, lambda tmp: Path(tmp).write_text(json.dumps(payload, indent=2) + "\n"))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
