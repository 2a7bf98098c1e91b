"""`make gpu-job`: one run per GPU job, sized to fit it, run on the CPU at smoke scale from a copy of the checkout
without .git (as the GPU machine gets it), with the interpreter it is given and no install step."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from curvlib.runs import full_data
from curvlib.runs.full_data import GPU_CL_RUNS, GPU_JOB_LIMIT_S, GPU_RUNS, estimate_seconds, run_config

ROOT = Path(__file__).resolve().parent.parent
needs_mnist = pytest.mark.skipif(not os.environ.get("CURVLIB_DATA_ROOT"), reason="needs MNIST (CURVLIB_DATA_ROOT)")


def test_every_gpu_run_fits_one_job_and_scores_what_it_says():
    for name in [*GPU_RUNS, *GPU_CL_RUNS]:
        assert estimate_seconds(name) <= GPU_JOB_LIMIT_S, name
    train = GPU_RUNS["mnist-noise10-paper"].train
    assert train.epochs == 30 and train.milestones == (12, 24) and train.h == 1e-3 and train.weight_decay == 1e-4
    assert train.scored_mask().sum() == 5 and train.scored_mask()[[12, 24, 29]].all()  # after each drop, and the last
    assert [train.scored_test(e) for e in range(30)] == [False] * 29 + [True]
    with pytest.raises(ValueError, match="no measured H200 rate"):
        estimate_seconds("mnist-noise10")


def _copy_without_git(target: Path) -> Path:
    target.mkdir()
    for part in ("curvlib", "benchmarks", "Makefile", "pyproject.toml"):
        (shutil.copytree if (ROOT / part).is_dir() else shutil.copy)(ROOT / part, target / part)
    return target


def _job(copy: Path, out: Path, run: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "--no-print-directory", "gpu-job", f"RUN={run}", f"PY={sys.executable}", "DEVICE=cpu", "SMOKE=1", f"OUT={out}", "COMMIT=0123abcd"],
        cwd=copy, capture_output=True, text=True, timeout=900, env={**os.environ, "TMPDIR": str(copy)},
    )  # fmt: skip


def _layout_ok(out: Path, name: str) -> list[Path]:
    files = [p for p in out.rglob("*") if p.is_file()]
    assert files and all(p.parent == out / name for p in files), files  # nothing deeper than OUT/<name>/<file>
    assert len(files) <= 8 and all(p.stat().st_size < 16 * 2**20 for p in files)
    return files


@needs_mnist
def test_gpu_job_runs_a_paper_run_at_smoke_scale_from_a_copy_without_git(tmp_path, monkeypatch):
    copy, out = _copy_without_git(tmp_path / "copy"), tmp_path / "out"
    done = _job(copy, out, "mnist-noise10-paper")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"mnist-noise10-paper: estimated {estimate_seconds('mnist-noise10-paper'):.0f} s on an H200" in done.stdout
    files = _layout_ok(out, "mnist-noise10-paper")
    assert sorted(p.name for p in files) == ["config.json", "epochs.csv", "scores.csv.gz", "test.csv.gz"]
    meta = json.loads((out / "mnist-noise10-paper" / "config.json").read_text())
    assert meta["environment"]["git_commit"] == "0123abcd" and meta["environment"]["device"].startswith("cpu")  # not a repository above
    assert meta["environment"]["torch"] and meta["wall_seconds"]["training"] > 0
    smoke = run_config("mnist-noise10-paper", smoke=True)
    scores, test = pd.read_csv(out / "mnist-noise10-paper" / "scores.csv.gz"), pd.read_csv(out / "mnist-noise10-paper" / "test.csv.gz")
    assert len(scores) == smoke.subset and scores.curvature.notna().all() and test.curvature.notna().all()
    # its confident learning, a job of its own, merged when the run is read back
    done = _job(copy, out, "mnist-noise10-paper-cl")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert sorted(p.name for p in (out / "mnist-noise10-paper-cl").iterdir()) == ["confident_learning.csv.gz", "config.json"]
    monkeypatch.setitem(full_data.GPU_RUNS, "mnist-noise10-paper", smoke)  # read back at smoke scale
    run = full_data.load_full_data("mnist-noise10-paper", out)
    assert run.scores.confident_learning.notna().all() and len(run.scores) == smoke.subset


@needs_mnist
def test_gpu_job_benchmark_rows_carry_their_precision_and_the_product_time(tmp_path):
    copy, out = _copy_without_git(tmp_path / "copy"), tmp_path / "out"
    done = _job(copy, out, "benchmark")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    _layout_ok(out, "benchmark")
    bench = json.loads((out / "benchmark" / "curvature_throughput_cpu.json").read_text())
    assert {row["precision"] for row in bench["rows"]} == {"float32, TF32 off"}  # the TF32 rows need a GPU
    assert all(row["max_rel_diff_float64"] < 1e-5 and row["curvlib_pearson_vs_float64"] > 0.99 for row in bench["rows"])
    assert bench["product"]["exit_status"] == 0 and bench["product"]["wall_seconds"] > 0 and "--device cpu" in bench["product"]["command"]
    assert bench["environment"]["git_commit"] == "0123abcd"


def test_the_readme_states_the_estimate_the_code_gives():
    import re

    found = re.search(r"--estimate (\S+) +# prints \"estimated (\d+) s on an H200\"", (ROOT / "README.md").read_text())
    assert found and int(found.group(2)) == round(estimate_seconds(found.group(1)))
