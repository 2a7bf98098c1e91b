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


def _cards(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'<div class="card"><img src="data:image/png;base64,[^"]+" alt="sample (\d+)">', page)]


def test_score_writes_the_report_and_the_suspects_table_and_shows_each_suspect_once(run_dir):
    page = (run_dir / "report.html").read_text()
    suspects = pd.read_csv(run_dir / "suspects.csv", index_col="index")
    scores = pd.read_csv(run_dir / "scores.csv")
    assert suspects.index.tolist() == scores.sort_values(DEFAULT_SCORE, ascending=False, kind="stable")["index"].tolist()
    assert {"rank", "given_label", "suggested_label", "label_score", "is_label_issue", "kind", "duplicate_of", "what_to_check",
            "is_likely_mislabeled", "is_conflicting_duplicate", "is_atypical", DEFAULT_SCORE, "curvature"} <= set(suspects.columns)
    cards = _cards(page)
    assert len(cards) == len(set(cards)), "a suspect is shown once"
    expected = []
    for column in ("is_likely_mislabeled", "is_atypical"):  # no duplicates in digits: the two kinds, each by rank
        expected += suspects.index[suspects[column]].tolist()[:TOP]
    assert cards == expected
    mislabeled = suspects[suspects.is_likely_mislabeled].iloc[0]
    assert f"given {mislabeled.given_label} → likely {mislabeled.suggested_label}" in page
    text = re.sub(r"<[^>]+>", "", page)
    assert f"{suspects.is_likely_mislabeled.sum()} likely mislabeled, 0 conflicting duplicate pairs, {suspects.is_atypical.sum()} atypical among" in text
    assert "injected flips" in page and "src=\"http" not in page  # self-contained: nothing fetched
    png = np.asarray(Image.open(run_dir / "report.png").convert("L"))
    assert png.shape[0] > 400 and png.std() > 20


def test_report_command_ranks_by_another_score(run_dir, capsys):
    assert main(["report", str(run_dir), "--score", "loss_mean", "--top", "5"]) == 0
    assert "report.html" in capsys.readouterr().out
    page = (run_dir / "report.html").read_text()
    suspects = pd.read_csv(run_dir / "suspects.csv", index_col="index")
    assert suspects.loss_mean.is_monotonic_decreasing and "Suspects by loss_mean" in page
    assert len(_cards(page)) <= 10 and _cards(page)[:5] == suspects.index[suspects.is_likely_mislabeled].tolist()[:5]


def test_a_memorised_run_says_so_and_its_suspects_come_from_the_history(tmp_path):
    """digits with 10% flips, 60 epochs: the MLP fits (nearly) every label, so the page says why the kinds come from the history."""
    out = tmp_path / "run"
    assert main(["score", "--preset", "digits_quick", "--every", "0", "--epochs", "60", "--noise", "0.1", "--out", str(out)]) == 0
    page, suspects = (out / "report.html").read_text(), pd.read_csv(out / "suspects.csv", index_col="index")
    assert (suspects.predicted_label == suspects.given_label).mean() > 0.99
    assert "The kinds and the suggested labels below come from the training history" in page
    flips = suspects[suspects.is_label_issue & suspects.is_noisy]
    assert (flips.kind == "likely mislabeled").mean() > 0.8 and (flips.suggested_label == flips.true_label).mean() > 0.8


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
    assert len(re.findall(r'<img src="data:image/png;base64,', dom)) == len(_cards((run_dir / "report.html").read_text())) + 1  # cards, charts
    img = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert img.shape[:2] == (700, 1000)
    # The top of the page is the heading, the summary and the first row of suspect cards, whose images are dark
    # digits on black: a blank or broken page would be (nearly) all white.
    dark = (img.sum(axis=2) < 150).mean()
    assert dark > 0.03, f"only {dark:.1%} dark pixels: the sample images did not render"
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 50
