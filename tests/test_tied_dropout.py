import numpy as np
import pytest
import torch

from curvlib.data import load_digits
from curvlib.models import mlp, resnet9
from curvlib.tied_dropout import ExampleTiedDropout, ExampleTiedNet, tied_masks, with_example_tied_dropout
from curvlib.training import TrainConfig, train_and_score


def test_masks_depend_only_on_the_index():
    a = tied_masks(torch.tensor([5, 9, 2]), 200, p_gen=0.5, p_mem=0.2, seed=3)
    b = tied_masks(torch.tensor([2, 7, 5]), 200, p_gen=0.5, p_mem=0.2, seed=3)
    torch.testing.assert_close(a[0], b[2])  # any batch position
    torch.testing.assert_close(a[2], b[0])
    assert not torch.equal(a[0], a[1])  # different examples, different channels
    assert not torch.equal(a, tied_masks(torch.tensor([5, 9, 2]), 200, p_gen=0.5, p_mem=0.2, seed=4))  # the seed matters
    assert (a[:, :100] == 1).all()  # generalization channels always on
    many = tied_masks(torch.arange(2000), 200, p_gen=0.5, p_mem=0.2, seed=0)[:, 100:]
    assert abs(float(many.mean()) - 0.2) < 0.01  # kept with probability p_mem


def test_masks_fixed_across_epochs_in_training():
    """The same example sees the same channels in every epoch and batch: record what the layer lets through."""
    layer = ExampleTiedDropout(p_gen=0.25, p_mem=0.3, seed=1)
    net = ExampleTiedNet(torch.nn.Sequential(layer)).train()
    ones = torch.ones(4, 16)
    first = net(ones, torch.tensor([10, 11, 12, 13]))
    again = net(ones[:2], torch.tensor([12, 10]))
    torch.testing.assert_close(again, first[[2, 0]])
    with pytest.raises(ValueError, match="indices"):
        net(ones)


def test_drop_mode_removes_every_memorization_channel():
    torch.manual_seed(0)
    body = torch.nn.Sequential(torch.nn.Identity(), torch.nn.Linear(40, 3))
    net = with_example_tied_dropout(body, after=("0",), p_gen=0.5, p_mem=0.2).eval()
    x = torch.randn(5, 40)
    changed = x.clone()
    changed[:, 20:] = torch.randn(5, 20) * 100  # anything on the memorization channels
    net.mode = "drop"
    torch.testing.assert_close(net(x), net(changed))  # ... never reaches the output
    net.mode = "test"
    assert not torch.allclose(net(x), net(changed))
    layer = net.body[0][1]
    for mode, gen, mem in (("test", 1.0, 0.2), ("drop", 0.7 / 0.5, 0.0)):
        layer.mode = mode
        out = layer(torch.ones(2, 40, 3, 3))  # channels of feature maps: constant over space
        assert torch.allclose(out[:, :20], torch.tensor(gen)) and torch.allclose(out[:, 20:], torch.tensor(mem))


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="p_gen"):
        ExampleTiedDropout(p_gen=1.0)
    with pytest.raises(ValueError, match="after"):
        with_example_tied_dropout(mlp(4, 2, (3,)), after=("nope",))
    with pytest.raises(ValueError, match="mode"):
        with_example_tied_dropout(mlp(4, 2, (3,)), after=("2",)).mode = "off"


def test_training_passes_indices_and_resnet9_takes_the_layers():
    train = load_digits(train=True).select(np.arange(64))
    torch.manual_seed(0)
    net = with_example_tied_dropout(resnet9(10, 1, 2), after=("layer2", "layer3"))
    assert sum(isinstance(m, ExampleTiedDropout) for m in net.modules()) == 2
    records = train_and_score(net, train, TrainConfig(epochs=2, batch_size=16, score_every=0))
    assert np.isfinite(records.history["train_loss"]).all() and net.mode == "test"
