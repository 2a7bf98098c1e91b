"""Test-session settings shared by every test file.

``make test`` runs two pytest-xdist workers on the 2-core CI machine. Each worker, and every notebook kernel it
starts (they inherit its environment), then uses one torch thread: two single-threaded processes keep both cores
busy, while two two-threaded ones oversubscribe them and run slower than one process alone.

The notebook classes are collected first (:func:`pytest_collection_modifyitems`). ``--dist loadscope`` hands a
worker its next class as soon as two of its tests are left, so the order of the classes decides the split: with
the long classes first, each worker starts on one and the unit tests fill the gaps at the end.
"""
import os

if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)


def pytest_collection_modifyitems(items):
    """Move the notebook chapters' test classes (tests/test_notebooks.py, in their order there) before every other test."""
    items.sort(key=lambda item: 0 if item.cls is not None and item.module.__name__.endswith("test_notebooks") else 1)
