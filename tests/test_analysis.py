import numpy as np
import pandas as pd
import pytest
import torch

from curvlib import analysis, metrics
from curvlib.data import load_digits
from curvlib.models import mlp
from curvlib.results import RunResult
from curvlib.training import TrainConfig, scored_epochs, train_and_score


def _run(every: int) -> RunResult:
    train = load_digits(train=True).select(np.arange(200))
    torch.manual_seed(0)
    config = TrainConfig(epochs=5, batch_size=32, lr=0.05, score_every=every, n_probes=2, score_batch_size=100)
    records = train_and_score(mlp(64, 10, (32,)), train, config)
    return RunResult({}, records.to_arrays())


def test_every_k_curvature_equals_a_run_scored_every_k_epochs():
    every_epoch, every_second = _run(1), _run(2)
    assert scored_epochs(5, 2).tolist() == [False, True, False, True, True]
    derived = analysis.every_k_curvature(every_epoch, 2)
    direct = np.nanmean(every_second.arrays["train/curvature"], axis=0)
    np.testing.assert_allclose(derived, direct, rtol=1e-6)
    assert not np.allclose(derived, np.mean(every_epoch.arrays["train/curvature"], axis=0))  # it is a different score
    with pytest.raises(ValueError, match="score_every=1"):
        analysis.every_k_curvature(every_second, 3)  # epoch 3 was not scored in that run


def _synthetic_run() -> tuple[RunResult, np.ndarray]:
    """3 epochs, 4 training samples (sample 3 noisy), 6 test samples; epoch 2 unscored."""
    curv = np.array([[1.0, 1.0, 1.0, 5.0], [np.nan] * 4, [2.0, 2.0, 2.0, 8.0]])
    correct = np.array([[1, 1, 1, 0], [1, 1, 1, 0], [1, 1, 1, 1]], dtype=float)
    labels = np.array([0, 0, 0, 1, 0, 0])
    probs = np.stack([np.tile([0.6, 0.4], (6, 1)), np.tile([0.9, 0.1], (6, 1)), np.tile([0.99, 0.01], (6, 1))])
    test_loss = -np.log(probs[np.arange(3)[:, None], np.arange(6)[None], labels[None]])
    test_loss[:, 0] = [5.0, 0.0, 1.0]  # the validation half (even positions) has its lowest loss at epoch 2
    scores = pd.DataFrame({"index": [10, 11, 12, 13], "is_noisy": [False, False, False, True]})
    history = pd.DataFrame({"train_loss": [1.0, 0.5, 0.1], "train_acc": correct.mean(1), "test_loss": test_loss.mean(1), "test_acc": 0.5})
    arrays = {"train/curvature": curv, "train/correct": correct, "test/probs": probs, "test/loss": test_loss,
              "test/correct": (probs.argmax(2) == labels).astype(float), "test/curvature": np.full((3, 6), np.nan)}  # fmt: skip
    return RunResult({"scores": scores, "history": history}, arrays), labels


def test_curvature_dynamics_group_means_and_unscored_epochs():
    run, _ = _synthetic_run()
    out = analysis.curvature_dynamics(run)
    assert out.epoch.tolist() == [1, 2, 3]
    np.testing.assert_allclose(out.curvature_clean, [1.0, np.nan, 2.0])
    np.testing.assert_allclose(out.curvature_noisy, [5.0, np.nan, 8.0])
    np.testing.assert_allclose(out.curvature_train, [2.0, np.nan, 3.5])
    np.testing.assert_allclose(out.noisy_fitted, [0.0, 0.0, 1.0])
    np.testing.assert_allclose(out.clean_fitted, [1.0, 1.0, 1.0])
    assert out.curvature_test.isna().all()


def test_calibration_picks_the_three_epochs_and_measures_on_the_other_half():
    run, labels = _synthetic_run()
    out = analysis.calibration_at_epochs(run, labels, n_bins=10).set_index("stop")
    assert out.loc["lowest validation loss", "epoch"] == 2
    assert out.loc["peak training curvature", "epoch"] == 3  # mean 3.5 beats 2.0; the NaN epoch is skipped
    assert out.loc["last epoch", "epoch"] == 3
    _, evaluation = analysis.held_out_halves(6)
    expected = metrics.expected_calibration_error(run.arrays["test/probs"][1][evaluation], labels[evaluation], 10)
    assert out.loc["lowest validation loss", "ece"] == pytest.approx(expected)
    assert out.loc["last epoch", "accuracy"] == pytest.approx(2 / 3)  # odd positions: labels 0, 1, 0, all predicted 0
    with pytest.raises(ValueError, match="test_labels has 5 entries"):
        analysis.calibration_at_epochs(run, labels[:5])


def test_compare_scores_aligns_fz_by_dataset_index():
    table = pd.DataFrame({"index": [7, 3, 9, 1], "is_noisy": [True, False, False, True]})
    score = np.array([0.9, 0.1, 0.2, 0.8])
    mem = pd.Series([0.8, 0.7, np.nan, 0.0], index=[1, 7, 5, 3])  # another order, one NaN, one index missing
    out = analysis.compare_scores(table, score, reference=score, memorization=mem, top_fraction=0.5)
    assert out["auroc"] == 1.0 and out["spearman_ref"] == pytest.approx(1.0) and out["top_overlap_ref"] == 1.0
    # samples with a finite FZ value: 7 (0.9 vs 0.7), 3 (0.1 vs 0.0), 1 (0.8 vs 0.8); ranks agree except 7 vs 1
    assert out["fz_spearman"] == pytest.approx(0.5)
    clean = analysis.compare_scores(table.assign(is_noisy=False), score)
    assert np.isnan(clean["auroc"]) and np.isnan(clean["spearman_ref"]) and np.isnan(clean["fz_pearson"])


def test_cheapest_within_respects_every_floor():
    table = pd.DataFrame({"cost": [1.0, 2.0, 3.0, 4.0], "auroc": [0.80, 0.90, 0.95, 0.96], "agree": [0.9, 0.5, 0.95, 0.99]})
    assert analysis.cheapest_within(table, cost="cost", floors={"auroc": 0.9}).name == 1
    assert analysis.cheapest_within(table, cost="cost", floors={"auroc": 0.9, "agree": 0.9}).name == 2
    with pytest.raises(ValueError, match="no row meets"):
        analysis.cheapest_within(table, cost="cost", floors={"auroc": 0.99})


def test_cost_table_formulas():
    cost = {"epochs": 10, "subset": 1000, "rows": [
        {"every_k": 0, "n_probes": 0, "seconds_train": 20.0, "seconds_eval_and_score": 5.0, "auroc": None},
        {"every_k": 1, "n_probes": 10, "seconds_train": 21.0, "seconds_eval_and_score": 45.0, "auroc": 0.9},
    ]}  # fmt: skip
    table = analysis.cost_table(cost, full_size=3000, fz_models=100, fz_epochs=5, fz_fraction=0.5)
    np.testing.assert_allclose(table["per epoch (s)"].iloc[:3], [2.0, 4.0, 6.0])  # train 20/10, score (45-5)/10
    np.testing.assert_allclose(table.iloc[:, -1], [60.0, 120.0, 180.0, 100 * 5 * 0.5 * 3000 * 2.0 / 1000])


def test_mispredicted_in_top_and_binned_means():
    table = pd.DataFrame({"curvature": [0.1, 0.9, 0.5, 0.7], "label": [0, 1, 2, 3]})
    run = RunResult({"scores": table}, {"train/pred": np.array([[9, 9, 9, 9], [0, 5, 2, 3]])})
    assert analysis.mispredicted_in_top(run, 2) == 0.5  # top-2: samples 1 (predicted 5, wrong) and 3 (right)
    out = analysis.binned_means([0.05, 0.15, 0.12, np.nan, 0.9], [1.0, 2.0, 4.0, 5.0, 7.0], np.array([0.0, 0.1, 0.5]))
    np.testing.assert_allclose(out.x, [0.05, 0.135, 0.9])
    np.testing.assert_allclose(out.y, [1.0, 3.0, 7.0])
    assert out.n.tolist() == [1, 2, 1] and np.isnan(out.y_sem.iloc[0]) and out.y_sem.iloc[1] == pytest.approx(1.0)


def test_turning_points_of_a_dynamics_table():
    dynamics = pd.DataFrame({
        "epoch": [1, 2, 3, 4], "curvature_train": [1.0, 4.0, np.nan, 2.0], "curvature_noisy": [2.0, 9.0, np.nan, 4.0],
        "curvature_clean": [1.0, 3.0, np.nan, 0.5], "curvature_test": [1.0, 1.0, np.nan, 5.0],
        "noisy_fitted": [0.0, 0.25, 0.5, 1.0], "test_loss": [0.9, 0.4, 0.3, 0.6],
    })  # fmt: skip
    out = analysis.turning_points(dynamics)
    assert out == {"peak_epoch": 2, "epochs": 4, "peak_over_last": 2.0, "noisy_over_clean_at_peak": 3.0,
                   "noisy_fitted_at_peak": 0.25, "best_test_loss_epoch": 3, "test_over_clean_last": 10.0}  # fmt: skip


def test_known_errors_ranking_counts_ranks_and_auroc():
    from curvlib.analysis import known_errors_ranking

    table = pd.DataFrame({"index": np.arange(10, 20), "a": np.arange(10.0), "b": -np.arange(10.0)})
    out = known_errors_ranking(table, np.array([19, 18, 10]), ["a", "b"], tops=(1, 3))
    assert out.loc["a", "in top 1"] == 1 and out.loc["a", "in top 3"] == 2 and out.loc["b", "in top 1"] == 1
    assert out.loc["a", "auroc"] == pytest.approx(14 / 21)  # 19 and 18 beat all 7 others, 10 beats none
    with pytest.raises(ValueError, match="not in the table"):
        known_errors_ranking(table, np.array([5]), ["a"])
