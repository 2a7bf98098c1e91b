"""`make gpu-results` on the CPU at smoke scale: the same two commands a lent GPU runs, so that the only new thing
there is the device."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from curvlib.runs.full_data import GPU_RUNS, run_config

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(not os.environ.get("CURVLIB_DATA_ROOT"), reason="needs MNIST (CURVLIB_DATA_ROOT)")
def test_gpu_results_runs_at_smoke_scale_on_the_cpu(tmp_path):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["make", "--no-print-directory", "gpu-results", "DEVICE=cpu", "SMOKE=1", f"OUT={tmp_path}", f"VENV={Path(sys.executable).parent.parent}"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    bench = json.loads((tmp_path / "benchmarks" / "curvature_throughput_cpu.json").read_text())
    assert {row["case"] for row in bench["rows"]} and all(row["max_rel_diff_float64"] < 1e-5 for row in bench["rows"])
    folder = tmp_path / "results" / "full" / "mnist-noise10-paper"
    meta = json.loads((folder / "config.json").read_text())
    smoke = run_config("mnist-noise10-paper", smoke=True)
    assert meta["config"]["model"] == GPU_RUNS["mnist-noise10-paper"].model == "preact_resnet18"
    assert meta["config"]["train"]["epochs"] == smoke.train.epochs and meta["environment"]["device"].startswith("cpu")
    scores = pd.read_csv(folder / "scores.csv.gz")
    assert len(scores) == smoke.subset and {"curvature", "curvature_h0.01", "loss_mean"} <= set(scores.columns)
    assert "confident_learning" not in scores.columns  # no room for it in the GPU's 9 minutes
    assert not list((tmp_path / "results" / "cache").rglob("checkpoint.pt"))  # finished runs keep no checkpoint
