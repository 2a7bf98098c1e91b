"""Which network memorises the flipped labels of all 60,000 MNIST (or Fashion-MNIST) training images on a 2-core CPU.

Trains each candidate of :data:`curvlib.runs.full_data.CHOICE_CANDIDATES` through the whole schedule of the
memorising recipe (:data:`curvlib.runs.full_data.MEMORISING_RECIPE`: 60 epochs, lr 0.1 ×0.1 after epochs 24 and 48,
momentum 0.9, batch 128, no weight decay) on the dataset with 10% of its labels flipped, and records after every
epoch the share of flipped labels fitted (on their wrong label), the share of clean labels fitted, the test
accuracy and the seconds spent (:func:`curvlib.runs.full_data.run_model_choice`). Each run is cached under
``results/cache`` and resumes from its checkpoint after an interruption. Rows are merged into
``results/full/model_choice.csv`` (one per dataset, candidate and epoch), the environment into
``results/full/model_choice.json``.

The seconds logged by those runs depend on what else ran beside them. ``--speed`` measures every candidate one after
the other in one process, so under the same load, in three rounds: seconds per training epoch of 60,000 images
(batch 128, SGD with momentum) and per 1,000 samples scored (curvature at one h, n = 10), printed and written to
``results/full/model_choice_speed.csv``; the book's chapter estimates each candidate's whole run from them
(:func:`curvlib.runs.full_data.memorising_hours_by_round`).

    python benchmarks/full_data_model_choice.py mnist mlp small_cnn          # dataset, candidates in order (60 epochs)
    python benchmarks/full_data_model_choice.py fashion_mnist mlp --epochs 150   # a longer schedule of the same shape
    python benchmarks/full_data_model_choice.py --speed                      # every candidate's speed, same load, 3 rounds
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pandas as pd
import torch
from bench_curvature import best_times  # the curvature benchmark's timing (this script's folder is on sys.path)
from curvlib.cli import progress_lines
from curvlib.curvature import input_loss_curvature
from curvlib.models import build_model
from curvlib.results import atomic_write, environment_info
from curvlib.training import lr_scheduler, sgd_step
from curvlib.runs.full_data import CHOICE_CANDIDATES, FULL_RESULTS, MEMORISING_RECIPE, run_model_choice

TABLE, META, SPEED = FULL_RESULTS / "model_choice.csv", FULL_RESULTS / "model_choice.json", FULL_RESULTS / "model_choice_speed.csv"


def speed(candidate: str, repeats: int = 3, steps: int = 20, scored: int = 500) -> dict:
    """Seconds per training epoch of 60,000 MNIST-shaped images (the best of ``repeats`` timings of ``steps`` SGD steps
    at the memorising recipe's batch, times ceil(60,000 / batch)) and per 1,000 samples scored (the best of
    ``repeats`` timings of curvature at h = 1e-3, n = 10, on ``scored`` samples), after one warm-up of each
    (:func:`bench_curvature.best_times`, the curvature benchmark's timing)."""
    model_name, width = CHOICE_CANDIDATES[candidate]
    torch.manual_seed(0)
    model = build_model(model_name, input_shape=(1, 28, 28), num_classes=10, width=width)
    recipe, batch = MEMORISING_RECIPE, MEMORISING_RECIPE.batch_size
    optimiser = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay)
    scheduler = lr_scheduler(optimiser, recipe, steps_per_epoch=math.ceil(60_000 / batch))
    x, y = torch.randn(batch, 1, 28, 28), torch.randint(0, 10, (batch,))

    def train_steps(n):  # the training loop's own step (curvlib.training.sgd_step)
        model.train()
        for _ in range(n):
            sgd_step(torch.nn.functional.cross_entropy(model(x), y), optimiser, scheduler, recipe, end_of_epoch=False)

    xs, ys = torch.randn(scored, 1, 28, 28), torch.randint(0, 10, (scored,))
    score = lambda: input_loss_curvature(model.eval(), xs, ys, h=1e-3, n_probes=10)
    train_time, score_time = best_times(lambda: train_steps(steps), score, repeats=repeats, device=torch.device("cpu"))
    return {"candidate": candidate, "seconds_per_train_epoch": train_time / steps * math.ceil(60_000 / batch),
            "seconds_per_1000_scored": score_time / scored * 1000}


def measure_speeds(rounds: int = 3) -> None:
    """Every candidate's :func:`speed`, one after the other in this process, ``rounds`` times over (a change of load
    touches every candidate of a round alike; the spread over rounds is the timing's uncertainty); printed and written
    to SPEED, one row per round and candidate."""
    rows = []
    for round_ in range(rounds):
        for candidate in CHOICE_CANDIDATES:
            rows.append({"round": round_, **speed(candidate)})
            print(f"round {round_} {candidate}: {rows[-1]['seconds_per_train_epoch']:.1f} s per training epoch, "
                  f"{rows[-1]['seconds_per_1000_scored']:.2f} s per 1,000 samples scored", flush=True)
    table = pd.DataFrame(rows).assign(torch_threads=torch.get_num_threads(), device=environment_info()["device"])
    atomic_write(SPEED, lambda tmp: table.to_csv(tmp, index=False, float_format="%.6g"))


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
    if args == ["--speed"]:
        measure_speeds()
        sys.exit()
    epochs = int(args.pop(args.index("--epochs") + 1)) if "--epochs" in args else 60
    args = [a for a in args if a != "--epochs"]
    with progress_lines():
        main(args[0], args[1:], epochs)
