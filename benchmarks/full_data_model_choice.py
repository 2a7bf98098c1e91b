"""Which network memorises the flipped labels of all 60,000 MNIST (or Fashion-MNIST) training images on a 2-core CPU.

Trains each candidate of :data:`curvlib.runs.full_data.CHOICE_CANDIDATES` through the whole schedule of the
memorising recipe (:data:`curvlib.runs.full_data.MEMORISING_RECIPE`: 60 epochs, lr 0.1 ×0.1 after epochs 24 and 48,
momentum 0.9, batch 128, no weight decay) on the dataset with 10% of its labels flipped, and records after every
epoch the share of flipped labels fitted (on their wrong label), the share of clean labels fitted, the test
accuracy and the seconds spent (:func:`curvlib.runs.full_data.run_model_choice`). Each run is cached under
``results/cache`` and resumes from its checkpoint after an interruption. Rows are merged into
``results/full/model_choice.csv`` (one per dataset, candidate and epoch), the environment into
``results/full/model_choice.json``.

    python benchmarks/full_data_model_choice.py mnist mlp small_cnn          # dataset, candidates in order (60 epochs)
    python benchmarks/full_data_model_choice.py fashion_mnist mlp --epochs 150   # a longer schedule of the same shape
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
from curvlib.cli import progress_lines
from curvlib.results import atomic_write
from curvlib.runs.full_data import CHOICE_CANDIDATES, FULL_RESULTS, run_model_choice

TABLE, META = FULL_RESULTS / "model_choice.csv", FULL_RESULTS / "model_choice.json"


def main(dataset: str, candidates: list[str], epochs: int = 60) -> None:
    unknown = [c for c in candidates if c not in CHOICE_CANDIDATES]
    if unknown:
        raise SystemExit(f"unknown candidate(s) {unknown}; choose from {list(CHOICE_CANDIDATES)}")
    for candidate in candidates:
        rows, environment = run_model_choice(dataset, candidate, epochs, cache_dir="results/cache")
        last = rows.iloc[-1]
        print(f"{dataset} {candidate}: {last.flipped_fitted:.1%} of flips and {last.clean_fitted:.2%} of clean labels fitted "
              f"after {int(last.epoch)} epochs, test {last.test_accuracy:.2%}, {rows.seconds_train.sum() / 60:.0f} min training", flush=True)  # fmt: skip
        table = pd.read_csv(TABLE) if TABLE.exists() else rows.iloc[:0]
        same = (table.dataset == dataset) & (table.candidate == candidate) & (table.schedule_epochs == epochs)
        table = pd.concat([table[~same], rows], ignore_index=True)
        atomic_write(TABLE, lambda tmp: table.to_csv(tmp, index=False, float_format="%.6g"))
        meta = json.loads(META.read_text()) if META.exists() else {}
        meta[f"{dataset}/{candidate}/{epochs}"] = environment
        atomic_write(META, lambda tmp: Path(tmp).write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n"))


if __name__ == "__main__":
    args = sys.argv[1:]
    epochs = int(args.pop(args.index("--epochs") + 1)) if "--epochs" in args else 60
    args = [a for a in args if a != "--epochs"]
    with progress_lines():
        main(args[0], args[1:], epochs)
