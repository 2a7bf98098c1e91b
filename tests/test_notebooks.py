"""Execute every book notebook in the quick profile, as `make book` does; their hidden cells check results.

``make test`` runs pytest-xdist with ``--dist loadscope``: each test class below is one unit of work, run by one
worker in the order listed, so chapters that reuse each other's cached runs (each worker has its own cache) sit
in one class, after the chapter that computes them. xdist queues the units largest first (by number of tests)
and gives a worker its next unit when two of its tests are left, so the two classes always go to different
workers. They are balanced by measured minutes on one thread per worker: FZ runs 24 + localization 6.5 against
MNIST runs 19 + size ladders 10; the unit tests fill the ends.
"""
from pathlib import Path

import papermill
import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
GROUPS = {
    "MNIST runs": ["toy_example.ipynb", "mislabel_detection.ipynb", "curvature_dynamics.ipynb", "calibration.ipynb",
                   "weight_decay.ipynb", "top_curvature_samples.ipynb", "cost.ipynb"],
    "FZ runs": ["feldman_zhang.ipynb", "sensitivity.ipynb", "architectures.ipynb", "defaults.ipynb"],
    "size ladders": ["size_ladder.ipynb", "size_proxies.ipynb", "distillation.ipynb"],
    "localization": ["localization.ipynb", "neuron_flipping.ipynb", "tied_dropout.ipynb"],
}  # fmt: skip


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("notebook-cache")


def test_every_notebook_is_listed_once():
    listed = [name for names in GROUPS.values() for name in names]
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(listed) and len(set(listed)) == len(listed)


class _Chapters:
    @pytest.mark.notebooks
    def test_notebook_executes_in_quick_profile(self, name, cache_dir, tmp_path):
        papermill.execute_notebook(
            str(NOTEBOOKS / name), str(tmp_path / name), parameters={"profile": "quick", "cache_dir": str(cache_dir)},
            cwd=str(NOTEBOOKS), kernel_name="python3", progress_bar=False,
        )  # fmt: skip


@pytest.mark.parametrize("name", GROUPS["FZ runs"] + GROUPS["localization"])
class TestFeldmanZhangAndLocalizationChapters(_Chapters):
    pass


@pytest.mark.parametrize("name", GROUPS["MNIST runs"] + GROUPS["size ladders"])
class TestMnistAndSizeLadderChapters(_Chapters):
    pass
