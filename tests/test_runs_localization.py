from dataclasses import replace

import numpy as np
import pytest

from curvlib.pipeline import ScoreConfig
from curvlib.runs.localization import (
    LocalizationConfig, book_localization, group_accuracy, run_flipping, run_localization, run_retraining, run_tied_dropout,
)
from curvlib.training import TrainConfig

TRAIN = TrainConfig(epochs=30, batch_size=32, lr=0.1, schedule="onecycle", score_every=1, n_probes=2, chunk_size=2)
CONFIG = LocalizationConfig(
    ScoreConfig(dataset="digits", subset=400, model="mlp", width=64, train=TRAIN, test_subset=None),
    rewind_epochs=(0, 2, 30), retrain=TrainConfig(epochs=2, batch_size=32, score_every=0), flip_targets=8, flip_batch=16,
    max_units=40, flip_eval=100, p_gen=0.5, p_mem=0.3,
)  # fmt: skip


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("localization")


def test_base_run_tables(cache):
    base = run_localization(CONFIG, cache_dir=cache)
    scores, rewinding, accounting = base.tables["scores"], base.tables["rewinding"], base.tables["accounting"]
    assert len(scores) == 400 and scores["is_noisy"].sum() == 40 and np.isfinite(scores["curvature"]).all()
    assert set(accounting["group"]) == {"linear1", "linear2", "classifier"} and accounting["epoch"].max() == 30
    assert sorted(rewinding["epoch"].unique()) == [0, 2, 30] and len(rewinding) == 9
    final = rewinding[rewinding["epoch"] == 30]
    expected = group_accuracy(scores["fitted"], scores["is_noisy"])
    np.testing.assert_allclose(final["clean_acc"], expected["clean_acc"])  # rewinding to the last epoch: the final model
    np.testing.assert_allclose(final["noisy_acc"], expected["noisy_acc"])
    again = run_localization(CONFIG, cache_dir=cache)  # read back, not recomputed
    assert again.meta["config_hash"] == base.meta["config_hash"]
    np.testing.assert_array_equal(again.arrays["weights/2/1.weight"], base.arrays["weights/2/1.weight"])


def test_retraining_flipping_and_tied_dropout_tables(cache):
    retraining = run_retraining(CONFIG, cache_dir=cache).tables["retraining"]
    assert len(retraining) == 3 * 3 and retraining.groupby("group")["epoch"].max().eq(2).all()
    flips = run_flipping(CONFIG, cache_dir=cache).tables["flips"]
    scores = run_localization(CONFIG, cache_dir=cache).tables["scores"].set_index("index")
    fitted_noisy = int((scores["fitted"] & scores["is_noisy"]).sum())
    assert flips["is_noisy"].sum() == min(8, fitted_noisy) >= 6 and (~flips["is_noisy"]).sum() == 8
    assert scores.loc[flips["index"], "fitted"].all()  # only fitted samples are flipped
    np.testing.assert_allclose(flips["curvature"], scores.loc[flips["index"], "curvature"])
    assert (flips["units"] >= 1).all() and (flips["units"] <= 40).all() and flips["flipped"].mean() > 0.5
    tied = run_tied_dropout(CONFIG, cache_dir=cache)
    assert tied.tables["summary"]["model"].tolist() == ["tied, train", "tied, test", "tied, drop", "plain"]
    samples = tied.tables["samples"]
    assert len(samples) == 400 and np.isfinite(samples[["curvature_test", "curvature_drop", "curvature_plain"]]).all().all()


def test_book_profiles():
    quick = book_localization("quick", "fashion_mnist", seed=1)
    assert quick.data.train.epochs == 50 and quick.data.train.score_every == 0 and quick.rewind_epochs[-1] == 50
    assert book_localization("quick", "mnist").data.train.score_every == 1
    paper = book_localization("paper", "cifar10")
    assert paper.data.model == "resnet9" and paper.data.train.batch_size == 512 and paper.data.train.epochs == 50
    assert paper.data.train.peak_fraction * paper.data.train.epochs == 10  # peak lr at epoch 10
    with pytest.raises(ValueError, match="profile"):
        book_localization("full", "mnist")
    assert replace(quick, flip_targets=3).flip_targets == 3
