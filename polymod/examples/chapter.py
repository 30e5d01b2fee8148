"""The listings of "Layers and Modules" (Dive into Deep Learning, section 6.1), written once.

Each model here runs unchanged on every backend. Where the book's three
listings of a model compute different functions, the twin follows the
PyTorch listing (the docs say where the Gluon and Keras listings differ).
The book's code is under a modified MIT licence; see ``docs/chapter.md``.

Example:
    >>> import polymod as pm
    >>> from polymod.examples import chapter
    >>> chapter.MLP()(pm.rand(2, 20, backend="numpy")).shape
    (2, 10)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polymod as pm
from polymod import nn, ops


def sequential_mlp() -> nn.Sequential:
    """The opening listing: 256 hidden units with ReLU, then 10 outputs."""
    return nn.Sequential(nn.LazyLinear(256), nn.ReLU(), nn.LazyLinear(10))


def sequential_mlp_gluon_style() -> nn.Sequential:
    """The same network written the Gluon way (``add`` and ``Dense(activation=...)``)."""
    net = nn.Sequential()
    net.add(nn.Dense(256, activation="relu"))
    net.add(nn.Dense(10))
    return net


class MLP(pm.Module):
    """A custom module: a hidden layer of 256 units and an output layer of 10."""

    def __init__(self):
        super().__init__()
        self.hidden = nn.LazyLinear(256)
        self.out = nn.LazyLinear(10)

    def forward(self, X: Any) -> Any:
        return self.out(ops.relu(self.hidden(X)))


class MySequential(pm.Module):
    """PyTorch's listing: children registered with ``add_module``, run via ``children()``."""

    def __init__(self, *args: pm.Module):
        super().__init__()
        for idx, module in enumerate(args):
            self.add_module(str(idx), module)

    def forward(self, X: Any) -> Any:
        for module in self.children():
            X = module(X)
        return X


class MySequentialAdd(pm.Module):
    """Gluon's listing: an ``add`` method; the children are kept in a plain Python list.

    Gluon needed its private ``_children`` dict here; in polymod a list assigned to an
    attribute is tracked, so its modules' parameters are found (and named ``blocks.0...``).
    """

    def __init__(self):
        super().__init__()
        self.blocks = []

    def add(self, block: pm.Module) -> None:
        self.blocks.append(block)

    def forward(self, X: Any) -> Any:
        for block in self.blocks:
            X = block(X)
        return X


class MySequentialTuple(pm.Module):
    """Keras' listing: the modules kept in a tuple attribute.

    The book names the attribute ``modules``, which would shadow ``Module.modules()``;
    polymod refuses that name with a clear error, so the twin calls it ``layers``.
    """

    def __init__(self, *args: pm.Module):
        super().__init__()
        self.layers = args

    def forward(self, X: Any) -> Any:
        for module in self.layers:
            X = module(X)
        return X


class FixedHiddenMLP(pm.Module):
    """A constant weight, a layer used twice, and Python control flow on tensor values."""

    def __init__(self):
        super().__init__()
        # Random weights that never receive gradients: a constant.
        self.rand_weight = pm.constant(pm.rand(20, 20, backend="numpy"))
        self.linear = nn.LazyLinear(20)

    def forward(self, X: Any) -> Any:
        X = self.linear(X)
        X = ops.relu(X @ self.rand_weight + 1)
        # Reusing the layer shares its parameters between both uses.
        X = self.linear(X)
        while ops.sum(ops.abs(X)) > 1:
            X /= 2
        return ops.sum(X)


class NestMLP(pm.Module):
    """Modules nested inside modules."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.LazyLinear(64), nn.ReLU(), nn.LazyLinear(32), nn.ReLU())
        self.linear = nn.LazyLinear(16)

    def forward(self, X: Any) -> Any:
        return self.linear(self.net(X))


def chimera() -> nn.Sequential:
    """NestMLP, a Linear layer and FixedHiddenMLP, chained."""
    return nn.Sequential(NestMLP(), nn.LazyLinear(20), FixedHiddenMLP())


# -- the exercises ---------------------------------------------------------------------------

class ListSequential(pm.Module):
    """Exercise 1: ``MySequential`` keeping its modules in a plain Python list.

    In PyTorch the parameters of such modules are invisible (``parameters()`` is
    empty, optimizers see nothing, ``state_dict`` loses them). polymod tracks
    lists, tuples and dicts of modules, so nothing goes wrong here.
    """

    def __init__(self, *args: pm.Module):
        super().__init__()
        self.layers = list(args)

    def forward(self, X: Any) -> Any:
        for layer in self.layers:
            X = layer(X)
        return X


class ParallelModule(pm.Module):
    """Exercise 2: run two networks on the same input and concatenate their outputs."""

    def __init__(self, net1: pm.Module, net2: pm.Module):
        super().__init__()
        self.net1 = net1
        self.net2 = net2

    def forward(self, X: Any) -> Any:
        return ops.concat([self.net1(X), self.net2(X)], axis=-1)


def parallel_mlp() -> ParallelModule:
    """Exercise 2 in use: two MLPs side by side (10 + 10 outputs)."""
    return ParallelModule(MLP(), MLP())


def block_factory() -> nn.Sequential:
    """One instance of the block repeated by exercise 3."""
    return nn.Sequential(nn.LazyLinear(32), nn.ReLU())


def repeated(n: int = 3) -> nn.Sequential:
    """Exercise 3: a factory of ``n`` fresh instances of the same block, then an output layer."""
    net = nn.repeat(block_factory, n)
    net.add(nn.LazyLinear(10))
    return net


LISTINGS: dict[str, Callable[[], pm.Module]] = {
    "sequential_mlp": sequential_mlp,
    "sequential_mlp_gluon_style": sequential_mlp_gluon_style,
    "MLP": MLP,
    "MySequential": lambda: MySequential(nn.LazyLinear(256), nn.ReLU(), nn.LazyLinear(10)),
    "MySequentialAdd": lambda: _added(MySequentialAdd()),
    "MySequentialTuple": lambda: MySequentialTuple(nn.Dense(256, activation="relu"),
                                                   nn.Dense(10)),
    "FixedHiddenMLP": FixedHiddenMLP,
    "NestMLP": NestMLP,
    "chimera": chimera,
    "ListSequential": lambda: ListSequential(nn.LazyLinear(256), nn.ReLU(), nn.LazyLinear(10)),
    "parallel_mlp": parallel_mlp,
    "repeated": repeated,
}
"""Every listing (and exercise) by name, as a zero-argument factory; input shape (2, 20)."""

INPUT_SHAPE = (2, 20)


def _added(net: MySequentialAdd) -> MySequentialAdd:
    net.add(nn.Dense(256, activation="relu"))
    net.add(nn.Dense(10))
    return net
