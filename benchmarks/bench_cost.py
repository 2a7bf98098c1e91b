"""Cost of the memorization score vs plain training, and what cheaper settings lose.

Trains the quick MNIST configuration (10% noise) with curvature scored every k ∈ {1, 2, 4} epochs and
n ∈ {1, 2, 5, 10} probes, plus once without scoring; records training and scoring wall time and the
curvature AUROC for the flipped labels. Prints a table, the cheapest setting within 0.005 AUROC of the
paper's (k = 1, n = 10), and writes benchmarks/results/cost_quality_<device>.json.
Run: make bench (or python benchmarks/bench_cost.py --subset 5000).
"""
from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from curvlib.experiments import PRESETS, noisy_auroc, run_scoring, with_train
from curvlib.results import atomic_write, environment_info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subset", type=int, default=5000, help="MNIST training images (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=30, help="training epochs (default: %(default)s)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--cache-dir", default="results/cache", help="runs are cached here by config")
    args = parser.parse_args()
    base = with_train(replace(PRESETS["mnist_quick"], subset=args.subset), epochs=args.epochs)
    rows = []
    settings = [(0, 10)] + [(k, n) for k in (1, 2, 4) for n in (1, 2, 5, 10)]
    for every, probes in settings:
        run = run_scoring(with_train(base, score_every=every, n_probes=probes), cache_dir=args.cache_dir, device=args.device)
        h = run.tables["history"]
        rows.append({
            "every_k": every, "n_probes": probes, "seconds_train": float(h.seconds_train.sum()),
            "seconds_eval_and_score": float(h.seconds_score.sum()),
            "auroc": noisy_auroc(run.tables["scores"]) if every else None,
        })  # fmt: skip
    plain = rows[0]["seconds_train"] + rows[0]["seconds_eval_and_score"]
    print(f"MNIST {args.subset} images, 10% noise, {args.epochs} epochs, device {args.device}")
    print(f"{'k':>3s} {'n':>3s} {'train s':>8s} {'eval+score s':>13s} {'x plain':>8s} {'AUROC':>7s}")
    for r in rows:
        total = r["seconds_train"] + r["seconds_eval_and_score"]
        auroc = f"{r['auroc']:.4f}" if r["auroc"] is not None else "   -"
        print(f"{r['every_k']:3d} {r['n_probes']:3d} {r['seconds_train']:8.1f} {r['seconds_eval_and_score']:13.1f} {total / plain:8.2f} {auroc:>7s}")
    reference = next(r for r in rows if r["every_k"] == 1 and r["n_probes"] == 10)["auroc"]
    good = [r for r in rows if r["auroc"] is not None and r["auroc"] >= reference - 0.005]
    cheapest = min(good, key=lambda r: r["seconds_eval_and_score"])
    print(f"cheapest within 0.005 AUROC of (k=1, n=10): k={cheapest['every_k']}, n={cheapest['n_probes']} "
          f"(AUROC {cheapest['auroc']:.4f} vs {reference:.4f})")
    out = Path(__file__).parent / "results" / f"cost_quality_{args.device.split(':')[0]}.json"
    payload = {"benchmark": "cost_quality", "subset": args.subset, "epochs": args.epochs, "rows": rows,
               "cheapest": cheapest, "environment": environment_info(args.device)}
    atomic_write(out, lambda tmp: Path(tmp).write_text(json.dumps(payload, indent=2) + "\n"))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
