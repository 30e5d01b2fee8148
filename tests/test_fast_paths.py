"""The fast paths taken for speed give what the slow ones give: the cached traversal
(Module._named_handles) and value_and_grad's parameter list follow every change to a
model, the gradient shortcuts agree with each framework's public API, and large arrays
moved without copies share no memory with anything a user holds."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import polymod as pm
from polymod import nn, ops

FRAMEWORKS = pytest.mark.backends("torch", "keras", "gluon")


def names(net):
    return [name for name, _ in net.named_parameters()]


def sum_loss(net, X):
    return ops.sum(net(X))


def test_names_follow_changes_deep_in_the_tree():
    inner = nn.Sequential(nn.Linear(2, 3))
    net = nn.Sequential(inner, nn.ReLU())
    assert names(net) == ["0.0.weight", "0.0.bias"]
    inner.append(nn.Linear(3, 4))  # a grandchild changes: the root's cache must drop
    assert names(net) == ["0.0.weight", "0.0.bias", "0.1.weight", "0.1.bias"]
    inner[1].extra = pm.Parameter(np.ones(2, np.float32))
    assert names(net)[-1] == "0.1.extra"
    del inner[1].extra
    inner[0].bias = None
    assert names(net) == ["0.0.weight", "0.1.weight", "0.1.bias"]
    del inner[1]
    assert names(net) == ["0.0.weight"]


def test_containers_and_registration_drop_the_cache():
    d = nn.ModuleDict({"a": nn.Linear(1, 1)})
    assert names(d) == ["a.weight", "a.bias"]
    d["b"] = nn.Linear(1, 1, bias=False)
    del d["a"]
    assert names(d) == ["b.weight"]
    m = pm.Module()
    m.register_parameter("w", pm.Parameter(np.zeros(2, np.float32)))
    assert names(m) == ["w"]
    m.add_module("child", nn.Linear(1, 1))
    assert names(m) == ["w", "child.weight", "child.bias"]
    m.add_module("child", None)
    assert names(m) == ["w"]


def test_a_plain_list_is_never_cached():
    class Holder(pm.Module):
        def __init__(self):
            super().__init__()
            self.layers = [nn.Linear(1, 1)]

    net = Holder()
    assert names(net) == ["layers.0.weight", "layers.0.bias"]
    net.layers.append(nn.Linear(1, 1))  # nobody is told: the walk must see it anyway
    assert names(net)[-2:] == ["layers.1.weight", "layers.1.bias"]


def test_copies_and_pickles_do_not_share_the_cache():
    net = nn.Sequential(nn.Linear(2, 2))
    handles = dict(net.named_parameters())
    twin = copy.deepcopy(net)
    assert all(a is not b for (_, a), (_, b) in zip(twin.named_parameters(),
                                                      handles.items(), strict=True))
    revived = pickle.loads(pickle.dumps(net))
    assert all(a is not b for (_, a), (_, b) in zip(revived.named_parameters(),
                                                      handles.items(), strict=True))
    revived[0].weight = pm.Parameter(np.zeros((2, 2), np.float32))
    assert np.array_equal(dict(revived.named_parameters())["0.weight"].numpy(), np.zeros((2, 2)))


@FRAMEWORKS
def test_value_and_grad_follows_a_model_that_changes(backend):
    pm.seed(0)
    net = nn.Sequential(nn.Linear(3, 2))
    vag = pm.value_and_grad(sum_loss)
    assert sorted(vag(net, pm.rand(2, 3))[1]) == ["0.bias", "0.weight"]
    net.append(nn.LazyLinear(1))  # lazy and new: value_and_grad materialises it
    assert sorted(vag(net, pm.rand(2, 3))[1]) == ["0.bias", "0.weight", "1.bias", "1.weight"]
    net[1].weight = pm.Parameter(np.ones((1, 2), np.float32))
    _, grads = vag(net, pm.rand(2, 3))
    assert pm.to_numpy(grads["1.weight"]).shape == (1, 2)


@FRAMEWORKS
def test_unused_parameters_get_zeros_on_every_call(backend):
    """Gluon and torch take a faster path when every parameter is used; a parameter the
    loss skips sends them down the other, which must not return a stale gradient."""
    pm.seed(0)
    net = nn.ModuleDict({"a": nn.Linear(3, 1), "b": nn.Linear(3, 1)})
    X = pm.rand(4, 3)
    both = pm.value_and_grad(lambda m, X: ops.sum(m["a"](X)) + ops.sum(m["b"](X)))
    only_a = pm.value_and_grad(lambda m, X: ops.sum(m["a"](X)))
    _, first = both(net, X)
    _, second = only_a(net, X)
    assert float(np.abs(pm.to_numpy(first["b.weight"])).sum()) > 0
    assert np.array_equal(pm.to_numpy(second["b.weight"]), np.zeros((1, 3), np.float32))
    np.testing.assert_allclose(pm.to_numpy(second["a.weight"]),
                               pm.to_numpy(first["a.weight"]), rtol=1e-6)
    _, third = both(net, X)  # and back to the fast path
    np.testing.assert_allclose(pm.to_numpy(third["b.weight"]),
                               pm.to_numpy(first["b.weight"]), rtol=1e-6)


@FRAMEWORKS
def test_returned_gradients_are_fresh_each_call(backend):
    net = nn.Linear(3, 1).to(backend)
    vag = pm.value_and_grad(sum_loss)
    _, first = vag(net, pm.ones(2, 3))
    kept = pm.to_numpy(first["weight"])
    vag(net, pm.ones(5, 3))  # a different gradient: the first result must not change
    assert np.array_equal(pm.to_numpy(first["weight"]), kept)


@FRAMEWORKS
def test_a_parameter_unfrozen_after_creation_gets_its_gradient(backend):
    """Keras: TF watches only variables created trainable; the adapter watches the rest."""
    net = nn.Linear(3, 1).to(backend)
    net.add = pm.Parameter(np.zeros(1, np.float32), trainable=False)
    handle = dict(net.named_parameters())["add"]
    handle.trainable = True
    _, grads = pm.value_and_grad(lambda m, X: ops.sum(m(X) + m.add))(net, pm.ones(2, 3))
    assert float(pm.to_numpy(grads["add"])[0]) == 2.0


def test_torch_fast_gradient_matches_autograd_grad():
    torch = pytest.importorskip("torch")
    pm.seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1)).to("torch")
    X = torch.rand(5, 4)
    value, grads = pm.value_and_grad(lambda m, X: ops.mean(m(X)))(net, X)
    params = [h.value for _, h in net.named_parameters()]
    expected = torch.autograd.grad(net(X).mean(), params)
    assert not value.requires_grad
    for got, want in zip(grads.values(), expected, strict=True):
        assert torch.equal(got, want)
    with torch.no_grad():  # value_and_grad records even inside no_grad
        _, again = pm.value_and_grad(lambda m, X: ops.mean(m(X)))(net, X)
    assert torch.equal(again["0.weight"], expected[0])


# -- large arrays: the zero-copy paths (>= polymod.aligned.ADOPT_MIN_BYTES) ------------------------
BIG = 600  # a 600 x 600 float32 weight is 1.4 MB


@pytest.mark.parametrize("target", ["numpy", "torch", "keras", "gluon"])
def test_moving_a_large_model_keeps_values_and_shares_nothing(backend, target):
    pm.seed(0)
    net = nn.Sequential(nn.Linear(BIG, BIG), nn.ReLU(), nn.Linear(BIG, 3))
    X = pm.rand(2, BIG)
    before = pm.to_numpy(net(X))
    state = net.state_dict()
    moved = net.to(target)
    np.testing.assert_allclose(pm.to_numpy(moved(pm.asarray(pm.to_numpy(X), backend=target))),
                               before, rtol=1e-5, atol=1e-6)
    if moved is net:  # already there: .to() returns the model itself
        return
    handle = dict(moved.named_parameters())["0.weight"]
    handle.assign(np.zeros((BIG, BIG), np.float32))  # the copy changes, the source must not
    for name, value in net.state_dict().items():
        assert np.array_equal(value, state[name]), name
    dict(net.named_parameters())["0.weight"].assign(np.ones((BIG, BIG), np.float32))
    assert not handle.numpy().any()


def test_assigning_a_large_array_copies_it(backend):
    net = nn.Linear(BIG, BIG).to(backend)
    data = np.full((BIG, BIG), 2.0, np.float32)
    handle = dict(net.named_parameters())["weight"]
    handle.assign(data)
    data[:] = 7.0  # the caller's array: the parameter must not follow it
    assert np.array_equal(handle.numpy(), np.full((BIG, BIG), 2.0, np.float32))
    pm.optim.SGD(net, lr=1.0).step({"weight": pm.ones(BIG, BIG, backend=backend),
                                    "bias": pm.zeros(BIG, backend=backend)})
    assert float(handle.numpy()[0, 0]) == 1.0 and float(data[0, 0]) == 7.0


def test_to_numpy_of_a_large_tensor_is_an_aligned_fresh_copy(backend):
    x = pm.rand(BIG, BIG, backend=backend)
    first = pm.to_numpy(x)
    assert first.flags.writeable and first.shape == (BIG, BIG) and first.dtype == np.float32
    first[:] = -1.0
    assert float(pm.to_numpy(x).min()) >= 0.0
    if backend in ("torch", "gluon"):  # so that Keras can adopt it without copying
        assert first.ctypes.data % 64 == 0


# -- Linear's fused call: only for the plain layer ----------------------------------------------
def test_linear_subclass_and_instrumented_forward_still_run(backend):
    class Doubled(nn.Linear):
        def forward(self, X):
            return super().forward(X) * 2

    pm.seed(0)
    plain, doubled = nn.Linear(3, 2), Doubled(3, 2)
    doubled.load_state_dict(plain.state_dict())
    X = pm.rand(4, 3)
    np.testing.assert_allclose(pm.to_numpy(doubled(X)), 2 * pm.to_numpy(plain(X)), rtol=1e-6)
    seen = []
    plain.__dict__["forward"] = lambda X: seen.append(1) or nn.Linear.forward(plain, X)
    plain(X)  # an instrument's forward on the instance (compare, torch hooks) must run
    assert seen == [1]
    del plain.__dict__["forward"]
    relu_layer = nn.Linear(3, 2, activation="relu")
    relu_layer.load_state_dict(plain.state_dict())
    np.testing.assert_allclose(pm.to_numpy(relu_layer(X)),
                               np.maximum(pm.to_numpy(plain(X)), 0), rtol=1e-6)


# -- container editing keeps names and the traversal cache right -------------------------------
def test_container_pop_update_clear():
    layers = nn.ModuleList([nn.Linear(1, 1), nn.Linear(1, 2), nn.Linear(1, 3)])
    middle = layers[1]
    assert layers.pop(1) is middle and len(layers) == 2
    assert names(layers) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    assert layers.pop().out_features == 3 and len(layers) == 1
    blocks = nn.ModuleDict({"a": nn.Linear(1, 1)})
    blocks.update({"b": nn.Linear(1, 2)})
    blocks.update([("c", nn.Linear(1, 3))])
    assert blocks.keys() == ["a", "b", "c"]
    assert blocks.pop("b").out_features == 2
    assert names(blocks) == ["a.weight", "a.bias", "c.weight", "c.bias"]
    with pytest.raises(KeyError):
        blocks.pop("missing")
    blocks.clear()
    assert len(blocks) == 0 and names(blocks) == []


def test_dense_takes_an_activation_function(backend):
    pm.seed(0)
    dense = nn.Dense(4, activation=ops.silu, in_units=3)
    plain = nn.Linear(3, 4)
    plain.load_state_dict(dense.state_dict())
    X = pm.rand(2, 3)
    np.testing.assert_allclose(pm.to_numpy(dense(X)), pm.to_numpy(ops.silu(plain(X))),
                               rtol=1e-6, atol=1e-7)
    assert "activation='silu'" in repr(dense)
    twin = copy.deepcopy(nn.Sequential(dense))
    np.testing.assert_allclose(pm.to_numpy(twin(X)), pm.to_numpy(dense(X)), rtol=1e-6)
    with pytest.raises(ValueError, match="Chain it instead"):
        nn.Dense(4, activation=nn.ReLU())
    with pytest.raises(ValueError, match="Unknown activation 'swish2'"):
        nn.Dense(4, activation="swish2")
