"""Scoring throughput: curvlib's n+1-pass estimator vs a literal implementation of the authors' algorithm.

Same model, same probes, n = 10, float32; prints a table and writes JSON with environment info to
benchmarks/results/. Also reports the floor (n + 1) × (one forward + input-gradient pass over the
batch) on the same device, and checks that both implementations agree to 1e-5 relative in float64.
The two implementations are timed in alternation (ours, theirs, ours, …) and each keeps its best
time, so both see the same allocator and CPU-frequency conditions. Run: make bench (CPU), or
``python benchmarks/bench_curvature.py --device cuda`` (make gpu-results), which adds the paper's widths and
writes curvature_throughput_cuda.json.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from curvlib.curvature import input_loss_curvature_with_trace
from curvlib.models import cifar_resnet18, preact_resnet18, small_cnn
from curvlib.reference import paper_algorithm_curvature
from curvlib.results import atomic_write, environment_info

CASES = [
    ("small_cnn w16, MNIST 1x28x28", lambda: small_cnn(10, 1, 16), (1, 28, 28), 128),
    ("preact_resnet18 w8, MNIST 1x28x28", lambda: preact_resnet18(10, 1, 8), (1, 28, 28), 64),
    ("cifar_resnet18 w8, CIFAR 3x32x32", lambda: cifar_resnet18(10, 3, 8), (3, 32, 32), 64),
]
GPU_CASES = [  # the paper's widths and batches
    ("preact_resnet18 w64, MNIST 1x28x28", lambda: preact_resnet18(10, 1, 64), (1, 28, 28), 512),
    ("cifar_resnet18 w64, CIFAR 3x32x32", lambda: cifar_resnet18(10, 3, 64), (3, 32, 32), 256),
]
N_PROBES = 10


def best_times(*fns, repeats: int, device: torch.device) -> list[float]:
    """Best wall time of each function over ``repeats`` rounds, the functions alternating within a round (CUDA is
    synchronised before and after each call)."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for fn in fns:
        fn()  # warm-up
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            sync()
            tic = time.perf_counter()
            fn()
            sync()
            best[i] = min(best[i], time.perf_counter() - tic)
    return best


def one_gradient_pass(model, x, y) -> None:
    """One forward and one input-gradient pass (channels-last images, as the estimator uses): the unit of
    which the estimator needs n + 1."""
    xg = (x.to(memory_format=torch.channels_last) if x.dim() == 4 else x).detach().requires_grad_(True)
    torch.autograd.grad(torch.nn.functional.cross_entropy(model(xg), y, reduction="sum"), xg)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda (cuda adds the paper's widths)")
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds per case (best kept)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results", help="folder of curvature_throughput_<device>.json")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    rows = []
    for name, make, shape, batch in CASES + (GPU_CASES if device.type == "cuda" else []):
        torch.manual_seed(0)
        model = make().eval().to(device)
        x = torch.randn(batch, *shape, device=device)
        y = torch.randint(0, 10, (batch,), device=device)
        probes = (torch.randint(0, 2, (N_PROBES, batch, *shape), dtype=torch.int8) * 2 - 1).to(device)
        ours, paper, one_pass = best_times(
            lambda: input_loss_curvature_with_trace(model, x, y, probes=probes),
            lambda: paper_algorithm_curvature(model, x, y, probes),
            lambda: one_gradient_pass(model, x, y),
            repeats=args.repeats, device=device,
        )  # fmt: skip
        floor = (N_PROBES + 1) * one_pass
        m64, x64 = model.double(), x.double()
        a = input_loss_curvature_with_trace(m64, x64, y, probes=probes).curvature
        b = paper_algorithm_curvature(m64, x64, y, probes).curvature
        rel = float(((a - b).abs() / b.abs()).max())
        rows.append({"case": name, "batch": batch, "n_probes": N_PROBES, "curvlib_samples_per_s": batch / ours,
                     "paper_samples_per_s": batch / paper, "speedup": paper / ours, "times_floor": ours / floor, "max_rel_diff_float64": rel})
    print(f"{'case':36s} {'batch':>5s} {'curvlib/s':>10s} {'paper/s':>9s} {'speedup':>8s} {'x floor':>8s} {'rel diff f64':>12s}")
    for r in rows:
        print(f"{r['case']:36s} {r['batch']:5d} {r['curvlib_samples_per_s']:10.1f} {r['paper_samples_per_s']:9.1f} "
              f"{r['speedup']:7.2f}x {r['times_floor']:7.2f}x {r['max_rel_diff_float64']:12.2e}")
    out = args.out / f"curvature_throughput_{device.type}.json"
    payload = {"benchmark": "curvature_throughput", "rows": rows, "environment": environment_info(device)}
    atomic_write(out, lambda tmp: Path(tmp).write_text(json.dumps(payload, indent=2) + "\n"))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
