"""Benchmark: training speed of the model-size ladder's FZ ensembles, models per second at each size,
vectorised (one stacked ensemble, as curvlib.runs.model_size.run_fz_per_size runs them) against one model at a time.

The quick profile's ladder (curvlib.runs.model_size.book_ladders("quick")): MLP widths on digits, its recipe with
the epochs cut to 10. Prints a table and writes benchmarks/results/size_ladder_<device>.json.
Usage: python benchmarks/bench_size_ladder.py [device]
"""
import json
import sys
from dataclasses import replace
from pathlib import Path

from bench_fz import ensemble_speed  # the same timing as the FZ benchmark (this script's folder is on sys.path)

from curvlib.pipeline import model_factory, prepare_data
from curvlib.results import atomic_write, environment_info
from curvlib.runs import model_size as size_runs


def main() -> None:
    device = sys.argv[1] if len(sys.argv) > 1 else "cpu"
    ladder = size_runs.book_ladders("quick")["digits, 10% noise"]
    config = replace(ladder.train, epochs=10, score_every=0)
    data, _ = prepare_data(ladder.data)
    rows = []
    for width in ladder.widths:
        make = model_factory(replace(ladder.data, model=ladder.model, width=width), data)
        rows.append({"width": width, **ensemble_speed(make, data, config, ladder.fraction, device, loop_models=2)})
    print(f"size ladder ({ladder.data.dataset}, {len(data)} samples, {config.epochs} epochs per model), device {device}")
    for r in rows:
        print(f"  width {r['width']:4d}: vectorised {r['vectorized_models_per_s']:7.2f} models/s, "
              f"one at a time {r['loop_models_per_s']:6.2f} models/s: {r['speedup']:.2f}x")
    out = Path(__file__).parent / "results" / f"size_ladder_{device.split(':')[0]}.json"
    payload = {"benchmark": "size_ladder", "epochs": config.epochs, "rows": rows, "environment": environment_info(device)}
    atomic_write(out, lambda tmp: Path(tmp).write_text(json.dumps(payload, indent=2) + "\n"))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
