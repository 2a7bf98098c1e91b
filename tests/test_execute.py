"""book/execute.py: the one way chapters are executed (``make book``, and ``make test`` through it)."""
import json
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "book"))
import execute  # noqa: E402


def _notebook(path: Path, body: str) -> Path:
    nb = nbformat.v4.new_notebook()
    parameters = nbformat.v4.new_code_cell('profile: str = "quick"\nsmoke: bool = False')
    parameters.metadata["tags"] = ["parameters"]
    nb.cells = [parameters, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_every_notebook_is_in_exactly_one_group():
    listed = [name for _, names in execute.GROUPS.values() for name in names]
    assert sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb")) == sorted(listed) and len(set(listed)) == len(listed)


def test_queues_keep_group_order_and_put_the_longest_group_first(tmp_path):
    names = ["distillation.ipynb", "size_ladder.ipynb", "feldman_zhang.ipynb", "extra.ipynb"]
    queues = execute.queues([tmp_path / n for n in names])
    assert [[p.name for p in q] for q in queues] == [["feldman_zhang.ipynb"], ["size_ladder.ipynb", "distillation.ipynb"], ["extra.ipynb"]]


def test_chapters_run_in_parallel_single_threaded_stamped_and_skipped_when_up_to_date(tmp_path, capsys):
    nbs = [_notebook(tmp_path / f"ch{i}.ipynb", "import os, torch\nprint(os.environ['OMP_NUM_THREADS'], torch.get_num_threads(), profile)")
           for i in range(3)]  # fmt: skip
    out = tmp_path / "out"
    assert execute.run_all(nbs, out, {"profile": "quick", "smoke": False}, jobs=2) == []
    lines = capsys.readouterr().out.splitlines()
    assert sum("started" in line for line in lines) == 3 and any(line.startswith("[3/3]") and "min left" in line for line in lines)
    for nb in nbs:
        executed = json.loads((out / nb.name).read_text())
        assert "".join(executed["cells"][-1]["outputs"][0]["text"]) == "1 1 quick\n"  # one torch thread in every kernel
        assert executed["metadata"]["curvlib"]["stamp"] == execute.stamp(nb, {"profile": "quick", "smoke": False})
    assert execute.run_all(nbs, out, {"profile": "quick", "smoke": False}, jobs=2) == []
    assert capsys.readouterr().out.count("up to date") == 3
    nbs[0].write_text(nbs[0].read_text().replace("profile)", "profile, 'changed')"))
    execute.run_all(nbs, out, {"profile": "quick", "smoke": False}, jobs=2)
    assert "[1/1] ch0: started" in capsys.readouterr().out


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_failing_chapter_is_named_and_the_others_still_run(tmp_path, capsys, jobs):
    bad = _notebook(tmp_path / "bad.ipynb", "assert False, 'a claim failed'")
    good = _notebook(tmp_path / "good.ipynb", "print('fine')")
    assert execute.run_all([bad, good], tmp_path / "out", {"profile": "quick", "smoke": False}, jobs=jobs) == ["bad"]
    assert (tmp_path / "out" / "good.ipynb").exists()
    assert "a claim failed" in capsys.readouterr().err
