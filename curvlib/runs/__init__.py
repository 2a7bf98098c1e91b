"""The book's runners: one module per part of the book, between the notebooks and the library.

- :mod:`curvlib.runs.detection`: mislabel detection against the baselines, the toy problem;
- :mod:`curvlib.runs.feldman_zhang`: Feldman–Zhang estimates, their agreement with curvature, conflicting duplicates;
- :mod:`curvlib.runs.settings`: h and n, the finite-difference profile, the evidence for the defaults;
- :mod:`curvlib.runs.localization`: where memorization lives (Maini et al. 2023);
- :mod:`curvlib.runs.model_size`: memorization across model sizes (Lukasik et al. 2024);
- :mod:`curvlib.runs.full_data`: the runs longer than CI, committed under ``results/full/`` (all 60,000 images on a
  CPU, the GPU run, the evidence for the defaults), and their loader;
- :mod:`curvlib.runs.scale`: smoke scale of any runner config, and the chapters' claim checks.

Naming rule: a function that trains, or reads what training saved, is called ``run_<what>``. It takes a
frozen config (a dataclass whose fields say every unit), computes the result once under ``cache_dir``
(:func:`curvlib.results.load_or_compute`, keyed by the config's hash) or reads it back, and returns what was
saved: a :class:`curvlib.results.RunResult`, a dict of them, or a tidy table built from them. Functions that
only summarise finished results are named after what they return (``detection_summary``, ``agreement``) and
never train. Only runners know about caching; the library below them (:mod:`curvlib.pipeline`,
:mod:`curvlib.training`, :mod:`curvlib.curvature` …) never writes a file unless asked to.
"""
from . import detection, feldman_zhang, localization, model_size, settings  # noqa: E402,F401  (runs.<part>.run_<what>)

__all__ = ["detection", "feldman_zhang", "localization", "model_size", "settings"]
