"""Gradients (vs native PyTorch autograd on the same weights) and optimiser trajectories.

Tolerances: gradients rtol 1e-4 / atol 1e-6 (float32 sums in a different order per
framework); SGD and Adam trajectories over 8 steps: losses rtol 1e-5, final weights
rtol 1e-4 / atol 1e-6, against torch.optim from the same initial weights.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import _torch_key, assert_same_numbers, immutable_arrays, native_types, torch_oracle

import polymod as pm
from polymod import nn, ops, registry
from polymod.examples.chapter import LISTINGS, FixedHiddenMLP

torch = pytest.importorskip("torch")

FRAMEWORKS = pytest.mark.backends(*registry.FRAMEWORKS)
GRAD_RTOL, GRAD_ATOL = 1e-4, 1e-6


def sum_loss(net, X):
    return ops.sum(net(X))


def _torch_grads(name, sd, X):
    oracle = torch_oracle(name, sd)
    oracle.zero_grad()
    out = oracle(torch.from_numpy(X)).sum()
    out.backward()
    grads = {n: p.grad for n, p in oracle.named_parameters()}
    return out.detach().numpy(), grads


@FRAMEWORKS
@pytest.mark.parametrize("name", sorted(LISTINGS))
def test_gradients_match_native_torch(backend, name):
    pm.seed(0)
    X = pm.rand(2, 20, backend="numpy")
    net = LISTINGS[name]()
    value, grads = pm.value_and_grad(sum_loss)(net, pm.asarray(X))
    assert net.backend == backend
    expected_value, expected = _torch_grads(name, net.state_dict(), X)
    assert_same_numbers(value, expected_value, rtol=GRAD_RTOL)
    assert set(grads) == {n for n, _ in net.named_parameters()}
    for key, grad in grads.items():
        assert isinstance(grad, native_types(backend)), key
        assert pm.to_numpy(grad).shape == dict(net.named_parameters())[key].shape
        assert_same_numbers(grad, expected[_torch_key(name, key)].numpy(), rtol=GRAD_RTOL,
                            atol=GRAD_ATOL)


@FRAMEWORKS
def test_constants_get_no_gradient_and_shared_layer_accumulates(backend):
    pm.seed(0)
    net = FixedHiddenMLP()
    _, grads = pm.value_and_grad(sum_loss)(net, pm.rand(2, 20))
    assert sorted(grads) == ["linear.bias", "linear.weight"]  # no 'rand_weight'


@FRAMEWORKS
def test_layer_used_twice_accumulates_both_uses(backend):
    pm.seed(0)
    shared = nn.Linear(4, 4)
    net = nn.Sequential(shared, nn.ReLU(), shared)
    X = pm.rand(3, 4, backend="numpy")
    _, grads = pm.value_and_grad(sum_loss)(net, pm.asarray(X))
    assert sorted(grads) == ["0.bias", "0.weight"]
    lin = torch.nn.Linear(4, 4)
    lin.load_state_dict({k.removeprefix("0."): torch.from_numpy(v)
                         for k, v in net.state_dict().items()})
    lin(torch.relu(lin(torch.from_numpy(X)))).sum().backward()
    assert_same_numbers(grads["0.weight"], lin.weight.grad.numpy(), rtol=GRAD_RTOL)
    assert_same_numbers(grads["0.bias"], lin.bias.grad.numpy(), rtol=GRAD_RTOL)
    # and it is the sum of the two uses: not the gradient of one use alone
    single = torch.nn.Linear(4, 4)
    single.load_state_dict(lin.state_dict())
    single(torch.from_numpy(X)).sum().backward()
    assert not np.allclose(pm.to_numpy(grads["0.bias"]), single.bias.grad.numpy())


@FRAMEWORKS
def test_frozen_parameter_gets_no_gradient_and_is_not_stepped(backend):
    pm.seed(0)
    net = nn.Sequential(nn.Linear(3, 2))
    net(pm.rand(1, 3))
    bias = dict(net.named_parameters())["0.bias"]
    bias.trainable = False
    before = bias.numpy()
    _, grads = pm.value_and_grad(sum_loss)(net, pm.rand(4, 3))
    assert sorted(grads) == ["0.weight"]
    pm.optim.SGD(net, lr=0.5).step(grads)
    assert np.array_equal(bias.numpy(), before)


@FRAMEWORKS
def test_has_aux_and_lazy_model(backend):
    net = nn.Sequential(nn.LazyLinear(3))  # lazy and unbound: value_and_grad materialises

    def fn(m, X):
        out = m(X)
        return ops.sum(out), out

    (value, out), grads = pm.value_and_grad(fn, has_aux=True)(net, pm.rand(2, 5))
    assert net.backend == backend
    assert pm.to_numpy(out).shape == (2, 3)
    assert_same_numbers(value, pm.to_numpy(out).sum(), rtol=1e-5)
    assert pm.to_numpy(grads["0.weight"]).shape == (3, 5)


@FRAMEWORKS
def test_value_and_grad_does_not_leak_recording(backend):
    net = nn.Linear(3, 1).to(backend)
    pm.value_and_grad(sum_loss)(net, pm.rand(2, 3))
    with pm.no_grad():
        out = net(pm.rand(2, 3))
    if backend == "torch":
        assert not out.requires_grad


def test_numpy_backend_is_forward_only():
    net = nn.Linear(3, 1).to("numpy")
    with pytest.raises(TypeError, match="forward-only"):
        pm.value_and_grad(sum_loss)(net, pm.rand(2, 3, backend="numpy"))


def test_value_and_grad_needs_the_model_first():
    with pytest.raises(pm.StateError, match="model as its first argument"):
        pm.value_and_grad(sum_loss)(pm.rand(2, 3, backend="numpy"), None)


# -- optimisers ---------------------------------------------------------------------------------
STEPS = 8


def _data():
    rng = np.random.default_rng(42)
    return (rng.standard_normal((16, 20)).astype(np.float32),
            rng.standard_normal((16, 4)).astype(np.float32))


def _mse(net, X, y):
    d = net(X) - y
    return ops.mean(d * d)


def _small_net():
    pm.seed(5)
    return nn.Sequential(nn.Linear(20, 32), nn.Tanh(), nn.Linear(32, 4))


def _torch_twin(sd):
    net = torch.nn.Sequential(torch.nn.Linear(20, 32), torch.nn.Tanh(), torch.nn.Linear(32, 4))
    net.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()})
    return net


OPTIMISERS = {
    "sgd": (lambda net: pm.optim.SGD(net, lr=0.1),
            lambda params: torch.optim.SGD(params, lr=0.1)),
    "sgd_momentum_wd": (lambda net: pm.optim.SGD(net, lr=0.05, momentum=0.9, weight_decay=0.01),
                        lambda params: torch.optim.SGD(params, lr=0.05, momentum=0.9,
                                                       weight_decay=0.01)),
    "adam": (lambda net: pm.optim.Adam(net, lr=0.01),
             lambda params: torch.optim.Adam(params, lr=0.01)),
    "adam_wd": (lambda net: pm.optim.Adam(net, lr=0.01, betas=(0.8, 0.99), weight_decay=0.1),
                lambda params: torch.optim.Adam(params, lr=0.01, betas=(0.8, 0.99),
                                                weight_decay=0.1)),
}


@FRAMEWORKS
@pytest.mark.parametrize("opt_name", sorted(OPTIMISERS))
def test_optimiser_trajectory_matches_torch_optim(backend, opt_name):
    make_pm, make_torch = OPTIMISERS[opt_name]
    X, y = _data()
    net = _small_net()
    net.to(backend)
    start = net.state_dict()
    native_param = dict(net.named_parameters())["0.weight"].native
    opt = make_pm(net)
    step = pm.value_and_grad(_mse)
    losses = []
    for _ in range(STEPS):
        loss, grads = step(net, pm.asarray(X), pm.asarray(y))
        opt.step(grads)
        losses.append(float(pm.to_numpy(loss)))
    # updated in place: the same native storage (immutable arrays, JAX: new ones)
    assert (dict(net.named_parameters())["0.weight"].native is native_param
            or immutable_arrays(backend))

    ref = _torch_twin(start)
    ref_opt = make_torch(ref.parameters())
    ref_losses = []
    for _ in range(STEPS):
        ref_opt.zero_grad()
        loss = ((ref(torch.from_numpy(X)) - torch.from_numpy(y)) ** 2).mean()
        loss.backward()
        ref_opt.step()
        ref_losses.append(loss.item())
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-5)
    assert losses[-1] < losses[0]
    final = net.state_dict()
    for key, value in ref.state_dict().items():
        np.testing.assert_allclose(final[key], value.numpy(), rtol=1e-4, atol=1e-6,
                                   err_msg=key)


def test_optimiser_errors():
    net = nn.Linear(2, 1).to("torch")
    with pytest.raises(ValueError, match="lr must be >= 0"):
        pm.optim.SGD(net, lr=-1)
    with pytest.raises(pm.StateError, match="polymod model"):
        pm.optim.Adam(object())
    _, grads = pm.value_and_grad(sum_loss)(net, pm.rand(1, 2, backend="torch"))
    with pytest.raises(pm.StateError, match=r"unknown parameters \['nope'\]"):
        pm.optim.SGD(net).step({**grads, "nope": grads["weight"]})
