"""Results written once, atomically, with their config and environment; read back by config hash.

A *run directory* holds tidy CSV tables (``<name>.csv``), optional per-epoch arrays
(``arrays.npz``) and ``config.json`` = {"config": ..., "environment": ...}. ``config.json`` is
written last, so a directory with it is complete; every file is written to a temporary name and
moved into place, so an interrupted write never leaves a half file behind.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch

from .distributed import rank_and_world

__all__ = [
    "RunResult", "config_hash", "environment_info", "atomic_write", "save_run", "load_run", "load_or_compute", "check_run_dir",
    "mark_pending", "write_npz", "PENDING",
]  # fmt: skip

PENDING = "pending.json"  # written when a run starts in an output folder, removed once config.json is written


@dataclass
class RunResult:
    """Tables (pandas DataFrames by name), per-epoch arrays (NumPy by name) and the run's metadata."""

    tables: dict[str, pd.DataFrame]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def config(self) -> dict[str, Any]:
        return self.meta.get("config", {})


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


def config_hash(config: dict[str, Any]) -> str:
    """First 12 hex digits of SHA-256 over the config as canonical JSON (sorted keys)."""
    text = json.dumps(_jsonable(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@functools.lru_cache(maxsize=1)
def _git_commit() -> str | None:
    """HEAD of this checkout when first asked in this process (a long run records the code it started with).

    Only the checkout's own ``.git`` is asked, never a repository above it: a copy without ``.git`` (as a GPU job
    gets) takes the commit from the environment variable ``CURVLIB_GIT_COMMIT`` (``make gpu-job COMMIT=...`` sets
    it), else None."""
    root = Path(__file__).resolve().parents[1]
    if not (root / ".git").exists():
        return os.environ.get("CURVLIB_GIT_COMMIT") or None
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=root)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def environment_info(device: str | torch.device | None = None) -> dict[str, Any]:
    """Versions and machine facts stored beside every result."""
    from . import __version__

    device = torch.device(device or "cpu")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    return {
        "curvlib": __version__,
        "git_commit": _git_commit(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": f"{device.type}: {name}",
        "cpu_threads": torch.get_num_threads(),
    }


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp_path)`` then move the temporary file onto ``path`` (same folder, atomic rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def write_npz(path: str, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` compressed to exactly ``path`` (NumPy would append ".npz" to a name); use with :func:`atomic_write`."""
    with open(path, "wb") as f:  # a file object, so NumPy does not append ".npz" to the name
        np.savez_compressed(f, **arrays)


def save_run(
    directory: str | os.PathLike, tables: dict[str, pd.DataFrame], config: dict[str, Any],
    arrays: dict[str, np.ndarray] | None = None, device: str | torch.device | None = None, extra: dict[str, Any] | None = None,
) -> RunResult:
    """Write tables, arrays and ``config.json`` (config, its hash, :func:`environment_info` and the ``extra``
    entries, e.g. what was inferred about the data) into ``directory``; remove its :data:`PENDING` marker.

    Under torch.distributed only rank 0 writes; every rank gets the same RunResult back.
    """  # fmt: skip
    directory = Path(directory)
    meta = {"config": _jsonable(config), "config_hash": config_hash(config), "environment": environment_info(device)}
    meta.update(_jsonable(extra or {}))
    if rank_and_world()[0] != 0:
        return RunResult(dict(tables), dict(arrays or {}), meta)
    for name, table in tables.items():
        atomic_write(directory / f"{name}.csv", lambda tmp, t=table: t.to_csv(tmp, index=False))
    if arrays:
        atomic_write(directory / "arrays.npz", lambda tmp: write_npz(tmp, arrays))
    atomic_write(directory / "config.json", lambda tmp: Path(tmp).write_text(json.dumps(meta, indent=2) + "\n"))
    (directory / PENDING).unlink(missing_ok=True)
    return RunResult(dict(tables), dict(arrays or {}), meta)


def check_run_dir(directory: str | os.PathLike, config: dict[str, Any], data_sha256: str | None = None) -> None:
    """Raise ValueError, saying what to do, unless ``directory`` can take a run of ``config``: it is absent
    (and can be created), empty, or holds a finished or interrupted run of the same config (same
    :func:`config_hash` in its ``config.json`` or :data:`PENDING`) and, when ``data_sha256`` is given (the
    :meth:`curvlib.data.IndexedDataset.fingerprint` of your own data), of the same data, which is then resumed
    or rewritten. A run must never resume on other data that happens to lie at the same path."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise ValueError(f"output folder {directory} is a file: choose another --out")
    existing = directory
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"output folder {directory} cannot be written ({existing} is not a writable folder): choose another --out")
    if not directory.exists() or not any(directory.iterdir()):
        return
    for name in ("config.json", PENDING):
        path = directory / name
        if path.exists():
            try:
                record = json.loads(path.read_text())
                found, found_data = record.get("config_hash"), record.get("data_sha256")
            except (ValueError, AttributeError):
                found, found_data = None, None
            if found == config_hash(config) and data_sha256 is not None and found_data != data_sha256:
                raise ValueError(
                    f"output folder {directory} holds a run of other data with the same options ({name}: data {str(found_data)[:12]}, "
                    f"this data {str(data_sha256)[:12]}): choose an empty --out, or delete that folder"
                )
            if found == config_hash(config):
                return
            raise ValueError(
                f"output folder {directory} holds a run of another config ({name}: hash {found}, this one {config_hash(config)}): "
                "choose an empty --out, or delete that folder"
            )
    raise ValueError(f"output folder {directory} is not empty and holds no curvlib run: choose an empty --out")


def mark_pending(directory: str | os.PathLike, config: dict[str, Any], data_sha256: str | None = None) -> None:
    """Create ``directory`` and write its :data:`PENDING` marker (the config, its hash and the data's fingerprint),
    so that an interrupted run can be recognised, and resumed on the same data only, by :func:`check_run_dir`."""
    record = {"config_hash": config_hash(config), "data_sha256": data_sha256, "config": _jsonable(config)}
    text = json.dumps(record, indent=2) + "\n"
    atomic_write(Path(directory) / PENDING, lambda tmp: Path(tmp).write_text(text))


def load_run(directory: str | os.PathLike) -> RunResult:
    """Read back what :func:`save_run` wrote; FileNotFoundError if the run is absent or incomplete."""
    directory = Path(directory)
    meta_path = directory / "config.json"
    if not meta_path.exists():
        raise FileNotFoundError(f"{meta_path} not found: {directory} holds no complete run (rerun to compute it)")
    meta = json.loads(meta_path.read_text())
    tables = {p.stem: pd.read_csv(p) for p in sorted(directory.glob("*.csv"))}
    arrays_path = directory / "arrays.npz"
    arrays = dict(np.load(arrays_path)) if arrays_path.exists() else {}
    return RunResult(tables, arrays, meta)


def load_or_compute(
    cache_dir: str | os.PathLike, name: str, config: dict[str, Any],
    compute: Callable[[Path], tuple[dict[str, pd.DataFrame], dict[str, np.ndarray]]],
) -> RunResult:
    """Return the run ``<cache_dir>/<name>-<config_hash>`` if complete, else compute and save it.

    ``compute(run_dir)`` returns (tables, arrays); it may keep checkpoints in ``run_dir`` to resume
    an interrupted computation, and should remove them before it returns.
    """  # fmt: skip
    directory = Path(cache_dir) / f"{name}-{config_hash(config)}"
    if (directory / "config.json").exists():
        return load_run(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tables, arrays = compute(directory)
    return save_run(directory, tables, config, arrays, device=config.get("device"))
