"""`curvlib report`: a self-contained page of the top-k samples, checked as written and in a real browser."""
import os
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from curvlib.cli import main
from curvlib.suspects import DEFAULT_SCORE

TOP = 12


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "run"
    args = ["score", "--preset", "digits_quick", "--epochs", "3", "--probes", "2", "--noise", "0.1", "--top", str(TOP), "--out", str(out)]
    assert main(args) == 0
    return out


def test_score_writes_the_report_and_the_page_holds_the_top_k(run_dir):
    page = (run_dir / "report.html").read_text()
    scores = pd.read_csv(run_dir / "scores.csv")
    top = scores.sort_values(DEFAULT_SCORE, ascending=False, kind="stable").head(TOP)
    cards = re.findall(r'<div class="card"><img src="data:image/png;base64,[^"]+" alt="sample (\d+)">', page)
    assert [int(i) for i in cards] == top["index"].tolist()  # highest default score first, by dataset index
    first = top.iloc[0]
    assert f"index {first['index']}</div><div>given: {first['label']}</div>" in page
    assert "injected flips" in page and "src=\"http" not in page  # self-contained: nothing fetched
    png = np.asarray(Image.open(run_dir / "report.png").convert("L"))
    assert png.shape[0] > 400 and png.std() > 20


def test_report_command_ranks_by_another_score(run_dir, capsys):
    assert main(["report", str(run_dir), "--score", "loss_mean", "--top", "5"]) == 0
    assert "report.html" in capsys.readouterr().out
    page = (run_dir / "report.html").read_text()
    assert page.count('<div class="card">') == 5 and "Top 5 samples by loss_mean" in page


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--hide-scrollbars"]  # fmt: skip


@pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"), reason="needs Chromium (apt-get install chromium; make test installs it as root)")
def test_report_opens_in_headless_chromium(run_dir, tmp_path):
    assert main(["report", str(run_dir), "--top", str(TOP)]) == 0
    url = (run_dir / "report.html").resolve().as_uri()
    shot = tmp_path / "shot.png"
    common = [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    subprocess.run([*common, f"--screenshot={shot}", "--window-size=1000,700", url], check=True, capture_output=True, timeout=120)
    dom = subprocess.run([*common, "--dump-dom", url], check=True, capture_output=True, text=True, timeout=120).stdout
    assert len(re.findall(r'<img src="data:image/png;base64,', dom)) >= TOP + 1  # the k samples, the charts, and the kinds' sections
    img = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert img.shape[:2] == (700, 1000)
    # The top of the page is the heading and the first row of sample cards, whose images are dark digits on
    # black: a blank or broken page would be (nearly) all white.
    dark = (img.sum(axis=2) < 150).mean()
    assert dark > 0.03, f"only {dark:.1%} dark pixels: the sample images did not render"
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 50
