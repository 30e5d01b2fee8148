"""Module: registration, traversal, sharing, lazy shapes, binding, repr, modes, init."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_same_numbers, native_types

import polymod as pm
from polymod import nn, ops


class MyLinear(pm.Module):  # the custom layer of docs/parameters.md, from data
    def __init__(self, in_units, units):
        super().__init__()
        self.weight = pm.Parameter(pm.randn(in_units, units, backend="numpy"))
        self.bias = pm.Parameter(pm.zeros(units, backend="numpy"))

    def forward(self, X):
        return ops.relu(X @ self.weight + self.bias)


class LazyScale(pm.Module):  # the lazy custom layer, with build()
    def build(self, X):
        self.scale = pm.Parameter(shape=(X.shape[-1],), init="ones")

    def forward(self, X):
        return X * self.scale


def _param_type(backend):
    if backend == "torch":
        import torch

        return torch.nn.Parameter
    if backend == "keras":  # the tf.Variable inside the keras.Variable (pm.native trains)
        import tensorflow as tf

        return tf.Variable
    if backend == "gluon":
        from mxnet import np as mnp

        return mnp.ndarray
    return np.ndarray


# -- registration and traversal ---------------------------------------------------------------
def test_registration_order_and_names():
    class Net(pm.Module):
        def __init__(self):
            super().__init__()
            self.b = nn.Linear(2, 3)
            self.a = nn.Linear(3, 4)
            self.scale = pm.Parameter(np.ones(4, np.float32))
            self.c = pm.constant([1.0, 2.0])
            self.plain = 5  # a plain attribute: not registered

        def forward(self, X):
            return self.a(self.b(X)) * self.scale

    net = Net()
    assert [n for n, _ in net.named_children()] == ["b", "a"]
    assert [n for n, _ in net.named_modules()] == ["", "b", "a"]
    # a module's own parameters first, then its children's (PyTorch's order)
    assert [n for n, _ in net.named_parameters()] == ["scale", "b.weight", "b.bias",
                                                      "a.weight", "a.bias"]
    assert [n for n, _ in net.named_constants()] == ["c"]
    assert list(net.state_dict()) == ["scale", "c", "b.weight", "b.bias", "a.weight",
                                      "a.bias"]
    assert list(net.children()) == [net.b, net.a]
    assert list(net.modules()) == [net, net.b, net.a]
    assert next(iter(net.parameters())).name == "scale"


def test_add_module_and_register_methods():
    net = pm.Module()
    net.add_module("0", nn.Linear(2, 2))
    net.register_parameter("w", pm.Parameter(np.zeros(2, np.float32)))
    net.register_constant("k", np.ones(2))
    net.register_buffer("count", np.array(0, np.int64))
    assert [n for n, _ in net.named_parameters()] == ["w", "0.weight", "0.bias"]
    assert [n for n, _ in net.named_constants()] == ["k"]
    assert [n for n, _ in net.named_buffers()] == ["count"]
    sd = net.state_dict()
    assert list(sd) == ["w", "k", "count", "0.weight", "0.bias"]
    assert sd["count"].dtype == np.int64
    with pytest.raises(ValueError, match="without dots"):
        net.add_module("a.b", nn.Linear(2, 2))
    with pytest.raises(TypeError, match="polymod Module"):
        net.add_module("x", object())


def test_lists_tuples_dicts_of_modules_are_tracked(backend):
    class Holder(pm.Module):
        def __init__(self):
            super().__init__()
            self.items = [nn.Linear(4, 4), nn.Linear(4, 4)]
            self.pair = (nn.Linear(4, 4),)
            self.table = {"enc": nn.Linear(4, 4), "nested": [nn.Linear(4, 4)]}

        def forward(self, X):
            for m in [*self.items, *self.pair, self.table["enc"], *self.table["nested"]]:
                X = m(X)
            return X

    net = Holder()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["items.0.weight", "items.0.bias", "items.1.weight", "items.1.bias",
                     "pair.0.weight", "pair.0.bias", "table.enc.weight", "table.enc.bias",
                     "table.nested.0.weight", "table.nested.0.bias"]
    out = net(pm.rand(2, 4))
    assert isinstance(out, native_types(backend))
    assert all(m.backend == backend for m in net.modules())


def test_module_list_and_dict(backend):
    layers = nn.ModuleList([nn.Linear(3, 3) for _ in range(2)])
    layers.append(nn.Linear(3, 3))
    layers.insert(0, nn.Linear(3, 3))
    assert len(layers) == 4
    assert [n for n, _ in layers.named_parameters()][-2:] == ["3.weight", "3.bias"]
    assert isinstance(layers[1:3], nn.ModuleList) and len(layers[1:3]) == 2
    del layers[0]
    assert len(layers) == 3 and [n for n, _ in layers.named_children()] == ["0", "1", "2"]
    d = nn.ModuleDict({"enc": nn.Linear(3, 3)})
    d["dec"] = nn.Linear(3, 2)
    assert d.keys() == ["enc", "dec"] and "dec" in d and len(d) == 2
    assert [n for n, _ in d.named_parameters()] == ["enc.weight", "enc.bias", "dec.weight",
                                                    "dec.bias"]
    out = d["dec"](d["enc"](pm.rand(1, 3)))
    assert isinstance(out, native_types(backend))


def test_sequential_api(backend):
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU())
    net.add(nn.Linear(8, 8), nn.Tanh())
    net.append(nn.Linear(8, 2))
    assert len(net) == 5
    assert isinstance(net[0], nn.Linear) and net[-1].out_features == 2
    head = net[:2]
    assert isinstance(head, nn.Sequential) and len(head) == 2 and head[0] is net[0]
    assert [type(m).__name__ for m in net] == ["Linear", "ReLU", "Linear", "Tanh", "Linear"]
    X = pm.rand(3, 4)
    y = net(X)
    assert tuple(pm.to_numpy(y).shape) == (3, 2)
    assert_same_numbers(net[2:](net[:2](X)), y)


def test_activations_and_flatten(backend):
    x = pm.asarray(np.linspace(-2, 2, 24, dtype=np.float32).reshape(2, 3, 4))
    a = pm.to_numpy(x)
    for layer, op in [(nn.ReLU(), ops.relu), (nn.Sigmoid(), ops.sigmoid),
                      (nn.Tanh(), ops.tanh), (nn.GELU(), ops.gelu), (nn.Identity(), None)]:
        expected = a if op is None else op(a)
        assert_same_numbers(layer(x), expected)
    assert_same_numbers(nn.Softmax(dim=1)(x), ops.softmax(a, axis=1))
    assert tuple(pm.to_numpy(nn.Flatten()(x)).shape) == (2, 12)
    assert tuple(pm.to_numpy(nn.Flatten(start_dim=0)(x)).shape) == (24,)
    for name in ("relu", "sigmoid", "tanh", "gelu", "softmax"):
        pm.seed(0)
        dense = nn.Dense(3, activation=name, in_units=4)
        pm.seed(0)
        plain = nn.Linear(4, 3)
        assert [n for n, _ in dense.named_parameters()] == ["weight", "bias"]
        assert_same_numbers(dense(x), getattr(ops, name)(plain.to("numpy")(a)))


def test_repeat_makes_fresh_instances():
    net = nn.repeat(lambda: nn.Linear(4, 4), 3)
    assert isinstance(net, nn.Sequential) and len(net) == 3
    assert len({id(m) for m in net}) == 3
    shared = nn.Linear(2, 2)
    with pytest.raises(ValueError, match="fresh instance"):
        nn.repeat(lambda: shared, 2)
    with pytest.raises(TypeError, match="zero-argument callable"):
        nn.repeat(nn.Linear(2, 2), 2)


def test_shared_module_counted_once(backend):
    shared = nn.Linear(4, 4)
    net = nn.Sequential(shared, nn.ReLU(), shared, nn.Linear(4, 1))
    assert [n for n, _ in net.named_parameters()] == ["0.weight", "0.bias", "3.weight",
                                                      "3.bias"]
    assert [n for n, _ in net.named_modules()] == ["", "0", "1", "3"]
    assert list(net.state_dict()) == ["0.weight", "0.bias", "3.weight", "3.bias"]
    out = net(pm.rand(2, 4))
    assert isinstance(out, native_types(backend))
    # both uses read the same storage: changing it changes the output
    pm.init.zeros_(shared.weight)
    pm.init.zeros_(shared.bias)
    assert np.array_equal(pm.to_numpy(net[:3](pm.rand(2, 4))), np.zeros((2, 4), np.float32))


def test_shared_parameter_between_two_modules():
    a, b = nn.Linear(3, 3), nn.Linear(3, 3)
    b.weight = a.named_parameters().__next__()[1]  # the same handle in two places
    net = nn.Sequential(a, b)
    assert [n for n, _ in net.named_parameters()] == ["0.weight", "0.bias", "1.bias"]


# -- lazy shapes ------------------------------------------------------------------------------
def test_lazy_parameters_materialise_on_first_call(backend):
    net = nn.Sequential(nn.LazyLinear(8), nn.ReLU(), nn.LazyLinear(2))
    with pytest.raises(pm.UninitializedParameterError, match="still lazy"):
        net.state_dict()  # as pm.save: no silently empty state
    with pytest.raises(pm.UninitializedParameterError, match="not initialised"):
        net[0].weight  # noqa: B018
    assert not hasattr(net[0], "weight")  # an AttributeError as well
    assert net.initialize() is net  # accepted with nothing known
    net(pm.rand(2, 5))
    assert net[0].weight.shape == (8, 5) or tuple(net[0].weight.shape) == (8, 5)
    assert {n: p.shape for n, p in net.named_parameters()} == {
        "0.weight": (8, 5), "0.bias": (8,), "2.weight": (2, 8), "2.bias": (2,)}


def test_initialize_with_input_materialises(backend):
    net = nn.LazyLinear(4)
    assert net.initialize(pm.rand(3, 6)) is net
    assert dict((n, p.shape) for n, p in net.named_parameters()) == {"weight": (4, 6),
                                                                      "bias": (4,)}
    assert net.backend == backend


def test_custom_layers_from_design(backend):
    pm.seed(0)
    layer = MyLinear(5, 3)
    X = pm.rand(2, 5)
    ref = pm.to_numpy(X) @ layer.state_dict()["weight"] + layer.state_dict()["bias"]
    assert_same_numbers(layer(X), np.maximum(ref, 0))
    scale = LazyScale()
    assert [n for n, _ in scale.named_parameters()] == []
    out = scale(X)
    assert [n for n, _ in scale.named_parameters()] == ["scale"]
    assert_same_numbers(out, X)
    assert isinstance(scale.scale, _param_type(backend))


# -- parameters, constants, buffers ------------------------------------------------------------
def test_parameter_handle_and_native_object(backend):
    pm.seed(0)
    layer = nn.Linear(3, 2)
    layer(pm.rand(1, 3))
    assert isinstance(layer.weight, _param_type(backend))
    handles = dict(layer.named_parameters())
    w = handles["weight"]
    assert (w.name, w.shape, w.dtype, w.trainable) == ("weight", (2, 3), np.float32, True)
    assert w.numel() == 6 and w.size == 6
    assert w.native is not None
    new = np.arange(6, dtype=np.float32).reshape(2, 3)
    w.assign(new)
    assert np.array_equal(w.numpy(), new)
    assert np.array_equal(pm.to_numpy(layer.weight), new)  # same storage
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        w.assign(np.zeros((3, 2)))
    assert "Parameter(name='weight', shape=(2, 3)" in repr(w)


def test_parameter_from_shape_and_init():
    p = pm.Parameter(shape=(2, 3), init="ones")
    assert p.shape == (2, 3) and p.numpy().sum() == 6
    with pytest.raises(ValueError, match="either data or shape"):
        pm.Parameter(np.zeros(2), shape=(2,))
    with pytest.raises(ValueError, match="Unknown initializer"):
        pm.Parameter(shape=(2,), init="nope")


def test_unbound_module_holds_numpy():
    layer = nn.Linear(3, 2)
    assert layer.backend is None
    assert isinstance(layer.weight, np.ndarray) and layer.weight.shape == (2, 3)


def test_constant_follows_module_and_gets_no_grad(backend):
    class Scaled(pm.Module):
        def __init__(self):
            super().__init__()
            self.c = pm.constant([2.0, 3.0])
            self.w = pm.Parameter(np.ones(2, np.float32))

        def forward(self, X):
            return X * self.c * self.w

    net = Scaled()
    out = net(pm.ones(1, 2))
    assert pm.backend_of(net.c) == backend  # a native tensor (Keras: a non-trainable Variable)
    assert_same_numbers(out, [[2.0, 3.0]])
    assert [n for n, _ in net.named_parameters()] == ["w"]
    assert list(net.state_dict()) == ["c", "w"]
    assert list(net.state_dict(include_constants=False)) == ["w"]
    (c,) = list(net.constants())
    assert c.trainable is False
    with pytest.raises(TypeError, match="constant 'c'"):
        net.c = 5.0


def test_buffer_is_state(backend):
    class Counter(pm.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("running", np.zeros(2, np.float32))

        def forward(self, X):
            return X + self.running

    net = Counter()
    net(pm.ones(1, 2))
    (handle,) = list(net.buffers())
    handle.assign([1.0, 2.0])
    assert_same_numbers(net(pm.ones(1, 2)), [[2.0, 3.0]])
    assert list(net.state_dict(include_constants=False)) == ["running"]
    assert [n for n, _ in net.named_parameters()] == []


def test_frozen_parameter_flag(backend):
    layer = nn.Linear(2, 2)
    layer(pm.ones(1, 2))
    handle = dict(layer.named_parameters())["bias"]
    handle.trainable = False
    assert handle.trainable is False and "trainable=False" in repr(handle)
    handle.trainable = True


# -- binding and .to() --------------------------------------------------------------------------
def test_to_binds_unbound_and_returns_self(backend):
    net = nn.Linear(3, 2)
    assert net.to() is net  # the default backend
    assert net.backend == backend
    assert net.to(backend) is net
    assert isinstance(net.weight, _param_type(backend))


@pytest.mark.parametrize("target", ["numpy", "torch", "keras", "gluon"])
def test_to_other_backend_copies_and_leaves_source_untouched(backend, target):
    pm.seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    X = pm.rand(2, 3)
    y = pm.to_numpy(net(X))
    before = net.state_dict()
    copy = net.to(target)
    if target == backend:
        assert copy is net
        return
    assert copy is not net and copy.backend == target and net.backend == backend
    for key, value in copy.state_dict().items():
        assert np.array_equal(value, before[key])
    assert_same_numbers(copy(pm.to_numpy(X)), y)
    assert isinstance(copy(pm.to_numpy(X)), native_types(target))
    pm.init.zeros_(copy[0].weight)  # the copy owns its storage
    for key, value in net.state_dict().items():
        assert np.array_equal(value, before[key])
    assert_same_numbers(net(X), y)


def test_numpy_input_to_bound_module_is_data(backend):
    net = nn.Linear(3, 2).to(backend)
    out = net(np.ones((1, 3)))  # float64 NumPy data: cast to the model's float32
    assert isinstance(out, native_types(backend))
    assert pm.to_numpy(out).dtype == np.float32


def test_first_call_binds_from_input_type(backend):
    net = nn.Linear(3, 2)
    assert net.backend is None
    net(pm.ones(1, 3))
    assert net.backend == backend


def test_numpy_input_to_unbound_module_uses_default_backend(backend):
    net = nn.Linear(3, 2)
    out = net(np.ones((1, 3), np.float32))
    assert net.backend == backend and isinstance(out, native_types(backend))


# -- repr, modes, apply, init ---------------------------------------------------------------------
def test_repr_like_pytorch():
    from polymod.examples.chapter import NestMLP

    net = nn.Sequential(NestMLP(), nn.LazyLinear(20))
    text = repr(net)
    assert text.startswith("Sequential(\n  (0): NestMLP(\n    (net): Sequential(")
    assert "(0): Linear(in_features=None, out_features=64, bias=True)" in text
    net(pm.rand(2, 20, backend="numpy"))
    text = repr(net)
    assert "(0): Linear(in_features=20, out_features=64, bias=True)" in text
    assert "(1): ReLU()" in text
    assert "(1): Linear(in_features=16, out_features=20, bias=True)" in text
    assert text.endswith(")")
    assert repr(nn.Softmax(dim=0)) == "Softmax(dim=0)"
    assert "activation='relu'" in repr(nn.Dense(3, activation="relu"))


def test_train_eval_flags():
    net = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.ReLU()))
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    net.train(False)
    assert not net[1][0].training


def test_apply_visits_children_first(backend):
    net = nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.Linear(3, 3)))
    seen = []
    assert net.apply(lambda m: seen.append(type(m).__name__)) is net
    assert seen == ["Linear", "Sequential", "Linear", "Sequential"]


def _init_weights(m):
    if isinstance(m, nn.Linear):
        pm.init.normal_(m.weight, mean=0, std=0.01)
        pm.init.zeros_(m.bias)


INPLACE = {
    "normal_": lambda p: pm.init.normal_(p, mean=0.5, std=0.1),
    "uniform_": lambda p: pm.init.uniform_(p, -0.3, 0.3),
    "zeros_": pm.init.zeros_,
    "ones_": pm.init.ones_,
    "constant_": lambda p: pm.init.constant_(p, 42.0),
    "xavier_uniform_": pm.init.xavier_uniform_,
    "kaiming_uniform_": lambda p: pm.init.kaiming_uniform_(p, a=0.1),
}


def _inplace_state(backend_name, bind):
    pm.seed(7)
    net = nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 3))
    if bind:
        net.to(backend_name)
    net.apply(_init_weights)
    for fn in INPLACE.values():  # every initialiser, on the attribute and on the handle
        fn(net[2].weight)
        fn(dict(net[2].named_parameters())["bias"])
    pm.init.xavier_uniform_(net[0].weight)
    return net.state_dict()


def test_inplace_initialisers_same_numbers_on_every_backend(backend):
    ref = _inplace_state("numpy", bind=False)
    got = _inplace_state(backend, bind=True)
    for key in ref:
        assert np.array_equal(ref[key], got[key]), key
    assert np.array_equal(got["0.bias"], np.zeros(4, np.float32))


@pytest.mark.parametrize("name", sorted(INPLACE))
def test_each_inplace_initialiser_writes_native_storage(backend, name):
    pm.seed(3)
    layer = nn.Linear(6, 5).to(backend)
    native_before = layer.weight
    INPLACE[name](layer.weight)
    values = pm.to_numpy(layer.weight)
    assert layer.weight is native_before  # in place, same storage
    pm.seed(3)
    ref = nn.Linear(6, 5)
    INPLACE[name](ref.weight)
    assert np.array_equal(values, ref.weight), name
    assert values.dtype == np.float32


def test_initialise_statistics():
    pm.seed(0)
    p = pm.Parameter(shape=(200, 300))
    pm.init.constant_(p, 3.0)
    assert np.all(p.numpy() == 3.0)
    pm.init.normal_(p, mean=1.0, std=0.5)
    assert abs(p.numpy().mean() - 1.0) < 0.01 and abs(p.numpy().std() - 0.5) < 0.01
    pm.init.uniform_(p, 2.0, 4.0)
    assert p.numpy().min() >= 2.0 and p.numpy().max() < 4.0
    pm.init.xavier_uniform_(p)
    assert np.abs(p.numpy()).max() <= np.sqrt(6 / 500)


def test_initialize_force_reinit(backend):
    def build():
        pm.seed(1)
        net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)).to(backend)
        return net.initialize(init=pm.init.Normal(0.01), force_reinit=True)

    net = build()
    sd = net.state_dict()
    assert np.array_equal(sd["0.bias"], np.zeros(8, np.float32))  # biases zeroed (Gluon)
    assert 0.003 < sd["0.weight"].std() < 0.02
    ref = build().to("numpy") if backend == "numpy" else None
    pm.seed(1)
    other = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    other.initialize(init=pm.init.Normal(0.01), force_reinit=True)
    for key, value in other.state_dict().items():
        assert np.array_equal(value, sd[key]), key
    del ref


def test_initialize_init_for_lazy_and_default_values(backend):
    # lazy parameters take the initializer when their shape becomes known
    pm.seed(2)
    net = nn.Sequential(nn.LazyLinear(3))
    net.initialize(init=pm.init.Constant(0.5))
    net(pm.rand(1, 4))
    sd = net.state_dict()
    assert np.all(sd["0.weight"] == 0.5) and np.all(sd["0.bias"] == 0.0)
    # default-scheme values are replaced without force_reinit; user-set values are not
    layer = nn.Linear(2, 2)
    pm.init.ones_(layer.weight)
    layer.initialize(init=pm.init.Constant(0.25))
    assert np.all(layer.state_dict()["weight"] == 1.0)
    layer.initialize(init=pm.init.Constant(0.25), force_reinit=True)
    assert np.all(layer.state_dict()["weight"] == 0.25)


def test_init_schemes(backend):
    for scheme in ("keras", "gluon", "torch"):
        pm.init.set_scheme(scheme)
        pm.seed(0)
        sd = nn.Linear(50, 40).to(backend).state_dict()
        pm.seed(0)
        ref = nn.Linear(50, 40).state_dict()
        assert all(np.array_equal(sd[k], ref[k]) for k in sd)
        if scheme == "keras":
            assert np.abs(sd["weight"]).max() <= np.sqrt(6 / 90) and not sd["bias"].any()
        elif scheme == "gluon":
            assert np.abs(sd["weight"]).max() <= 0.07 and not sd["bias"].any()
        else:
            assert np.abs(sd["weight"]).max() <= 1 / np.sqrt(50) and sd["bias"].any()
    with pytest.raises(ValueError, match="Unknown init scheme"):
        pm.init.set_scheme("jax")


def test_default_init_matches_pytorch_bounds():
    pm.seed(0)
    sd = nn.Linear(64, 128).state_dict()
    bound = 1 / np.sqrt(64)  # kaiming_uniform(a=sqrt(5)) and the bias bound are both 1/sqrt(fan_in)
    assert np.abs(sd["weight"]).max() <= bound and np.abs(sd["weight"]).max() > 0.9 * bound
    assert np.abs(sd["bias"]).max() <= bound


def test_binding_never_aliases_numpy_the_user_has_seen(backend):
    """Adapters keep the arrays they are given: the core must copy those a user could hold."""
    layer = pm.nn.Linear(3, 2)
    before = layer.weight  # NumPy, seen by the user before binding
    snapshot = before.copy()
    layer.to(backend)
    pm.init.zeros_(layer.weight)
    np.testing.assert_array_equal(before, snapshot)
    moved = layer.to("numpy" if backend != "numpy" else "torch")
    pm.init.ones_(moved.weight)
    np.testing.assert_array_equal(pm.to_numpy(layer.weight), np.zeros((2, 3), np.float32))


def test_children_cache_follows_every_change():
    """Traversal is cached per module; every way of changing the children must show."""
    net = pm.Module()
    net.a = nn.Linear(2, 2)
    assert [n for n, _ in net.named_parameters()] == ["a.weight", "a.bias"]
    net.b = nn.Linear(2, 2)
    net.add_module("c", nn.Linear(2, 2))
    assert [n for n, _ in net.named_children()] == ["a", "b", "c"]
    del net.b
    net.add_module("c", None)
    assert [n for n, _ in net.named_children()] == ["a"]
    net.layers = []  # a plain list: not cached, so appends show
    list(net.named_children())
    net.layers.append(nn.Linear(2, 2))
    assert [n for n, _ in net.named_children()] == ["a", "layers.0"]
    seq = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    list(seq.named_modules())
    seq.insert(0, nn.Identity())
    del seq[2]
    assert [type(m).__name__ for m in seq.children()] == ["Identity", "Linear"]
    d = nn.ModuleDict({"x": nn.ReLU()})
    list(d.named_children())
    d["y"] = nn.Tanh()
    del d["x"]
    assert [n for n, _ in d.named_children()] == ["y"]
    copy = net.to("numpy").to("torch")
    assert [n for n, _ in copy.named_children()] == ["a", "layers.0"]
