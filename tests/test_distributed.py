"""A 2-process gloo run under torchrun equals the single-process run (same seed) within float tolerance."""
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

ARGS = ["score", "--preset", "digits_quick", "--subset", "400", "--epochs", "3", "--probes", "3", "--noise", "0.1", "--seed", "1"]


def _run(cmd, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout


@pytest.mark.skipif(sys.platform != "linux", reason="torchrun test runs on Linux CI")
def test_torchrun_two_ranks_match_single_process(tmp_path):
    _run([sys.executable, "-m", "curvlib", *ARGS, "--out", str(tmp_path / "single")], tmp_path)
    stdout = _run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "curvlib", *ARGS,
         "--out", str(tmp_path / "ddp")], tmp_path,
    )  # fmt: skip
    assert stdout.count("AUROC of aum") == 1  # only rank 0 reports and writes
    single = pd.read_csv(tmp_path / "single" / "scores.csv")
    ddp = pd.read_csv(tmp_path / "ddp" / "scores.csv")
    np.testing.assert_array_equal(single["index"], ddp["index"])
    np.testing.assert_array_equal(single["label"], ddp["label"])
    for column in ("curvature", "loss_mean", "grad_norm", "aum"):
        np.testing.assert_allclose(ddp[column], single[column], rtol=1e-4, atol=1e-6, err_msg=column)


FZ_SCRIPT = """
import sys, numpy as np, torch
from curvlib.data import load_digits
from curvlib.distributed import init_from_env, rank_and_world
from curvlib.memorization import feldman_zhang
from curvlib.models import mlp
from curvlib.training import TrainConfig
init_from_env("cpu")
data = load_digits(train=True).select(np.arange(300))
fz = feldman_zhang(data, lambda: mlp(64, 10, hidden=(32,)), TrainConfig(epochs=3, batch_size=50, score_every=0),
                   n_models=5, group_size=2, seed=0)
if rank_and_world()[0] == 0:
    np.savez(sys.argv[1], membership=fz.membership, correct=fz.correct)
"""


def test_torchrun_splits_feldman_zhang_models_across_ranks(tmp_path):
    script = tmp_path / "fz.py"
    script.write_text(FZ_SCRIPT)
    _run([sys.executable, str(script), str(tmp_path / "single.npz")], tmp_path)
    _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script),
          str(tmp_path / "ddp.npz")], tmp_path)  # fmt: skip
    single, ddp = np.load(tmp_path / "single.npz"), np.load(tmp_path / "ddp.npz")
    assert single["membership"].shape == (5, 300)
    np.testing.assert_array_equal(ddp["membership"], single["membership"])  # groups gathered in order
    np.testing.assert_array_equal(ddp["correct"], single["correct"])  # each group trained identically
