"""Models used in the paper and smaller ones that train on a 2-core CPU.

- :func:`cifar_resnet18`: He et al. (2016) ResNet18 in the CIFAR form the paper uses (3×3 stem,
  stride 1, no max-pool, BasicBlock [2, 2, 2, 2]).
- :func:`preact_resnet18`: the pre-activation ResNet18 (He et al. 2016b) with a 1-channel stem, the
  paper's MNIST/Fashion-MNIST model.
- :func:`small_cnn`, :func:`mlp`: CPU-sized models for the quick profile (``"mlp_gelu"``: the MLP with GELU
  instead of ReLU, a smooth network for comparison).
- :func:`imagenet_resnet18`: torchvision's ResNet18 for ImageNet-sized inputs.
- :func:`resnet9`: the Myrtle-style ResNet-9 that Maini et al. (2023) localize memorization in.

``width`` is the number of channels of the first stage (64 in the paper); every stage scales with it.
"""
from __future__ import annotations

from functools import partial
from typing import Callable

from torch import Tensor, nn

from .compat import import_torchvision

__all__ = ["cifar_resnet18", "preact_resnet18", "resnet9", "small_cnn", "mlp", "imagenet_resnet18", "build_model", "auto_model", "AUTO_WIDTH", "MODELS"]


class _BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, preact: bool):
        super().__init__()
        self.preact = preact
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_in if preact else c_out)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 1, stride, bias=False)]
            if not preact:
                layers.append(nn.BatchNorm2d(c_out))
            self.shortcut = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        if self.preact:  # BN-ReLU-conv, identity path untouched (He et al. 2016b)
            out = self.bn1(x).relu()
            shortcut = self.shortcut(out) if len(self.shortcut) else x
            out = self.conv1(out)
            out = self.conv2(self.bn2(out).relu())
            return out + shortcut
        out = self.bn1(self.conv1(x)).relu()
        out = self.bn2(self.conv2(out))
        return (out + self.shortcut(x)).relu()


class _ResNet18(nn.Module):
    def __init__(self, in_channels: int, num_classes: int, width: int, preact: bool):
        super().__init__()
        self.stem = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
        self.stem_bn = nn.Identity() if preact else nn.BatchNorm2d(width)
        blocks, c_in = [], width
        for stage, stride in enumerate([1, 2, 2, 2]):
            c_out = width * 2**stage
            blocks += [_BasicBlock(c_in, c_out, stride, preact), _BasicBlock(c_out, c_out, 1, preact)]
            c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.final_bn = nn.BatchNorm2d(c_in) if preact else nn.Identity()
        self.fc = nn.Linear(c_in, num_classes)
        self.preact = preact

    def forward(self, x: Tensor) -> Tensor:
        out = self.stem(x)
        out = out if self.preact else self.stem_bn(out).relu()
        out = self.blocks(out)
        out = self.final_bn(out).relu() if self.preact else out
        return self.fc(out.mean(dim=(2, 3)))


def cifar_resnet18(num_classes: int = 10, in_channels: int = 3, width: int = 64) -> nn.Module:
    """CIFAR ResNet18: 3×3 stride-1 stem, no max-pool, BasicBlocks [2, 2, 2, 2], global average pool.

    Example:
        >>> model = cifar_resnet18(num_classes=100, width=16)
    """
    return _ResNet18(in_channels, num_classes, width, preact=False)


def preact_resnet18(num_classes: int = 10, in_channels: int = 1, width: int = 64) -> nn.Module:
    """Pre-activation ResNet18 with a ``in_channels``-channel 3×3 stem (the paper's MNIST model).

    Example:
        >>> model = preact_resnet18(num_classes=10, in_channels=1, width=16)
    """
    return _ResNet18(in_channels, num_classes, width, preact=True)


class _ConvBN(nn.Sequential):
    """conv(3×3, no bias) → BatchNorm → ReLU, optionally followed by a 2×2 max-pool."""

    def __init__(self, c_in: int, c_out: int, pool: bool = False):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU()
        if pool:
            self.pool = nn.MaxPool2d(2)


class _Residual(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.res1, self.res2 = _ConvBN(channels, channels), _ConvBN(channels, channels)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.res2(self.res1(x))


class _ResNet9(nn.Module):
    def __init__(self, in_channels: int, num_classes: int, width: int, logit_scale: float):
        super().__init__()
        self.prep = _ConvBN(in_channels, width)
        self.layer1 = nn.Sequential(_ConvBN(width, 2 * width, pool=True), _Residual(2 * width))
        self.layer2 = _ConvBN(2 * width, 4 * width, pool=True)
        self.layer3 = nn.Sequential(_ConvBN(4 * width, 8 * width, pool=True), _Residual(8 * width))
        self.fc = nn.Linear(8 * width, num_classes, bias=False)
        self.logit_scale = logit_scale

    def forward(self, x: Tensor) -> Tensor:
        out = self.layer3(self.layer2(self.layer1(self.prep(x))))
        return self.fc(out.amax(dim=(2, 3))) * self.logit_scale


def resnet9(num_classes: int = 10, in_channels: int = 3, width: int = 64, logit_scale: float = 0.125) -> nn.Module:
    """Myrtle-style ResNet-9 (Page 2018; the model of Maini et al. 2023): conv-BN-ReLU blocks of
    width → 2·width (max-pool, residual pair) → 4·width (max-pool) → 8·width (max-pool, residual pair),
    global max-pool, a bias-free linear classifier, logits × ``logit_scale``. Eight convolutions and
    the classifier: nine layer groups (:func:`curvlib.localization.layer_groups`).

    Example:
        >>> model = resnet9(num_classes=10, in_channels=1, width=16)  # width 64 is the paper's
    """
    return _ResNet9(in_channels, num_classes, width, logit_scale)


def small_cnn(num_classes: int = 10, in_channels: int = 1, width: int = 32, hidden: int = 128) -> nn.Module:
    """Two conv(3×3)-ReLU-maxpool stages (width, 2·width channels), then a ``hidden``-unit layer.

    Works on any input at least 4×4 pixels (adaptive pooling to 4×4 before the classifier). ``"small_cnn"`` has
    128 hidden units, ``"small_cnn_head1024"`` 1,024 (a head with the capacity to memorise, for the full-data
    model choice).

    Example:
        >>> model = small_cnn(num_classes=10, in_channels=1, width=16)
    """
    return nn.Sequential(
        nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.AdaptiveMaxPool2d(4),
        nn.Flatten(), nn.Linear(2 * width * 16, hidden), nn.ReLU(), nn.Linear(hidden, num_classes),
    )  # fmt: skip


def mlp(
    in_features: int, num_classes: int = 10, hidden: tuple[int, ...] = (512, 256), activation: type[nn.Module] = nn.ReLU
) -> nn.Module:
    """Flatten, then Linear-activation layers of sizes ``hidden``, then a linear classifier.

    ``mlp(784)`` is Feldman & Zhang's MNIST model (784-512-256-10).

    Example:
        >>> model = mlp(2, num_classes=2, hidden=(32, 32), activation=nn.Tanh)
    """
    layers: list[nn.Module] = [nn.Flatten()]
    width = in_features
    for size in hidden:
        layers += [nn.Linear(width, size), activation()]
        width = size
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


def imagenet_resnet18(num_classes: int = 1000) -> nn.Module:
    """torchvision's standard ResNet18 (7×7 stride-2 stem, max-pool) for ImageNet-sized inputs.

    Example:
        >>> model = imagenet_resnet18(num_classes=10)
    """
    return import_torchvision().models.resnet18(num_classes=num_classes)


MODELS: dict[str, Callable[..., nn.Module]] = {
    "cifar_resnet18": cifar_resnet18,
    "preact_resnet18": preact_resnet18,
    "resnet9": resnet9,
    "small_cnn": small_cnn,
    "small_cnn_head1024": partial(small_cnn, hidden=1024),
    "mlp": mlp,
    "mlp_gelu": mlp,  # built with activation=nn.GELU by build_model
    "imagenet_resnet18": imagenet_resnet18,
}
_MLPS = {"mlp": nn.ReLU, "mlp_gelu": nn.GELU}


def build_model(name: str, *, input_shape: tuple[int, ...], num_classes: int, width: int | None = None) -> nn.Module:
    """Build a model of :data:`MODELS` by name for inputs of ``input_shape`` = (C, H, W) or (D,).

    ``width`` is the first-stage channel count for convolutional models and the first hidden
    size for the MLPs (the second is half of it); None keeps each model's default.

    Example:
        >>> build_model("small_cnn", input_shape=(1, 28, 28), num_classes=10, width=16)
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODELS)}")
    if name not in _MLPS and len(input_shape) != 3:
        raise ValueError(f"model {name} needs images [C, H, W]; these inputs have shape {tuple(input_shape)}: use --model mlp")
    if name in _MLPS:
        numel = 1
        for d in input_shape:
            numel *= d
        hidden = (512, 256) if width is None else (width, max(width // 2, 1))
        return mlp(numel, num_classes, hidden, activation=_MLPS[name])
    if name == "imagenet_resnet18":
        return imagenet_resnet18(num_classes)
    kwargs = {} if width is None else {"width": width}
    return MODELS[name](num_classes=num_classes, in_channels=input_shape[0], **kwargs)


AUTO_WIDTH = {"small_cnn": 16, "mlp": 1024}  # the widths "auto" builds (those the defaults evidence measured)


def auto_model(input_shape: tuple[int, ...]) -> str:
    """The model ``"auto"`` stands for: the small CNN for images (C, H, W) of at least 4×4 pixels, else the MLP
    (feature vectors); built at the width :data:`AUTO_WIDTH` gives unless one is asked for. The book's chapter
    "Choosing the defaults" measured the choice on all 60,000 MNIST images with their real label errors.

    Example:
        >>> auto_model((1, 28, 28)), auto_model((20,))
        ('small_cnn', 'mlp')
    """
    return "small_cnn" if len(input_shape) == 3 and min(input_shape[1:]) >= 4 else "mlp"
