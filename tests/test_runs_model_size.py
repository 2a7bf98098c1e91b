from dataclasses import replace

import numpy as np

from curvlib import model_size
from curvlib.pipeline import PRESETS
from curvlib.runs import model_size as size_runs
from curvlib.runs.model_size import SizeLadder
from curvlib.training import TrainConfig


def test_ladder_reuses_the_ensemble_path_and_teaches_students(tmp_path, monkeypatch):
    """Two tiny sizes on digits: FZ per size comes from run_feldman_zhang (the one FZ code path), the largest
    size keeps its logits and teaches the students, and every student run names that teacher."""
    calls = []
    real = size_runs.run_feldman_zhang
    monkeypatch.setattr(size_runs, "run_feldman_zhang", lambda config, **kw: calls.append(config) or real(config, **kw))
    data = replace(PRESETS["digits_quick"], subset=300, noise=0.1)
    ladder = SizeLadder(data, widths=(4, 32), train=TrainConfig(epochs=3, batch_size=32, score_every=0), n_models=6)
    fz = size_runs.run_fz_per_size(ladder, cache_dir=tmp_path)
    students = size_runs.run_distilled_per_size(ladder, cache_dir=tmp_path)
    assert [c.width for c in calls] == [4, 32, 4, 32]
    assert "logits" in fz[32].arrays and "logits" not in fz[4].arrays
    assert all(c.teacher == ladder.fz_config(32) and c.train.lr == ladder.train.lr / 3 for c in calls[2:])
    assert model_size.fz_trajectories(fz, 0.2).index.tolist() == fz[4].tables["fz"]["index"].tolist()
    # the estimate, recomputed from the saved ensemble: in-subset minus held-out accuracy of each sample
    membership, correct = fz[4].arrays["membership"].astype(bool), fz[4].arrays["correct"]
    with np.errstate(invalid="ignore"):
        by_hand = (np.where(membership, correct, 0).sum(0) / membership.sum(0)) - (np.where(~membership, correct, 0).sum(0) / (~membership).sum(0))
    np.testing.assert_allclose(fz[4].tables["fz"]["memorization"], by_hand, atol=1e-12)
    summary = model_size.size_summary(fz)
    assert summary["size"].tolist() == [4, 32] and len(students[4].tables["fz"]) == 300


def test_both_profiles_have_one_clean_then_two_noisy_ladders():
    """The chapters glue numbers by ladder position: 0 is clean, 1 and 2 carry 10% noise, in both profiles."""
    for profile in ("quick", "paper"):
        ladders = list(size_runs.book_ladders(profile).values())
        assert [ladder.data.noise for ladder in ladders] == [0.0, 0.1, 0.1]
        assert all(list(ladder.widths) == sorted(ladder.widths) for ladder in ladders)
