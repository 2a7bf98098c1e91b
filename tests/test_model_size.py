import numpy as np
import pandas as pd
import pytest

from curvlib.model_size import bimodality_coefficient, pooled_scale, trajectory_classes

# Hand-made trajectories, one column each, sizes small -> large.
HAND = np.array([
    # increasing, decreasing, cap, constant, small wiggle, peak at the end (increasing, not cap), cap too shallow on the right
    [0.0, 0.9, 0.1, 0.5, 0.50, 0.1, 0.0],
    [0.3, 0.6, 0.8, 0.5, 0.58, 0.3, 0.6],
    [0.6, 0.3, 0.7, 0.5, 0.45, 0.5, 0.7],
    [0.9, 0.1, 0.2, 0.5, 0.52, 0.9, 0.65],
])  # fmt: skip


def test_trajectory_rule_on_hand_made_curves():
    got = trajectory_classes(HAND, None, alpha=0.2)
    assert got.tolist() == ["increasing", "decreasing", "cap", "constant", "constant", "increasing", "increasing"]
    # a larger alpha turns the shallow changes into constants
    assert trajectory_classes(HAND, None, alpha=0.7).tolist() == ["increasing", "decreasing", "constant", "constant", "constant", "increasing", "constant"]


def test_standard_errors_veto_changes_alpha_would_count():
    m = np.array([[0.0, 0.0], [0.3, 0.3]])
    se = np.array([[0.02, 0.2], [0.02, 0.2]])  # second sample: z·√(2·0.04) ≈ 0.57 > its change of 0.3
    assert trajectory_classes(m, se, alpha=0.1).tolist() == ["increasing", "constant"]
    with_nan = np.array([[0.0, np.nan], [0.5, 0.5]])
    assert trajectory_classes(with_nan, None, alpha=0.1).tolist() == ["increasing", "undetermined"]
    with pytest.raises(ValueError, match="sizes >= 2"):
        trajectory_classes(np.zeros((1, 3)), None, alpha=0.1)


def test_bimodality_coefficient_separates_one_mode_from_two():
    rng = np.random.default_rng(0)
    one = rng.normal(size=4000)
    two = np.concatenate([rng.normal(-3, 0.5, 2000), rng.normal(3, 0.5, 2000)])
    assert bimodality_coefficient(one) == pytest.approx(1 / 3, abs=0.03)  # a normal: 1/3
    assert bimodality_coefficient(two) > 5 / 9 > bimodality_coefficient(one)
    with pytest.raises(ValueError, match="at least 4"):
        bimodality_coefficient([1.0, np.nan, 2.0])


def test_pooled_scale_keeps_a_shared_trend():
    values = pd.DataFrame({8: [4.0, 6.0, 8.0], 64: [2.0, 3.0, 4.0]})
    scaled = pooled_scale(values, q=0.0)
    assert scaled.to_numpy().min() == 0 and scaled.to_numpy().max() == 1
    assert (scaled[64] < scaled[8]).all()  # every sample's proxy falls with size, and still does after scaling
