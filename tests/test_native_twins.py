"""pm.native(net): the framework's own object over the same parameter storage."""

from __future__ import annotations

import time

import numpy as np
import pytest
from conftest import assert_same_numbers

import polymod as pm
from polymod import nn, ops, registry
from polymod.examples.chapter import LISTINGS, FixedHiddenMLP, NestMLP


def _net(backend, factory=NestMLP):
    pm.seed(0)
    net = factory()
    X = pm.rand(4, 20, backend=backend)
    return net, X, net(X)


def _data(n=32):
    rng = np.random.default_rng(1)
    return (rng.standard_normal((n, 20)).astype(np.float32),
            rng.standard_normal((n, 16)).astype(np.float32))


# -- errors ----------------------------------------------------------------------------------
def test_native_needs_a_bound_materialised_model():
    with pytest.raises(pm.StateError, match="bound to a backend"):
        pm.native(nn.Linear(2, 2))
    with pytest.raises(pm.StateError, match="still lazy"):
        pm.native(nn.LazyLinear(2).to("torch"))
    with pytest.raises(TypeError, match="no native framework object"):
        pm.native(nn.Linear(2, 2).to("numpy"))
    with pytest.raises(pm.StateError, match="polymod Module"):
        pm.native(object())


@pytest.mark.backends(*registry.FRAMEWORKS)
def test_twin_is_cached_and_runs_the_model(backend):
    net, X, y = _net(backend)
    twin = pm.native(net)
    assert pm.native(net) is twin
    assert_same_numbers(twin(X), y)


# -- torch --------------------------------------------------------------------------------------
@pytest.mark.backends("torch")
def test_torch_twin_parameters_and_state_dict(backend):
    import torch

    net, X, y = _net(backend, LISTINGS["chimera"])
    twin = pm.native(net)
    assert isinstance(twin, torch.nn.Module)
    handles = dict(net.named_parameters())
    named = dict(twin.named_parameters())
    assert list(named) == list(handles)
    for name, param in named.items():
        assert param is handles[name].native  # the same storage, not a copy
    assert list(twin.state_dict()) == list(net.state_dict())  # constants as buffers
    for key, value in twin.state_dict().items():
        assert np.array_equal(value.numpy(), net.state_dict()[key])
    assert_same_numbers(twin(X), y)


@pytest.mark.backends("torch")
def test_torch_twin_forward_hook_and_modes(backend):
    net, X, _ = _net(backend)
    twin = pm.native(net)
    seen = []
    handle = twin.register_forward_hook(lambda mod, inp, out: seen.append(tuple(out.shape)))
    pre = twin.register_forward_pre_hook(lambda mod, inp: seen.append("pre"))
    try:
        twin(X)
    finally:
        handle.remove()
        pre.remove()
    assert seen == ["pre", (4, 16)]
    twin.eval()
    twin(X)
    assert not net.training and not net.net[0].training
    twin.train()
    twin(X)
    assert net.training


@pytest.mark.backends("torch")
def test_torch_twin_submodule_forward_hook(backend):
    net, X, _ = _net(backend)
    twin = pm.native(net)
    seen = []
    handle = twin.get_submodule("net.0").register_forward_hook(
        lambda mod, inp, out: seen.append(tuple(out.shape)))
    try:
        twin(X)
    finally:
        handle.remove()
    assert seen == [(4, 64)]


@pytest.mark.backends("torch")
def test_torch_optim_step_visible_both_ways(backend):
    import torch

    net, _, _ = _net(backend)
    twin = pm.native(net)
    X, y = (torch.from_numpy(a) for a in _data())
    before = net.state_dict()
    opt = torch.optim.SGD(twin.parameters(), lr=0.1, momentum=0.9)
    for _ in range(3):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(twin(X), y)
        loss.backward()
        opt.step()
    after = net.state_dict()
    for key, value in twin.state_dict().items():
        assert np.array_equal(after[key], value.numpy())
        assert not np.array_equal(after[key], before[key]), key
    # and the other way: a polymod write is seen by the twin
    pm.init.zeros_(net.linear.bias)
    assert not twin.linear.bias.detach().numpy().any()
    pm.load_native(net, {k: torch.from_numpy(v) for k, v in before.items()})
    assert np.array_equal(twin.linear.weight.detach().numpy(), before["linear.weight"])


@pytest.mark.backends("torch")
@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")
def test_torch_compile(backend):
    import torch

    net, X, y = _net(backend, LISTINGS["sequential_mlp"])
    compiled = torch.compile(pm.native(net))
    start = time.perf_counter()
    try:
        out = compiled(X)
    except Exception as err:  # a compiler toolchain missing on this machine
        pytest.skip(f"torch.compile unavailable here: {type(err).__name__}: {err}")
    if time.perf_counter() - start > 120:
        pytest.skip("torch.compile took over 120 s on this machine")
    assert_same_numbers(out, y)
    out.sum().backward()
    grad = dict(net.named_parameters())["0.weight"].native.grad
    assert grad is not None and grad.shape == (256, 20)


# -- keras --------------------------------------------------------------------------------------
@pytest.mark.backends("keras")
def test_keras_twin_variables(backend):
    import keras

    net, X, y = _net(backend)
    twin = pm.native(net)
    assert isinstance(twin, keras.Model)
    handles = [h for _, h in net.named_parameters()]
    assert len(twin.trainable_variables) == len(handles)
    ids = {id(v) for v in twin.trainable_variables}
    assert all(id(h.native) in ids for h in handles)  # the same variables
    assert_same_numbers(twin(X), y)


@pytest.mark.backends("keras")
def test_keras_compile_fit_updates_net(backend):
    net, _, _ = _net(backend)
    twin = pm.native(net)
    X, y = _data()
    before = net.state_dict()
    twin.compile(optimizer="sgd", loss="mse")
    history = twin.fit(X, y, epochs=3, batch_size=16, verbose=0)
    losses = history.history["loss"]
    assert len(losses) == 3 and losses[-1] < losses[0]
    after = net.state_dict()
    for key in before:
        assert not np.array_equal(after[key], before[key]), key
    assert_same_numbers(twin.predict(X, verbose=0), net(X), rtol=1e-4)
    loss = twin.evaluate(X, y, verbose=0)
    d = pm.to_numpy(net(X)) - y
    np.testing.assert_allclose(loss, (d * d).mean(), rtol=1e-4)


@pytest.mark.backends("keras")
def test_keras_fit_with_python_while_needs_run_eagerly(backend):
    pm.seed(0)
    net = FixedHiddenMLP()
    net(pm.rand(2, 20))
    twin = pm.native(net)
    X = np.random.default_rng(0).random((8, 20), dtype=np.float32)
    twin.compile(optimizer="sgd", loss=lambda t, p: ops.abs(p), run_eagerly=True)
    before = net.state_dict()["linear.weight"]
    twin.fit(X, np.zeros((8,), np.float32), epochs=1, batch_size=8, verbose=0)
    assert not np.array_equal(net.state_dict()["linear.weight"], before)


@pytest.mark.backends("keras")
def test_keras_tf_function(backend):
    import tensorflow as tf

    net, X, y = _net(backend)
    twin = pm.native(net)
    graph = tf.function(twin)
    assert_same_numbers(graph(X), y)
    traced = tf.function(lambda x: net(x))
    assert_same_numbers(traced(X), y)


@pytest.mark.backends("keras")
def test_keras_gradient_tape_on_twin(backend):
    import tensorflow as tf

    net, X, _ = _net(backend)
    twin = pm.native(net)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(twin(X))
    grads = tape.gradient(loss, twin.trainable_variables)
    _, expected = pm.value_and_grad(lambda m, x: ops.sum(m(x)))(net, X)
    for (name, _), grad in zip(net.named_parameters(), grads, strict=True):
        assert_same_numbers(grad, expected[name], rtol=1e-5)


# -- gluon --------------------------------------------------------------------------------------
@pytest.mark.backends("gluon")
def test_gluon_twin_collect_params(backend):
    from mxnet import gluon

    net, X, y = _net(backend)
    twin = pm.native(net)
    assert isinstance(twin, gluon.Block)
    params = twin.collect_params()
    handles = dict(net.named_parameters())
    assert list(params.keys()) == list(handles)
    for name, param in params.items():
        assert param is handles[name].native
    assert_same_numbers(twin(X), y)


@pytest.mark.backends("gluon")
def test_gluon_trainer_step_visible(backend):
    from mxnet import autograd, gluon
    from mxnet import np as mnp

    net, _, _ = _net(backend)
    twin = pm.native(net)
    X, y = (mnp.array(a) for a in _data())
    before = net.state_dict()
    trainer = gluon.Trainer(twin.collect_params(), "sgd", {"learning_rate": 0.1})
    losses = []
    for _ in range(3):
        with autograd.record():
            d = twin(X) - y
            loss = (d * d).mean()
        loss.backward()
        trainer.step(1)
        losses.append(float(loss))
    assert losses[-1] < losses[0]
    after = net.state_dict()
    for key in before:
        assert not np.array_equal(after[key], before[key]), key
    pm.init.zeros_(net.linear.bias)
    assert not twin.collect_params()["linear.bias"].data().asnumpy().any()


@pytest.mark.backends("gluon")
def test_gluon_train_mode_follows_record(backend):
    from mxnet import autograd

    net, X, _ = _net(backend)
    twin = pm.native(net)
    with autograd.record(train_mode=False):
        twin(X)
    assert not net.training
    with autograd.record(train_mode=True):
        twin(X)
    assert net.training


@pytest.mark.backends("gluon")
def test_gluon_hybridize_says_it_cannot(backend):
    net, X, y = _net(backend)
    twin = pm.native(net)
    with pytest.raises(pm.StateError, match="Cannot hybridize a polymod model.*hybrid_forward"):
        twin.hybridize()
    twin.hybridize(False)  # turning it off is fine
    assert_same_numbers(twin(X), y)


@pytest.mark.backends("torch")
def test_copy_of_a_hooked_model_does_not_route_to_the_original(backend):
    net, X, _ = _net(backend)
    seen = []
    pm.native(net).get_submodule("net.0").register_forward_hook(lambda *a: seen.append(1))
    copy = net.to("keras")
    copy(pm.asarray(pm.to_numpy(X), backend="keras"))
    assert seen == []  # the hook belongs to the torch original only
    net(X)
    assert seen == [1]
