"""Peak memory of curvature scoring as a function of batch size and probe chunk size.

Each configuration runs in a fresh subprocess; on CPU we report the growth of the peak resident set
size over a baseline process that built the same model and inputs (ru_maxrss), on CUDA
torch.cuda.max_memory_allocated. Prints a table and writes benchmarks/results/memory_<device>.json.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from curvlib.results import atomic_write, environment_info

CHILD = r"""
import resource, sys, torch
from curvlib.curvature import input_loss_curvature
from curvlib.models import preact_resnet18
batch, chunk, device, run = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4] == "1"
torch.manual_seed(0)
model = preact_resnet18(10, 1, 16).to(device).eval()
x, y = torch.randn(batch, 1, 28, 28, device=device), torch.randint(0, 10, (batch,), device=device)
if run:
    input_loss_curvature(model, x, y, n_probes=10, chunk_size=chunk)
if device.startswith("cuda"):
    print(torch.cuda.max_memory_allocated() / 2**20)
else:
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def peak_mib(batch: int, chunk: int, device: str, run: bool) -> float:
    out = subprocess.run([sys.executable, "-c", CHILD, str(batch), str(chunk), device, "1" if run else "0"],
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    device = sys.argv[1] if len(sys.argv) > 1 else "cpu"
    rows = []
    for batch in (32, 128, 512):
        base = peak_mib(batch, 1, device, run=False)
        for chunk in (1, 2, 5, 10):
            rows.append({"batch": batch, "chunk": chunk, "perturbed_rows_per_pass": batch * chunk,
                         "peak_mib_over_baseline": peak_mib(batch, chunk, device, run=True) - base})
    print(f"preact_resnet18 w16, MNIST inputs, n=10 probes, device {device}: peak memory over baseline (MiB)")
    print(f"{'batch':>6s} " + " ".join(f"chunk={c:<3d}" for c in (1, 2, 5, 10)))
    for batch in (32, 128, 512):
        cells = [r["peak_mib_over_baseline"] for r in rows if r["batch"] == batch]
        print(f"{batch:6d} " + " ".join(f"{v:9.0f}" for v in cells))
    out = Path(__file__).parent / "results" / f"memory_{device.split(':')[0]}.json"
    payload = {"benchmark": "scoring_memory", "model": "preact_resnet18 width 16", "rows": rows, "environment": environment_info(device)}
    atomic_write(out, lambda tmp: Path(tmp).write_text(json.dumps(payload, indent=2) + "\n"))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
