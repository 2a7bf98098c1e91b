import numpy as np
import pytest

from curvlib import metrics


def test_detection_metrics_known_values():
    flags = np.array([0, 0, 1, 1])
    scores = np.array([0.1, 0.8, 0.7, 0.9])
    assert metrics.auroc(flags, scores) == pytest.approx(0.75)
    assert metrics.aupr(flags, scores) == pytest.approx((1 + 2 / 3) / 2)
    assert metrics.fpr_at_tpr(flags, scores) == pytest.approx(0.5)
    assert metrics.precision_at_k(flags, scores, 2) == pytest.approx(0.5)
    assert metrics.auroc(flags, -scores) == pytest.approx(0.25)


def test_agreement_metrics():
    rng = np.random.default_rng(0)
    a = rng.random(500)
    assert metrics.pearson(a, 3 * a + 1) == pytest.approx(1.0)
    assert metrics.spearman(a, np.exp(a)) == pytest.approx(1.0)
    assert metrics.cosine_similarity(a, 2 * a) == pytest.approx(1.0)
    b = rng.random(500)  # independent non-negative scores: cosine is inflated by the mean, Pearson is not
    assert metrics.cosine_similarity(a, b) > 0.7 and abs(metrics.pearson(a, b)) < 0.15
    assert metrics.top_k_overlap(a, a, 50) == 1.0
    assert metrics.top_k_overlap(a, -a, 50) == 0.0


def test_calibration():
    probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7]])
    labels = np.array([0, 1, 1])
    ece = metrics.expected_calibration_error(probs, labels, n_bins=10)
    assert ece == pytest.approx((abs(1 - 0.9) + abs(0 - 0.6) + abs(1 - 0.7)) / 3)
    perfect = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert metrics.expected_calibration_error(perfect, [0, 1]) == 0.0
    bins = metrics.reliability_bins(probs, labels, n_bins=10)
    assert bins["count"].sum() == 3


def test_bad_inputs():
    with pytest.raises(ValueError, match="both positives and negatives"):
        metrics.auroc([1, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match="same length"):
        metrics.auroc([0, 1, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match="NaN"):
        metrics.auroc([0, 1], [np.nan, 0.2])
    with pytest.raises(ValueError, match="k must be"):
        metrics.precision_at_k([0, 1], [0.1, 0.2], 5)


def test_bootstrap_aurocs_centre_on_the_auroc_and_pair_the_scores():
    from curvlib.metrics import auroc, bootstrap_aurocs, interval

    rng = np.random.default_rng(1)
    flags = rng.random(3000) < 0.1
    a = rng.normal(size=3000) + 1.5 * flags
    b = np.round(a + rng.normal(size=3000), 1)  # a worse score, with ties
    boot = bootstrap_aurocs(flags, {"a": a, "b": b, "a again": a.copy()}, n_boot=400, seed=0)
    assert abs(boot["b"].mean() - auroc(flags, b)) < 0.003 and abs(boot["a"].mean() - auroc(flags, a)) < 0.003
    assert (boot["a"] == boot["a again"]).all()  # the same resample for every score
    low, high = interval(boot["a"] - boot["b"])
    assert low < auroc(flags, a) - auroc(flags, b) < high and low > 0  # a is better, and the interval says so
    spread = boot["a"].std()
    assert 0.002 < spread < 0.02  # a real spread, of the size sqrt(AUROC(1 - AUROC)/positives) suggests


def test_bootstrap_top_k_resamples_the_known_errors():
    from curvlib.metrics import bootstrap_top_k, interval

    ranks = {"good": np.array([1, 5, 50, 90, 300]), "bad": np.array([200, 5, 500, 900, 3000])}
    boot = bootstrap_top_k(ranks, 100, n_boot=1000, seed=0)
    assert set(np.unique(boot["good"])) <= set(range(6)) and abs(boot["good"].mean() - 4) < 0.15 and abs(boot["bad"].mean() - 1) < 0.1
    diff = boot["good"] - boot["bad"]
    assert interval(diff)[0] >= 0 and interval(diff)[1] <= 5
    with pytest.raises(ValueError, match="same known errors"):
        bootstrap_top_k({"a": np.arange(3), "b": np.arange(4)}, 2)


def test_proportion_interval_is_wilsons():
    low, high = metrics.proportion_interval(6, 15)  # 6/15 by hand: centre 0.4204, half-width 0.2221
    assert abs(low - 0.198) < 1e-3 and abs(high - 0.643) < 1e-3
    assert metrics.proportion_interval(0, 20)[0] == 0.0 < metrics.proportion_interval(0, 20)[1]  # not empty at k = 0
    narrow, wide = metrics.proportion_interval(50, 100), metrics.proportion_interval(50, 100, level=0.99)
    assert wide[0] < narrow[0] < 0.5 < narrow[1] < wide[1]
    with pytest.raises(ValueError, match="0 <= k <= n"):
        metrics.proportion_interval(5, 4)
