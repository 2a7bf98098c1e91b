"""The command line's defaults on all 60,000 MNIST training images, as a new user runs them: time and memory.

Writes MNIST's training split with its original labels as an .npz, runs ``curvlib score --data that.npz`` (the
shipped ``--preset default``) in a subprocess, and records the wall time, the peak resident memory (polled), the
training and scoring seconds of every epoch (from the run's history) and the progress lines the command printed.
The same on a 10,000-image subset shows whether memory grows with N. Writes
benchmarks/results/default_60k_<device>.json.

    python benchmarks/bench_default_60k.py [--sizes 10000 60000]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil

from curvlib.data import read_idx, resolve_data_root
from curvlib.pipeline import PRESETS
from curvlib.results import atomic_write, environment_info


def run_cli(npz: Path, out: Path) -> dict:
    """Run ``curvlib score --data npz --out out`` and return wall seconds, peak RSS (MiB) and its stderr lines."""
    command = [sys.executable, "-m", "curvlib", "score", "--data", str(npz), "--out", str(out)]
    tic, peak = time.perf_counter(), 0
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        watched = psutil.Process(process.pid)
        while process.poll() is None:
            try:
                peak = max(peak, watched.memory_info().rss)
            except psutil.NoSuchProcess:
                break
            time.sleep(0.5)
        stdout, stderr = process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"curvlib score failed ({process.returncode}): {stderr[-2000:]}")
    return {"wall_seconds": time.perf_counter() - tic, "peak_rss_mib": peak / 2**20, "stdout": stdout.splitlines(),
            "progress_lines": [line for line in stderr.splitlines() if " epoch " in line]}  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 60_000])
    parser.add_argument("--data-root", default=None)
    args = parser.parse_args(argv)
    raw = resolve_data_root(args.data_root) / "MNIST" / "raw"
    images, labels = read_idx(raw / "train-images-idx3-ubyte"), read_idx(raw / "train-labels-idx1-ubyte")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            npz = Path(tmp) / f"mnist_{size}.npz"
            np.savez(npz, x=images[:size], y=labels[:size])
            result = run_cli(npz, Path(tmp) / f"out_{size}")
            history = pd.read_csv(Path(tmp) / f"out_{size}" / "history.csv")
            config = json.loads((Path(tmp) / f"out_{size}" / "config.json").read_text())
            rows.append({"samples": size, **{k: v for k, v in result.items() if k != "stdout"},
                         "seconds_train": history.seconds_train.tolist(), "seconds_score": history.seconds_score.tolist(),
                         "model": config["config"]["model"], "train": config["config"]["train"], "printed": result["stdout"]})  # fmt: skip
            print(f"{size:6d} images: {result['wall_seconds'] / 60:5.1f} min, peak {result['peak_rss_mib']:6.0f} MiB; "
                  f"training {sum(history.seconds_train):.0f} s, evaluation and scoring {sum(history.seconds_score):.0f} s", flush=True)
    out = Path(__file__).parent / "results" / "default_60k_cpu.json"
    payload = {"benchmark": "default_60k", "preset": PRESETS["default"].as_dict(), "rows": rows, "environment": environment_info("cpu")}
    atomic_write(out, lambda tmp: Path(tmp).write_text(json.dumps(payload, indent=2) + "\n"))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
