"""curvlib: input-loss curvature as a memorization score, and the tools to check it.

Reproduces Garg, Ravikumar & Roy, "Memorization Through the Lens of Curvature of Loss Function
Around Samples" (ICML 2024). The main entry points:

- :func:`curvlib.curvature.input_loss_curvature`: score any model's samples;
- :func:`curvlib.training.train_and_score`: train with per-epoch, per-sample scoring;
- :func:`curvlib.pipeline.run_scoring` and the ``curvlib score`` command: whole experiments.
"""
__version__ = "0.1.0"

from .curvature import input_loss_curvature, input_loss_curvature_with_trace  # noqa: E402

__all__ = ["input_loss_curvature", "input_loss_curvature_with_trace", "__version__"]
