import json
import subprocess
import sys

import pandas as pd
import pytest

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
    assert "AUROC of curvature" in capsys.readouterr().out


def test_missing_data_root_message(tmp_path, monkeypatch):
    monkeypatch.delenv("CURVLIB_DATA_ROOT", raising=False)
    with pytest.raises(FileNotFoundError, match="download=True"):
        main(["score", "--data-root", str(tmp_path), "--epochs", "1", "--out", str(tmp_path / "o")])
