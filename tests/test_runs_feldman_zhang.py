import numpy as np
import pandas as pd

from curvlib.results import RunResult
from curvlib.runs.feldman_zhang import duplicate_outcomes


def test_duplicate_outcomes_classifies_each_copy():
    table = pd.DataFrame({"index": [0, 1, 2, 3, 4], "label": [1, 2, 5, 6, 7], "true_label": [1, 2, 3, 4, 5],
                          "is_noisy": [False, False, True, True, True]})  # fmt: skip
    pred = np.array([[1, 2, 3, 6, 0]])  # last epoch: copy 2 -> original, copy 3 -> copy's label, copy 4 -> other
    out = duplicate_outcomes(RunResult({"scores": table}, {"train/pred": pred}))
    assert out.to_dict() == {2: "original's label", 3: "copy's label", 4: "another label"}
