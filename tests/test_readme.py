"""The README's own-data examples run as written, on small data this test writes where they expect it."""
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.datasets import load_digits

README = Path(__file__).resolve().parent.parent / "README.md"


def examples() -> dict[str, tuple[str, str]]:
    """{name: (language, code)} of the blocks marked ``<!-- example: name -->`` in the README."""
    found = re.findall(r"<!-- example: (\w+) -->\n```(\w+)\n(.*?)```", README.read_text(), flags=re.S)
    return {name: (lang, code) for name, lang, code in found}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """my_images/<class>/*.png (3 digit classes, 40 images each) and my_data.npz (300 digits)."""
    root = tmp_path_factory.mktemp("readme")
    d = load_digits()
    images = (d.images * 255 / 16).astype(np.uint8)
    for name, digit in (("zero", 0), ("one", 1), ("seven", 7)):
        (root / "my_images" / name).mkdir(parents=True)
        for i, pos in enumerate(np.flatnonzero(d.target == digit)[:40]):
            Image.fromarray(images[pos]).resize((16, 16)).save(root / "my_images" / name / f"{i:03d}.png")
    np.savez(root / "my_data.npz", x=images[:300], y=d.target[:300])
    return root


def run_block(lang: str, code: str, cwd: Path) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    command = ["bash", "-euo", "pipefail", "-c", code] if lang == "bash" else [sys.executable, "-c", code]
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr


def test_readme_has_the_three_examples():
    assert {name: lang for name, (lang, _) in examples().items()} == {"folder": "bash", "npz": "bash", "python": "python"}


@pytest.mark.parametrize("name", ["folder", "npz", "python"])
def test_readme_example_runs(name, workdir):
    lang, code = examples()[name]
    run_block(lang, code, workdir)
    out = {"folder": "runs/my_images", "npz": "runs/my_data", "python": "runs/my_images_py"}[name]
    scores = pd.read_csv(workdir / out / "scores.csv")
    assert len(scores) == (300 if name == "npz" else 120) and scores["index"].is_unique
    assert (workdir / out / "report.html").exists() or name == "python"
    if name == "npz":  # the second command re-ranked the same run by curvature
        assert "Suspects by curvature" in (workdir / out / "report.html").read_text()
        assert pd.read_csv(workdir / out / "suspects.csv").curvature.is_monotonic_decreasing  # report --score re-ranked suspects.csv


def test_readme_figures_of_the_60k_benchmark_are_the_committed_ones():
    """The README's time and memory for all 60,000 MNIST images are those of benchmarks/results/default_60k_cpu.json."""
    import json

    bench = json.loads((README.parent / "benchmarks" / "results" / "default_60k_cpu.json").read_text())
    row = next(r for r in bench["rows"] if r["samples"] == 60_000)
    found = re.search(r"all 60,000 MNIST training images in ([\d.]+) minutes on 2 CPU cores \(peak memory ([\d.]+) GiB", README.read_text())
    assert found, "the README states the 60k benchmark's time and memory"
    assert float(found.group(1)) == round(row["wall_seconds"] / 60, 1) and float(found.group(2)) == round(row["peak_rss_mib"] / 1024, 1)
    split = re.search(r"scoring took (\d+)% of the time,\s+training (\d+)%", README.read_text())
    assert split, "the README states where the time goes"
    assert int(split.group(1)) == round(100 * sum(row["seconds_score"]) / row["wall_seconds"])
    assert int(split.group(2)) == round(100 * sum(row["seconds_train"]) / row["wall_seconds"])
