"""Compare the glued numbers of two executions of the book (e.g. one and two torch threads, or seeds 0 and 1).

A hidden check whose measured value moves across its threshold between two such executions decides nothing; this
lists every glued value that differs, with its relative change, so the checks behind them can be given margins.

    python book/spread.py book/chapters /tmp/chapters-2threads
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def glued(chapter: Path) -> dict[str, str]:
    """The glued values of an executed chapter by name (their text/plain form)."""
    out = {}
    for cell in json.loads(chapter.read_text())["cells"]:
        for output in cell.get("outputs", []):
            scrap = output.get("metadata", {}).get("scrapbook", {})
            if "name" in scrap:
                out[scrap["name"]] = "".join(output.get("data", {}).get(scrap.get("mime_prefix", "") + "text/plain", ""))
    return out


def _number(text: str) -> float | None:
    try:
        return float(text.strip("'\"% ").replace(",", "").replace("×", ""))
    except ValueError:
        return None


def main(first: Path, second: Path) -> int:
    for chapter in sorted(first.glob("*.ipynb")):
        other = second / chapter.name
        if not other.exists():
            print(f"{chapter.stem}: not in {second}")
            continue
        a, b = glued(chapter), glued(other)
        for name in sorted(set(a) | set(b)):
            if a.get(name) != b.get(name):
                x, y = _number(a.get(name, "")), _number(b.get(name, ""))
                change = f"  ({(y - x) / abs(x):+.1%})" if x not in (None, 0) and y is not None else ""
                print(f"{chapter.stem}: {name}: {a.get(name, '—')[:60]} -> {b.get(name, '—')[:60]}{change}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
