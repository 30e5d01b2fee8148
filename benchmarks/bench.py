"""polymod vs hand-written native code: µs per call and budget ratios.

Run from the repository root (polymod installed, e.g. ``pip install -e .[all]``)::

    python benchmarks/bench.py                    # full run (a few minutes)
    python benchmarks/bench.py --quick            # tiny configuration (what the tests run)
    python benchmarks/bench.py --backends torch,gluon --json results.json

For each framework it times, in one process, one thread, in alternating rounds
(so that all candidates share the machine's noise) and keeping the best round:

* ``native``: the chapter's hand-written modules of that framework
  (``torch.nn.Sequential``, ``keras.Sequential``, Gluon ``nn.Sequential``, the
  ``MLP`` class, the chimera);
* ``ops``:    the framework's bare functional ops (``F.linear``/``torch.relu``,
  ``tf.matmul(transpose_b=True)`` + ``tf.nn.bias_add``/``tf.nn.relu``,
  ``npx.fully_connected``/``npx.relu``);
* ``polymod``: the same model from ``polymod.examples.chapter`` on that backend,
  with the same weights.

The ratio is polymod / min(native, ops); for Gluon only the ops count (its fused
relu turns NaN into 0, which polymod must not do; see docs/design.md). Budgets:
forward at batch 2 <= 1.15, forward+backward at batch 2 <= 1.10, batch 1024 <= 1.05.

Convolution (part ``conv``): the book's LeNet from ``polymod.examples.vision`` against
the same LeNet written natively in each framework, NCHW (``torch.nn.Sequential``,
``keras.Sequential`` of channels_first ``Conv2D``/``AveragePooling2D``, Gluon
``nn.Sequential`` of ``Conv2D``/``AvgPool2D``/``Dense``) with the same weights, checked
to agree, forward and forward+backward at batch 2 and 64; ratio = polymod / native (no
bare-ops reference, no budget). For Keras also one conv layer: polymod's ``Conv2d``
(NCHW forward, NHWC gradient ops behind transposes) vs ``Conv2D`` channels_first vs
``Conv2D`` channels_last on input already in NHWC: the cost of the layout conversions.

Also: Keras 3 on its torch backend (a subprocess), ``import polymod`` time over
``import numpy``, moving a large model between backends (``.to`` and
save/load) against a plain memory copy, and the graph modes on the native twins
(``torch.compile``, ``tf.function``, ``hybridize``). Nothing here is asserted:
the tests only check that the script runs.
"""

from __future__ import annotations

import os

# One thread everywhere; MXNet reads these when it loads, so set them first.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
             "MXNET_CPU_WORKER_NTHREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
    os.environ[_var] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import argparse  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

BUDGET = {"fwd b2": 1.15, "fwd+bwd b2": 1.10, "fwd b1024": 1.05, "fwd+bwd b1024": 1.05}
FRAMEWORKS = ("torch", "keras", "gluon")
MODELS = ("sequential_mlp", "MLP", "chimera")
IN_FEATURES = 20


# -- timing ----------------------------------------------------------------------------------
def _time_calls(fn: Callable[[], Any], n: int) -> float:
    clock = time.perf_counter
    start = clock()
    for _ in range(n):
        fn()
    return (clock() - start) / n


def compare(candidates: dict[str, Callable[[], Any]], rounds: int, target_s: float,
            max_calls: int) -> dict[str, float]:
    """Best (min) µs per call of each candidate over ``rounds`` alternating rounds."""
    calls = {}
    for name, fn in candidates.items():
        for _ in range(3):  # warm-up: lazy init, allocator, op caches
            fn()
        one = _time_calls(fn, 3)
        calls[name] = int(min(max_calls, max(3, target_s / max(one, 1e-7))))
    best = {name: float("inf") for name in candidates}
    gc_was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        for _ in range(rounds):
            for name, fn in candidates.items():
                best[name] = min(best[name], _time_calls(fn, calls[name]))
    finally:
        if gc_was_enabled:
            gc.enable()
    return {name: t * 1e6 for name, t in best.items()}


# -- frameworks --------------------------------------------------------------------------------
def load_frameworks(wanted: list[str]) -> dict[str, Any]:
    """Imports the frameworks pinned to one thread: torch first, then TensorFlow, then MXNet."""
    from polymod import registry as pmregistry

    loaded: dict[str, Any] = {}
    if "torch" in wanted or "keras" in wanted:
        import torch

        torch.set_num_threads(1)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:
            pass
        loaded["torch_module"] = torch
    if "torch" in wanted:
        loaded["torch"] = pmregistry.adapter("torch")
    if "keras" in wanted:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        loaded["keras"] = pmregistry.adapter("keras")
    if "gluon" in wanted:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loaded["gluon"] = pmregistry.adapter("gluon")  # sets NumPy aliases, loads mxnet
    return loaded


def polymod_model(name: str, backend: str, seed: int = 0) -> Any:
    import polymod as pm
    from polymod.examples import chapter

    pm.seed(seed)
    net = {"sequential_mlp": chapter.sequential_mlp, "MLP": chapter.MLP,
           "chimera": chapter.chimera}[name]()
    net(pm.rand(2, IN_FEATURES, backend=backend))  # binds and materialises lazy shapes
    return net


def _layers(name: str, sd: dict[str, np.ndarray]) -> tuple[list, np.ndarray | None]:
    """The model's (weight, bias) pairs in call order, and the chimera's constant."""
    if name == "sequential_mlp":
        keys = ["0", "2"]
    elif name == "MLP":
        keys = ["hidden", "out"]
    else:
        keys = ["0.net.0", "0.net.2", "0.linear", "1", "2.linear"]
    pairs = [(sd[f"{k}.weight"], sd[f"{k}.bias"]) for k in keys]
    return pairs, sd.get("2.rand_weight")


class Suite:
    """Builds the three candidates of one model on one framework (same weights)."""

    def __init__(self, framework: str, name: str):
        self.framework, self.name = framework, name
        self.net = polymod_model(name, framework)
        self.pairs, self.rand_weight = _layers(name, self.net.state_dict())
        getattr(self, f"_setup_{framework}")()
        self._check_same_function()

    def _check_same_function(self) -> None:
        """The three candidates must compute the same numbers, or the timing is meaningless."""
        import polymod as pm

        X = self.to_input(np.random.default_rng(1).random((2, IN_FEATURES), dtype=np.float32))
        ref = pm.to_numpy(self.net(X))
        for label, fn in (("native", self.native), ("ops", self.ops)):
            got = pm.to_numpy(fn(X))
            if got.shape != ref.shape or not np.allclose(got, ref, rtol=1e-4, atol=1e-5):
                raise AssertionError(f"{self.framework} {self.name}: {label} output differs "
                                     f"from polymod's")

    # torch ---------------------------------------------------------------------------------
    def _setup_torch(self) -> None:
        import torch
        import torch.nn.functional as F
        from torch import nn

        pairs = [(torch.tensor(w), torch.tensor(b)) for w, b in self.pairs]
        rand = None if self.rand_weight is None else torch.tensor(self.rand_weight)

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

        if self.name == "sequential_mlp":
            native = nn.Sequential(nn.LazyLinear(256), nn.ReLU(), nn.LazyLinear(10))
            linears = [native[0], native[2]]
        elif self.name == "MLP":
            native = MLP()
            linears = [native.hidden, native.out]
        else:
            native = nn.Sequential(NestMLP(), nn.LazyLinear(20), FixedHiddenMLP())
            linears = [native[0].net[0], native[0].net[2], native[0].linear, native[1],
                       native[2].linear]
        native(torch.zeros(2, IN_FEATURES))
        with torch.no_grad():
            for layer, (w, b) in zip(linears, pairs, strict=True):
                layer.weight.copy_(w)
                layer.bias.copy_(b)
        for w, b in pairs:
            w.requires_grad_(True)
            b.requires_grad_(True)
        linear, relu = F.linear, torch.relu
        if self.name in ("sequential_mlp", "MLP"):
            (w1, b1), (w2, b2) = pairs

            def ops(X):
                return linear(relu(linear(X, w1, b1)), w2, b2)
        else:
            (w1, b1), (w2, b2), (w3, b3), (w4, b4), (w5, b5) = pairs

            def ops(X):
                X = linear(relu(linear(relu(linear(X, w1, b1)), w2, b2)), w3, b3)
                X = linear(X, w4, b4)
                X = linear(X, w5, b5)
                X = relu(X @ rand + 1)
                X = linear(X, w5, b5)
                while X.abs().sum() > 1:
                    X /= 2
                return X.sum()

        self.native, self.ops, self.ops_params = native, ops, [t for p in pairs for t in p]
        self.to_input = torch.from_numpy

    # keras ---------------------------------------------------------------------------------
    def _setup_keras(self) -> None:
        import keras
        import tensorflow as tf

        pairs = [(tf.Variable(w), tf.Variable(b)) for w, b in self.pairs]
        rand = None if self.rand_weight is None else tf.constant(self.rand_weight)
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

        if self.name == "sequential_mlp":
            native = keras.Sequential([Dense(256, activation="relu"), Dense(10)])
            native(tf.zeros((2, IN_FEATURES)))
            linears = list(native.layers)
        elif self.name == "MLP":
            native = MLP()
            native(tf.zeros((2, IN_FEATURES)))
            linears = [native.hidden, native.out]
        else:
            # keras.Sequential would trace FixedHiddenMLP symbolically (its Python while
            # on a tensor fails there), so chain the three blocks in a subclassed Model.
            class Chimera(keras.Model):
                def __init__(self):
                    super().__init__()
                    self.nest, self.dense, self.fixed = NestMLP(), Dense(20), FixedHiddenMLP()

                def call(self, X):
                    return self.fixed(self.dense(self.nest(X)))

            native = Chimera()
            native(tf.zeros((2, IN_FEATURES)))
            linears = [native.nest.net.layers[0], native.nest.net.layers[1], native.nest.linear,
                       native.dense, native.fixed.linear]
        for layer, (w, b) in zip(linears, self.pairs, strict=True):
            layer.kernel.assign(w.T)
            layer.bias.assign(b)
        matmul, relu = tf.matmul, tf.nn.relu

        def linear(X, w, b):
            return tf.nn.bias_add(matmul(X, w, transpose_b=True), b)  # as Dense does

        if self.name in ("sequential_mlp", "MLP"):
            (w1, b1), (w2, b2) = pairs

            def ops(X):
                return linear(relu(linear(X, w1, b1)), w2, b2)
        else:
            (w1, b1), (w2, b2), (w3, b3), (w4, b4), (w5, b5) = pairs

            def ops(X):
                X = linear(relu(linear(relu(linear(X, w1, b1)), w2, b2)), w3, b3)
                X = linear(X, w4, b4)
                X = linear(X, w5, b5)
                X = relu(matmul(X, rand) + 1)
                X = linear(X, w5, b5)
                while tf.reduce_sum(tf.math.abs(X)) > 1:
                    X /= 2
                return tf.reduce_sum(X)

        self.native, self.ops, self.ops_params = native, ops, [t for p in pairs for t in p]
        self.native_params = native.trainable_variables
        self.to_input = tf.convert_to_tensor

    # gluon ---------------------------------------------------------------------------------
    def _setup_gluon(self) -> None:
        import mxnet as mx
        from mxnet import np as mnp
        from mxnet import npx
        from mxnet.gluon import nn

        pairs = [(mnp.array(w), mnp.array(b)) for w, b in self.pairs]
        for w, b in pairs:
            w.attach_grad()
            b.attach_grad()
        rand = None if self.rand_weight is None else mnp.array(self.rand_weight)

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

        if self.name == "sequential_mlp":
            native = nn.Sequential()
            native.add(nn.Dense(256, activation="relu", flatten=False),
                       nn.Dense(10, flatten=False))
            linears = [native[0], native[1]]
        elif self.name == "MLP":
            native = MLP()
            linears = [native.hidden, native.out]
        else:
            nest, dense, fixed = NestMLP(), nn.Dense(20, flatten=False), FixedHiddenMLP()
            native = nn.Sequential()
            native.add(nest, dense, fixed)
            linears = [nest.net[0], nest.net[1], nest.linear, dense, fixed.linear]
        native.initialize()
        native(mnp.zeros((2, IN_FEATURES)))
        for layer, (w, b) in zip(linears, self.pairs, strict=True):
            layer.weight.set_data(mnp.array(w))
            layer.bias.set_data(mnp.array(b))
        fc, relu = npx.fully_connected, npx.relu

        sizes = [int(b.shape[0]) for _, b in pairs]

        if self.name in ("sequential_mlp", "MLP"):
            (w1, b1), (w2, b2) = pairs
            n1, n2 = sizes

            def ops(X):
                return fc(relu(fc(X, w1, b1, num_hidden=n1, flatten=False)), w2, b2,
                          num_hidden=n2, flatten=False)
        else:
            (w1, b1), (w2, b2), (w3, b3), (w4, b4), (w5, b5) = pairs
            n1, n2, n3, n4, n5 = sizes

            def ops(X):
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

        self.native, self.ops, self.ops_params = native, ops, [t for p in pairs for t in p]
        self.to_input = lambda a: mnp.array(a, ctx=mx.cpu())

    # the candidates ------------------------------------------------------------------------
    def candidates(self, mode: str, batch: int) -> dict[str, Callable[[], Any]]:
        import polymod as pm
        from polymod import ops as pm_ops

        rng = np.random.default_rng(1)
        X = self.to_input(rng.random((batch, IN_FEATURES), dtype=np.float32))
        fns = {"native": self.native, "ops": self.ops, "polymod": self.net}
        fw = self.framework
        if mode == "fwd":
            if fw == "gluon":
                return {k: (lambda f=f: f(X).wait_to_read()) for k, f in fns.items()}
            return {k: (lambda f=f: f(X)) for k, f in fns.items()}
        vag = pm.value_and_grad(lambda m, X: pm_ops.sum(m(X)))
        net = self.net
        if fw == "torch":
            out = {k: (lambda f=f: f(X).sum().backward()) for k, f in fns.items()}
        elif fw == "keras":
            import tensorflow as tf

            params = {"native": self.native_params, "ops": self.ops_params,
                      "polymod": [p.native for p in net.parameters()]}

            def tape_step(f, ps):
                def step():
                    with tf.GradientTape() as tape:
                        loss = tf.reduce_sum(f(X))
                    return tape.gradient(loss, ps)
                return step

            out = {k: tape_step(f, params[k]) for k, f in fns.items()}
        else:
            import mxnet as mx
            from mxnet import autograd

            native_params = list(self.native.collect_params().values())
            for p in native_params:
                p.grad_req = "write"

            def record_step(f):
                def step():
                    with autograd.record():
                        loss = f(X).sum()
                    loss.backward()
                    mx.nd.waitall()
                return step

            # a polymod model under Gluon's own recording runs through its native twin
            # (in-place operators such as the chimera's `X /= 2` are handled there)
            out = {k: record_step(pm.native(f) if k == "polymod" else f) for k, f in fns.items()}
            out["polymod value_and_grad"] = lambda: (vag(net, X), mx.nd.waitall())
            return out
        out["polymod value_and_grad"] = lambda: vag(net, X)
        return out


def run_matrix(frameworks: list[str], models: list[str], batches: list[int], rounds: int,
               target_s: float, max_calls: int, log: Callable[[str], None]) -> list[dict]:
    rows = []
    for fw in frameworks:
        for name in models:
            suite = Suite(fw, name)
            for mode in ("fwd", "fwd+bwd"):
                for batch in batches:
                    label = f"{mode} b{batch}"
                    times = compare(suite.candidates(mode, batch), rounds, target_s, max_calls)
                    refs = [times["ops"]] if fw == "gluon" else [times["native"], times["ops"]]
                    ref = min(refs)
                    budget = BUDGET.get(label, BUDGET["fwd b1024"])
                    variants = [("polymod", times["polymod"])]
                    if "polymod value_and_grad" in times:
                        variants.append(("pm.value_and_grad", times["polymod value_and_grad"]))
                    for variant, us in variants:
                        ratio = us / ref
                        row = {"model": name, "backend": fw, "mode": label,
                               "polymod_call": variant,
                               "us_native": round(times["native"], 2),
                               "us_ops": round(times["ops"], 2),
                               "us_polymod": round(us, 2),
                               "reference": "ops" if fw == "gluon" or times["ops"] <=
                               times["native"] else "native",
                               "ratio": round(ratio, 3), "budget": budget,
                               "status": "PASS" if ratio <= budget else "OVER"}
                        rows.append(row)
                        log(format_row(row))
    return rows


HEADER = (f"{'model':<15} {'backend':<6} {'mode':<14} {'polymod call':<18} {'native µs':>10} "
          f"{'ops µs':>9} {'polymod µs':>10} {'ratio':>6} {'budget':>6}  status")


def format_row(r: dict) -> str:
    return (f"{r['model']:<15} {r['backend']:<6} {r['mode']:<14} {r['polymod_call']:<18} "
            f"{r['us_native']:>10.1f} {r['us_ops']:>9.1f} {r['us_polymod']:>10.1f} "
            f"{r['ratio']:>6.3f} {r['budget']:>6.2f}  {r['status']}")


# -- convolution: LeNet vs a hand-written native LeNet -------------------------------------------
CONV_BATCHES = (2, 64)
LENET_INPUT = (1, 28, 28)


def polymod_lenet(backend: str, seed: int = 0) -> Any:
    import polymod as pm
    from polymod.examples import vision

    pm.seed(seed)
    net = vision.LeNet()
    net(pm.rand(2, *LENET_INPUT, backend=backend))  # binds and materialises the lazy layers
    return net


class ConvSuite:
    """polymod's LeNet (``polymod.examples.vision``) and the same LeNet written natively in
    one framework (NCHW, same weights); checked to compute the same numbers."""

    def __init__(self, framework: str):
        self.framework = framework
        self.net = polymod_lenet(framework)
        self.sd = {k: np.asarray(v) for k, v in self.net.state_dict().items()}
        getattr(self, f"_setup_{framework}")()
        self._check_same_function()

    def _check_same_function(self) -> None:
        import polymod as pm

        X = self.to_input(np.random.default_rng(1).random((2, *LENET_INPUT), dtype=np.float32))
        ref = pm.to_numpy(self.net(X))
        got = pm.to_numpy(self.native(X))
        if got.shape != ref.shape or not np.allclose(got, ref, rtol=1e-4, atol=1e-5):
            raise AssertionError(f"{self.framework} LeNet: native output differs from "
                                 f"polymod's (max abs diff {np.abs(got - ref).max():.3g})")

    def _setup_torch(self) -> None:
        import torch
        from torch import nn

        native = nn.Sequential(
            nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.Sigmoid(),
            nn.AvgPool2d(kernel_size=2, stride=2),
            nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(),
            nn.AvgPool2d(kernel_size=2, stride=2),
            nn.Flatten(),
            nn.Linear(400, 120), nn.Sigmoid(),
            nn.Linear(120, 84), nn.Sigmoid(),
            nn.Linear(84, 10))
        native.load_state_dict({k.removeprefix("net."): torch.tensor(v)
                                for k, v in self.sd.items()})
        self.native, self.to_input = native, torch.from_numpy

    def _setup_keras(self) -> None:
        import keras
        import tensorflow as tf

        L = keras.layers
        cf = "channels_first"
        native = keras.Sequential([
            keras.Input((*LENET_INPUT,)),
            L.Conv2D(6, 5, padding="same", activation="sigmoid", data_format=cf),
            L.AveragePooling2D(2, 2, data_format=cf),
            L.Conv2D(16, 5, activation="sigmoid", data_format=cf),
            L.AveragePooling2D(2, 2, data_format=cf),
            L.Flatten(),  # channels_last (default) flattens NCHW in C order, as torch does
            L.Dense(120, activation="sigmoid"), L.Dense(84, activation="sigmoid"),
            L.Dense(10)])
        sd = self.sd
        weights = []
        for k in ("0", "3"):  # (out, in, kh, kw) -> (kh, kw, in, out)
            weights += [sd[f"net.{k}.weight"].transpose(2, 3, 1, 0), sd[f"net.{k}.bias"]]
        for k in ("7", "9", "11"):
            weights += [sd[f"net.{k}.weight"].T, sd[f"net.{k}.bias"]]
        native.set_weights(weights)
        self.native, self.to_input = native, tf.convert_to_tensor
        self.native_params = native.trainable_variables

    def _setup_gluon(self) -> None:
        import mxnet as mx
        from mxnet import np as mnp
        from mxnet.gluon import nn

        native = nn.Sequential()
        native.add(nn.Conv2D(6, kernel_size=5, padding=2, in_channels=1),
                   nn.Activation("sigmoid"), nn.AvgPool2D(pool_size=2, strides=2),
                   nn.Conv2D(16, kernel_size=5, in_channels=6), nn.Activation("sigmoid"),
                   nn.AvgPool2D(pool_size=2, strides=2),
                   nn.Dense(120, in_units=400), nn.Activation("sigmoid"),  # flattens NCHW
                   nn.Dense(84, in_units=120), nn.Activation("sigmoid"),
                   nn.Dense(10, in_units=84))
        native.initialize()
        layers = {"0": native[0], "3": native[3], "7": native[6], "9": native[8],
                  "11": native[10]}
        for k, layer in layers.items():
            layer.weight.set_data(mnp.array(self.sd[f"net.{k}.weight"]))
            layer.bias.set_data(mnp.array(self.sd[f"net.{k}.bias"]))
        for p in native.collect_params().values():
            p.grad_req = "write"
        self.native = native
        self.to_input = lambda a: mnp.array(a, ctx=mx.cpu())

    def candidates(self, mode: str, batch: int) -> dict[str, Callable[[], Any]]:
        X = self.to_input(np.random.default_rng(1).random((batch, *LENET_INPUT),
                                                          dtype=np.float32))
        fns = {"native": self.native, "polymod": self.net}
        return _step_candidates(self.framework, fns, X, mode, {
            "native": getattr(self, "native_params", None),
            "polymod": [p.native for p in self.net.parameters()]})


def _step_candidates(fw: str, fns: dict[str, Callable[[Any], Any]], X: Any, mode: str,
                     tape_params: dict[str, Any]) -> dict[str, Callable[[], Any]]:
    """A call (``fwd``) or a call and its backward pass (``fwd+bwd``) of each fn on X."""
    if mode == "fwd":
        if fw == "gluon":
            return {k: (lambda f=f: f(X).wait_to_read()) for k, f in fns.items()}
        return {k: (lambda f=f: f(X)) for k, f in fns.items()}
    if fw == "torch":
        return {k: (lambda f=f: f(X).sum().backward()) for k, f in fns.items()}
    if fw == "keras":
        import tensorflow as tf

        def tape_step(f, ps):
            def step():
                with tf.GradientTape() as tape:
                    loss = tf.reduce_sum(f(X))
                return tape.gradient(loss, ps)
            return step

        return {k: tape_step(f, tape_params[k]) for k, f in fns.items()}
    import mxnet as mx
    from mxnet import autograd

    import polymod as pm

    def record_step(f):
        def step():
            with autograd.record():
                loss = f(X).sum()
            loss.backward()
            mx.nd.waitall()
        return step

    return {k: record_step(pm.native(f) if k == "polymod" else f) for k, f in fns.items()}


def keras_conv_layout(batches: tuple[int, ...], rounds: int, target_s: float,
                      max_calls: int) -> list[dict]:
    """One conv layer (LeNet's second: 6 -> 16 channels, 5x5, on 14x14) on Keras/TensorFlow:
    polymod's ``Conv2d`` (NCHW forward, NHWC gradient ops behind transposes) vs Keras
    ``Conv2D`` channels_first vs Keras ``Conv2D`` channels_last on input already in NHWC."""
    import keras
    import tensorflow as tf

    import polymod as pm

    pm.seed(0)
    layer = pm.nn.Conv2d(6, 16, kernel_size=5).to("keras")
    w = np.asarray(layer.weight.numpy()).transpose(2, 3, 1, 0)
    b = np.asarray(layer.bias.numpy())
    cf = keras.layers.Conv2D(16, 5, data_format="channels_first")
    cl = keras.layers.Conv2D(16, 5, data_format="channels_last")
    cf.build((None, 6, 14, 14))
    cl.build((None, 14, 14, 6))
    cf.set_weights([w, b])
    cl.set_weights([w, b])
    rows = []
    for batch in batches:
        x = np.random.default_rng(1).random((batch, 6, 14, 14), dtype=np.float32)
        X, X_nhwc = tf.convert_to_tensor(x), tf.convert_to_tensor(x.transpose(0, 2, 3, 1))
        ref = pm.to_numpy(layer(X))
        for got in (cf(X).numpy(), cl(X_nhwc).numpy().transpose(0, 3, 1, 2)):
            if not np.allclose(got, ref, rtol=1e-4, atol=1e-5):
                raise AssertionError("keras conv layer: outputs differ from polymod's")
        params = {"polymod": [p.native for p in layer.parameters()],
                  "channels_first": cf.trainable_variables,
                  "channels_last": cl.trainable_variables}
        for mode in ("fwd", "fwd+bwd"):
            cands = _step_candidates("keras", {"polymod": layer, "channels_first": cf}, X,
                                     mode, params)
            cands.update(_step_candidates("keras", {"channels_last": cl}, X_nhwc, mode, params))
            t = compare(cands, rounds, target_s, max_calls)
            rows.append({"layer": "Conv2d(6, 16, 5) on 14x14", "mode": f"{mode} b{batch}",
                         "us_polymod": round(t["polymod"], 2),
                         "us_keras_channels_first": round(t["channels_first"], 2),
                         "us_keras_channels_last_nhwc_input": round(t["channels_last"], 2),
                         "ratio_vs_channels_first": round(t["polymod"] / t["channels_first"], 3),
                         "ratio_vs_channels_last": round(t["polymod"] / t["channels_last"], 3)})
    return rows


def run_conv(frameworks: list[str], batches: tuple[int, ...], rounds: int, target_s: float,
             max_calls: int, log: Callable[[str], None]) -> list[dict]:
    rows = []
    for fw in frameworks:
        suite = ConvSuite(fw)
        for mode in ("fwd", "fwd+bwd"):
            for batch in batches:
                label = f"{mode} b{batch}"
                times = compare(suite.candidates(mode, batch), rounds, target_s, max_calls)
                row = {"model": "LeNet", "backend": fw, "mode": label, "polymod_call": "polymod",
                       "us_native": round(times["native"], 2), "us_ops": None,
                       "us_polymod": round(times["polymod"], 2), "reference": "native",
                       "ratio": round(times["polymod"] / times["native"], 3)}
                rows.append(row)
                log(format_conv_row(row))
    return rows


def format_conv_row(r: dict) -> str:
    return (f"{r['model']:<15} {r['backend']:<6} {r['mode']:<14} {r['polymod_call']:<18} "
            f"{r['us_native']:>10.1f} {'-':>9} {r['us_polymod']:>10.1f} {r['ratio']:>6.3f} "
            f"{'-':>6}  -")


# -- Keras 3 on torch (the peer), in a subprocess ----------------------------------------------
KERAS_TORCH_SCRIPT = r"""
import json, os, sys, time
os.environ["KERAS_BACKEND"] = "torch"
import numpy as np
import torch
torch.set_num_threads(1)
import torch.nn.functional as F
import keras
rounds, target = int(sys.argv[1]), float(sys.argv[2])
rng = np.random.default_rng(0)
w1, b1 = rng.standard_normal((256, 20), dtype=np.float32) * .1, np.zeros(256, np.float32)
w2, b2 = rng.standard_normal((10, 256), dtype=np.float32) * .1, np.zeros(10, np.float32)
kmodel = keras.Sequential([keras.layers.Dense(256, activation="relu"), keras.layers.Dense(10)])
kmodel(torch.zeros(2, 20))
kmodel.set_weights([w1.T, b1, w2.T, b2])
tmodel = torch.nn.Sequential(torch.nn.Linear(20, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
tw = [torch.tensor(a, requires_grad=True) for a in (w1, b1, w2, b2)]
def ops(X):
    return F.linear(torch.relu(F.linear(X, tw[0], tw[1])), tw[2], tw[3])
def timed(fn, n):
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) / n
out = []
for mode in ("fwd", "fwd+bwd"):
    for batch in (2, 1024):
        X = torch.from_numpy(rng.random((batch, 20), dtype=np.float32))
        fns = {"keras": kmodel, "native": tmodel, "ops": ops}
        if mode == "fwd":
            cands = {k: (lambda f=f: f(X)) for k, f in fns.items()}
        else:
            cands = {k: (lambda f=f: f(X).sum().backward()) for k, f in fns.items()}
        calls = {}
        for k, f in cands.items():
            for _ in range(3):
                f()
            calls[k] = max(3, min(20000, int(target / max(timed(f, 3), 1e-7))))
        best = {k: float("inf") for k in cands}
        for _ in range(rounds):
            for k, f in cands.items():
                best[k] = min(best[k], timed(f, calls[k]))
        us = {k: v * 1e6 for k, v in best.items()}
        out.append({"model": "sequential_mlp", "mode": f"{mode} b{batch}",
                    "us_keras_on_torch": round(us["keras"], 2),
                    "us_torch_native": round(us["native"], 2), "us_torch_ops": round(us["ops"], 2),
                    "ratio": round(us["keras"] / min(us["native"], us["ops"]), 3)})
print(json.dumps({"keras_version": keras.__version__, "rows": out}))
"""


def keras_on_torch(rounds: int, target_s: float) -> dict:
    env = dict(os.environ, KERAS_BACKEND="torch")
    proc = subprocess.run([sys.executable, "-c", KERAS_TORCH_SCRIPT, str(rounds), str(target_s)],
                          capture_output=True, text=True, env=env, timeout=600)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1:] or ["failed"]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- import time ---------------------------------------------------------------------------------
IMPORT_SCRIPT = r"""
import json, sys, time
t0 = time.perf_counter()
import numpy
t1 = time.perf_counter()
import polymod
t2 = time.perf_counter()
loaded = sorted(m for m in ("torch", "tensorflow", "keras", "mxnet", "jax") if m in sys.modules)
assert not loaded, f"import polymod loaded {loaded}"
print(json.dumps({"numpy_ms": (t1 - t0) * 1e3, "polymod_ms": (t2 - t1) * 1e3}))
"""


def import_time(repeats: int) -> dict:
    runs = []
    env = {k: v for k, v in os.environ.items() if k != "POLYMOD_BACKEND"}
    for _ in range(repeats):
        proc = subprocess.run([sys.executable, "-c", IMPORT_SCRIPT], capture_output=True,
                              text=True, env=env, timeout=120)
        if proc.returncode != 0:
            return {"error": proc.stderr.strip().splitlines()[-1]}
        runs.append(json.loads(proc.stdout))
    best = min(runs, key=lambda r: r["polymod_ms"])
    return {"import_numpy_ms": round(min(r["numpy_ms"] for r in runs), 2),
            "import_polymod_over_numpy_ms": round(best["polymod_ms"], 2),
            "budget_ms": 30, "frameworks_loaded": [],
            "status": "PASS" if best["polymod_ms"] <= 30 else "OVER"}


# -- moving a large model between backends --------------------------------------------------------
TRANSFER_SCRIPT = r"""
import json, os, sys, tempfile, time
for v in ("OMP_NUM_THREADS", "MXNET_CPU_WORKER_NTHREADS", "MKL_NUM_THREADS"):
    os.environ[v] = "1"
import warnings
warnings.simplefilter("ignore")
import numpy as np
src, dst, how, width, depth = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
if "torch" in (src, dst) or "keras" in (src, dst):
    import torch
    torch.set_num_threads(1)
import polymod as pm
from polymod import nn
from polymod import registry as B
B.adapter(src); B.adapter(dst)

def rss():
    with open("/proc/self/status") as f:
        return {l.split(":")[0]: int(l.split()[1]) * 1024 for l in f if l.startswith(("VmRSS", "VmHWM"))}

def reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False

pm.seed(0)
net = nn.Sequential(*[nn.Linear(width, width) for _ in range(depth)])
# the weights, drawn without the per-element init cost: one fast fill
for p in net.parameters():
    p.assign(np.full(p.shape, 0.01, np.float32))
net = net.to(src)
nbytes = sum(p.size * 4 for p in net.parameters())
arrays = [p.numpy() for p in net.parameters()]
# reference: a plain NumPy memory copy of the same bytes (fresh destination buffers)
memcopy_s = float("inf")
for _ in range(3):
    t = time.perf_counter(); copies = [a.copy() for a in arrays]
    memcopy_s = min(memcopy_s, time.perf_counter() - t)
    del copies
del arrays
import gc; gc.collect()
folder = tempfile.mkdtemp(dir=os.environ.get("BENCH_TMP"))
path = os.path.join(folder, "m.safetensors")
if how == "load":
    target = nn.Sequential(*[nn.Linear(width, width) for _ in range(depth)]).to(dst)
    pm.save(net, path)
    # raw disk reference: write + fsync + read back the same bytes
    raw = os.path.join(folder, "raw.bin")
    blob = [p.numpy() for p in net.parameters()]
    t = time.perf_counter()
    with open(raw, "wb") as f:
        for a in blob:
            f.write(memoryview(a).cast("B"))
        f.flush(); os.fsync(f.fileno())
    back = np.fromfile(raw, dtype=np.float32)
    raw_s = time.perf_counter() - t
    del blob, back
    os.unlink(raw)
    gc.collect()
before = rss()["VmRSS"]
peak_ok = reset_peak()
t = time.perf_counter()
if how == "to":
    out = net.to(dst)
elif how == "save":
    pm.save(net, path)
elif how == "load":
    pm.load(target, path)
else:  # save+load
    pm.save(net, path)
    target = nn.Sequential(*[nn.Linear(width, width) for _ in range(depth)]).to(dst)
    pm.load(target, path)
elapsed = time.perf_counter() - t
after = rss()
res = {"src": src, "dst": dst, "how": how, "params": nbytes // 4, "model_mb": nbytes / 2**20,
       "seconds": elapsed, "memcopy_seconds": memcopy_s, "ratio_vs_memcopy": elapsed / memcopy_s,
       "peak_extra_mb": (after["VmHWM"] - before) / 2**20 if peak_ok else None,
       "peak_extra_over_model": (after["VmHWM"] - before) / nbytes if peak_ok else None}
if how == "load":
    res["raw_write_fsync_read_seconds"] = raw_s
print(json.dumps(res))
"""


def transfers(frameworks: list[str], width: int, depth: int, quick: bool = False) -> list[dict]:
    pairs = [(a, b) for a in frameworks for b in frameworks if a != b]
    if quick:  # one round trip is enough to check that it runs
        pairs = pairs[:1] + [(b, a) for a, b in pairs[:1]]
    jobs = [(a, b, "to") for a, b in pairs]
    if frameworks:
        jobs += [(frameworks[0], frameworks[-1], "save"), (frameworks[0], frameworks[-1], "load")]
    rows = []
    for src, dst, how in jobs:
        proc = subprocess.run([sys.executable, "-c", TRANSFER_SCRIPT, src, dst, how, str(width),
                               str(depth)], capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            rows.append({"src": src, "dst": dst, "how": how,
                         "error": (proc.stderr.strip().splitlines() or ["failed"])[-1]})
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        rows.append({k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()})
    return rows


# -- graph modes ------------------------------------------------------------------------------------
def graph_modes(frameworks: list[str], rounds: int, target_s: float, max_calls: int,
                with_compile: bool) -> list[dict]:
    import polymod as pm

    rows = []
    rng = np.random.default_rng(1)
    Xnp = {b: rng.random((b, IN_FEATURES), dtype=np.float32) for b in (2, 1024)}

    def add(fw, mode, batch, native_us, polymod_us, note=""):
        rows.append({"backend": fw, "mode": mode, "batch": batch,
                     "us_native": None if native_us is None else round(native_us, 2),
                     "us_polymod_twin": None if polymod_us is None else round(polymod_us, 2),
                     "ratio": None if native_us is None or polymod_us is None
                     else round(polymod_us / native_us, 3), "note": note})

    if "torch" in frameworks and with_compile:
        import torch

        suite = Suite("torch", "sequential_mlp")
        try:
            c_native = torch.compile(suite.native)
            c_twin = torch.compile(pm.native(suite.net))
            for batch in (2, 1024):
                X = torch.from_numpy(Xnp[batch])
                with torch.no_grad():
                    t = compare({"native": lambda X=X: c_native(X), "twin": lambda X=X: c_twin(X)},
                                rounds, target_s, max_calls)
                add("torch", "torch.compile fwd (no_grad)", batch, t["native"], t["twin"])
        except Exception as err:  # noqa: BLE001 -- report, do not crash the benchmark
            add("torch", "torch.compile fwd (no_grad)", 2, None, None,
                f"failed: {type(err).__name__}: {err}"[:200])
    if "keras" in frameworks:
        import tensorflow as tf

        suite = Suite("keras", "sequential_mlp")
        twin = pm.native(suite.net)
        f_native = tf.function(lambda X: suite.native(X))
        f_twin = tf.function(lambda X: twin(X))
        f_ops = tf.function(suite.ops)
        for batch in (2, 1024):
            X = tf.convert_to_tensor(Xnp[batch])
            t = compare({"native": lambda X=X: f_native(X), "twin": lambda X=X: f_twin(X),
                         "ops": lambda X=X: f_ops(X)}, rounds, target_s, max_calls)
            add("keras", "tf.function fwd", batch, t["native"], t["twin"],
                f"tf.function on bare ops: {t['ops']:.1f} µs")
    if "gluon" in frameworks:
        from mxnet import np as mnp

        suite = Suite("gluon", "sequential_mlp")
        suite.native.hybridize()
        try:
            pm.native(suite.net).hybridize()
            note = "polymod twin hybridized"
        except pm.PolymodError as err:
            note = f"n/a: cannot hybridize ({type(err).__name__})"
        for batch in (2, 1024):
            X = mnp.array(Xnp[batch])
            t = compare({"native": lambda X=X: suite.native(X).wait_to_read()}, rounds, target_s,
                        max_calls)
            add("gluon", "hybridize fwd", batch, t["native"], None, note)
    return rows


# -- main -------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="tiny configuration (few calls, small model, no torch.compile)")
    parser.add_argument("--backends", default=",".join(FRAMEWORKS),
                        help="comma-separated frameworks among torch,keras,gluon")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--skip", default="",
                        help="comma-separated parts to skip: conv,keras-torch,import,transfer,"
                        "graph")
    parser.add_argument("--rounds", type=int, default=7,
                        help="alternating rounds per comparison (the best is kept); more "
                        "rounds steady the batch-1024 rows on a noisy machine")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1; received {args.rounds}")
    import polymod as pm

    wanted = [pm.registry.canonical_name(b) for b in args.backends.split(",") if b.strip()]
    installed = set(pm.available_backends())
    frameworks = [b for b in FRAMEWORKS if b in wanted and b in installed]
    missing = [b for b in wanted if b not in installed]
    models = [m for m in args.models.split(",") if m]
    skip = set(filter(None, args.skip.split(",")))
    if args.quick:
        rounds, target_s, max_calls = 2, 0.002, 20
    else:
        rounds, target_s, max_calls = args.rounds, 0.08, 20000

    def log(line: str) -> None:
        print(line, flush=True)

    load_frameworks(frameworks)
    result: dict[str, Any] = {
        "config": {"quick": args.quick, "rounds": rounds, "target_seconds_per_round": target_s,
                   "threads": 1, "python": platform.python_version(),
                   "machine": platform.machine(), "cpus": os.cpu_count(),
                   "backends": frameworks, "missing": missing,
                   "versions": {b: pm.registry.adapter(b).version() for b in frameworks}},
        "budgets": BUDGET}
    log(f"polymod benchmark: {result['config']}")
    log(HEADER)
    result["rows"] = run_matrix(frameworks, models, [2, 1024], rounds, target_s, max_calls, log)
    over = [r for r in result["rows"] if r["status"] == "OVER"]
    log(f"{len(result['rows']) - len(over)} PASS, {len(over)} OVER")

    if "conv" not in skip and frameworks:
        log("\nconvolution: LeNet (polymod.examples.vision) vs the same LeNet written natively "
            "(NCHW, same weights; ratio = polymod / native, no budget):")
        log(HEADER)
        result["conv"] = run_conv(frameworks, CONV_BATCHES, rounds, target_s, max_calls, log)
        if "keras" in frameworks:
            log("\nkeras, one conv layer: polymod Conv2d (NCHW) vs keras Conv2D channels_first "
                "vs channels_last on NHWC input:")
            result["conv_layout_keras"] = keras_conv_layout(CONV_BATCHES, rounds, target_s, max_calls)
            for r in result["conv_layout_keras"]:
                log(f"  {r['mode']:<14} polymod {r['us_polymod']:>9.1f} µs   channels_first "
                    f"{r['us_keras_channels_first']:>9.1f} µs   channels_last (NHWC input) "
                    f"{r['us_keras_channels_last_nhwc_input']:>9.1f} µs   ratio "
                    f"{r['ratio_vs_channels_first']:.2f} / {r['ratio_vs_channels_last']:.2f}")

    if "keras-torch" not in skip and ("torch" in installed and "keras" in installed):
        log("\nKeras 3 with KERAS_BACKEND=torch (subprocess), sequential_mlp:")
        kt = keras_on_torch(rounds, target_s)
        result["keras_on_torch"] = kt
        for r in kt.get("rows", []):
            log(f"  {r['mode']:<14} keras-on-torch {r['us_keras_on_torch']:>9.1f} µs   torch "
                f"nn {r['us_torch_native']:>8.1f} µs   ops {r['us_torch_ops']:>8.1f} µs   "
                f"ratio {r['ratio']:.2f}")
        if "error" in kt:
            log(f"  failed: {kt['error']}")

    if "import" not in skip:
        imp = import_time(2 if args.quick else 7)
        result["import"] = imp
        log(f"\nimport polymod over import numpy: {imp}")

    if "transfer" not in skip and frameworks:
        # 6 x Linear(4096, 4096) = 100.7M parameters (403 MB); --quick: 2 x Linear(256, 256)
        width, depth = (256, 2) if args.quick else (4096, 6)
        log(f"\nmoving a {depth} x Linear({width}, {width}) model between backends:")
        result["transfer"] = transfers(frameworks, width, depth, args.quick)
        for r in result["transfer"]:
            log(f"  {r}")

    if "graph" not in skip and frameworks:
        log("\ngraph modes on native twins (forward):")
        result["graph_modes"] = graph_modes(frameworks, rounds, target_s, max_calls,
                                            with_compile=not args.quick)
        for r in result["graph_modes"]:
            log(f"  {r}")

    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
