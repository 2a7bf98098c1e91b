import pytest
import torch

from curvlib.compat import import_torchvision
from curvlib.models import MODELS, build_model, cifar_resnet18, preact_resnet18


@pytest.mark.parametrize(
    "name, shape",
    [("cifar_resnet18", (3, 32, 32)), ("preact_resnet18", (1, 28, 28)), ("small_cnn", (1, 28, 28)),
     ("small_cnn", (1, 8, 8)), ("mlp", (1, 28, 28)), ("imagenet_resnet18", (3, 64, 64))],
)  # fmt: skip
def test_models_give_logits(name, shape):
    model = build_model(name, input_shape=shape, num_classes=7, width=8 if name != "imagenet_resnet18" else None)
    assert model(torch.randn(2, *shape)).shape == (2, 7)


def test_paper_resnets_have_resnet18_structure():
    full = cifar_resnet18(10)
    assert sum(p.numel() for p in full.parameters()) == pytest.approx(11.17e6, rel=0.01)  # the CIFAR ResNet18
    assert full.stem.kernel_size == (3, 3) and full.stem.stride == (1, 1)
    assert preact_resnet18(10, in_channels=1).stem.in_channels == 1
    narrow = cifar_resnet18(10, width=16)
    assert sum(p.numel() for p in narrow.parameters()) < 11.17e6 / 15  # ~ width² scaling


def test_unknown_model():
    with pytest.raises(ValueError, match="unknown model"):
        build_model("vgg", input_shape=(3, 32, 32), num_classes=10)
    assert "mlp" in MODELS


def test_torchvision_imports_through_compat():
    tv = import_torchvision()
    assert hasattr(tv.datasets, "CIFAR10") and hasattr(tv.models, "resnet18")


def test_auto_model_and_shape_checks():
    import pytest

    from curvlib.models import auto_model, build_model

    assert auto_model((1, 28, 28)) == "small_cnn" and auto_model((3, 32, 32)) == "small_cnn" and auto_model((1, 4, 4)) == "small_cnn"
    assert auto_model((20,)) == "mlp" and auto_model((1, 2, 2000)) == "mlp"  # feature vectors; images too small to pool twice
    gelu = build_model("mlp_gelu", input_shape=(1, 8, 8), num_classes=3, width=16)
    assert any(type(m).__name__ == "GELU" for m in gelu.modules())
    with pytest.raises(ValueError, match="needs images \\[C, H, W\\].*--model mlp"):
        build_model("small_cnn", input_shape=(20,), num_classes=3)


def test_auto_builds_the_measured_width_unless_one_is_asked_for():
    from dataclasses import replace

    import torch

    from curvlib.data import IndexedDataset
    from curvlib.pipeline import PRESETS, model_factory

    images = IndexedDataset(torch.zeros(4, 1, 12, 12), torch.tensor([0, 1, 2, 0]), torch.arange(4), 3, "tiny")
    vectors = IndexedDataset(torch.zeros(4, 20), torch.tensor([0, 1, 2, 0]), torch.arange(4), 3, "tiny")
    cnn = model_factory(PRESETS["default"], images)()
    convs = [m for m in cnn.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [16, 32]  # small CNN, width 16
    linears = [m for m in model_factory(PRESETS["default"], vectors)().modules() if isinstance(m, torch.nn.Linear)]
    assert linears[0].out_features == 1024  # the MLP 1024-512 for feature vectors
    wider = [m for m in model_factory(replace(PRESETS["default"], width=8), images)().modules() if isinstance(m, torch.nn.Conv2d)]
    assert wider[0].out_channels == 8  # an asked-for width wins
