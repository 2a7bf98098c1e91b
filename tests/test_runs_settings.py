import numpy as np
import pandas as pd
import pytest

from curvlib.pipeline import ScoreConfig, with_train
from curvlib.runs.settings import run_sensitivity_sweep
from curvlib.training import TrainConfig


def test_sensitivity_sweep_compares_each_setting_with_the_reference(tmp_path):
    base = ScoreConfig(dataset="digits", subset=300, noise=0.1, model="mlp", width=32,
                       train=TrainConfig(epochs=4, batch_size=32, lr=0.1, n_probes=4, score_batch_size=150))  # fmt: skip
    mem = {0: pd.Series(np.linspace(0, 1, 300), index=np.arange(300))}
    out = run_sensitivity_sweep(base, {"n = 1": {"n_probes": 1}}, seeds=[0], every=(2,), memorization=mem, cache_dir=tmp_path)
    assert out.setting.tolist() == ["reference", "n = 1", "trace", "every 2 epochs"]
    ref = out.set_index("setting")
    assert ref.loc["reference", "spearman_ref"] == 1.0 and ref.loc["reference", "top_overlap_ref"] == 1.0
    assert ref.loc["n = 1", "spearman_ref"] < 1.0 and np.isfinite(ref.fz_spearman).all() and ref.auroc.between(0, 1).all()
    assert np.isnan(ref.loc["trace", "seconds_score"]) and ref.loc["n = 1", "seconds_score"] > 0
    with pytest.raises(ValueError, match="score_every=1"):
        run_sensitivity_sweep(with_train(base, score_every=2), {}, seeds=[0], cache_dir=tmp_path)
