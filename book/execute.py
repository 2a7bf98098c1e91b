"""Execute the book's notebooks with papermill, skipping those whose executed copy is up to date.

An executed chapter carries a stamp in its metadata: the SHA-256 of its notebook, of every source file of
``curvlib/``, of the committed results it may read (``benchmarks/results/``, ``results/full/``) and of its
parameters. ``make book`` re-executes a chapter only when its stamp changed; ``make test`` executes every chapter
(quick profile into ``book/chapters/``, the paper profile at smoke scale into ``book/_smoke/chapters/``) and
then builds both books from those outputs, so CI fails whenever the book would not build.

    python book/execute.py --profile quick --out book/chapters notebooks/*.ipynb
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INPUTS = ("curvlib/**/*.py", "benchmarks/results/*.json", "results/full/**/*")


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


def execute(notebook: Path, out_dir: Path, parameters: dict, *, force: bool = False) -> float:
    """Execute ``notebook`` with ``parameters`` into ``out_dir`` (same name) unless up to date; returns seconds spent."""
    import papermill

    out = out_dir / notebook.name
    expected = stamp(notebook, {k: v for k, v in parameters.items() if k not in ("cache_dir",)})
    if not force and up_to_date(out, expected):
        return 0.0
    out_dir.mkdir(parents=True, exist_ok=True)
    tic = time.perf_counter()
    papermill.execute_notebook(
        str(notebook), str(out), parameters=parameters, cwd=str(notebook.parent), kernel_name="python3", progress_bar=False,
        log_output=False, start_timeout=300,  # a kernel starts slowly on 2 busy cores (60 s was once too little in CI)
    )  # fmt: skip
    executed = json.loads(out.read_text())
    executed.setdefault("metadata", {})["curvlib"] = {"stamp": expected, "parameters": parameters}
    for cell in executed["cells"]:  # papermill's copy of the parameters: folded like the other bookkeeping
        tags = cell.get("metadata", {}).get("tags", [])
        if "injected-parameters" in tags and "hide-input" not in tags:
            tags.append("hide-input")
    out.write_text(json.dumps(executed, indent=1, ensure_ascii=False) + "\n")
    return time.perf_counter() - tic


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--smoke", action="store_true", help="the profile at toy sizes (for the paper profile in CI)")
    parser.add_argument("--out", type=Path, required=True, help="folder of the executed chapters")
    parser.add_argument("--force", action="store_true", help="execute even up-to-date chapters")
    args = parser.parse_args(argv)
    for notebook in args.notebooks:
        seconds = execute(notebook, args.out, {"profile": args.profile, "smoke": args.smoke}, force=args.force)
        print(f"== {notebook.name}: {'up to date' if seconds == 0 else f'executed in {seconds:.0f} s'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
