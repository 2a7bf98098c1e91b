"""Smoke scale: every code path of a profile at toy sizes, so CI can execute the paper profile on a CPU.

:func:`smoke` takes a runner config of :mod:`curvlib.runs` (a :class:`curvlib.pipeline.ScoreConfig`, its
:class:`curvlib.training.TrainConfig`, an FZ estimate, a localization config, a size ladder …) and returns a copy
in which only sizes shrink, field by field and through nested configs: samples, epochs (learning-rate milestones
and kept epochs move inside the shorter run), models per FZ estimate, flipping targets, the width of every
network, and a size ladder to its three smallest members (whose widths are the experiment, so they are kept). Models, datasets, layer groups, the
shape of each schedule, steps h, probes and every switch stay as they are. A chapter executed with
``smoke=True`` therefore runs what its paper profile runs, and can check structure, not claims.
"""
from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["SMOKE", "SMOKE_CIFAR100_SUBSET", "smoke", "Checks"]

# The caps of smoke scale, by field name; a size that is None ("all") gets the cap.
SMOKE: dict[str, int] = {
    "subset": 300,  # training samples (CIFAR-100: SMOKE_CIFAR100_SUBSET)
    "test_subset": 200,  # held-out samples
    "epochs": 2,  # training epochs
    "n_models": 4,  # models per Feldman–Zhang estimate
    "group_size": 4,  # models trained together
    "width": 8,  # first-stage channels or hidden units of a network
    "flip_targets": 3,  # neuron-flipping targets of each kind
    "flip_batch": 32,  # a target and the rest of its batch
    "flip_eval": 64,  # samples on which the accuracy a flip costs is measured
    "max_units": 30,  # units zeroed before a target counts as not flipped
}


SMOKE_CIFAR100_SUBSET = 1000  # the fewest CIFAR-100 samples for which 10% noise flips one label per class


def _moved(milestones: tuple[int, ...], before: int, after: int) -> tuple[int, ...]:
    """Milestones at the same share of a run shortened from ``before`` to ``after`` epochs, inside it."""
    return tuple(sorted({min(after - 1, max(1, round(m * after / before))) for m in milestones})) if after > 1 else ()


def smoke(config: Any, *, keep_width: bool = False) -> Any:
    """A copy of ``config`` at smoke scale (see the module docstring); ``keep_width`` keeps its ``width``.

    Example:
        >>> from curvlib.pipeline import PRESETS
        >>> small = smoke(PRESETS["mnist_paper"])
        >>> small.model, small.subset, small.width, small.train.epochs, small.train.milestones
        ('preact_resnet18', 300, 8, 2, (1,))
    """
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise TypeError(f"smoke() takes a runner config (a dataclass instance); got {config!r}")
    ladder = type(config).__name__ == "SizeLadder"  # its members keep their widths; the ladder keeps its 3 smallest
    changes: dict[str, Any] = {}
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            changes[field.name] = smoke(value, keep_width=keep_width or ladder)
        elif field.name == "width" and (keep_width or ladder):
            continue
        elif field.name in SMOKE and (value is None or (isinstance(value, int) and not isinstance(value, bool))):
            cap = SMOKE_CIFAR100_SUBSET if field.name == "subset" and getattr(config, "dataset", None) == "cifar100" else SMOKE[field.name]
            changes[field.name] = cap if value is None else min(value, cap)
        elif field.name == "widths":  # a size ladder: its three smallest members
            changes[field.name] = tuple(sorted(value))[:3]
        elif field.name == "rewind_epochs":  # epochs of the (shortened) base run
            changes[field.name] = tuple(sorted({min(e, SMOKE["epochs"]) for e in value}))
    if "milestones" in changes or hasattr(config, "milestones"):
        changes["milestones"] = _moved(config.milestones, config.epochs, changes["epochs"])
    if getattr(config, "score_epochs", ()):  # scored epochs at the same share of the shortened run, inside it
        after = changes["epochs"]
        changes["score_epochs"] = tuple(sorted({min(after, max(1, round(e * after / config.epochs))) for e in config.score_epochs}))
    return dataclasses.replace(config, **changes)


class Checks:
    """A chapter's hidden checks. :meth:`claim` asserts a sentence of the text; at smoke scale the claim is still
    evaluated (so the code behind it runs) but not asserted, since toy sizes decide nothing, and :meth:`report`
    says which claims went unchecked. Structural checks (shapes, finiteness, keys) stay plain ``assert``s.

    Example:
        >>> checks = Checks(smoke=False)
        >>> checks.claim(0.98 > 0.95, "curvature finds the flipped labels", 0.98)
    """

    def __init__(self, smoke: bool):
        self.smoke = smoke
        self.unchecked: list[str] = []

    def claim(self, holds, sentence: str, detail=None) -> None:
        """Raise AssertionError (naming ``sentence`` and ``detail``) unless ``holds``; at smoke scale only record it."""
        if self.smoke:
            self.unchecked.append(sentence)
        elif not bool(holds):
            raise AssertionError(f"{sentence}: {detail}")

    def report(self) -> None:
        """At smoke scale, print the claims that were evaluated but not asserted (nothing otherwise)."""
        if self.smoke:
            print(f"Smoke scale: {len(self.unchecked)} claims of this chapter were evaluated but not checked:")
            for sentence in dict.fromkeys(self.unchecked):
                print(f"- {sentence}")
