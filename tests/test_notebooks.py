"""Execute every book notebook twice: in the quick profile into ``book/chapters/`` (the book ``make test`` then
builds) and in the paper profile at smoke scale into ``book/_smoke/chapters/`` (its models and code paths at toy
sizes, on real MNIST and fake CIFAR files). Their hidden cells check structure at every scale and claims at full
scale; ``make test`` builds both books from these outputs afterwards.

``make test`` runs pytest-xdist with ``--dist loadscope``: each test class below is one unit of work, run by one
worker in the order listed, so chapters that reuse each other's cached runs (each worker has its own cache) sit
in one class, after the chapter that computes them. xdist queues the units largest first (by number of tests)
and gives a worker its next unit when two of its tests are left, so the two classes always go to different
workers. They are balanced by measured minutes on one thread per worker: FZ runs 24 + localization 6.5 against
MNIST runs 19 + size ladders 10 (quick profile); the smoke runs take 10-40 s per chapter.
"""
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
sys.path.insert(0, str(ROOT / "book"))
from execute import execute  # noqa: E402

from fake_data import smoke_data_root  # noqa: E402

GROUPS = {
    "MNIST runs": ["toy_example.ipynb", "mislabel_detection.ipynb", "curvature_dynamics.ipynb", "calibration.ipynb",
                   "weight_decay.ipynb", "top_curvature_samples.ipynb", "cost.ipynb", "full_scale.ipynb"],
    "FZ runs": ["feldman_zhang.ipynb", "sensitivity.ipynb", "architectures.ipynb", "defaults.ipynb"],
    "size ladders": ["size_ladder.ipynb", "size_proxies.ipynb", "distillation.ipynb"],
    "localization": ["localization.ipynb", "neuron_flipping.ipynb", "tied_dropout.ipynb"],
}  # fmt: skip


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("notebook-cache")


@pytest.fixture(scope="session")
def smoke_root(tmp_path_factory):
    return smoke_data_root(tmp_path_factory.mktemp("smoke-data"), os.environ.get("CURVLIB_DATA_ROOT", ROOT.parent / "shared" / "data"))


def test_every_notebook_is_listed_once():
    listed = [name for names in GROUPS.values() for name in names]
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(listed) and len(set(listed)) == len(listed)


class _Chapters:
    @pytest.mark.notebooks
    def test_notebook_executes(self, name, mode, cache_dir, smoke_root):
        if mode == "quick":
            execute(NOTEBOOKS / name, ROOT / "book" / "chapters", {"profile": "quick", "smoke": False, "cache_dir": str(cache_dir)}, force=True)
        else:
            parameters = {"profile": "paper", "smoke": True, "cache_dir": str(cache_dir / "smoke"), "data_root": str(smoke_root)}
            execute(NOTEBOOKS / name, ROOT / "book" / "_smoke" / "chapters", parameters, force=True)


def _cases(*groups):
    names = [name for group in groups for name in GROUPS[group]]
    return [(name, "quick") for name in names] + [(name, "paper, smoke scale") for name in names]


@pytest.mark.parametrize("name, mode", _cases("FZ runs", "localization"))
class TestFeldmanZhangAndLocalizationChapters(_Chapters):
    pass


@pytest.mark.parametrize("name, mode", _cases("MNIST runs", "size ladders"))
class TestMnistAndSizeLadderChapters(_Chapters):
    pass
