"""Compatibility shims. The only place in curvlib that imports torchvision."""
from __future__ import annotations

import importlib
import sys
import types
import warnings


def import_torchvision() -> types.ModuleType:
    """Import and return ``torchvision``, working around a torch/torchvision build mismatch.

    Contract: returns the torchvision module. If the normal import fails because torchvision's
    compiled operators (``torchvision::nms`` …) are missing, as happens when the only
    torchvision that pairs with a CPU build of torch is a CUDA build, the partial import is
    discarded and torchvision is imported again without registering the fake kernels of those
    operators. Datasets, transforms and models then work; the compiled detection ops (nms,
    roi_align, deform_conv2d) raise when called, which curvlib never does.

    Raises ImportError with install advice when torchvision is not installed at all.

    Example:
        >>> tv = import_torchvision()
        >>> model = tv.models.resnet18(num_classes=10)
    """
    try:
        return importlib.import_module("torchvision")
    except ModuleNotFoundError as err:
        raise ImportError(
            "torchvision is needed for this loader or model: install it with "
            "`pip install -e .[vision] -c constraints.txt`"
        ) from err
    except RuntimeError as err:
        if "torchvision::" not in str(err):
            raise
        for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[name]
        sys.modules["torchvision._meta_registrations"] = types.ModuleType("torchvision._meta_registrations")
        warnings.warn(
            f"torchvision's compiled operators do not load with this torch ({err}); "
            "imported without them: datasets and models work, detection ops do not.",
            RuntimeWarning,
            stacklevel=2,
        )
        return importlib.import_module("torchvision")
