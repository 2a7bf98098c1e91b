"""Execute the book's notebooks with papermill, on as many workers as there are cores, skipping up-to-date chapters.

This is the one way a chapter is executed: ``make book`` calls it, and so does ``make test`` (which calls ``make book``
for the quick profile), so a chapter gives the same numbers in both. Every kernel runs with one torch thread
(:data:`KERNEL_ENV`): two single-threaded kernels keep two cores busy, and a chapter's floating-point reductions do
not depend on how many cores the machine has.

An executed chapter carries a stamp in its metadata: the SHA-256 of its notebook, of every source file of
``curvlib/``, of the committed results it may read (``benchmarks/results/``, ``results/full/``) and of its
parameters. A chapter is re-executed only when its stamp changed (or with ``--force``).

Chapters that read each other's cached runs form a group (:data:`GROUPS`) and run one after another, in order; the
groups run side by side on ``--jobs`` workers, the longest first, all sharing one results cache (the notebooks'
``cache_dir``). A line is printed when a chapter starts and when it ends, with the time left.

    python book/execute.py --profile quick --out book/chapters notebooks/*.ipynb
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INPUTS = ("curvlib/**/*.py", "benchmarks/results/*.json", "results/full/**/*")

# Chapters that reuse each other's cached runs, in the order they must run; with the minutes each group took on one
# thread (quick profile, 2026-12), so the longest groups start first.
GROUPS: dict[str, tuple[float, list[str]]] = {
    "FZ runs": (24, ["feldman_zhang.ipynb", "sensitivity.ipynb", "architectures.ipynb", "defaults.ipynb"]),
    "MNIST runs": (19, ["toy_example.ipynb", "mislabel_detection.ipynb", "curvature_dynamics.ipynb", "calibration.ipynb",
                        "weight_decay.ipynb", "top_curvature_samples.ipynb", "cost.ipynb", "full_scale.ipynb"]),
    "size ladders": (10, ["size_ladder.ipynb", "size_proxies.ipynb", "distillation.ipynb"]),
    "localization": (6.5, ["localization.ipynb", "neuron_flipping.ipynb", "tied_dropout.ipynb"]),
}  # fmt: skip

# The environment of every kernel: one thread for torch, OpenMP and MKL (``--threads`` changes it, to measure how
# much a chapter's numbers move with the thread count; the book's numbers are those of one thread).
KERNEL_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

# The kernel's own log at ERROR level: it warns once per chapter that it runs over TCP on localhost (noise here).
KERNEL_ARGS = ["--IPKernelApp.log_level=ERROR"]


def stamp(notebook: Path, parameters: dict) -> str:
    """SHA-256 over the notebook, the library's sources, the committed results and the parameters."""
    digest = hashlib.sha256(notebook.read_bytes())
    for pattern in INPUTS:
        for path in sorted(ROOT.glob(pattern)):
            if path.is_file():
                digest.update(str(path.relative_to(ROOT)).encode())
                digest.update(path.read_bytes())
    digest.update(json.dumps(parameters, sort_keys=True).encode())
    return digest.hexdigest()


def up_to_date(executed: Path, expected: str) -> bool:
    """Whether ``executed`` exists and carries the stamp ``expected``."""
    if not executed.exists():
        return False
    return json.loads(executed.read_text()).get("metadata", {}).get("curvlib", {}).get("stamp") == expected


def _stamp_parameters(parameters: dict) -> dict:
    """The parameters that decide a chapter's numbers (where the cache lives does not)."""
    return {k: v for k, v in parameters.items() if k != "cache_dir"}


def execute(notebook: Path, out_dir: Path, parameters: dict) -> float:
    """Execute ``notebook`` with ``parameters`` into ``out_dir`` (same name), in a kernel with :data:`KERNEL_ENV`;
    stamp it (:func:`stamp`) and fold papermill's copy of the parameters; returns the seconds spent."""
    import papermill

    os.environ.update(KERNEL_ENV)  # the kernel inherits this process's environment
    out, expected = out_dir / notebook.name, stamp(notebook, _stamp_parameters(parameters))
    out_dir.mkdir(parents=True, exist_ok=True)
    tic = time.perf_counter()
    papermill.execute_notebook(
        str(notebook), str(out), parameters=parameters, cwd=str(notebook.parent), kernel_name="python3", progress_bar=False,
        log_output=False, start_timeout=300,  # a kernel starts slowly on 2 busy cores (60 s was once too little in CI)
        extra_arguments=KERNEL_ARGS,
    )  # fmt: skip
    executed = json.loads(out.read_text())
    executed.setdefault("metadata", {})["curvlib"] = {"stamp": expected, "parameters": parameters}
    for cell in executed["cells"]:  # papermill's copy of the parameters: folded like the other bookkeeping
        tags = cell.get("metadata", {}).get("tags", [])
        if "injected-parameters" in tags and "hide-input" not in tags:
            tags.append("hide-input")
    out.write_text(json.dumps(executed, indent=1, ensure_ascii=False) + "\n")
    return time.perf_counter() - tic


def queues(notebooks: list[Path]) -> list[list[Path]]:
    """``notebooks`` as queues run one after another: one per group of :data:`GROUPS`, in the group's order, the
    groups longest first; a notebook of no group gets a queue of its own, at the end."""
    by_name = {path.name: path for path in notebooks}
    grouped = [name for _, names in GROUPS.values() for name in names]
    out = [[by_name[n] for n in names if n in by_name] for _, names in sorted(GROUPS.values(), key=lambda g: -g[0])]
    return [q for q in out if q] + [[path] for path in notebooks if path.name not in grouped]


def run_all(notebooks: list[Path], out_dir: Path, parameters: dict, *, jobs: int, force: bool = False) -> list[str]:
    """Execute the out-of-date ``notebooks`` (:func:`queues`) on ``jobs`` worker processes, printing a line when each
    starts and ends; return the names of the chapters that failed (their error is printed, the others go on)."""
    expected = {path: stamp(path, _stamp_parameters(parameters)) for path in notebooks}
    todo = [[p for p in queue if force or not up_to_date(out_dir / p.name, expected[p])] for queue in queues(notebooks)]
    todo = [queue for queue in todo if queue]
    for path in notebooks:
        if not any(path in queue for queue in todo):
            print(f"== {path.stem}: up to date", flush=True)
    total, done, failed, spent = sum(map(len, todo)), 0, [], []
    tic = time.perf_counter()
    with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
        running = {}

        def start(queue: list[Path]) -> None:
            path = queue.pop(0)
            print(f"[{done + len(running) + 1}/{total}] {path.stem}: started", flush=True)
            running[pool.submit(execute, path, out_dir, parameters)] = (path, queue)

        for queue in todo[:jobs]:
            start(queue)
        waiting = todo[jobs:]
        while running:
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                path, queue = running.pop(future)
                done += 1
                try:
                    seconds = future.result()
                    spent.append(seconds)
                    left = sum(map(len, todo)) + len(running)  # not started, and running
                    estimate = left * (sum(spent) / len(spent)) / max(1, jobs)
                    print(f"[{done}/{total}] {path.stem}: {seconds:.0f} s; about {estimate / 60:.0f} min left", flush=True)
                except Exception as error:  # the chapter failed: say where, keep the other queues going
                    failed.append(path.stem)
                    queue.clear()  # the chapters after it may read its runs
                    print(f"[{done}/{total}] {path.stem}: FAILED\n{error}", file=sys.stderr, flush=True)
                if queue:
                    start(queue)
                elif waiting:
                    start(waiting.pop(0))
    print(f"executed {len(spent)} chapters in {(time.perf_counter() - tic) / 60:.1f} min on {jobs} workers", flush=True)
    return failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--smoke", action="store_true", help="the profile at toy sizes (for the paper profile in CI)")
    parser.add_argument("--out", type=Path, required=True, help="folder of the executed chapters")
    parser.add_argument("--data-root", default="", help="the notebooks' data_root (default: $CURVLIB_DATA_ROOT)")
    parser.add_argument("--cache-dir", default="", help="the notebooks' cache_dir (default: results/cache)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="chapters executed side by side (default: the cores)")
    parser.add_argument("--force", action="store_true", help="execute even up-to-date chapters")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per kernel (the book's numbers: 1)")
    parser.add_argument("--seed", type=int, default=None, help="the notebooks' base seed (default: each notebook's own, 0)")
    args = parser.parse_args(argv)
    KERNEL_ENV.update(OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    parameters = {"profile": args.profile, "smoke": args.smoke}
    if args.seed is not None:
        parameters["seed"] = args.seed
    if args.data_root:
        parameters["data_root"] = str(Path(args.data_root).resolve())
    if args.cache_dir:
        parameters["cache_dir"] = str(Path(args.cache_dir).resolve())
    failed = run_all([p.resolve() for p in args.notebooks], args.out.resolve(), parameters, jobs=args.jobs, force=args.force)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
