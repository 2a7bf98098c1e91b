"""Cost of the memorization score vs plain training, and what cheaper settings lose.

Trains the quick MNIST configuration (10% noise) once without scoring and once per n ∈ {1, 2, 5, 10}
probes with curvature scored every epoch. Scoring every k ∈ {1, 2, 4} epochs is read off those runs:
training never depends on scoring, so the epochs k, 2k, … of an every-epoch run are exactly what a run
scored every k epochs sees (curvlib.analysis.every_k_curvature). Its time is the run's training time plus
the measured evaluation-and-scoring time of the scored epochs plus the plain run's evaluation time of the
others. Prints a table, the cheapest setting within 0.005 AUROC of the paper's (k = 1, n = 10), and writes
benchmarks/results/cost_quality_<device>.json. Run: make bench (or python benchmarks/bench_cost.py --subset 4000).
"""
from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import pandas as pd

from curvlib.analysis import cheapest_within, every_k_curvature
from curvlib.metrics import auroc
from curvlib.pipeline import PRESETS, run_scoring, with_train
from curvlib.results import atomic_write, environment_info
from curvlib.training import scored_epochs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subset", type=int, default=4000, help="MNIST training images (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=30, help="training epochs (default: %(default)s)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--cache-dir", default="results/cache", help="runs are cached here by config")
    args = parser.parse_args()
    # training-set scoring only (the 2,000 test images are evaluated, not scored), as in the paper's cost table
    base = with_train(replace(PRESETS["mnist_quick"], subset=args.subset), epochs=args.epochs, score_test=False)
    plain = run_scoring(with_train(base, score_every=0), cache_dir=args.cache_dir, device=args.device).tables["history"]
    rows = [{"every_k": 0, "n_probes": 0, "seconds_train": float(plain.seconds_train.sum()),
             "seconds_eval_and_score": float(plain.seconds_score.sum()), "auroc": None}]  # fmt: skip
    for probes in (1, 2, 5, 10):
        run = run_scoring(with_train(base, score_every=1, n_probes=probes), cache_dir=args.cache_dir, device=args.device)
        history, flags = run.tables["history"], run.tables["scores"]["is_noisy"].to_numpy()
        for every in (1, 2, 4):
            scored = scored_epochs(args.epochs, every)
            rows.append({
                "every_k": every, "n_probes": probes, "seconds_train": float(history.seconds_train.sum()),
                "seconds_eval_and_score": float(history.seconds_score[scored].sum() + plain.seconds_score[~scored].sum()),
                "auroc": auroc(flags, every_k_curvature(run, every)),
            })  # fmt: skip
    rows.sort(key=lambda r: (r["every_k"], r["n_probes"]))
    plain_s = rows[0]["seconds_train"] + rows[0]["seconds_eval_and_score"]
    print(f"MNIST {args.subset} images, 10% noise, {args.epochs} epochs, device {args.device}")
    print(f"{'k':>3s} {'n':>3s} {'train s':>8s} {'eval+score s':>13s} {'x plain':>8s} {'AUROC':>7s}")
    for r in rows:
        total = r["seconds_train"] + r["seconds_eval_and_score"]
        auc = f"{r['auroc']:.4f}" if r["auroc"] is not None else "   -"
        print(f"{r['every_k']:3d} {r['n_probes']:3d} {r['seconds_train']:8.1f} {r['seconds_eval_and_score']:13.1f} {total / plain_s:8.2f} {auc:>7s}")
    table = pd.DataFrame(rows[1:])
    reference = float(table[(table.every_k == 1) & (table.n_probes == 10)].auroc.iloc[0])
    cheapest = rows[1 + int(cheapest_within(table, cost="seconds_eval_and_score", floors={"auroc": reference - 0.005}).name)]
    print(f"cheapest within 0.005 AUROC of (k=1, n=10): k={cheapest['every_k']}, n={cheapest['n_probes']} "
          f"(AUROC {cheapest['auroc']:.4f} vs {reference:.4f})")
    out = Path(__file__).parent / "results" / f"cost_quality_{args.device.split(':')[0]}.json"
    payload = {"benchmark": "cost_quality", "subset": args.subset, "epochs": args.epochs, "rows": rows,
               "cheapest": cheapest, "environment": environment_info(args.device)}
    atomic_write(out, lambda tmp: Path(tmp).write_text(json.dumps(payload, indent=2) + "\n"))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
