"""The book's status vocabulary and interval-decided comparisons."""
import numpy as np

from curvlib.runs.verdicts import STATUSES, compare, not_yet_run, ranked, status


def test_a_claim_without_its_premise_is_not_testable_never_not_reproduced():
    assert status(True) == "reproduced" and status(False) == "not reproduced"
    for holds in (True, False):
        assert status(holds, premise=False, observed="fits 0.4% of its flips") == "not testable in this run (observed: fits 0.4% of its flips)"
    assert not_yet_run("make gpu-job RUN=x").startswith("not yet run (")
    assert all(any(s.startswith(t) for t in STATUSES) for s in (status(True), status(False, premise=False), not_yet_run("x")))


def test_best_only_when_the_interval_excludes_the_runner_up():
    rng = np.random.default_rng(0)
    base = rng.normal(0.9, 0.01, 1000)
    boot = {"a": base + 0.05, "b": base + 0.0001 + rng.normal(0, 0.002, 1000), "c": base}
    table = ranked(boot, {"a": 0.95, "b": 0.9001, "c": 0.9})
    assert table.index.tolist() == ["a", "b", "c"] and table.tied.tolist() == [True, False, False]
    close = ranked({"b": boot["b"], "c": boot["c"]}, {"b": 0.9001, "c": 0.9})
    assert close.tied.tolist() == [True, True]  # 1e-4 apart with a spread of 2e-3: a tie, not a "best"
    assert compare(boot, "a", "c")["verdict"] == "better" and compare(boot, "c", "a")["verdict"] == "worse"
    assert compare(boot, "b", "c")["verdict"] == "tied"
