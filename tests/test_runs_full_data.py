import json

import numpy as np
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
