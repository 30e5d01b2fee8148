"""pm.optim against torch.optim (the oracle), on every framework backend.

Two comparisons:

* **The update rule alone** (``test_*_matches_torch_optim``): polymod computes the
  gradients on its backend; the same gradients go to ``torch.optim`` over a copy of the
  initial weights. After 50 steps the weights agree to float32 rounding: what differs is
  only the optimizer's arithmetic (on torch, for the plain rules, the same kernels in
  the same order, so bit for bit). "Float32 rounding" is rtol 2e-5 / atol 2e-7, widened
  per element by twice what one ulp per step (in the gradients and in the weights) moves
  torch.optim's own result.
* **End to end** (``test_loss_trajectory_matches_torch``): torch's own autograd on the
  chapter's hand-written torch MLP; the losses of 50 steps agree to rtol 1e-4 (the
  gradients themselves differ across frameworks by float32 rounding).

Also: the adapters' update kernels against float64 NumPy, parameter groups, the checks
of issue 12 (all or nothing, named parameters), state dicts (to and from torch.optim,
across backends), schedulers and clipping against torch's.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import polymod as pm
from polymod import nn, ops, registry
from polymod.examples.chapter import MLP
from polymod.examples.vision import LeNet

torch = pytest.importorskip("torch")
FRAMEWORKS = pytest.mark.backends(*registry.FRAMEWORKS)
STEPS = 50
# 50 steps: weights within float32 rounding of torch.optim's, given the same gradients
RULE_RTOL, RULE_ATOL = 2e-5, 2e-7

CONFIGS = {  # name: (polymod optimizer class, torch.optim class, keyword arguments)
    "sgd": ("SGD", {"lr": 0.1}),
    "sgd_weight_decay": ("SGD", {"lr": 0.1, "weight_decay": 0.01}),
    "sgd_momentum_dampening": ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.1,
                                       "weight_decay": 0.01}),
    "sgd_nesterov": ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    "adam": ("Adam", {"lr": 1e-3}),
    "adam_amsgrad_l2": ("Adam", {"lr": 1e-3, "betas": (0.8, 0.99), "weight_decay": 0.01,
                                 "amsgrad": True}),
    "adamw": ("AdamW", {"lr": 1e-3}),
    "adamw_amsgrad": ("AdamW", {"lr": 2e-3, "weight_decay": 0.1, "amsgrad": True}),
    "rmsprop": ("RMSprop", {"lr": 1e-3}),
    "rmsprop_centered_momentum": ("RMSprop", {"lr": 1e-3, "momentum": 0.9, "centered": True,
                                              "weight_decay": 0.01}),
}
# polymod's torch backend runs these with torch.optim's own kernels, in its order
EXACT_ON_TORCH = {"sgd", "adam", "adamw", "rmsprop"}
LENET_CONFIGS = ["sgd_momentum_dampening", "adam", "adamw", "rmsprop_centered_momentum"]


def _mlp_data(step: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(step % 5)
    return rng.random((8, 20), dtype=np.float32), rng.integers(0, 10, 8)


def _lenet_data(step: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(step % 3)
    return rng.random((4, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, 4)


def _loss(net, X, y):
    return ops.cross_entropy(net(X), y)


def run_against_torch_optim(backend, factory, data, make_pm, make_torch, steps=STEPS):
    """Trains ``factory()`` on ``backend`` with polymod, and feeds the same gradients to
    ``torch.optim``. A second ``torch.optim`` gets them one float32 ulp off, and its
    weights are nudged by one ulp after every step (random directions): how far float32
    rounding alone moves torch.optim's result.

    Returns:
        (polymod's final weights, torch.optim's, torch.optim's from the perturbed ones).
    """
    pm.seed(0)
    net = factory()
    X0, _ = data(0)
    net.initialize(pm.asarray(X0, backend=backend))
    start = net.state_dict()
    references = [{n: torch.nn.Parameter(torch.from_numpy(start[n].copy()))
                   for n, _ in net.named_parameters()} for _ in range(2)]
    opt = make_pm(net)
    ref_opts = [make_torch(reference) for reference in references]
    step = pm.value_and_grad(_loss)
    rng = np.random.default_rng(0)
    for i in range(steps):
        X, y = data(i)
        _, grads = step(net, pm.asarray(X, backend=backend), pm.asarray(y, backend=backend))
        for name, g in grads.items():
            g = pm.to_numpy(g)
            references[0][name].grad = torch.from_numpy(g)
            references[1][name].grad = torch.from_numpy(_one_ulp_off(g, rng))
        for ref_opt in ref_opts:
            ref_opt.step()
        with torch.no_grad():
            for p in references[1].values():
                p.copy_(torch.from_numpy(_one_ulp_off(p.numpy(), rng)))
        opt.step(grads)
    return (net.state_dict(), *({n: p.detach().numpy() for n, p in ref.items()}
                                for ref in references))


def _one_ulp_off(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``x`` with each element moved to a neighbouring float32, up or down at random."""
    up = np.asarray(rng.random(x.shape) < 0.5)
    return np.nextafter(x, np.where(up, np.float32(np.inf), np.float32(-np.inf)))


def _makers(config: str):
    kind, kwargs = CONFIGS[config]
    return (lambda net: getattr(pm.optim, kind)(net, **kwargs),
            lambda ref: getattr(torch.optim, kind)(list(ref.values()), **kwargs))


def _assert_weights_close(got, expected, perturbed):
    """Within float32 rounding of torch.optim's weights: rtol/atol, widened per element
    by twice what one ulp per step moves torch.optim's own result (large only where the
    rule amplifies rounding, e.g. weight decay balancing tiny gradients in RMSprop)."""
    assert set(got) >= set(expected)
    for name, value in expected.items():
        spread = np.abs(perturbed[name] - value)
        allowed = RULE_ATOL + RULE_RTOL * np.abs(value) + 2 * spread
        excess = np.abs(got[name] - value) - allowed
        worst = int(np.argmax(excess))
        assert excess.flat[worst] <= 0, (
            f"{name}: polymod {got[name].flat[worst]} vs torch.optim {value.flat[worst]} "
            f"(one ulp off: {perturbed[name].flat[worst]}); allowed {allowed.flat[worst]:.3g}")


@FRAMEWORKS
@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_chapter_mlp_50_steps_match_torch_optim(backend, config):
    got, expected, perturbed = run_against_torch_optim(backend, MLP, _mlp_data,
                                                     *_makers(config))
    _assert_weights_close(got, expected, perturbed)
    if backend == "torch" and config in EXACT_ON_TORCH:  # the same kernels: the same bits
        for name, value in expected.items():
            np.testing.assert_array_equal(got[name], value, err_msg=name)


@FRAMEWORKS
@pytest.mark.parametrize("config", LENET_CONFIGS)
def test_lenet_50_steps_match_torch_optim(backend, config):
    got, expected, perturbed = run_against_torch_optim(backend, LeNet, _lenet_data,
                                                     *_makers(config))
    _assert_weights_close(got, expected, perturbed)


@FRAMEWORKS
def test_parameter_groups_match_torch_optim(backend):
    """AdamW without decay on biases and a larger lr for the output layer."""
    def make_pm(net):
        biases = [n for n, p in net.named_parameters() if len(p.shape) == 1]
        return pm.optim.AdamW(net, lr=1e-3, weight_decay=0.1, param_groups=[
            {"params": biases, "weight_decay": 0.0}, {"params": ["out.weight"], "lr": 5e-3},
            {}])

    def make_torch(ref):
        return torch.optim.AdamW([
            {"params": [ref["hidden.bias"], ref["out.bias"]], "weight_decay": 0.0},
            {"params": [ref["out.weight"]], "lr": 5e-3}, {"params": [ref["hidden.weight"]]}],
            lr=1e-3, weight_decay=0.1)

    got, expected, perturbed = run_against_torch_optim(backend, MLP, _mlp_data, make_pm,
                                                     make_torch)
    _assert_weights_close(got, expected, perturbed)


@FRAMEWORKS
@pytest.mark.parametrize("config", ["sgd_nesterov", "adam", "rmsprop_centered_momentum"])
def test_loss_trajectory_matches_torch(backend, config):
    """End to end: torch's autograd on the chapter's torch MLP, torch.optim on it."""
    from conftest import torch_oracle

    kind, kwargs = CONFIGS[config]
    pm.seed(0)
    net = MLP()
    net.initialize(pm.asarray(_mlp_data(0)[0], backend=backend))
    oracle = torch_oracle("MLP", net.state_dict())
    opt = getattr(pm.optim, kind)(net, **kwargs)
    ref_opt = getattr(torch.optim, kind)(oracle.parameters(), **kwargs)
    step = pm.value_and_grad(_loss)
    losses, ref_losses = [], []
    for i in range(STEPS):
        X, y = _mlp_data(i)
        loss, grads = step(net, pm.asarray(X, backend=backend), pm.asarray(y, backend=backend))
        opt.step(grads)
        losses.append(float(pm.to_numpy(loss)))
        ref_opt.zero_grad()
        ref_loss = torch.nn.functional.cross_entropy(oracle(torch.from_numpy(X)),
                                                     torch.from_numpy(y))
        ref_loss.backward()
        ref_opt.step()
        ref_losses.append(ref_loss.item())
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-4)
    assert losses[-1] < losses[0]


# -- the adapters' update kernels ----------------------------------------------------------------
def _arrays(seed: int, count: int = 5) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    # small and large ones (adapters may treat them differently: MXNet does)
    shapes = [(5, 7), (7,), (2, 3, 4), (), (256, 300)][:count] + [(3,)] * max(0, count - 5)
    # magnitudes from 1e-8 to 10, where eps and float32 rounding matter
    return [np.asarray(rng.standard_normal(s) * 10.0 ** rng.uniform(-8, 1, s), np.float32)
            for s in shapes]


def _kernel_cases():
    """name: (the call, the terms whose sum is the exact result)."""
    def ratio(y, z, c, eps):
        return y / (np.sqrt(z) / c + eps)

    return {
        "axpby_": (lambda A, xs, ys, zs: A.axpby_(xs, 0.9, ys, -0.3),
                   lambda x, y, z: [0.9 * x, -0.3 * y]),
        "axpby_ scale only": (lambda A, xs, ys, zs: A.axpby_(xs, 0.5, None, 0.0),
                              lambda x, y, z: [0.5 * x]),
        "axpby_ a=1": (lambda A, xs, ys, zs: A.axpby_(xs, 1.0, ys, -0.01),
                       lambda x, y, z: [x, -0.01 * y]),
        "addcmul_": (lambda A, xs, ys, zs: A.addcmul_(xs, 0.99, ys, zs, 0.01),
                     lambda x, y, z: [0.99 * x, 0.01 * y * z]),
        "addcdiv_sqrt_": (lambda A, xs, ys, zs: A.addcdiv_sqrt_(xs, 0.9, ys, zs, 0.3, 1e-8,
                                                                -0.01),
                          lambda x, y, z: [0.9 * x, -0.01 * ratio(y, z, 0.3, 1e-8)]),
    }


def _assert_rounding(got, terms, rtol=2e-6):
    """``got`` equals the sum of ``terms`` (float64) to float32 rounding: a few ulp of the
    result, plus a few of the terms (where they cancel, the result's own ulp is too
    small a yardstick)."""
    want = np.sum(terms, axis=0)
    allowed = rtol * np.abs(want) + 6e-7 * np.sum(np.abs(terms), axis=0) + 1e-30
    np.testing.assert_array_less(np.abs(got - want), allowed)


@pytest.mark.parametrize("name", registry.NAMES)
@pytest.mark.parametrize("case", sorted(_kernel_cases()))
def test_update_kernels_write_in_place_to_float32_rounding(name, case):
    if not registry.is_installed(name):
        pytest.skip(f"{name} is not installed")
    A = registry.adapter(name)
    run, terms = _kernel_cases()[case]
    xs0, ys0, zs0 = _arrays(1), _arrays(2), [np.asarray(np.abs(a), np.float32) for a in _arrays(3)]
    xs = [A.create_buffer(x.copy(), None) for x in xs0]
    ys = [A.from_numpy(y.copy()) for y in ys0]
    zs = [A.from_numpy(z.copy()) for z in zs0]
    with A.no_grad():
        assert run(A, xs, ys, zs) is None  # written in place: the same objects
    for x, x0, y, z in zip(xs, xs0, ys0, zs0, strict=True):
        _assert_rounding(A.to_numpy(x), terms(*(a.astype(np.float64) for a in (x0, y, z))))


@pytest.mark.parametrize("name", registry.NAMES)
@pytest.mark.parametrize("count", [5, 61])  # 61: more than a multi-tensor kernel takes
@pytest.mark.parametrize("decay", [0.0, 1e-3])
def test_adam_kernel_is_torchs_formula(name, count, decay):
    if not registry.is_installed(name):
        pytest.skip(f"{name} is not installed")
    A = registry.adapter(name)
    ps0, gs0, ms0 = _arrays(4, count), _arrays(5, count), _arrays(6, count)
    vs0 = [np.asarray(np.abs(v) * 1e-3, np.float32) for v in _arrays(7, count)]
    ps, ms, vs = ([A.create_buffer(a.copy(), None) for a in arrays]
                  for arrays in (ps0, ms0, vs0))
    gs = [A.from_numpy(g.copy()) for g in gs0]
    b1, b2, step_size, c, eps = 0.9, 0.999, 0.01 / (1 - 0.9 ** 3), (1 - 0.999 ** 3) ** 0.5, 1e-8
    with A.no_grad():
        assert A.adam_(ps, gs, ms, vs, b1, b2, step_size, c, eps, decay) is None
    for i in range(count):
        p, g, m, v = (a[i].astype(np.float64) for a in (ps0, gs0, ms0, vs0))
        _assert_rounding(A.to_numpy(ms[i]), [b1 * m, (1 - b1) * g])
        _assert_rounding(A.to_numpy(vs[i]), [b2 * v, (1 - b2) * g * g])
        # the step from the moments as the kernel left them (their own rounding, where
        # terms cancel, would otherwise dominate the comparison)
        m, v = (A.to_numpy(x[i]).astype(np.float64) for x in (ms, vs))
        _assert_rounding(A.to_numpy(ps[i]),
                         [p * (1 - decay), -step_size * m / (np.sqrt(v) / c + eps)])


# -- checks before a step (issue 12, item 5) ------------------------------------------------------
def _grads(net, X):
    return pm.value_and_grad(lambda m, x: ops.sum(m(x)))(net, X)[1]


@FRAMEWORKS
def test_grads_of_another_model_are_refused_naming_each_parameter(backend):
    net = nn.Linear(3, 3).to(backend)
    other = nn.Linear(3, 1).to(backend)
    opt = pm.optim.SGD(net, lr=0.1, momentum=0.9)
    before = net.state_dict()
    with pytest.raises(pm.ShapeError, match=r"'weight': expected .*shape \(3, 3\).*received "
                                            r".*shape \(1, 3\).*'bias'") as info:
        opt.step(_grads(other, pm.rand(2, 3)))
    assert "nothing was updated" in str(info.value)
    _assert_unchanged(net, before, opt)


def _assert_unchanged(net, before, opt, steps=0):
    for name, value in net.state_dict().items():
        np.testing.assert_array_equal(value, before[name], err_msg=name)
    assert opt.steps == steps


@FRAMEWORKS
def test_numbers_instead_of_tensors_are_refused(backend):
    net = nn.Linear(3, 1).to(backend)
    opt = pm.optim.Adam(net)
    before = net.state_dict()
    with pytest.raises(pm.BackendTypeError, match=r"'weight': expected a .* tensor .*received "
                                                  r"builtins.float"):
        opt.step({"weight": 1.0, "bias": 1.0})
    _assert_unchanged(net, before, opt)
    assert opt.state == {}


@FRAMEWORKS
def test_one_bad_gradient_updates_nothing_and_keeps_the_step_count(backend):
    net = nn.Linear(3, 2).to(backend)
    opt = pm.optim.Adam(net, lr=0.1)
    grads = _grads(net, pm.rand(2, 3))
    opt.step(grads)
    state_before = {n: {k: pm.to_numpy(v) if k != "step" else v for k, v in s.items()}
                    for n, s in opt.state.items()}
    before = net.state_dict()
    bad = {"bias": grads["bias"], "weight": pm.rand(3, 3)}  # bias first: it must stay
    with pytest.raises(pm.ShapeError, match="'weight'"):
        opt.step(bad)
    _assert_unchanged(net, before, opt, steps=1)
    for name, state in opt.state.items():  # moments not advanced
        assert state["step"] == 1
        for key in ("exp_avg", "exp_avg_sq"):
            np.testing.assert_array_equal(pm.to_numpy(state[key]), state_before[name][key])


@pytest.mark.backends("keras")
def test_gradients_of_another_backend_are_refused():
    pytest.importorskip("mxnet")
    net = nn.Linear(3, 1).to("keras")
    opt = pm.optim.Adam(net)
    gluon_grads = _grads(nn.Linear(3, 1).to("gluon"), pm.rand(2, 3, backend="gluon"))
    with pytest.raises(pm.BackendTypeError, match=r"expected a keras tensor.*received a gluon "
                                                  r"tensor"):
        opt.step(gluon_grads)
    assert opt.state == {} and opt.steps == 0


@FRAMEWORKS
def test_another_dtype_is_refused(backend):
    net = nn.Linear(3, 1).to(backend)
    grads = {k: ops.astype(v, "float64") for k, v in _grads(net, pm.rand(2, 3)).items()}
    with pytest.raises(pm.BackendTypeError, match="dtype float64"):
        pm.optim.SGD(net).step(grads)


def test_an_unbound_model_gets_a_clear_error():
    opt = pm.optim.SGD(nn.Linear(3, 1), lr=0.1)
    with pytest.raises(pm.StateError, match="not bound to a backend yet"):
        opt.step({"weight": np.ones((1, 3), np.float32)})


def test_gradients_must_be_a_dict():
    opt = pm.optim.SGD(nn.Linear(3, 1).to("numpy"))
    with pytest.raises(pm.BackendTypeError, match="dict"):
        opt.step([np.ones((1, 3), np.float32)])


@pytest.mark.backends("numpy")
def test_steps_on_the_numpy_backend(backend):
    """NumPy has no autograd, but a step with given gradients works (the reference)."""
    net = nn.Linear(2, 1).to("numpy")
    before = net.state_dict()
    opt = pm.optim.SGD(net, lr=0.5)
    opt.step({"weight": np.ones((1, 2), np.float32), "bias": np.ones(1, np.float32)})
    np.testing.assert_allclose(net.state_dict()["weight"], before["weight"] - 0.5)


def test_missing_and_frozen_gradients_are_skipped_and_lazy_models_train():
    net = nn.Sequential(nn.LazyLinear(4), nn.ReLU(), nn.LazyLinear(1))
    opt = pm.optim.Adam(net, lr=0.1)  # before the model is bound or built
    grads = _grads(net, pm.rand(2, 3, backend="torch"))
    opt.step({k: v for k, v in grads.items() if k != "2.bias"})
    assert sorted(opt.state) == ["0.bias", "0.weight", "2.weight"]
    opt.step(grads)
    assert opt.state["0.weight"]["step"] == 2 and opt.state["2.bias"]["step"] == 1


def test_group_errors():
    net = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1))
    with pytest.raises(ValueError, match=r"names nope, which is not a parameter"):
        pm.optim.SGD(net, param_groups=[{"params": ["nope"]}])
    with pytest.raises(ValueError, match=r"'0.bias' is in param_groups\[0\] and again"):
        pm.optim.SGD(net, param_groups=[{"params": ["0.bias"]}, {"params": ["0.bias"]}])
    with pytest.raises(ValueError, match="only one group may take every other"):
        pm.optim.SGD(net, param_groups=[{}, {"lr": 0.1}])
    with pytest.raises(ValueError, match=r"unknown keys \['betas'\]"):
        pm.optim.SGD(net, param_groups=[{"betas": (0.9, 0.99)}])
    with pytest.raises(ValueError, match="Nesterov momentum requires momentum > 0"):
        pm.optim.SGD(net, nesterov=True)
    with pytest.raises(ValueError, match=r"betas\[1\] must be in \[0, 1\)"):
        pm.optim.Adam(net, betas=(0.9, 1.0))
    with pytest.raises(pm.BackendTypeError, match="list of dicts"):
        pm.optim.SGD(net, param_groups={"params": ["0.bias"]})
    handles = dict(net.named_parameters())
    opt = pm.optim.SGD(net, lr=0.1, param_groups=[{"params": [handles["1.weight"]],
                                                   "lr": 0.5}])
    assert [g["params"] for g in opt.param_groups] == [["1.weight"]]  # the others: not updated
    opt.add_param_group({"params": ["0.weight"], "momentum": 0.9})
    assert opt.param_groups[1]["momentum"] == 0.9 and opt.param_groups[1]["lr"] == 0.1
    assert "Parameter Group 1" in repr(opt)


def test_a_parameter_in_no_group_is_not_updated():
    net = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1)).to("torch")
    opt = pm.optim.SGD(net, lr=0.1, param_groups=[{"params": ["1.weight", "1.bias"]}])
    before = net.state_dict()
    opt.step(_grads(net, pm.rand(3, 2, backend="torch")))
    after = net.state_dict()
    assert np.array_equal(after["0.weight"], before["0.weight"])
    assert not np.array_equal(after["1.weight"], before["1.weight"])


# -- clipping -------------------------------------------------------------------------------------
@FRAMEWORKS
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_matches_torch(backend, norm_type, max_norm):
    pm.seed(0)
    net = MLP()
    X, y = _mlp_data(0)
    _, grads = pm.value_and_grad(_loss)(net, pm.asarray(X, backend=backend),
                                        pm.asarray(y, backend=backend))
    originals = {k: pm.to_numpy(v) for k, v in grads.items()}
    clipped, total = pm.optim.clip_grad_norm(grads, max_norm, norm_type=norm_type)
    params = [torch.nn.Parameter(torch.zeros(v.shape)) for v in originals.values()]
    for p, v in zip(params, originals.values(), strict=True):
        p.grad = torch.from_numpy(v.copy())
    ref_total = torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type=norm_type)
    assert pm.backend_of(total) == backend
    np.testing.assert_allclose(float(pm.to_numpy(total)), ref_total.item(), rtol=1e-5)
    for (name, g), p in zip(clipped.items(), params, strict=True):
        assert pm.backend_of(g) == backend
        np.testing.assert_allclose(pm.to_numpy(g), p.grad.numpy(), rtol=1e-5, atol=1e-8)
        np.testing.assert_array_equal(pm.to_numpy(grads[name]), originals[name])  # untouched


@FRAMEWORKS
def test_clip_grad_value_matches_torch(backend):
    pm.seed(0)
    grads = {"a": pm.randn(4, 5), "b": pm.randn(3)}
    clipped = pm.optim.clip_grad_value(grads, 0.5)
    for name, g in grads.items():
        p = torch.nn.Parameter(torch.zeros(pm.to_numpy(g).shape))
        p.grad = torch.from_numpy(pm.to_numpy(g))
        torch.nn.utils.clip_grad_value_([p], 0.5)
        np.testing.assert_array_equal(pm.to_numpy(clipped[name]), p.grad.numpy())


def test_clipping_errors_and_edge_cases():
    assert pm.optim.clip_grad_norm({}, 1.0) == ({}, 0.0)
    with pytest.raises(pm.BackendTypeError, match="dict"):
        pm.optim.clip_grad_norm([np.ones(2)], 1.0)
    grads = {"w": np.array([np.inf, 1.0], np.float32)}
    with pytest.raises(RuntimeError, match="total norm of order 2.0 .* inf"):
        pm.optim.clip_grad_norm(grads, 1.0, error_if_nonfinite=True)
