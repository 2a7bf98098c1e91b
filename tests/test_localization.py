import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from curvlib.data import inject_label_noise, load_digits
from curvlib.localization import (
    GradientAccounting, WeightHistory, flip_example, layer_groups, retrain_group, rewind, zero_units,
)
from curvlib.models import cifar_resnet18, imagenet_resnet18, mlp, preact_resnet18, resnet9, small_cnn
from curvlib.training import TrainConfig, evaluate, train_and_score

CONFIG = TrainConfig(epochs=6, batch_size=32, lr=0.1, schedule="onecycle", score_every=0)


@pytest.fixture(scope="module")
def noisy_digits():
    """300 digits with 10% flipped labels and an MLP trained on them, with the weights after epochs 0, 1 and 6
    and the gradient accounting of every epoch."""
    train = load_digits(train=True).select(np.arange(300))
    noisy, _ = inject_label_noise(train.y, 0.1, 10, seed=0)
    train = train.with_labels(noisy)
    torch.manual_seed(0)
    model = mlp(64, 10, (64, 32))
    history = WeightHistory(model, epochs=(0, 1, 6))
    accounting = GradientAccounting(model, noisy_index=train.index[train.is_noisy])

    def end_of_epoch(epoch, net):
        history(epoch, net)
        accounting.end_epoch(epoch)

    train_and_score(model, train, CONFIG, on_batch=accounting, on_epoch_end=end_of_epoch)
    return train, model, history, accounting


@pytest.mark.parametrize(
    "build, n_groups, classifier_norm",
    [
        (lambda: mlp(64, 10, (32, 16)), 3, None),
        (lambda: small_cnn(10, 1, 4), 4, None),
        (lambda: resnet9(10, 1, 4), 9, None),
        (lambda: cifar_resnet18(10, 3, 4), 21, None),
        (lambda: preact_resnet18(10, 1, 4), 21, "final_bn"),
        (lambda: imagenet_resnet18(10), 21, None),
    ],
)
def test_every_parameter_in_exactly_one_group(build, n_groups, classifier_norm):
    model = build()
    groups = layer_groups(model)
    names = [n for g in groups for n in g.parameter_names(model)]
    assert len(groups) == n_groups and groups[-1].name == "classifier" and groups[-1].norm == classifier_norm
    assert sorted(names) == sorted(n for n, _ in model.named_parameters())  # each once, none missing
    with_norm = [g for g in groups[:-1] if g.norm]
    if n_groups > 4:  # the BatchNorm networks: every conv has its BN except pre-activation shortcuts and stem
        assert len(with_norm) >= n_groups - 5


def test_resnet9_groups_pair_each_conv_with_its_batchnorm():
    groups = layer_groups(resnet9(10, 3, 4))
    assert [g.name for g in groups] == [
        "prep", "layer1.0", "layer1.1.res1", "layer1.1.res2", "layer2", "layer3.0", "layer3.1.res1", "layer3.1.res2", "classifier",
    ]  # fmt: skip
    assert all(g.norm == g.layer.removesuffix("conv") + "bn" and g.norm_follows for g in groups[:-1])


@pytest.mark.parametrize("build", [lambda: mlp(64, 10, (16, 8)), lambda: resnet9(10, 1, 2, logit_scale=1.0)])
def test_clean_plus_noisy_gradient_is_the_total_gradient(build):
    torch.manual_seed(0)
    model = build().double().train()  # BatchNorm in training mode couples the samples of a batch
    x = torch.randn(12, 1, 8, 8, dtype=torch.float64)
    y, index = torch.randint(0, 10, (12,)), torch.arange(100, 112)
    accounting = GradientAccounting(model, noisy_index=[101, 105, 110])
    losses = F.cross_entropy(model(x), y, reduction="none") / 12
    accounting(losses, index)
    total = torch.autograd.grad(losses.sum(), list(model.parameters()))
    for (name, _), g in zip(model.named_parameters(), total):
        torch.testing.assert_close(accounting.clean_sum[name] + accounting.noisy_sum[name], g, rtol=1e-12, atol=1e-14)
    assert any(accounting.noisy_sum[n].abs().sum() > 0 for n in accounting.noisy_sum)  # both parts really non-zero
    assert any(accounting.clean_sum[n].abs().sum() > 0 for n in accounting.clean_sum)


def test_accounting_table_per_epoch_and_group(noisy_digits):
    accounting = noisy_digits[3]
    table = accounting.table()
    assert table.shape[0] == 6 * 3 and table["epoch"].tolist() == [e for e in range(1, 7) for _ in range(3)]
    assert table["group"].tolist()[:3] == ["linear1", "linear2", "classifier"]


def test_accounting_row_is_the_papers_formula_computed_by_hand():
    """One batch, one epoch: each row's clean, noisy and total norms (Σ_p ‖G_p‖/√numel p), share and cosine equal
    those computed from two separate backward passes of the clean and the noisy part of the loss."""
    torch.manual_seed(0)
    model = mlp(4, 3, (5,)).double()
    x, y, index = torch.randn(6, 4, dtype=torch.float64), torch.tensor([0, 1, 2, 0, 1, 2]), torch.arange(10, 16)
    accounting = GradientAccounting(model, noisy_index=[11, 14])
    losses = F.cross_entropy(model(x), y, reduction="none") / 6
    accounting(losses, index)
    accounting.end_epoch(0)
    params = dict(model.named_parameters())
    noisy = torch.tensor([False, True, False, False, True, False])
    clean_g = dict(zip(params, torch.autograd.grad(losses[~noisy].sum(), list(params.values()), retain_graph=True)))
    noisy_g = dict(zip(params, torch.autograd.grad(losses[noisy].sum(), list(params.values()))))
    for group, row in zip(layer_groups(model), accounting.table().itertuples()):
        names = group.parameter_names(model)
        norm = lambda grads: sum(float(grads[n].norm()) / grads[n].numel() ** 0.5 for n in names)
        a = torch.cat([clean_g[n].flatten() for n in names])
        b = torch.cat([noisy_g[n].flatten() for n in names])
        assert row.group == group.name
        assert row.clean == pytest.approx(norm(clean_g)) and row.noisy == pytest.approx(norm(noisy_g))
        assert row.total == pytest.approx(norm({n: clean_g[n] + noisy_g[n] for n in names}))
        assert row.noisy_share == pytest.approx(norm(noisy_g) / (norm(clean_g) + norm(noisy_g)))
        assert row.cosine == pytest.approx(float(a @ b / (a.norm() * b.norm())))


def test_rewinding_to_the_final_weights_changes_nothing(noisy_digits):
    train, model, history, _ = noisy_digits
    config = TrainConfig(score_batch_size=512)
    before = evaluate(model, train, config, epoch=0, with_curvature=False, device=torch.device("cpu"))["loss"]
    for group in layer_groups(model):
        same = rewind(model, group, history.weights[6])
        after = evaluate(same, train, config, epoch=0, with_curvature=False, device=torch.device("cpu"))["loss"]
        np.testing.assert_array_equal(after, before)
        early = rewind(model, group, history.weights[0])
        changed = evaluate(early, train, config, epoch=0, with_curvature=False, device=torch.device("cpu"))["loss"]
        assert not np.array_equal(changed, before)  # while the initial weights do change it


def test_weight_history_round_trips_through_arrays(noisy_digits):
    _, _, history, _ = noisy_digits
    back = WeightHistory.from_arrays(history.to_arrays())
    assert sorted(back) == [0, 1, 6]
    for name, tensor in history.weights[1].items():
        torch.testing.assert_close(back[1][name], tensor, rtol=0, atol=0)


@pytest.mark.parametrize("build", [lambda: mlp(64, 10, (32, 16)), lambda: resnet9(10, 1, 2)])
def test_retraining_changes_only_its_group(build):
    train = load_digits(train=True).select(np.arange(120))
    torch.manual_seed(0)
    model = build()
    groups = layer_groups(model)
    group = groups[1]
    state = {k: v.clone() for k, v in model.state_dict().items()}
    retrained, correct = retrain_group(model, group, train, TrainConfig(epochs=2, batch_size=30, score_every=0), eval_set=train)
    own = set(group.parameter_names(model)) | {f"{m}.{b}" for m in filter(None, [group.norm]) for b in ("running_mean", "running_var", "num_batches_tracked")}
    after = retrained.state_dict()
    for name, value in state.items():
        if name in own:
            continue
        if name.endswith("num_batches_tracked"):
            continue  # a counter, unused with a set momentum
        assert torch.equal(after[name], value), name  # frozen: bit-identical
    assert any(not torch.equal(after[n], state[n]) for n in group.parameter_names(model))
    for name, value in state.items():
        assert torch.equal(model.state_dict()[name], value)  # the input model is untouched
    assert correct.shape == (3, 120) and set(np.unique(correct)) <= {0.0, 1.0}


def test_flipping_stops_at_the_first_change_and_never_zeroes_twice(noisy_digits):
    train, model, _, _ = noisy_digits
    groups = layer_groups(model)
    flipped = 0
    for i in range(6):
        outcome, changed = flip_example(model, train.x[i], train.y[i], train.x[10:40], train.y[10:40], generator=torch.Generator().manual_seed(i))
        assert len(outcome.units) == len(set(outcome.units)) and outcome.units
        assert all(group != "classifier" for group, _ in outcome.units)
        replay = [model]
        for k in (len(outcome.units) - 1, len(outcome.units)):
            net = copy.deepcopy(model)
            zero_units(net, groups, outcome.units[:k])
            replay.append(net)
        with torch.no_grad():
            preds = [int(net.eval()(train.x[i : i + 1]).argmax(1)) for net in replay]
        assert preds[0] == outcome.before
        if outcome.flipped:
            flipped += 1
            assert preds[1] == outcome.before and preds[2] == outcome.after != outcome.before  # one unit fewer: not yet flipped
        torch.testing.assert_close(changed(train.x[:5]), replay[2](train.x[:5]))
    assert flipped >= 4


def test_zeroed_unit_outputs_zero():
    torch.manual_seed(0)
    model = resnet9(10, 1, 2).eval()
    groups = layer_groups(model)
    zero_units(model, groups, [("layer2", 3)])
    captured = {}
    model.layer2.relu.register_forward_hook(lambda m, i, o: captured.setdefault("out", o))
    model(torch.randn(2, 1, 16, 16))
    assert captured["out"][:, 3].abs().max() == 0 and captured["out"][:, 2].abs().max() > 0
