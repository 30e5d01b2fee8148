"""Shared helpers for polymod's tests.

The ``backend`` fixture comes from polymod's own pytest plugin (polymod.testing.plugin).
Here: the native tensor types of each backend, and the *oracle*: hand-written native
PyTorch / Keras / Gluon / JAX versions of the chapter's listings (following the PyTorch
listing, as docs/chapter.md says), loaded with polymod's weights (neutral layout: a Linear
weight is (out, in)).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import pytest

import polymod as pm
from polymod import registry
from polymod.testing.plugin import missing_reason

FRAMEWORKS = registry.FRAMEWORKS
#: The backends whose frameworks are installed here (CI's second environment: no gluon).
INSTALLED = tuple(name for name in registry.NAMES if registry.is_installed(name))
RTOL = 2e-5
ATOL = 1e-6

# Eager JAX compiles every op for every new shape (tens of ms each: most of a JAX test's
# time). An on-disk compilation cache, shared by the xdist workers, by later runs and by
# CI's two environments (the same jax), compiles each once; the variables are read when
# jax is imported, and one set by the caller wins.
for _name, _value in {
        "JAX_COMPILATION_CACHE_DIR": Path(__file__).resolve().parents[1] / ".pytest_cache" / "jax",
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": 0,
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": -1}.items():
    os.environ.setdefault(_name, str(_value))

# Import PyTorch before TensorFlow (docs/design.md: the other order can crash).
if importlib.util.find_spec("torch") is not None:
    import torch  # noqa: F401


def needs(*names: str) -> pytest.MarkDecorator:
    """Marks a test that uses these backends: it skips, naming the extras to install,
    where one of their frameworks is missing (CI's second environment has no MXNet)."""
    missing = [name for name in names if not registry.is_installed(name)]
    return pytest.mark.skipif(bool(missing), reason="; ".join(map(missing_reason, missing)))


def installed_framework(*preferred: str) -> str:
    """The first of ``preferred`` that is installed: a test that needs "another framework"
    keeps its usual one (gluon, say) where it is installed, and uses the next otherwise."""
    for name in preferred:
        if registry.is_installed(name):
            return name
    pytest.skip("; ".join(map(missing_reason, preferred)))


def pytest_collection_modifyitems(config, items) -> None:
    """A test parametrised directly over backend names (``backend``, ``name``, ``source``,
    ``target``, pairs of them) skips the cases of a backend that is not installed, with
    the reason."""
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        named = [v for value in params.values()
                 for v in (value if isinstance(value, (tuple, list)) else (value,))
                 if isinstance(v, str) and v in registry.NAMES]
        missing = [name for name in dict.fromkeys(named) if not registry.is_installed(name)]
        if missing:
            item.add_marker(pytest.mark.skip(reason="; ".join(map(missing_reason, missing))))


def native_types(name: str) -> tuple[type, ...]:
    """The tensor types a model on backend ``name`` must return."""
    if name == "numpy":
        return (np.ndarray, np.generic)
    if name == "torch":
        import torch

        return (torch.Tensor,)
    if name == "keras":
        import tensorflow as tf

        return (tf.Tensor,)
    if name == "jax":
        import jax

        return (jax.Array,)
    from mxnet import np as mnp

    return (mnp.ndarray,)


def immutable_arrays(name: str) -> bool:
    """Whether backend ``name``'s arrays are immutable (JAX): ``assign`` returns a new one."""
    adapter = registry.adapter(name)
    storage = adapter.create_buffer(np.zeros(1, np.float32), None)  # what handles hold
    return adapter.assign(storage, np.ones(1, np.float32)) is not None


def stored_dtype(name: str, dtype: str) -> np.dtype:
    """The dtype backend ``name`` stores ``dtype`` data as (JAX without x64: 32 bits)."""
    adapter = registry.adapter(name)
    return adapter.dtype_of(adapter.from_numpy(np.zeros(1, dtype)))


@pytest.fixture(autouse=True)
def _reset_polymod_state():
    """Each test starts with the torch init scheme, no process default backend."""
    from polymod import selection as _b

    before = _b._process_default
    pm.init.set_scheme("torch")
    yield
    _b._process_default = before
    pm.init.set_scheme("torch")
    if "mxnet" in sys.modules:
        # MXNet reports some failures asynchronously, at the next sync point: make that
        # point the end of the test that caused them, not some later test (or exit).
        sys.modules["mxnet"].nd.waitall()


# ---------------------------------------------------------------------------------------
# The oracle: the chapter's listings written natively, weights copied from state_dict.
# ---------------------------------------------------------------------------------------
# Each listing is described as a tree of linear layers so that each framework's
# hand-written version can be built with the same weights. The structure below is
# the PyTorch listing of every model.

def torch_oracle(name: str, sd: dict) -> torch.nn.Module:
    """The PyTorch listing of ``name``, with ``sd`` loaded (strict: names must match)."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.hidden = nn.LazyLinear(256)
            self.out = nn.LazyLinear(10)

        def forward(self, X):
            return self.out(F.relu(self.hidden(X)))

    class MySequential(nn.Module):
        def __init__(self, *args):
            super().__init__()
            for idx, module in enumerate(args):
                self.add_module(str(idx), module)

        def forward(self, X):
            for module in self.children():
                X = module(X)
            return X

    class ListHolder(nn.Module):  # the listings that keep modules in a list/tuple
        def __init__(self, attr, *args):
            super().__init__()
            self.attr = attr
            setattr(self, attr, nn.ModuleList(args))

        def forward(self, X):
            for module in getattr(self, self.attr):
                X = module(X)
            return X

    class FixedHiddenMLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.rand_weight = torch.rand((20, 20))
            self.linear = nn.LazyLinear(20)

        def forward(self, X):
            X = self.linear(X)
            X = F.relu(X @ self.rand_weight + 1)
            X = self.linear(X)
            while X.abs().sum() > 1:
                X /= 2
            return X.sum()

    class NestMLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.LazyLinear(64), nn.ReLU(), nn.LazyLinear(32), nn.ReLU())
            self.linear = nn.LazyLinear(16)

        def forward(self, X):
            return self.linear(self.net(X))

    class Parallel(nn.Module):
        def __init__(self, net1, net2):
            super().__init__()
            self.net1 = net1
            self.net2 = net2

        def forward(self, X):
            return torch.cat((self.net1(X), self.net2(X)), dim=-1)

    def mlp_seq():
        return nn.Sequential(nn.LazyLinear(256), nn.ReLU(), nn.LazyLinear(10))

    builders = {
        "sequential_mlp": mlp_seq,
        "sequential_mlp_gluon_style": lambda: nn.Sequential(
            nn.Sequential(nn.LazyLinear(256), nn.ReLU()), nn.LazyLinear(10)),
        "MLP": MLP,
        "MySequential": lambda: MySequential(nn.LazyLinear(256), nn.ReLU(), nn.LazyLinear(10)),
        "MySequentialAdd": lambda: ListHolder("blocks", nn.Sequential(nn.LazyLinear(256),
                                                                      nn.ReLU()),
                                              nn.LazyLinear(10)),
        "MySequentialTuple": lambda: ListHolder("layers", nn.Sequential(nn.LazyLinear(256),
                                                                        nn.ReLU()),
                                                nn.LazyLinear(10)),
        "FixedHiddenMLP": FixedHiddenMLP,
        "NestMLP": NestMLP,
        "chimera": lambda: nn.Sequential(NestMLP(), nn.LazyLinear(20), FixedHiddenMLP()),
        "ListSequential": lambda: ListHolder("layers", nn.LazyLinear(256), nn.ReLU(),
                                             nn.LazyLinear(10)),
        "parallel_mlp": lambda: Parallel(MLP(), MLP()),
        "repeated": lambda: nn.Sequential(*[nn.Sequential(nn.LazyLinear(32), nn.ReLU())
                                            for _ in range(3)], nn.LazyLinear(10)),
    }
    net = builders[name]()
    net(torch.zeros(1, 20))  # materialise the lazy shapes
    sd = {_torch_key(name, k): torch.from_numpy(np.array(v)) for k, v in sd.items()}
    constants = {k: v for k, v in sd.items() if k.endswith("rand_weight")}
    for key, value in constants.items():  # plain tensor attributes, not in torch's state_dict
        owner = net
        for part in key.split(".")[:-1]:
            owner = getattr(owner, part) if not part.isdigit() else owner[int(part)]
        owner.rand_weight = value
        del sd[key]
    net.load_state_dict(sd, strict=True)
    return net


def _torch_key(name: str, key: str) -> str:
    """polymod's Dense(activation='relu') is one layer; torch's twin is Sequential(Linear, ReLU)."""
    if name == "sequential_mlp_gluon_style" and key.startswith("0."):
        return "0.0." + key[2:]
    if name in ("MySequentialAdd", "MySequentialTuple"):
        attr, idx, rest = key.split(".", 2)
        if idx == "0":
            return f"{attr}.0.0.{rest}"
    return key


# Listings as chains of layers for Keras and Gluon: ('linear', prefix, relu?) items,
# or a callable block. Written out by hand from the PyTorch listing.
def _linears(name: str) -> list:
    mlp = [("linear", "hidden", True), ("linear", "out", False)]
    chains = {
        "sequential_mlp": [("linear", "0", True), ("linear", "2", False)],
        "sequential_mlp_gluon_style": [("linear", "0", True), ("linear", "1", False)],
        "MLP": mlp,
        "MySequential": [("linear", "0", True), ("linear", "2", False)],
        "MySequentialAdd": [("linear", "blocks.0", True), ("linear", "blocks.1", False)],
        "MySequentialTuple": [("linear", "layers.0", True), ("linear", "layers.1", False)],
        "ListSequential": [("linear", "layers.0", True), ("linear", "layers.2", False)],
        "NestMLP": [("linear", "net.0", True), ("linear", "net.2", True),
                    ("linear", "linear", False)],
        "repeated": [("linear", "0.0", True), ("linear", "1.0", True), ("linear", "2.0", True),
                     ("linear", "3", False)],
    }
    return chains[name]


def keras_oracle(name: str, sd: dict):
    """A hand-written Keras 3 model computing the listing ``name`` with the weights ``sd``."""
    import keras
    import tensorflow as tf

    def dense(prefix, relu):
        w, b = sd[f"{prefix}.weight"], sd[f"{prefix}.bias"]
        layer = keras.layers.Dense(w.shape[0], activation="relu" if relu else None)
        layer.build((None, w.shape[1]))
        layer.set_weights([w.T, b])  # Keras kernels are (in, out)
        return layer

    def chain(items):
        return keras.Sequential([dense(prefix, relu) for _, prefix, relu in items])

    class FixedHiddenMLP(keras.Model):  # the PyTorch listing: no flatten, no relu in dense
        def __init__(self, prefix):
            super().__init__()
            self.rand_weight = tf.constant(sd[f"{prefix}rand_weight"])
            self.dense = dense(f"{prefix}linear", False)

        def call(self, X):
            X = self.dense(X)
            X = tf.nn.relu(tf.matmul(X, self.rand_weight) + 1)
            X = self.dense(X)
            while tf.reduce_sum(tf.math.abs(X)) > 1:
                X /= 2
            return tf.reduce_sum(X)

    if name == "FixedHiddenMLP":
        return FixedHiddenMLP("")
    if name == "chimera":
        nest = keras.Sequential([dense("0.net.0", True), dense("0.net.2", True),
                                 dense("0.linear", False)])
        mid = dense("1", False)
        fixed = FixedHiddenMLP("2.")
        return lambda X: fixed(mid(nest(X)))
    if name == "parallel_mlp":
        nets = [keras.Sequential([dense(f"{n}.hidden", True), dense(f"{n}.out", False)])
                for n in ("net1", "net2")]
        return lambda X: tf.concat([nets[0](X), nets[1](X)], axis=-1)
    return chain(_linears(name))


def gluon_oracle(name: str, sd: dict):
    """A hand-written Gluon block computing the listing ``name`` with the weights ``sd``."""
    import mxnet as mx
    from mxnet import np as mnp
    from mxnet import npx
    from mxnet.gluon import nn

    def dense(prefix, relu):
        w, b = sd[f"{prefix}.weight"], sd[f"{prefix}.bias"]
        layer = nn.Dense(w.shape[0], in_units=w.shape[1])
        layer.initialize(ctx=mx.cpu())
        layer.weight.set_data(mnp.array(w))  # Gluon's layout is (out, in) already
        layer.bias.set_data(mnp.array(b))
        if not relu:
            return layer
        # not Dense(activation='relu'): its fused relu turns NaN into 0 (docs/design.md)
        return lambda X: npx.relu(layer(X))

    def chain(items):
        layers = [dense(prefix, relu) for _, prefix, relu in items]

        def run(X):
            for layer in layers:
                X = layer(X)
            return X

        return run

    class FixedHiddenMLP(nn.Block):  # the PyTorch listing: no relu inside the dense calls
        def __init__(self, prefix):
            super().__init__()
            self.rand_weight = self.params.get_constant("rand_weight",
                                                        sd[f"{prefix}rand_weight"])
            self.rand_weight.initialize()
            self.dense = dense(f"{prefix}linear", False)

        def forward(self, X):
            X = self.dense(X)
            X = npx.relu(mnp.dot(X, self.rand_weight.data()) + 1)
            X = self.dense(X)
            while mnp.abs(X).sum() > 1:
                X /= 2
            return X.sum()

    if name == "FixedHiddenMLP":
        return FixedHiddenMLP("")
    if name == "chimera":
        nest = chain([(None, "0.net.0", True), (None, "0.net.2", True), (None, "0.linear", False)])
        mid = dense("1", False)
        fixed = FixedHiddenMLP("2.")
        return lambda X: fixed(mid(nest(X)))
    if name == "parallel_mlp":
        nets = [chain([(None, f"{n}.hidden", True), (None, f"{n}.out", False)])
                for n in ("net1", "net2")]
        return lambda X: mnp.concatenate([nets[0](X), nets[1](X)], axis=-1)
    return chain(_linears(name))


def jax_listing(name: str):
    """The listing ``name`` as a pure JAX function ``f(weights, X)`` of a {name: array} dict
    (so ``jax.grad`` over the weights gives the oracle's gradients)."""
    import jax
    import jax.numpy as jnp

    def dense(prefix, relu):
        def run(W, X):
            Y = X @ W[f"{prefix}.weight"].T + W[f"{prefix}.bias"]
            return jax.nn.relu(Y) if relu else Y

        return run

    def chain(items):
        layers = [dense(prefix, relu) for _, prefix, relu in items]

        def run(W, X):
            for layer in layers:
                X = layer(W, X)
            return X

        return run

    def fixed_hidden_mlp(prefix):  # the PyTorch listing; eager: the while loop is Python
        linear = dense(f"{prefix}linear", False)

        def run(W, X):
            X = linear(W, X)
            X = jax.nn.relu(X @ W[f"{prefix}rand_weight"] + 1)
            X = linear(W, X)
            while jnp.sum(jnp.abs(X)) > 1:
                X /= 2
            return jnp.sum(X)

        return run

    if name == "FixedHiddenMLP":
        return fixed_hidden_mlp("")
    if name == "chimera":
        nest = chain([(None, "0.net.0", True), (None, "0.net.2", True), (None, "0.linear", False)])
        mid, fixed = dense("1", False), fixed_hidden_mlp("2.")
        return lambda W, X: fixed(W, mid(W, nest(W, X)))
    if name == "parallel_mlp":
        nets = [chain([(None, f"{n}.hidden", True), (None, f"{n}.out", False)])
                for n in ("net1", "net2")]
        return lambda W, X: jnp.concatenate([nets[0](W, X), nets[1](W, X)], axis=-1)
    return chain(_linears(name))


def jax_oracle(name: str, sd: dict):
    """The hand-written JAX listing ``name`` with the weights ``sd``."""
    import jax.numpy as jnp

    weights = {k: jnp.asarray(v) for k, v in sd.items()}
    listing = jax_listing(name)
    return lambda X: listing(weights, X)


ORACLES = {"torch": torch_oracle, "keras": keras_oracle, "gluon": gluon_oracle,
           "jax": jax_oracle}


def assert_same_numbers(actual, expected, rtol: float = RTOL, atol: float = ATOL) -> None:
    """Any backend's tensors (or arrays) equal within float32 rounding; NaN == NaN."""
    a, b = pm.to_numpy(actual), pm.to_numpy(expected)
    assert a.shape == b.shape, f"shapes differ: {a.shape} vs {b.shape}"
    np.testing.assert_allclose(a.astype(np.float64), b.astype(np.float64), rtol=rtol,
                               atol=atol, equal_nan=True)
