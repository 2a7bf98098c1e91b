import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from curvlib.cli import build_parser, config_from_args, main


def test_help_documents_every_option():
    out = subprocess.run([sys.executable, "-m", "curvlib", "score", "--help"], capture_output=True, text=True, check=True)
    for option in ("--dataset", "--subset", "--noise", "--model", "--epochs", "--every", "--h", "--probes", "--seed",
                   "--data-root", "--out", "--preset", "--device"):  # fmt: skip
        assert option in out.stdout


def test_options_override_preset():
    args = build_parser().parse_args(["score", "--out", "x", "--epochs", "3", "--h", "0.01", "--subset", "all", "--probes", "4"])
    config = config_from_args(args)
    assert config.train.epochs == 3 and config.train.h == 0.01 and config.subset is None and config.train.n_probes == 4


def test_score_on_digits_writes_table(tmp_path, capsys):
    out = tmp_path / "out"
    main(["score", "--preset", "digits_quick", "--epochs", "3", "--probes", "2", "--noise", "0.1", "--out", str(out)])
    table = pd.read_csv(out / "scores.csv")
    assert {"index", "label", "true_label", "is_noisy", "curvature", "loss_mean"} <= set(table.columns)
    assert len(table) == 1347 and table.is_noisy.sum() == 135 and table["index"].is_unique
    assert (table.label != table.true_label).sum() == 135
    assert json.loads((out / "config.json").read_text())["config"]["train"]["epochs"] == 3
    assert not (out / "checkpoint.pt").exists()
    assert "AUROC of aum" in capsys.readouterr().out


def test_missing_data_root_message(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("CURVLIB_DATA_ROOT", raising=False)
    assert main(["score", "--dataset", "mnist", "--data-root", str(tmp_path), "--epochs", "1", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("curvlib score: error: --dataset mnist: ") and "download=True" in err
    assert not (tmp_path / "o").exists()


# --- every bad input: one line naming the option and the fix, exit status 2, nothing written in OUT ---

def _digits_npz(path, **changes):
    from sklearn.datasets import load_digits

    d = load_digits()
    arrays = {"x": (d.images * 255 / 16).astype(np.uint8), "y": d.target, **changes}
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})  # None: leave that array out
    return path


def _png_folder(root, classes=("a", "b"), per_class=3):
    rng = np.random.default_rng(0)
    for name in classes:
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(root / name / f"{i}.png")
    return root


def _truncated_mnist(root):
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    header = bytes([0, 0, 8, 3]) + (100).to_bytes(4, "big") + (28).to_bytes(4, "big") + (28).to_bytes(4, "big")
    (raw / "train-images-idx3-ubyte").write_bytes(header + bytes(1000))  # header says 100 images, holds ~1
    (raw / "train-labels-idx1-ubyte").write_bytes(bytes([0, 0, 8, 1]) + (100).to_bytes(4, "big") + bytes(100))
    return root


def _case(tmp_path, name):
    """(arguments, expected message) of one bad input; files it needs are written under tmp_path/in."""
    src = tmp_path / "in"
    src.mkdir()
    cases = {
        "negative noise": (["--dataset", "digits", "--noise", "-0.1"], "--noise: noise -0.1 is not in [0, 1)"),
        "noise of one": (["--dataset", "digits", "--noise", "1"], "--noise: noise 1.0 is not in [0, 1)"),
        "subset too large": (["--dataset", "digits", "--subset", "5000"], "--subset: subset 5000 is not in [1, 1347]"),
        "subset too small": (["--dataset", "digits", "--subset", "50", "--noise", "0.1"], "--subset: noise 0.1 of 50 samples flips 5 labels, fewer than one per class"),
        "cuda without cuda": (["--dataset", "digits", "--device", "cuda"], "--device cuda: torch"),
        "corrupt idx": (["--dataset", "mnist", "--data-root", str(_truncated_mnist(src))], "--dataset mnist: "),
        "truncated npz": (["--data", str(src / "t.npz")], "is not a readable .npz file"),
        "npz without y": (["--data", str(_digits_npz(src / "n.npz", y=None))], "needs 'x' and 'y'"),
        "csv without label column": (["--data", str(src / "c.csv")], "needs 'path' and 'label'"),
        "corrupt image": (["--data", str(src / "imgs")], "is not a readable image"),
        "labels not integers": (["--data", str(src / "f.npz")], "labels must be integers 0..C-1"),
        "labels out of range": (["--data", str(src / "r.npz")], "out of range for the 10 class names"),
        "nan in arrays": (["--data", str(src / "nan.npz")], "NaN or infinite values"),
        "one class": (["--data", str(_png_folder(src / "one", classes=("only",)))], "holds 1 class folder(s) ['only']"),
    }  # fmt: skip
    if name == "truncated npz":
        good = _digits_npz(src / "good.npz").read_bytes()
        (src / "t.npz").write_bytes(good[: len(good) // 2])
    if name == "csv without label column":
        (src / "c.csv").write_text("path,class\na.png,0\n")
    if name == "corrupt image":
        _png_folder(src / "imgs")
        (src / "imgs" / "a" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    if name == "labels not integers":
        np.savez(src / "f.npz", x=np.zeros((4, 8, 8), np.uint8), y=np.array([0, 1.5, 1, 0]))
    if name == "labels out of range":
        np.savez(src / "r.npz", x=np.zeros((4, 8, 8), np.uint8), y=np.array([0, 1, 12, 0]), classes=np.array(list("abcdefghij")))
    if name == "nan in arrays":
        x = np.zeros((4, 8, 8))
        x[2, 3, 3] = np.nan
        np.savez(src / "nan.npz", x=x, y=np.array([0, 1, 1, 0]))
    return cases[name]


BAD_INPUTS = [
    "negative noise", "noise of one", "subset too large", "subset too small", "cuda without cuda", "corrupt idx", "truncated npz",
    "npz without y", "csv without label column", "corrupt image", "labels not integers", "labels out of range", "nan in arrays",
    "one class",
]  # fmt: skip


@pytest.mark.parametrize("name", BAD_INPUTS)
def test_bad_input_is_one_line_exit_2_and_nothing_written(name, tmp_path, capsys):
    args, message = _case(tmp_path, name)
    out = tmp_path / "out"
    status = main(["score", *args, "--epochs", "1", "--out", str(out)])
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("curvlib score: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert message in err, err
    assert not out.exists()


def test_unwritable_out(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["score", "--dataset", "digits", "--out", str(blocker / "out")]) == 2
    err = capsys.readouterr().err
    assert "--out" in err and "cannot be written" in err and err.count("\n") == 1


def test_out_of_another_config_is_refused_and_left_alone(tmp_path, capsys):
    out = tmp_path / "out"
    main(["score", "--preset", "digits_quick", "--epochs", "1", "--probes", "1", "--out", str(out)])
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert main(["score", "--preset", "digits_quick", "--epochs", "2", "--probes", "1", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "holds a run of another config" in err and "choose an empty --out" in err
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    assert main(["score", "--preset", "digits_quick", "--out", str(tmp_path / "other")]) == 2
    assert "is not empty and holds no curvlib run" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "other").iterdir()] == ["notes.txt"]


def test_report_of_a_folder_without_a_run(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "holds no complete run" in capsys.readouterr().err


# --- your own data: labels kept, every input kind reported, never resumed on other data ---

def test_own_data_keeps_its_labels_whatever_the_preset(tmp_path):
    """--preset paper (noise 0.1 on MNIST) with --data scores the user's labels as given, unless --noise is passed."""
    data = str(_digits_npz(tmp_path / "d.npz"))
    for preset in ("paper", "mnist_quick", "default"):
        config = config_from_args(build_parser().parse_args(["score", "--preset", preset, "--data", data, "--out", "o"]))
        assert config.noise == 0.0 and config.subset is None, preset
    asked = config_from_args(build_parser().parse_args(["score", "--preset", "paper", "--data", data, "--noise", "0.2", "--out", "o"]))
    assert asked.noise == 0.2
    assert config_from_args(build_parser().parse_args(["score", "--preset", "paper", "--out", "o"])).noise == 0.1  # built-in: the preset's


def test_feature_vectors_get_a_report_without_images(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(120, 6)), rng.integers(0, 3, 120)
    np.savez(tmp_path / "features.npz", x=x, y=y)
    out = tmp_path / "out"
    assert main(["score", "--data", str(tmp_path / "features.npz"), "--epochs", "2", "--probes", "1", "--out", str(out)]) == 0
    page = (out / "report.html").read_text()
    suspects = pd.read_csv(out / "suspects.csv")
    shown = suspects.is_likely_mislabeled.sum() + suspects.is_atypical.sum() + suspects.is_conflicting_duplicate.sum()
    assert page.count('class="card"') == shown == 6 and "<div class=features>f" in page and 'alt="sample' not in page  # 5% of 120, once each
    assert (out / "report.png").stat().st_size > 0


def test_every_zero_trains_and_ranks_by_the_default_score(tmp_path, capsys):
    out = tmp_path / "out"
    status = main(["score", "--preset", "digits_quick", "--subset", "300", "--noise", "0.1", "--epochs", "2", "--every", "0", "--out", str(out)])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert "AUROC of aum" in captured.out and "ranked by aum: AUM" in captured.out
    page = (out / "report.html").read_text()
    assert "Suspects by aum" in page and "is the default ranking because" in page
    assert pd.read_csv(out / "scores.csv")["curvature"].isna().all()
    assert main(["report", str(out), "--score", "curvature"]) == 2  # no curvature to rank by: said, not a traceback
    assert "scored no curvature" in capsys.readouterr().err


def test_a_folder_is_never_resumed_on_other_data(tmp_path, capsys):
    """Same options, other contents at the same path: refused, and the run folder is left as it was."""
    data = tmp_path / "d.npz"
    _digits_npz(data)
    out = tmp_path / "out"
    args = ["score", "--data", str(data), "--epochs", "1", "--probes", "1", "--out", str(out)]
    assert main(args) == 0
    capsys.readouterr()
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    _digits_npz(data, y=np.roll(load_digits_target(), 1))
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "holds a run of other data" in err and err.count("\n") == 1
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before


def load_digits_target():
    from sklearn.datasets import load_digits

    return load_digits().target
