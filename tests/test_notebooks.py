"""Execute every book notebook in the quick profile, as `make book` does; their hidden cells check results."""
from pathlib import Path

import papermill
import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
# Two groups, one per pytest-xdist worker (make test: -n 2 --dist loadgroup), balanced by their measured minutes.
# Chapters that reuse each other's cached runs share a group (each worker has its own cache); within a group the
# order is the order below, so a chapter that needs a run comes after the one that computes it.
GROUPS = {
    "mnist-runs": ["toy_example.ipynb", "mislabel_detection.ipynb", "curvature_dynamics.ipynb", "calibration.ipynb",
                   "weight_decay.ipynb", "top_curvature_samples.ipynb", "cost.ipynb"],
    "fz-runs": ["feldman_zhang.ipynb", "sensitivity.ipynb", "architectures.ipynb", "defaults.ipynb"],
}  # fmt: skip
ORDER = [name for names in GROUPS.values() for name in names]


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("notebook-cache")


def test_every_notebook_is_listed():
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(ORDER)


@pytest.mark.notebooks
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.xdist_group(g)) for g, ns in GROUPS.items() for n in ns])
def test_notebook_executes_in_quick_profile(name, cache_dir, tmp_path):
    papermill.execute_notebook(
        str(NOTEBOOKS / name), str(tmp_path / name), parameters={"profile": "quick", "cache_dir": str(cache_dir)},
        cwd=str(NOTEBOOKS), kernel_name="python3", progress_bar=False,
    )  # fmt: skip
