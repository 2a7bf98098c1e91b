"""The book's verdicts: one status vocabulary for the landing table and every chapter, premises checked in code,
and comparisons decided by their intervals.

A claim's status in one tier (quick profile, full data, paper scale on a GPU) is one of :data:`STATUSES`:

- "reproduced" / "not reproduced": the run has the claim's premise and the measurement agrees / disagrees;
- "not testable in this run (observed: …)": the run lacks the premise (a network that does not memorise, no
  duplicate), so it says nothing either way; what it did show is stated;
- "not yet run (`command`)": the run that would decide it has not been computed.

"Best" and "better" come from paired bootstrap intervals (:func:`curvlib.metrics.bootstrap_aurocs`,
:func:`curvlib.metrics.bootstrap_top_k`): a difference whose 95% interval contains 0 is a tie.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..metrics import interval

__all__ = ["STATUSES", "MEMORISES", "status", "not_yet_run", "ranked", "compare"]

STATUSES = ("reproduced", "not reproduced", "not testable in this run", "not yet run")

# The share of its flipped labels a network must fit for a run to be in the paper's memorising regime.
MEMORISES = 0.95


def status(holds: bool, *, premise: bool = True, observed: str = "") -> str:
    """The status of a claim in one run: "not testable in this run (observed: ``observed``)" when the run lacks
    the claim's ``premise`` (checked by the caller in code), else "reproduced" if ``holds`` or "not reproduced".

    Example:
        >>> status(False, premise=False, observed="the network fits 0.4% of its flips")
        'not testable in this run (observed: the network fits 0.4% of its flips)'
    """
    if not premise:
        return f"not testable in this run (observed: {observed})" if observed else "not testable in this run"
    return "reproduced" if holds else "not reproduced"


def not_yet_run(command: str) -> str:
    """The status of a claim whose deciding run has not been computed, with the command that computes it."""
    return f"not yet run (`{command}`)"


def ranked(boot: dict[str, np.ndarray], point: dict[str, float]) -> pd.DataFrame:
    """Scores ranked by their point estimate (e.g. AUROC), each with its 95% bootstrap interval and the interval of
    its difference from the first: columns ``value``, ``low``, ``high``, ``diff_low``, ``diff_high`` and ``tied``
    (the difference from the first includes 0; True for the first itself). ``boot`` holds paired bootstrap samples
    of every score.

    Example:
        >>> table = ranked(bootstrap_aurocs(flags, scores), {k: auroc(flags, v) for k, v in scores.items()})
        >>> table.index[0], table.tied.sum() == 1  # the best score, and whether it is best beyond its interval
    """
    order = sorted(point, key=point.get, reverse=True)
    top = boot[order[0]]
    rows = []
    for name in order:
        low, high = interval(boot[name])
        diff_low, diff_high = interval(top - boot[name])
        rows.append({"score": name, "value": point[name], "low": low, "high": high, "diff_low": diff_low, "diff_high": diff_high,
                     "tied": name == order[0] or diff_low <= 0})  # fmt: skip
    return pd.DataFrame(rows).set_index("score")


def compare(boot: dict[str, np.ndarray], a: str, b: str) -> dict:
    """Whether ``a`` beats ``b`` beyond the 95% interval of their paired bootstrap difference: ``diff`` (mean of
    a − b), ``low``, ``high`` and ``verdict`` ("better", "worse" or "tied")."""
    diff = boot[a] - boot[b]
    low, high = interval(diff)
    return {"diff": float(diff.mean()), "low": low, "high": high, "verdict": "better" if low > 0 else "worse" if high < 0 else "tied"}
