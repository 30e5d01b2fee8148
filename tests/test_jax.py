"""The JAX backend's own contract (docs/jax.md): gradients against hand-written pure JAX,
the functional form (``pm.functional_call``, buffers, dropout keys) under ``jax.jit``,
the native twin (``params`` / ``apply`` / ``update``) and the 64-bit conversions.

The generic backend matrix (chapter, layers, fuzzers, compare) runs on JAX through the
``backend`` fixture in the other test files; ``functional_call`` runs on every backend here.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ORACLES, assert_same_numbers, jax_listing

import polymod as pm
from polymod import nn, ops, registry
from polymod.examples.chapter import LISTINGS

if not registry.is_installed("jax"):
    pytest.skip("jax is not installed: pip install 'polymod[jax]'", allow_module_level=True)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402


def _chapter(name: str, seed: int = 0):
    pm.seed(seed)
    X = pm.rand(2, 20, backend="jax")
    net = LISTINGS[name]()
    return net, X, net(X)


# -- the oracle: hand-written pure JAX with polymod's weights --------------------------------
@pytest.mark.parametrize("name", sorted(LISTINGS))
def test_outputs_and_gradients_match_hand_written_jax(name):
    net, X, y = _chapter(name)
    sd = net.state_dict()
    assert_same_numbers(y, ORACLES["jax"](name, sd)(X))
    weights = {k: jnp.asarray(v) for k, v in sd.items()}
    listing = jax_listing(name)
    expected = jax.grad(lambda W: jnp.sum(listing(W, X)))(weights)
    _, grads = pm.value_and_grad(lambda m, X: ops.sum(m(X)))(net, X)
    assert sorted(grads) == sorted(n for n, _ in net.named_parameters())
    for key, grad in grads.items():
        assert isinstance(grad, jax.Array)
        assert_same_numbers(grad, expected[key])


def test_gradients_agree_with_torch_to_float32_rounding():
    torch = pytest.importorskip("torch")
    net, X, _ = _chapter("chimera")
    _, ours = pm.value_and_grad(lambda m, X: ops.sum(m(X)))(net, X)
    twin = ORACLES["torch"]("chimera", net.state_dict())
    twin(torch.from_numpy(pm.to_numpy(X))).sum().backward()
    for key, p in twin.named_parameters():
        assert_same_numbers(ours[key], p.grad)


def test_value_and_grad_restores_the_model_on_error():
    net, X, _ = _chapter("MLP")
    before = {n: h.value for n, h in net.named_parameters()}

    def broken(m, X):
        m(X)
        raise RuntimeError("inside the trace")

    with pytest.raises(RuntimeError, match="inside the trace"):
        pm.value_and_grad(broken)(net, X)
    assert all(h.value is before[n] for n, h in net.named_parameters())
    assert type(net.hidden.weight) is type(X)  # an array again, no tracer left behind


def test_value_and_grad_with_aux_and_batchnorm_statistics():
    pm.seed(0)
    net = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    X = pm.rand(6, 4, backend="jax")
    net(X)
    torch_net = net.to("torch")  # the same weights and statistics, before the step
    (loss, out), grads = pm.value_and_grad(lambda m, X: (ops.sum(m(X) ** 2), m(X)),
                                           has_aux=True)(net, X)
    assert isinstance(out, jax.Array) and out.shape == (6, 3)
    (t_loss, _), t_grads = pm.value_and_grad(lambda m, X: (ops.sum(m(X) ** 2), m(X)),
                                             has_aux=True)(torch_net, pm.to_numpy(X))
    assert_same_numbers(loss, t_loss)
    for key in grads:
        assert_same_numbers(grads[key], t_grads[key], atol=1e-5)
    # the running statistics moved as on torch (two training calls each: fn calls m twice)
    for key, value in torch_net.state_dict().items():
        np.testing.assert_allclose(net.state_dict()[key], value, rtol=1e-5, atol=1e-6)
    assert net.state_dict()["1.num_batches_tracked"].dtype == np.int64  # the neutral dtype


# -- the functional form under jax.jit ---------------------------------------------------------
def test_jit_value_and_grad_over_functional_call_trains_the_model():
    net, X, _ = _chapter("MLP")
    y = np.array([1, 7])
    params = {n: h.value for n, h in net.named_parameters()}

    def loss(params, X, y):
        return ops.cross_entropy(pm.functional_call(net, params, X), y)

    step = jax.jit(jax.value_and_grad(loss))
    value, grads = step(params, X, y)
    eager_value, eager_grads = pm.value_and_grad(lambda m, X, y: ops.cross_entropy(m(X), y))(
        net, X, y)
    assert_same_numbers(value, eager_value)
    for key in grads:
        assert_same_numbers(grads[key], eager_grads[key])
    assert all(h.value is params[n] for n, h in net.named_parameters())  # unchanged
    first = float(value)
    for _ in range(20):
        value, grads = step(params, X, y)
        params = jax.tree.map(lambda p, g: p - 0.1 * g, params, grads)
    assert float(value) < first / 2


def test_batchnorm_buffers_in_and_out_under_jit():
    pm.seed(0)
    net = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.ReLU())
    X = pm.rand(8, 4, backend="jax")
    net(X)
    twin = pm.native(net)
    params, buffers = twin.params, twin.buffers
    start = net.state_dict()
    run = jax.jit(lambda p, b, x: twin.apply(p, x, buffers=b, training=True, mutable=True))
    for _ in range(3):
        out, buffers = run(params, buffers, X)
    assert int(buffers["1.num_batches_tracked"]) == int(start["1.num_batches_tracked"]) + 3
    for key, value in start.items():  # pure: the model kept its own values
        np.testing.assert_array_equal(net.state_dict()[key], value)
    for _ in range(3):  # eager training calls give the same statistics and output
        eager = net(X)
    assert_same_numbers(out, eager)
    for key in buffers:
        assert_same_numbers(buffers[key], net.state_dict()[key])


def test_dropout_masks_come_from_the_key_under_jit_and_from_polymod_eagerly():
    layer = nn.Dropout(0.5)
    X = jnp.ones((4, 64))
    twin = pm.native(nn.Sequential(layer).to("jax"))
    run = jax.jit(lambda x, key: twin.apply({}, x, key=key, training=True))
    a, b, c = run(X, jax.random.key(0)), run(X, jax.random.key(0)), run(X, jax.random.key(1))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert set(np.unique(np.asarray(a))) <= {0.0, 2.0}
    with pytest.raises(pm.StateError, match="PRNG key"):
        jax.jit(lambda x: twin.apply({}, x, training=True))(X)
    # eager: polymod's seeded masks, the same as on the NumPy reference
    pm.seed(3)
    eager = layer.train()(X)
    pm.seed(3)
    reference = nn.Dropout(0.5)(np.ones((4, 64), np.float32))
    np.testing.assert_array_equal(np.asarray(eager), reference)


def test_two_dropout_layers_get_different_masks_from_one_key():
    net = nn.Sequential(nn.Dropout(0.5), nn.Dropout(0.5))
    X = jnp.ones((2, 64))
    twin = pm.native(net.to("jax"))
    first = jax.jit(lambda x, k: twin.apply({}, x, key=k, training=True))(X, jax.random.key(0))
    only = pm.native(nn.Sequential(nn.Dropout(0.5)).to("jax"))
    one = jax.jit(lambda x, k: only.apply({}, x, key=k, training=True))(X, jax.random.key(0))
    assert not np.array_equal(first, one * one)  # the second layer's mask is another one


def test_eval_mode_runs_under_jit_without_a_key():
    net = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.5))
    X = pm.rand(2, 3, backend="jax")
    net.eval()(X)
    twin = pm.native(net)
    assert_same_numbers(jax.jit(twin.apply)(twin.params, X), net(X))


# -- the native twin -------------------------------------------------------------------------
def test_twin_params_apply_update_and_save(tmp_path):
    net, X, y = _chapter("NestMLP")
    twin = pm.native(net)
    assert pm.native(net) is twin
    assert list(twin.params) == [n for n, _ in net.named_parameters()]
    assert_same_numbers(twin.apply(twin.params, X), y)
    assert_same_numbers(twin(X), y)
    doubled = jax.tree.map(lambda p: p * 2, twin.params)
    assert not np.allclose(twin.apply(doubled, X), y)
    twin.update(doubled)  # back into the model
    for name, handle in net.named_parameters():
        np.testing.assert_array_equal(handle.numpy(), np.asarray(doubled[name]))
    pm.save(net, tmp_path / "w.safetensors")
    fresh = LISTINGS["NestMLP"]()
    pm.load(fresh, tmp_path / "w.safetensors")
    assert_same_numbers(fresh.to("jax")(X), twin.apply(doubled, X))
    with pytest.raises(pm.StateError, match="no parameter or buffer named"):
        twin.update({"nope": doubled["linear.bias"]})
    with pytest.raises(pm.ShapeError, match="linear.bias"):
        twin.update({"linear.bias": jnp.zeros(3)})


def test_optimizer_steps_re_point_the_attributes():
    net, X, _ = _chapter("MLP")
    opt = pm.optim.SGD(net, lr=0.01)
    step = pm.value_and_grad(lambda m, X: ops.sum(m(X) ** 2))
    first, _ = step(net, X)
    for _ in range(5):
        loss, grads = step(net, X)
        opt.step(grads)
    assert float(step(net, X)[0]) < float(first)
    weight = dict(net.named_parameters())["hidden.weight"]
    assert net.hidden.weight is weight.value is weight.native


def test_inplace_initialiser_of_a_bare_array_is_refused():
    with pytest.raises(TypeError, match="immutable"):
        pm.init.zeros_(jnp.ones(3))


# -- 64-bit data without x64 -------------------------------------------------------------------
def test_int64_and_float64_data_become_32_bit():
    assert jax.config.jax_enable_x64 is False  # polymod leaves JAX's default alone
    ids = pm.asarray(np.array([[1, 2], [3, 0]], np.int64), backend="jax")
    assert ids.dtype == jnp.int32
    assert pm.asarray(np.ones(2), dtype="float64", backend="jax").dtype == jnp.float32
    pm.seed(0)
    emb = nn.Embedding(5, 3)
    out = emb(ids)  # int32 ids are ids
    assert out.shape == (2, 2, 3)
    assert_same_numbers(out, emb.to("numpy")(np.array([[1, 2], [3, 0]], np.int64)))
    with pytest.raises(IndexError, match="out of range"):
        emb(pm.asarray(np.array([7]), backend="jax"))


# -- functional_call on every backend ----------------------------------------------------------
@pytest.mark.backends(*registry.FRAMEWORKS)
def test_functional_call_uses_the_given_values_and_leaves_the_model(backend):
    pm.seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    X = pm.rand(5, 3)
    own = pm.to_numpy(net(X))
    pm.seed(1)
    other = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)).to(backend)
    given = {n: h.value for n, h in other.named_parameters()}
    assert_same_numbers(pm.functional_call(net, given, X), other(X))
    assert_same_numbers(net(X), own)
    partial = {"2.bias": pm.asarray(np.full(2, 5.0, np.float32))}  # a subset
    expected = own - pm.to_numpy(net[2].bias) + 5.0
    assert_same_numbers(pm.functional_call(net, partial, X), expected)
    with pytest.raises(pm.StateError, match="no parameter, buffer or constant"):
        pm.functional_call(net, {"3.weight": given["0.weight"]}, X)
    with pytest.raises(pm.ShapeError, match="'0.bias'"):
        pm.functional_call(net, {"0.bias": given["2.bias"]}, X)
    assert_same_numbers(net(X), own)


@pytest.mark.backends(*registry.FRAMEWORKS)
def test_call_with_buffers_returns_statistics_and_keeps_the_model(backend):
    pm.seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    X = pm.rand(6, 3)
    net(X)
    before = net.state_dict()
    out, buffers = pm.functional.call_with_buffers(net, {}, X)
    assert sorted(buffers) == sorted(n for n, _ in net.named_buffers())
    for key, value in before.items():  # the model's own buffers did not move
        np.testing.assert_array_equal(net.state_dict()[key], value)
    reference = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)).to("numpy")
    reference.load_state_dict(before)
    assert_same_numbers(out, reference(pm.to_numpy(X)))
    for key, value in buffers.items():
        assert_same_numbers(value, reference.state_dict()[key])
    _, again = pm.functional.call_with_buffers(net, buffers, X)  # statistics fed back in
    assert int(pm.to_numpy(again["1.num_batches_tracked"])) == int(
        before["1.num_batches_tracked"]) + 2


def test_optax_free_sgd_of_the_demo_matches_optax():
    optax = pytest.importorskip("optax")
    from test_examples import load

    init, update = load("train_digits.py")["sgd_momentum"](0.05, 0.9)
    reference = optax.sgd(0.05, momentum=0.9)
    params = {"w": jnp.arange(3.0)}
    state, ref_state = init(params), reference.init(params)
    for step in range(3):
        grads = {"w": jnp.full(3, step + 1.0)}
        updates, state = update(grads, state, params)
        ref_updates, ref_state = reference.update(grads, ref_state, params)
        np.testing.assert_allclose(updates["w"], ref_updates["w"], rtol=1e-6)
