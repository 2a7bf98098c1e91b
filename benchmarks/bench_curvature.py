"""Scoring throughput: curvlib's n+1-pass estimator vs a literal implementation of the authors' algorithm, like with like.

Same model, same probes, n = 10; prints a table and writes JSON with environment info to benchmarks/results/. Every
row says its precision. The first row of each case times curvlib, the authors' algorithm and the floor (n + 1) × (one
forward + input-gradient pass over the batch) all in exact float32 (TF32 off, as curvlib always scores); on a GPU a
second row times the authors' algorithm and the floor with TF32 allowed (PyTorch's default for convolutions), which
is faster and wrong by up to 18% at h = 1e-3 (../shared/docs/gpu-notes.md), and a third times curvlib with cuDNN's
algorithm search (``torch.backends.cudnn.benchmark``). Each row gives the error of its curvature against float64
(max relative error, Pearson), and both implementations must agree to 1e-5 relative in float64. The methods are timed
in alternation (ours, theirs, floor, ours, …), each keeping its best time, so all see the same allocator and clock.

``--product`` also times what a user with a GPU runs first: ``curvlib score --dataset mnist --subset 10000 --device
DEVICE`` with every default, its wall time and fitted share going into the same JSON. Run: make bench (CPU), or
``make gpu-job RUN=benchmark`` (a GPU: adds the paper's widths and writes curvature_throughput_cuda.json).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
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


@contextlib.contextmanager
def precision(tf32: bool, cudnn_benchmark: bool = False):
    """TF32 for matmuls and cuDNN convolutions allowed or not, and cuDNN's algorithm search on or off, restored on exit."""
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = cudnn_benchmark
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark = saved


def errors(values: torch.Tensor, exact: torch.Tensor) -> dict:
    """Max relative error and Pearson correlation of curvature ``values`` against the float64 ones."""
    v, e = values.double().cpu(), exact.double().cpu()
    return {"max_rel_err_vs_float64": float(((v - e).abs() / e.abs()).max()), "pearson_vs_float64": float(torch.corrcoef(torch.stack([v, e]))[0, 1])}


def time_product(device: str, smoke: bool) -> dict:
    """Wall time of ``curvlib score`` with every default on 10,000 MNIST training images (300 and 2 epochs at smoke
    scale) on ``device``, and the share of labels it fitted."""
    from curvlib.cli import main as cli

    args = ["score", "--dataset", "mnist", "--subset", "300" if smoke else "10000", "--device", device]
    with tempfile.TemporaryDirectory() as tmp:
        tic = time.perf_counter()
        status = cli([*args, *(["--epochs", "2"] if smoke else []), "--out", f"{tmp}/run"])
        seconds = time.perf_counter() - tic
        fitted = json.loads(Path(f"{tmp}/run/config.json").read_text())["memorization_check"]["fitted"] if status == 0 else None
    return {"command": "curvlib " + " ".join(args), "exit_status": status, "wall_seconds": seconds, "fitted": fitted}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda (cuda adds the paper's widths and the TF32 rows)")
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds per case (best kept)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results", help="folder of curvature_throughput_<device>.json")
    parser.add_argument("--product", action="store_true", help="also time `curvlib score` on 10,000 MNIST images")
    parser.add_argument("--smoke", action="store_true", help="one timed round and a tiny product run (tests the code path)")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    repeats = 1 if args.smoke else args.repeats
    rows = []
    for name, make, shape, batch in CASES + (GPU_CASES if device.type == "cuda" else []):
        torch.manual_seed(0)
        model = make().eval().to(device)
        x = torch.randn(batch, *shape, device=device)
        y = torch.randint(0, 10, (batch,), device=device)
        probes = (torch.randint(0, 2, (N_PROBES, batch, *shape), dtype=torch.int8) * 2 - 1).to(device)
        m64 = make().eval().to(device).double()
        m64.load_state_dict(model.state_dict())
        exact = input_loss_curvature_with_trace(m64, x.double(), y, probes=probes).curvature
        agree = float(((exact - paper_algorithm_curvature(m64, x.double(), y, probes).curvature).abs() / exact.abs()).max())
        settings = [("float32, TF32 off", False, False)]
        if device.type == "cuda":
            settings += [("TF32 allowed", True, False), ("float32, TF32 off, cudnn.benchmark", False, True)]
        for label, tf32, search in settings:
            with precision(tf32, search):
                ours, paper, one_pass = best_times(
                    lambda: input_loss_curvature_with_trace(model, x, y, probes=probes),
                    lambda: paper_algorithm_curvature(model, x, y, probes),
                    lambda: one_gradient_pass(model, x, y),
                    repeats=repeats, device=device,
                )  # fmt: skip
                ours_err = errors(input_loss_curvature_with_trace(model, x, y, probes=probes).curvature, exact)
                paper_err = errors(paper_algorithm_curvature(model, x, y, probes).curvature, exact)
            floor = (N_PROBES + 1) * one_pass
            rows.append({
                "case": name, "batch": batch, "n_probes": N_PROBES, "precision": label,
                # curvlib turns TF32 off itself, so under "TF32 allowed" it computes (and is timed at) exact float32
                "curvlib_samples_per_s": batch / ours, "paper_samples_per_s": batch / paper, "floor_samples_per_s": batch / floor,
                "speedup": paper / ours, "times_floor": ours / floor, "max_rel_diff_float64": agree,
                "curvlib_max_rel_err_vs_float64": ours_err["max_rel_err_vs_float64"], "curvlib_pearson_vs_float64": ours_err["pearson_vs_float64"],
                "paper_max_rel_err_vs_float64": paper_err["max_rel_err_vs_float64"], "paper_pearson_vs_float64": paper_err["pearson_vs_float64"],
            })  # fmt: skip
    print(f"{'case':36s} {'precision':34s} {'batch':>5s} {'curvlib/s':>10s} {'paper/s':>9s} {'speedup':>8s} {'x floor':>8s} {'paper err':>10s}")
    for r in rows:
        print(f"{r['case']:36s} {r['precision']:34s} {r['batch']:5d} {r['curvlib_samples_per_s']:10.1f} {r['paper_samples_per_s']:9.1f} "
              f"{r['speedup']:7.2f}x {r['times_floor']:7.2f}x {r['paper_max_rel_err_vs_float64']:10.2e}")
    payload = {"benchmark": "curvature_throughput", "rows": rows, "environment": environment_info(device)}
    if args.product:
        payload["product"] = time_product(args.device, args.smoke)
        print(f"{payload['product']['command']}: {payload['product']['wall_seconds']:.0f} s, fitted {payload['product']['fitted']}")
    out = args.out / f"curvature_throughput_{device.type}.json"
    atomic_write(out, lambda tmp: Path(tmp).write_text(json.dumps(payload, indent=2) + "\n"))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
