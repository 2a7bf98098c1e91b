"""Execute every book notebook in the quick profile, as `make book` does; their hidden cells check results.

``make test`` runs pytest-xdist with ``--dist loadscope``: each test class below is one unit of work, run by one
worker in the order listed. A class holds the chapters that reuse each other's cached runs (each worker has its
own cache), so a chapter that needs a run comes after the one that computes it. The classes run before the unit
tests (tests/conftest.py), in the order below; measured minutes on one thread per worker: FZ runs 24, MNIST runs
19, localization 6.5, size ladders 10. One worker takes the FZ class, the other the MNIST class, and each takes
the next class when two of its tests are left: the FZ worker asks first (after about 11 minutes) and gets the
localization chapters (30 minutes in all), the MNIST worker the size ladders (29); the unit tests fill the ends.
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


@pytest.mark.parametrize("name", GROUPS["FZ runs"])
class TestFeldmanZhangRunChapters(_Chapters):
    pass


@pytest.mark.parametrize("name", GROUPS["MNIST runs"])
class TestMnistRunChapters(_Chapters):
    pass


@pytest.mark.parametrize("name", GROUPS["localization"])
class TestLocalizationChapters(_Chapters):
    pass


@pytest.mark.parametrize("name", GROUPS["size ladders"])
class TestSizeLadderChapters(_Chapters):
    pass
