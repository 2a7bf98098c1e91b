"""Test-session settings shared by every test file.

``make test`` runs two pytest-xdist workers on the 2-core CI machine. Each worker, and every notebook kernel it
starts (they inherit its environment), then uses one torch thread: two single-threaded processes keep both cores
busy, while two two-threaded ones oversubscribe them and run slower than one process alone.
"""
import os

if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)

