import json

import numpy as np
import pandas as pd
import pytest

from curvlib.data import load_digits
from curvlib.pipeline import ScoreConfig
from curvlib.runs import full_data
from curvlib.training import TrainConfig

TINY = ScoreConfig(
    dataset="digits", subset=400, noise=0.1, model="small_cnn", width=4, test_subset=None,
    train=TrainConfig(epochs=4, batch_size=32, lr=0.1, milestones=(2, 3), score_every=2, h=1e-3, extra_h=(1e-2,), n_probes=2,
                      score_test=True),
)  # fmt: skip


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The full-data pipeline end to end on a tiny digits run: compute, export, and the committed folder."""
    root = tmp_path_factory.mktemp("full")
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(full_data.FULL_RUNS, "tiny", TINY)
        scoring, cl = full_data.run_full_data("tiny", cache_dir=root / "cache")
        folder = full_data.export_full_data("tiny", scoring, cl, root / "out")
    return folder, scoring


def test_export_keeps_every_score_keyed_by_index_and_reads_back(exported, monkeypatch):
    folder, scoring = exported
    monkeypatch.setitem(full_data.FULL_RUNS, "tiny", TINY)
    run = full_data.load_full_data("tiny", folder.parent)
    expected_index = load_digits(train=True).select(np.arange(1347)).index.numpy()
    assert set(run.scores["index"]) <= set(expected_index) and run.scores["index"].is_monotonic_increasing
    assert len(run.scores) == 400 and run.scores["is_noisy"].sum() == 40
    for column in ("curvature", "curvature_h0.01", "loss_mean", "csl", "aum", "forgetting", "learning_time", "grad_norm",
                   "in_confidence", "confident_learning"):
        assert np.isfinite(run.scores[column]).all(), column
    np.testing.assert_allclose(run.scores["curvature"], scoring.tables["scores"]["curvature"], rtol=1e-5)
    assert run.epochs.epoch.tolist() == [1, 2, 3, 4]
    scored = run.epochs["curvature_train"].notna().tolist()
    assert scored == [False, True, False, True] and run.epochs["curvature_h0.01_train"].notna().tolist() == scored
    assert np.isfinite(run.epochs["auroc_curvature"].iloc[-1]) and np.isfinite(run.epochs["auroc_loss_mean"]).all()
    assert run.auroc("curvature") == pytest.approx(run.epochs["auroc_curvature"].iloc[-1])
    assert len(run.test) == 450 and np.isfinite(run.test["curvature"]).all()
    wall = run.meta["wall_seconds"]
    assert wall["training"] > 0 and wall["scoring_and_eval"] > 0 and wall["confident_learning"] > 0
    assert run.meta["environment"]["device"].startswith("cpu")


def test_loading_refuses_a_changed_file_or_a_changed_config(exported, monkeypatch, tmp_path):
    folder, _ = exported
    copy = tmp_path / "tiny"
    copy.mkdir()
    for file in folder.iterdir():
        (copy / file.name).write_bytes(file.read_bytes())
    monkeypatch.setitem(full_data.FULL_RUNS, "tiny", TINY.__class__(**{**TINY.__dict__, "seed": 1}))
    with pytest.raises(ValueError, match="recompute it"):
        full_data.load_full_data("tiny", tmp_path)
    monkeypatch.setitem(full_data.FULL_RUNS, "tiny", TINY)
    epochs = copy / "epochs.csv"
    epochs.write_text(epochs.read_text().replace("1,", "2,", 1))
    with pytest.raises(ValueError, match="checksum"):
        full_data.load_full_data("tiny", tmp_path)
    with pytest.raises(FileNotFoundError, match="python -m curvlib.runs.full_data"):
        full_data.load_full_data("absent", tmp_path)
    assert json.loads((copy / "config.json").read_text())["name"] == "tiny"


def test_the_full_profile_is_the_paper_schedule_shape_on_whole_splits():
    for name, config in full_data.FULL_RUNS.items():
        t = config.train
        assert config.subset is None and config.test_subset is None and t.schedule == "multistep" and t.lr == 0.1
        assert t.milestones == (round(0.4 * t.epochs), round(0.8 * t.epochs)) and t.h == 1e-3 and t.extra_h == (1e-2,)
        assert t.n_probes == 10 and config.model in ("small_cnn", "mlp")
        assert (config.model == "mlp") == name.endswith("-mlp")  # the memorising tier is named for its network
    assert list(full_data.FULL_RUNS)[:2] == ["mnist-noise10", "mnist-original"]


def test_the_memorising_tier_trains_as_the_model_choice_did():
    """The model choice's MLP run and the memorising runs differ only in what is scored, never in training."""
    choice, run = full_data.model_choice_config("mnist", "mlp"), full_data.FULL_RUNS["mnist-noise10-mlp"]
    training = ("epochs", "batch_size", "lr", "momentum", "weight_decay", "schedule", "milestones", "gamma", "augment", "seed")
    assert all(getattr(choice.train, f) == getattr(run.train, f) for f in training)
    assert (choice.model, choice.width, choice.noise, choice.seed) == (run.model, run.width, run.noise, run.seed)


def test_the_long_fashion_mnist_run_trains_as_its_model_choice_would():
    """The full-scale chapter reads the MLP's 150-epoch Fashion-MNIST model-choice row off the memorising run."""
    choice, run = full_data.model_choice_config("fashion_mnist", "mlp", 150), full_data.FULL_RUNS["fashion_mnist-noise10-mlp"]
    training = ("epochs", "batch_size", "lr", "momentum", "weight_decay", "schedule", "milestones", "gamma", "augment", "seed")
    assert all(getattr(choice.train, f) == getattr(run.train, f) for f in training) and (choice.model, choice.width) == (run.model, run.width)


def test_the_cost_model_counts_only_what_a_run_scores():
    """A GPU run scores its training split at five epochs and its test split once; the memorising run both splits at
    every third epoch, at two steps h."""
    gpu = full_data.GPU_RUNS["mnist-noise10-paper"]
    assert full_data.curvature_evaluations(gpu) == 5 * 60_000 + 10_000
    mem = full_data.memorising_config("mnist", 0.1)
    assert full_data.curvature_evaluations(mem) == 20 * 70_000 * 2
    assert full_data.cl_training_epochs(mem, 3) == 120 and full_data.cl_training_epochs(mem, 0) == 0
    # the confident-learning job on the GPU costs its folds' training and nothing of the scoring run
    cl = full_data.estimate_seconds("mnist-noise10-paper-cl") - sum(full_data.H200_RATES[k] for k in ("startup_s", "setup_s"))
    assert cl == pytest.approx(2 * gpu.train.epochs * full_data.H200_RATES["epoch_s"])


def _choice_rows(dataset, candidate, epochs, fitted):
    return pd.DataFrame({"dataset": dataset, "candidate": candidate, "schedule_epochs": epochs, "epoch": np.arange(1, len(fitted) + 1),
                         "flipped_fitted": fitted})  # fmt: skip


def test_the_model_choice_prices_the_shortest_schedule_that_memorises_both_datasets():
    rising = lambda n, top: np.linspace(0.1, top, n)
    choice = pd.concat([
        _choice_rows("mnist", "mlp", 60, rising(60, 0.96)), _choice_rows("fashion_mnist", "mlp", 60, rising(60, 0.7)),
        _choice_rows("fashion_mnist", "mlp", 150, rising(150, 0.97)),
        _choice_rows("mnist", "small_cnn", 60, rising(60, 0.99)), _choice_rows("fashion_mnist", "small_cnn", 60, rising(60, 0.5)),
        _choice_rows("mnist", "resnet9", 60, rising(60, 0.99)), _choice_rows("fashion_mnist", "resnet9", 60, rising(60, 0.99)),
    ])  # fmt: skip
    speeds = pd.DataFrame({"seconds_per_train_epoch": [10.0, 20.0, 40.0], "seconds_per_1000_scored": [1.0, 2.0, 4.0]},
                          index=pd.Index(["mlp", "small_cnn", "resnet9"], name="candidate"))  # fmt: skip
    first = full_data.first_memorising_epoch(choice, "mnist", "mlp", 60)
    assert first == int(np.argmax(rising(60, 0.96) >= 0.95)) + 1 and full_data.first_memorising_epoch(choice, "fashion_mnist", "mlp", 60) is None
    hours = full_data.memorising_hours(choice, speeds)
    assert list(hours) == ["mlp", "resnet9"]  # the small CNN does not memorise Fashion-MNIST
    long_run = full_data.memorising_config("fashion_mnist", 0.1, candidate="mlp", epochs=150)
    assert hours["mlp"]["fashion_mnist"] == full_data.cpu_run_hours(long_run, speeds) > full_data.cpu_run_hours(
        full_data.memorising_config("fashion_mnist", 0.1, candidate="mlp", epochs=60), speeds)
    assert hours["mlp"]["mnist"] == pytest.approx((60 * 3 * 10 + 20 * 70_000 * 2 / 1000) / 3600)
    assert hours["resnet9"]["mnist"] == pytest.approx(4 * hours["mlp"]["mnist"])
    # rounds of speeds: the totals of each round, and a round in which the ranking turns
    rounds = pd.concat({0: speeds, 1: speeds.assign(seconds_per_train_epoch=[100.0, 20.0, 5.0], seconds_per_1000_scored=[10.0, 2.0, 0.5])},
                       names=["round"])  # fmt: skip
    by_round = full_data.memorising_hours_by_round(choice, rounds)
    assert list(by_round.columns) == ["mlp", "resnet9"] and list(by_round.index) == [0, 1]
    assert by_round.loc[0, "mlp"] == pytest.approx(sum(hours["mlp"].values())) and by_round.idxmin(axis=1).tolist() == ["mlp", "resnet9"]
    assert full_data.median_speeds(rounds).loc["mlp", "seconds_per_train_epoch"] == 55.0


def test_a_run_is_priced_at_the_speeds_of_its_own_network():
    speeds = pd.DataFrame({"seconds_per_train_epoch": [1.0, 2.0], "seconds_per_1000_scored": [1.0, 2.0]},
                          index=pd.Index(["mlp", "small_cnn"], name="candidate"))  # fmt: skip
    cnn, mlp = full_data.FULL_RUNS["mnist-noise10"], full_data.FULL_RUNS["mnist-noise10-mlp"]
    assert full_data.cpu_run_hours(cnn, speeds) == pytest.approx(2 * full_data.run_seconds(cnn, 1.0, 1e-3, full_data.CL_FOLDS) / 3600)
    assert full_data.cpu_run_hours(mlp, speeds) == pytest.approx(full_data.run_seconds(mlp, 1.0, 1e-3, full_data.CL_FOLDS) / 3600)


def test_the_committed_model_choice_reads_back_with_its_speeds(tmp_path):
    rows = _choice_rows("mnist", "mlp", 60, np.linspace(0.1, 0.96, 60))
    rows.to_csv(tmp_path / "model_choice.csv", index=False)
    (tmp_path / "model_choice_speed.csv").write_text(
        "round,candidate,seconds_per_train_epoch,seconds_per_1000_scored\n0,mlp,7.5,0.93\n1,mlp,8.5,0.95\n")
    choice, speeds = full_data.load_model_choice(tmp_path)
    assert len(choice) == 60 and speeds.loc[(1, "mlp"), "seconds_per_train_epoch"] == 8.5  # no committed run: nothing read off it
    assert full_data.median_speeds(speeds).loc["mlp", "seconds_per_1000_scored"] == pytest.approx(0.94)
