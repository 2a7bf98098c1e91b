"""Every chapter has the book's shape: an opening claim or question, its run time per profile, the same parameters,
and a closing "What was reproduced" section; no notebook is committed with outputs."""
import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_chapter_shape(path):
    cells = json.loads(path.read_text())["cells"]
    markdown = ["".join(c["source"]) for c in cells if c["cell_type"] == "markdown"]
    assert re.match(r"# \S", markdown[0]) and re.search(r"\*\*(Claim|Question)", markdown[0]), "opens with a title and the claim"
    assert re.search(r"[Rr]un time", "\n".join(markdown[:2])), "says its run time near the top"
    assert any(re.search(r"^## What was reproduced", m, flags=re.M) for m in markdown), "closes with what was reproduced"
    parameters = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(parameters) == 1
    names = re.findall(r"^(\w+): \w+ = ", "".join(parameters[0]["source"]), flags=re.M)
    assert {"profile", "smoke", "seed"} <= set(names), names
    assert not any(c.get("outputs") for c in cells if c["cell_type"] == "code"), "committed without outputs"
