"""The chapter's models written by hand in each framework, and as chains of its bare ops.

These are the references polymod is timed against, so nothing here imports polymod:
each builder takes the weights as NumPy arrays, ``(weight (out, in), bias)`` per
linear layer in call order (and the chimera's constant ``rand_weight``), and returns
the framework's own module (the chapter's listing) and the same model as a function
of the framework's functional ops, both holding those weights.

The models are the chapter's: ``sequential_mlp`` (``Sequential`` of 20 -> 256, ReLU,
256 -> 10), ``MLP`` (the same as a class) and ``chimera`` (``NestMLP``, a linear
layer, ``FixedHiddenMLP``, as in the PyTorch listing).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

#: The chapter models' input width.
IN_FEATURES = 20
TWO_LAYERS = ("sequential_mlp", "MLP")


class NativeChapter(NamedTuple):
    """One chapter model in one framework, two ways, with the same weights."""

    module: Any  # the framework's own module (the chapter's listing)
    ops: Callable[[Any], Any]  # the same model as a chain of bare functional ops
    ops_params: list[Any]  # the tensors ``ops`` reads (weights, biases), gradients on
    native_params: list[Any]  # the module's trainable parameters


def bare_ops(name: str, pairs: Sequence[tuple[Any, Any]], rand: Any, linear: Callable,
             relu: Callable, matmul: Callable, absolute: Callable,
             total: Callable) -> Callable[[Any], Any]:
    """The model ``name`` as a chain of one framework's functions (torch and Keras).

    ``linear(X, w, b)`` computes ``X @ w.T + b``; the chimera's ``FixedHiddenMLP``
    halves ``X`` in place while ``total(absolute(X)) > 1``, as the book's listing does.
    """
    if name in TWO_LAYERS:
        (w1, b1), (w2, b2) = pairs

        def ops(X):
            return linear(relu(linear(X, w1, b1)), w2, b2)
        return ops
    (w1, b1), (w2, b2), (w3, b3), (w4, b4), (w5, b5) = pairs

    def chimera(X):
        X = linear(relu(linear(relu(linear(X, w1, b1)), w2, b2)), w3, b3)
        X = linear(X, w4, b4)
        X = linear(X, w5, b5)
        X = relu(matmul(X, rand) + 1)
        X = linear(X, w5, b5)
        while total(absolute(X)) > 1:
            X /= 2
        return total(X)
    return chimera


# -- torch ---------------------------------------------------------------------------------------
def torch_chapter(name: str, pairs: Sequence[tuple[np.ndarray, np.ndarray]],
                  rand_weight: np.ndarray | None) -> NativeChapter:
    import torch
    import torch.nn.functional as F
    from torch import nn

    tensors = [(torch.tensor(w), torch.tensor(b)) for w, b in pairs]
    rand = None if rand_weight is None else torch.tensor(rand_weight)

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.hidden = nn.LazyLinear(256)
            self.out = nn.LazyLinear(10)

        def forward(self, X):
            return self.out(F.relu(self.hidden(X)))

    class FixedHiddenMLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.rand_weight = rand
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
            self.net = nn.Sequential(nn.LazyLinear(64), nn.ReLU(), nn.LazyLinear(32),
                                     nn.ReLU())
            self.linear = nn.LazyLinear(16)

        def forward(self, X):
            return self.linear(self.net(X))

    if name == "sequential_mlp":
        native = nn.Sequential(nn.LazyLinear(256), nn.ReLU(), nn.LazyLinear(10))
        linears = [native[0], native[2]]
    elif name == "MLP":
        native = MLP()
        linears = [native.hidden, native.out]
    else:
        native = nn.Sequential(NestMLP(), nn.LazyLinear(20), FixedHiddenMLP())
        linears = [native[0].net[0], native[0].net[2], native[0].linear, native[1],
                   native[2].linear]
    native(torch.zeros(2, IN_FEATURES))
    with torch.no_grad():
        for layer, (w, b) in zip(linears, tensors, strict=True):
            layer.weight.copy_(w)
            layer.bias.copy_(b)
    for w, b in tensors:
        w.requires_grad_(True)
        b.requires_grad_(True)
    ops = bare_ops(name, tensors, rand, F.linear, torch.relu, operator.matmul, torch.abs,
                   torch.sum)
    return NativeChapter(native, ops, [t for p in tensors for t in p], list(native.parameters()))


# -- keras ---------------------------------------------------------------------------------------
def keras_chapter(name: str, pairs: Sequence[tuple[np.ndarray, np.ndarray]],
                  rand_weight: np.ndarray | None) -> NativeChapter:
    import keras
    import tensorflow as tf

    variables = [(tf.Variable(w), tf.Variable(b)) for w, b in pairs]
    rand = None if rand_weight is None else tf.constant(rand_weight)
    Dense = keras.layers.Dense

    class MLP(keras.Model):
        def __init__(self):
            super().__init__()
            self.hidden = Dense(256, activation="relu")
            self.out = Dense(10)

        def call(self, X):
            return self.out(self.hidden(X))

    class FixedHiddenMLP(keras.Model):
        def __init__(self):
            super().__init__()
            self.linear = Dense(20)

        def call(self, X):
            X = self.linear(X)
            X = tf.nn.relu(tf.matmul(X, rand) + 1)
            X = self.linear(X)
            while tf.reduce_sum(tf.math.abs(X)) > 1:
                X /= 2
            return tf.reduce_sum(X)

    class NestMLP(keras.Model):
        def __init__(self):
            super().__init__()
            self.net = keras.Sequential([Dense(64, activation="relu"),
                                         Dense(32, activation="relu")])
            self.linear = Dense(16)

        def call(self, X):
            return self.linear(self.net(X))

    # keras.Sequential would trace FixedHiddenMLP symbolically (its Python while on a
    # tensor fails there), so the chimera chains its three blocks in a subclassed Model.
    class Chimera(keras.Model):
        def __init__(self):
            super().__init__()
            self.nest, self.dense, self.fixed = NestMLP(), Dense(20), FixedHiddenMLP()

        def call(self, X):
            return self.fixed(self.dense(self.nest(X)))

    native = {"sequential_mlp": lambda: keras.Sequential([Dense(256, activation="relu"),
                                                          Dense(10)]),
              "MLP": MLP, "chimera": Chimera}[name]()
    native(tf.zeros((2, IN_FEATURES)))
    if name == "sequential_mlp":
        linears = list(native.layers)
    elif name == "MLP":
        linears = [native.hidden, native.out]
    else:
        linears = [native.nest.net.layers[0], native.nest.net.layers[1], native.nest.linear,
                   native.dense, native.fixed.linear]
    for layer, (w, b) in zip(linears, pairs, strict=True):
        layer.kernel.assign(w.T)
        layer.bias.assign(b)
    matmul = tf.matmul

    def linear(X, w, b):
        return tf.nn.bias_add(matmul(X, w, transpose_b=True), b)  # as Dense does

    ops = bare_ops(name, variables, rand, linear, tf.nn.relu, matmul, tf.math.abs,
                   tf.reduce_sum)
    return NativeChapter(native, ops, [t for p in variables for t in p],
                         native.trainable_variables)


# -- gluon ---------------------------------------------------------------------------------------
def gluon_chapter(name: str, pairs: Sequence[tuple[np.ndarray, np.ndarray]],
                  rand_weight: np.ndarray | None) -> NativeChapter:
    from mxnet import np as mnp
    from mxnet import npx
    from mxnet.gluon import nn

    arrays = [(mnp.array(w), mnp.array(b)) for w, b in pairs]
    for w, b in arrays:
        w.attach_grad()
        b.attach_grad()
    rand = None if rand_weight is None else mnp.array(rand_weight)

    class MLP(nn.Block):
        def __init__(self):
            super().__init__()
            self.hidden = nn.Dense(256, activation="relu", flatten=False)
            self.out = nn.Dense(10, flatten=False)

        def forward(self, X):
            return self.out(self.hidden(X))

    class FixedHiddenMLP(nn.Block):
        def __init__(self):
            super().__init__()
            self.linear = nn.Dense(20, flatten=False)

        def forward(self, X):
            X = self.linear(X)
            X = npx.relu(mnp.dot(X, rand) + 1)
            X = self.linear(X)
            while mnp.abs(X).sum() > 1:
                X = X / 2  # MXNet refuses `X /= 2` on a recorded array (the book never records it)
            return X.sum()

    class NestMLP(nn.Block):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential()
            self.net.add(nn.Dense(64, activation="relu", flatten=False),
                         nn.Dense(32, activation="relu", flatten=False))
            self.linear = nn.Dense(16, flatten=False)

        def forward(self, X):
            return self.linear(self.net(X))

    if name == "sequential_mlp":
        native = nn.Sequential()
        native.add(nn.Dense(256, activation="relu", flatten=False), nn.Dense(10, flatten=False))
        linears = [native[0], native[1]]
    elif name == "MLP":
        native = MLP()
        linears = [native.hidden, native.out]
    else:
        nest, dense, fixed = NestMLP(), nn.Dense(20, flatten=False), FixedHiddenMLP()
        native = nn.Sequential()
        native.add(nest, dense, fixed)
        linears = [nest.net[0], nest.net[1], nest.linear, dense, fixed.linear]
    native.initialize()
    native(mnp.zeros((2, IN_FEATURES)))
    for layer, (w, b) in zip(linears, pairs, strict=True):
        layer.weight.set_data(mnp.array(w))
        layer.bias.set_data(mnp.array(b))
    native_params = list(native.collect_params().values())
    for p in native_params:
        p.grad_req = "write"
    return NativeChapter(native, _gluon_ops(name, arrays, rand), [t for p in arrays for t in p],
                         native_params)


def _gluon_ops(name: str, arrays: Sequence[tuple[Any, Any]], rand: Any) -> Callable[[Any], Any]:
    """Not :func:`bare_ops`: ``npx.fully_connected`` takes each layer's width, and MXNet
    refuses the in-place ``X /= 2`` on a recorded array."""
    from mxnet import np as mnp
    from mxnet import npx

    fc, relu = npx.fully_connected, npx.relu
    sizes = [int(b.shape[0]) for _, b in arrays]
    if name in TWO_LAYERS:
        (w1, b1), (w2, b2) = arrays
        n1, n2 = sizes

        def ops(X):
            return fc(relu(fc(X, w1, b1, num_hidden=n1, flatten=False)), w2, b2,
                      num_hidden=n2, flatten=False)
        return ops
    (w1, b1), (w2, b2), (w3, b3), (w4, b4), (w5, b5) = arrays
    n1, n2, n3, n4, n5 = sizes

    def chimera(X):
        X = relu(fc(X, w1, b1, num_hidden=n1, flatten=False))
        X = relu(fc(X, w2, b2, num_hidden=n2, flatten=False))
        X = fc(X, w3, b3, num_hidden=n3, flatten=False)
        X = fc(X, w4, b4, num_hidden=n4, flatten=False)
        X = fc(X, w5, b5, num_hidden=n5, flatten=False)
        X = relu(mnp.dot(X, rand) + 1)
        X = fc(X, w5, b5, num_hidden=n5, flatten=False)
        while mnp.abs(X).sum() > 1:
            X = X / 2
        return X.sum()
    return chimera


BUILDERS = {"torch": torch_chapter, "keras": keras_chapter, "gluon": gluon_chapter}
