import pytest
import torch
from torch import nn

from curvlib.curvature import input_loss_curvature, input_loss_curvature_with_trace, keyed_rademacher_probes
from curvlib.models import mlp, small_cnn
from curvlib.reference import paper_algorithm_curvature


def _probes(n, x, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 2, (n, *x.shape), generator=g).to(x.dtype) * 2 - 1


@pytest.fixture
def cnn64():
    torch.manual_seed(0)
    model = nn.Sequential(nn.BatchNorm2d(1), small_cnn(10, 1, 4)).double()
    model(torch.randn(8, 1, 12, 12, dtype=torch.float64))  # give BatchNorm non-trivial running stats
    x = torch.randn(6, 1, 12, 12, dtype=torch.float64)
    y = torch.randint(0, 10, (6,))
    return model, x, y


def test_matches_literal_paper_algorithm_float64(cnn64):
    model, x, y = cnn64
    probes = _probes(10, x)
    ours = input_loss_curvature_with_trace(model, x, y, probes=probes, h=1e-3)
    ref = paper_algorithm_curvature(model, x, y, probes, h=1e-3, reduction="sum")
    torch.testing.assert_close(ours.curvature, ref.curvature, rtol=1e-5, atol=0)
    torch.testing.assert_close(ours.trace, ref.trace, rtol=1e-5, atol=1e-12)


def test_paper_code_mean_reduction_scales_by_batch(cnn64):
    model, x, y = cnn64
    probes = _probes(3, x)
    summed = paper_algorithm_curvature(model, x, y, probes, reduction="sum").curvature
    mean = paper_algorithm_curvature(model, x, y, probes, reduction="mean").curvature
    torch.testing.assert_close(mean * x.shape[0], summed, rtol=1e-6, atol=0)


def test_squared_option_and_chunking(cnn64):
    model, x, y = cnn64
    probes = _probes(5, x)
    unsq = input_loss_curvature(model, x, y, probes=probes, chunk_size=5)
    sq = input_loss_curvature(model, x, y, probes=probes, squared=True, chunk_size=2)
    for_each = [input_loss_curvature(model, x, y, probes=probes[i : i + 1], n_probes=1) for i in range(5)]
    torch.testing.assert_close(unsq, torch.stack(for_each).mean(0))
    torch.testing.assert_close(sq, torch.stack(for_each).pow(2).mean(0))


def test_score_independent_of_batch_composition(cnn64):
    model, x, y = cnn64
    probes = _probes(4, x)
    full = input_loss_curvature(model, x, y, probes=probes)
    alone = torch.cat([input_loss_curvature(model, x[i : i + 1], y[i : i + 1], probes=probes[:, i : i + 1]) for i in range(6)])
    perm = torch.tensor([3, 0, 5])
    shuffled = input_loss_curvature(model, x[perm], y[perm], probes=probes[:, perm])
    torch.testing.assert_close(full, alone, rtol=1e-10, atol=0)
    torch.testing.assert_close(full[perm], shuffled, rtol=1e-10, atol=0)


def test_eval_mode_restored_and_no_parameter_gradients(cnn64):
    model, x, y = cnn64
    model.train()
    stats_before = model[0].running_mean.clone()
    touched = []
    for p in model.parameters():
        p.register_hook(lambda g: touched.append(1))
    input_loss_curvature(model, x, y, n_probes=2)
    assert model.training
    assert all(p.grad is None for p in model.parameters())
    assert not touched, "a parameter gradient was computed"
    torch.testing.assert_close(model[0].running_mean, stats_before)  # BatchNorm ran in eval mode
    model.eval()
    input_loss_curvature(model, x, y, n_probes=2)
    assert not model.training


def test_eval_mode_used_for_scores(cnn64):
    model, x, y = cnn64
    probes = _probes(2, x)
    model.eval()
    expected = input_loss_curvature(model, x, y, probes=probes)
    model.train()
    torch.testing.assert_close(input_loss_curvature(model, x, y, probes=probes), expected)


def test_autocast_is_disabled_inside(cnn64):
    model, x, y = cnn64
    model, x = model.float(), x.float()
    probes = _probes(2, x)
    plain = input_loss_curvature(model, x, y, probes=probes)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under_autocast = input_loss_curvature(model, x, y, probes=probes)
    torch.testing.assert_close(under_autocast, plain)


@pytest.mark.parametrize(
    "change, error, word",
    [
        (dict(y=torch.zeros(5, dtype=torch.long)), ValueError, "y must have shape"),
        (dict(y=torch.full((6,), 10)), ValueError, "labels y"),
        (dict(y=torch.full((6,), -1)), ValueError, "labels y"),
        (dict(y=torch.zeros(6)), TypeError, "integer"),
        (dict(x="nan"), ValueError, "NaN"),
        (dict(x="half"), TypeError, "float32 or float64"),
        (dict(h=0.0), ValueError, "h must be"),
        (dict(h=-1e-3), ValueError, "h must be"),
        (dict(n_probes=0), ValueError, "n_probes"),
        (dict(probes=torch.ones(3, 6, 1, 12, 12)), ValueError, "probes must have shape"),
        (dict(probes=torch.zeros(2, 6, 1, 12, 12)), ValueError, "only \\+1 and -1"),
    ],
)
def test_bad_input_named_in_error(cnn64, change, error, word):
    model, x, y = cnn64
    kwargs = dict(h=1e-3, n_probes=2, probes=None)
    kwargs.update({k: v for k, v in change.items() if k not in ("x", "y")})
    y = change.get("y", y)
    if change.get("x") == "nan":
        x = x.clone()
        x[0, 0, 0, 0] = float("nan")
    elif change.get("x") == "half":
        x = x.half()
    with pytest.raises(error, match=word):
        input_loss_curvature(model, x, y, **kwargs)


def _tiny_smooth_problem():
    torch.manual_seed(1)
    model = mlp(5, num_classes=3, hidden=(7,), activation=nn.Tanh).double().eval()
    x = torch.randn(3, 5, dtype=torch.float64)
    y = torch.tensor([0, 2, 1])

    def hessian(i):
        def loss(xi):
            return nn.functional.cross_entropy(model(xi[None]), y[i : i + 1], reduction="sum")

        return torch.func.hessian(loss)(x[i])

    return model, x, y, torch.stack([hessian(i) for i in range(3)])


def test_finite_difference_converges_to_hessian_vector_product():
    model, x, y, H = _tiny_smooth_problem()
    v = _probes(1, x)
    hv_norm = torch.einsum("bij,bj->bi", H, v[0]).norm(dim=1)
    errors = []
    for h in (1e-1, 1e-2, 1e-3, 1e-4):
        score = input_loss_curvature(model, x, y, h=h, probes=v)
        errors.append(((score / h - hv_norm).abs() / hv_norm).max().item())
    assert errors[-1] < 5e-4
    for coarse, fine in zip(errors, errors[1:]):  # first-order convergence: ~10x less error per decade of h
        assert fine < coarse / 5


def test_trace_estimate_converges_to_h2_trace():
    model, x, y, H = _tiny_smooth_problem()
    h = 1e-3
    exact = torch.diagonal(H, dim1=1, dim2=2).sum(1) * h**2
    gen = torch.Generator().manual_seed(0)
    few = input_loss_curvature_with_trace(model, x, y, h=h, n_probes=4, generator=gen).trace
    many = input_loss_curvature_with_trace(model, x, y, h=h, n_probes=4000, generator=gen, chunk_size=500).trace
    err_many = ((many - exact).abs() / exact.abs()).max().item()
    assert err_many < 0.05
    assert err_many < ((few - exact).abs() / exact.abs()).max().item()


def test_squared_score_estimates_h2_trace_of_h_squared():
    model, x, y, H = _tiny_smooth_problem()
    h = 1e-3
    exact = torch.einsum("bij,bji->b", H, H) * h**2
    gen = torch.Generator().manual_seed(0)
    est = input_loss_curvature(model, x, y, h=h, n_probes=4000, squared=True, generator=gen, chunk_size=500)
    assert ((est - exact).abs() / exact).max().item() < 0.05


def test_keyed_probes_depend_only_on_seed_and_index():
    a = keyed_rademacher_probes(torch.tensor([5, 9, 2]), 4, (1, 3, 3), seed=7)
    b = keyed_rademacher_probes(torch.tensor([2, 5]), 4, (1, 3, 3), seed=7)
    assert a.shape == (4, 3, 1, 3, 3) and a.dtype == torch.int8
    assert set(a.unique().tolist()) == {-1, 1}
    torch.testing.assert_close(a[:, [2, 0]], b)
    assert not torch.equal(a, keyed_rademacher_probes(torch.tensor([5, 9, 2]), 4, (1, 3, 3), seed=8))
    big = keyed_rademacher_probes(torch.arange(200), 10, (50,), seed=0).double()
    assert abs(big.mean().item()) < 0.02  # balanced signs
    assert abs((big[0] * big[1]).mean().item()) < 0.02  # probes uncorrelated


def test_probe_differences_average_to_the_curvature():
    from curvlib.curvature import keyed_rademacher_probes, probe_differences

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3)).double()
    x, y = torch.randn(5, 1, 3, 4, dtype=torch.float64), torch.tensor([0, 1, 2, 1, 0])
    probes = keyed_rademacher_probes(torch.arange(5), 6, (1, 3, 4), seed=1)
    per_probe = probe_differences(model, x, y, h=1e-2, probes=probes)
    assert per_probe.shape == (6, 5) and (per_probe >= 0).all()
    torch.testing.assert_close(per_probe.mean(0), input_loss_curvature(model, x, y, h=1e-2, probes=probes))
