import json

import numpy as np
import pandas as pd
import pytest

from curvlib.results import atomic_write, config_hash, load_or_compute, load_run, save_run


def test_save_and_load_round_trip(tmp_path):
    table = pd.DataFrame({"index": [3, 1], "score": [0.5, 0.25]})
    save_run(tmp_path / "run", {"scores": table}, {"a": 1, "b": (2, 3)}, {"x": np.arange(4)})
    back = load_run(tmp_path / "run")
    pd.testing.assert_frame_equal(back.tables["scores"], table)
    np.testing.assert_array_equal(back.arrays["x"], np.arange(4))
    meta = json.loads((tmp_path / "run" / "config.json").read_text())
    assert meta["config"] == {"a": 1, "b": [2, 3]}
    assert {"curvlib", "torch", "git_commit", "device"} <= set(meta["environment"])


def test_load_or_compute_runs_once_per_config(tmp_path):
    calls = []

    def compute(run_dir):
        calls.append(run_dir)
        return {"t": pd.DataFrame({"v": [len(calls)]})}, {}

    first = load_or_compute(tmp_path, "exp", {"k": 1}, compute)
    again = load_or_compute(tmp_path, "exp", {"k": 1}, compute)
    other = load_or_compute(tmp_path, "exp", {"k": 2}, compute)
    assert len(calls) == 2
    assert first.tables["t"].v[0] == again.tables["t"].v[0] == 1 and other.tables["t"].v[0] == 2
    assert config_hash({"k": 1, "z": 0}) == config_hash({"z": 0, "k": 1})


def test_interrupted_compute_leaves_no_result(tmp_path):
    def broken(run_dir):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        load_or_compute(tmp_path, "exp", {"k": 1}, broken)
    with pytest.raises(FileNotFoundError, match="no complete run"):
        load_run(next(tmp_path.iterdir()))


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "f.txt"
    target.write_text("old")

    def fail(tmp):
        open(tmp, "w").write("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(target, fail)
    assert target.read_text() == "old" and list(tmp_path.iterdir()) == [target]



def test_check_run_dir_accepts_the_same_config_and_refuses_others(tmp_path):
    import pytest

    from curvlib.results import check_run_dir, mark_pending

    config = {"a": 1}
    check_run_dir(tmp_path / "new" / "deeper", config)  # absent: fine, nothing created
    assert not (tmp_path / "new").exists()
    mark_pending(tmp_path / "run", config)  # an interrupted run of this config: resumable
    check_run_dir(tmp_path / "run", config)
    with pytest.raises(ValueError, match="holds a run of another config"):
        check_run_dir(tmp_path / "run", {"a": 2})
