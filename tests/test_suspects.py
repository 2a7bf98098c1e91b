"""Ranking, budget flags and the one-call Python API; the memorization check."""
import numpy as np
import pandas as pd
import pytest
import torch

from curvlib.analysis import memorization_check
from curvlib.suspects import DEFAULT_SCORE, HISTORY_EPOCHS, HISTORY_SHARE, find_suspects, suspect_kinds, suspects_table


def scores(n=20, seed=0):
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 3, n)
    table = pd.DataFrame({"index": np.arange(100, 100 + n), "label": label, "true_label": label, "prediction": label})
    table.loc[:3, "true_label"] = (label[:4] + 1) % 3
    table["is_noisy"] = table.label != table.true_label
    table["fitted"] = True
    for name in ("curvature", "loss_mean", "in_confidence", "learning_time", "forgetting", "aum"):
        table[name] = rng.normal(size=n)
    return table


def test_ranking_budget_and_label_score():
    table = scores()
    out = suspects_table(table, budget=0.1)
    assert list(out.index) == list(table.sort_values(DEFAULT_SCORE, ascending=False)["index"])  # the default ranking
    assert out[DEFAULT_SCORE].is_monotonic_decreasing and out["rank"].tolist() == list(range(1, 21))
    assert out.is_label_issue.sum() == 2 and out.is_label_issue.iloc[:2].all()
    assert out.label_score.iloc[0] == 1 and out.label_score.iloc[-1] == 0 and out.label_score.is_monotonic_decreasing
    top_loss = table.nlargest(2, "loss_mean")["index"]
    assert set(out.index[out.loss_mean_is_issue]) == set(top_loss)
    assert out.loc[100, "given_label"] == table.loc[0, "label"] and out.is_noisy.sum() == 4


def test_rank_by_another_score_and_bad_arguments():
    out = suspects_table(scores(), rank_by="loss_mean", budget=0.25)
    assert out["loss_mean"].is_monotonic_decreasing and out.is_label_issue.sum() == 5
    with pytest.raises(ValueError, match="unknown score"):
        suspects_table(scores(), rank_by="nope")
    with pytest.raises(ValueError, match="budget"):
        suspects_table(scores(), budget=2)


def test_memorization_check_threshold():
    table = scores()
    assert memorization_check(table)["memorized"] and memorization_check(table)["advice"] is None
    table.loc[:1, "fitted"] = False  # 18 of 20 fitted, one of the 4 flips not
    check = memorization_check(table)
    assert check["fitted"] == 0.9 and check["fitted_flipped"] == 0.5 and not check["memorized"]
    assert "90.0%" in check["advice"] and "not the paper's memorization score" in check["advice"] and "--epochs" in check["advice"]


def test_find_suspects_on_arrays_ranks_flipped_labels_first(tmp_path):
    from sklearn.datasets import load_digits

    from curvlib.data import inject_label_noise

    d = load_digits()
    noisy, mask = inject_label_noise(d.target, 0.1, 10, seed=5)
    table = find_suspects(d.images, noisy.numpy(), out_dir=tmp_path / "run", epochs=30, batch_size=32, n_probes=4, budget=0.1)
    assert len(table) == 1797 and table.index.is_unique and table.is_label_issue.sum() == 180
    assert table.attrs["memorization_check"]["fitted"] > 0.99
    flipped = set(np.flatnonzero(mask.numpy()))
    precision = len(flipped & set(table.index[table.is_label_issue])) / 180
    assert precision > 0.6, precision  # far above the 10% of a random ranking
    assert (tmp_path / "run" / "input.npz").exists() and (tmp_path / "run" / "scores.csv").exists()
    saved = pd.read_csv(tmp_path / "run" / "suspects.csv", index_col="index")
    assert saved.index.tolist() == table.index.tolist() and (saved.suggested_label == table.suggested_label).all()
    # The model memorised (fitted > 99%): its last prediction is the given label for the flagged flips, yet the
    # training history still calls most of them likely mislabeled, with their true class as the suggested label.
    flips = table[table.is_label_issue & table.index.isin(list(flipped))]
    assert (flips.predicted_label == flips.given_label).mean() > 0.9
    assert (flips.kind == "likely mislabeled").mean() > 0.8, flips.kind.value_counts()
    assert (flips.suggested_label == d.target[flips.index]).mean() > 0.8


def test_find_suspects_refuses_to_resume_an_interrupted_run_on_other_arrays(tmp_path, monkeypatch):
    """An interrupted find_suspects run resumes on the same arrays only; other arrays leave its folder untouched."""
    from curvlib import training
    from curvlib.data import load_digits

    d = load_digits(train=True)
    x, y = d.pixels(range(300)), d.y.numpy()[:300]
    out = tmp_path / "run"
    real_step, calls = training.sgd_step, {"n": 0}

    def interrupt_in_epoch_two(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:  # 3 batches of 128 per epoch: epoch 1 and its checkpoint are done
            raise KeyboardInterrupt
        return real_step(*args, **kwargs)

    monkeypatch.setattr(training, "sgd_step", interrupt_in_epoch_two)
    with pytest.raises(KeyboardInterrupt):
        find_suspects(x, y, out_dir=out, epochs=3, n_probes=1)
    monkeypatch.setattr(training, "sgd_step", real_step)
    kept = {p.name: p.read_bytes() for p in out.iterdir()}
    assert "checkpoint.pt" in kept and "input.npz" in kept
    with pytest.raises(ValueError, match="holds a run of other data"):
        find_suspects(x[::-1].copy(), y[::-1].copy(), out_dir=out, epochs=3, n_probes=1)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == kept
    table = find_suspects(x, y, out_dir=out, epochs=3, n_probes=1)  # the same arrays: resumed and finished
    assert len(table) == 300 and not (out / "checkpoint.pt").exists()


def test_the_three_kinds_on_injected_flips_and_duplicates(tmp_path):
    """Digits with 10% flipped labels and 20 images appended again under another label: every appended copy and its
    original are found as conflicting duplicates of each other, and most flagged flips are called likely mislabeled."""
    from curvlib.data import inject_label_noise, load_digits

    d = load_digits(train=True)
    x, y = d.pixels(range(len(d))), d.y.numpy()
    noisy, flipped = inject_label_noise(torch.as_tensor(y), 0.1, 10, seed=0)
    rng = np.random.default_rng(0)
    originals = rng.choice(np.flatnonzero(~flipped.numpy()), 20, replace=False)
    copies = (y[originals] + rng.integers(1, 10, 20)) % 10
    x_all, y_all = np.concatenate([x, x[originals]]), np.concatenate([noisy.numpy(), copies])
    table = find_suspects(x_all, y_all, out_dir=tmp_path / "run", epochs=6, n_probes=2)
    copy_index = np.arange(len(x), len(x) + 20)
    dup = table[table.is_conflicting_duplicate]
    assert set(copy_index) <= set(dup.index) and set(originals) <= set(dup.index)  # recall 1 on the injected pairs
    assert (table.loc[copy_index, "duplicate_of"].to_numpy() == originals).all()
    assert (dup.kind == "conflicting duplicate").all() and len(dup) <= 40 + 4  # precision: few natural digit duplicates
    flagged = table[table.is_label_issue & ~table.is_conflicting_duplicate]
    flips = flagged.index[np.isin(flagged.index, np.flatnonzero(flipped.numpy()))]
    assert (flagged.loc[flips, "kind"] == "likely mislabeled").mean() > 0.8
    assert set(flagged.kind) <= {"likely mislabeled", "atypical"} and table.what_to_check.notna().all()


def test_kinds_and_suggested_label_from_the_training_history():
    """A memorised sample (last prediction = given label) is likely mislabeled when one other class was predicted in at
    least HISTORY_SHARE of the epochs; the suggested label is the last prediction where it differs, else the history's."""
    table = pd.DataFrame({
        "given_label": [5, 5, 5, 5, 5], "predicted_label": [5, 3, 5, 5, 5], "is_label_issue": [True, True, True, False, True],
        "history_label": [3, 3, 7, 3, 2], "history_share": [HISTORY_SHARE, 0.9, HISTORY_SHARE - 0.01, 0.9, 1.0],
        "learning_time": [HISTORY_EPOCHS, 9, 9, 9, HISTORY_EPOCHS - 1],  # the last: fitted after one wrong epoch
    }, index=[10, 11, 12, 13, 14])  # fmt: skip
    kinds = suspect_kinds(table, None)
    assert kinds.kind.tolist() == ["likely mislabeled", "likely mislabeled", "atypical", "likely mislabeled", "atypical"]
    assert kinds.suggested_label.tolist() == [3, 3, 5, 3, 5]
    assert kinds.is_likely_mislabeled.tolist() == [True, True, False, False, False]  # only flagged rows are suspects
    assert kinds.is_atypical.tolist() == [False, False, True, False, True]
    before = suspect_kinds(table.drop(columns=["history_label", "history_share"]), None)  # a run without the history
    assert before.kind.tolist() == ["atypical", "likely mislabeled", "atypical", "atypical", "atypical"]


def test_kind_quality_counts_precision_recall_and_suggested_labels():
    from curvlib.suspects import kind_quality

    table = pd.DataFrame({
        "is_likely_mislabeled": [True, True, False, False, False], "is_label_issue": [True, True, True, False, False],
        "suggested_label": [3, 1, 4, 0, 0],
    })  # fmt: skip
    q = kind_quality(table, np.array([True, False, True, True, False]), np.array([3, 1, 2, 0, 0]))
    assert q["precision"] == 0.5 and q["recall"] == 1 / 3 and q["of_flagged"] == 0.5 and q["suggested_correct"] == 1.0
    assert q["called"] == 2 and q["errors"] == 3 and q["flagged_errors"] == 2
