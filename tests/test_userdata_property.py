"""Every input `curvlib score --data` may meet, generated: it finishes and writes a report, or it stops with exit
status 2, one line naming the option, and nothing written. Never a traceback.

Hypothesis draws .npz files (every rank from 1 to 5, every dtype NumPy stores, NaN and inf, labels as integers,
whole and fractional floats, strings and booleans, lengths that do not match, one class, no samples), image
folders (empty or missing classes, unreadable files, mixed sizes and colour modes, hidden files) and CSVs of image
paths (missing files, labels that are not integers, missing columns, an empty table). Each case trains one epoch
with one probe on at most a dozen samples. ``CURVLIB_PROPERTY_EXAMPLES`` sets how many cases are drawn (100 in
``make test``); the test prints how many it tried and how each ended.
"""
import contextlib
import io
import os
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from curvlib.cli import main

EXAMPLES = int(os.environ.get("CURVLIB_PROPERTY_EXAMPLES", "100"))
OUTCOMES: Counter = Counter()


@st.composite
def labels(draw, n: int):
    """Labels of length about n, of any kind the loaders must accept or refuse."""
    length = n if draw(st.integers(0, 7)) or n == 0 else draw(st.sampled_from([n - 1, n + 1]))
    kind = draw(st.sampled_from(["int"] * 6 + ["whole float", "float", "string", "bool", "negative", "one class"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    k = draw(st.integers(2, 4))
    y = rng.integers(0, k, length)
    if kind == "whole float":
        return y.astype(float)
    if kind == "float":
        return y + 0.5
    if kind == "string":
        return np.array([f"class{v}" for v in y])
    if kind == "bool":
        return y % 2 == 0
    if kind == "negative":
        return y - 1
    if kind == "one class":
        return np.zeros(length, dtype=int)
    return y


@st.composite
def npz_case(draw, folder: Path) -> str:
    n = draw(st.sampled_from([0, 1, *range(4, 13)]))
    shape = draw(st.sampled_from([(n,), (n, 5), (n, 6, 6), (n, 5, 7, 3), (n, 1, 6, 6), (n, 3, 5, 5), (n, 4, 4, 4), (n, 2, 3, 3, 3)]))
    dtype = draw(st.sampled_from(["uint8", "int64", "float32", "float64", "bool", "complex64", "U3"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    x = rng.integers(0, 256, shape) if dtype in ("uint8", "int64", "U3") else rng.normal(size=shape)
    x = x.astype(dtype)
    if dtype.startswith("float") and n and draw(st.integers(0, 3)) == 0:
        x.flat[draw(st.integers(0, x.size - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    arrays = {"x": x, "y": draw(labels(n))}
    if draw(st.integers(0, 9)) == 0:
        del arrays[draw(st.sampled_from(["x", "y"]))]
    path = folder / "data.npz"
    np.savez(path, **arrays)
    if draw(st.integers(0, 9)) == 0:
        path.write_bytes(path.read_bytes()[: draw(st.integers(0, path.stat().st_size - 1))])  # truncated
    return str(path)


def _image(draw, rng) -> Image.Image:
    size = draw(st.sampled_from([(6, 6), (6, 6), (6, 6), (5, 8), (1, 1)]))
    mode = draw(st.sampled_from(["L", "L", "RGB", "RGBA", "1"]))
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).convert(mode)


@st.composite
def folder_case(draw, folder: Path) -> str:
    root = folder / "images"
    root.mkdir()
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    for c in range(draw(st.sampled_from([0, 1, 2, 2, 3]))):
        (root / f"class{c}").mkdir()
        for i in range(draw(st.sampled_from([0, 1, 2, 3, 3, 4, 4]))):
            _image(draw, rng).save(root / f"class{c}" / f"{i}.png")
        if draw(st.integers(0, 7)) == 0:
            (root / f"class{c}" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not an image")
        if draw(st.integers(0, 7)) == 0:
            (root / f"class{c}" / ".hidden.png").write_bytes(b"ignored")
    if draw(st.integers(0, 7)) == 0:
        (root / "notes.txt").write_text("a stray file beside the class folders")
    return str(root)


@st.composite
def csv_case(draw, folder: Path) -> str:
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    n = draw(st.sampled_from([0, 1, *range(4, 11)]))
    (folder / "img").mkdir()
    paths = []
    for i in range(n):
        _image(draw, rng).save(folder / "img" / f"{i}.png")
        paths.append(f"img/{i}.png")
    if n and draw(st.integers(0, 5)) == 0:
        paths[draw(st.integers(0, n - 1))] = "img/missing.png"
    y = draw(labels(n))
    table = pd.DataFrame({"path": paths, "label": list(y[:n]) + [y[0] if len(y) else 0] * (n - len(y[:n]))})
    if draw(st.integers(0, 7)) == 0:
        table = table.rename(columns={"label": "class"})
    path = folder / "list.csv"
    table.to_csv(path, index=False)
    return str(path)


@pytest.mark.filterwarnings("ignore")
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(kind=st.sampled_from(["npz", "folder", "csv"]), data=st.data())
def test_any_input_runs_to_a_report_or_stops_with_one_line(kind, data):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        source = data.draw({"npz": npz_case, "folder": folder_case, "csv": csv_case}[kind](folder))
        out = folder / "out"
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            status = main(["score", "--data", source, "--epochs", "1", "--probes", "1", "--top", "4", "--out", str(out)])
        message = err.getvalue()
        assert "Traceback" not in message, message
        if status == 0:
            assert (out / "report.html").exists() and (out / "scores.csv").exists(), message
            OUTCOMES[f"{kind}: report"] += 1
        else:
            assert status == 2, message
            assert message.startswith("curvlib score: error: --") and message.count("\n") == 1, message
            assert not out.exists(), message
            OUTCOMES[f"{kind}: refused"] += 1


def teardown_module():
    print(f"\nproperty test of own data: {sum(OUTCOMES.values())} cases, {dict(sorted(OUTCOMES.items()))}")
