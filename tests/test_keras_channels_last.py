"""Channels-last execution on Keras (backends/keras/layout.py): ``pm.compile`` and the
twin's ``fit`` run their graphs with Grappler's NCHW->NHWC conversion, and polymod's
1×1 and im2col convolutions take a channels-last matmul form there.

The oracle is PyTorch: the same polymod model on torch, with the same weights, eager,
in float64 (some of a ResNet's gradients in training mode are sums that mostly cancel,
where float32 kernels differ among themselves by more than their rounding: see
``test_regressions.py::test_batchnorm_training_gradients_keep_float32_accuracy``). Each
case compares the compiled Keras model's outputs and gradients with it, called from
eager code and from inside a user's own ``tf.function`` step, and checks that the
conversion ran: TensorFlow logs "layout failed" when it gives up on a graph.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_same_numbers, needs

import polymod as pm
from polymod import nn, ops
from polymod.examples import resnet

pytestmark = needs("keras", "torch")
TOLERANCE = {"rtol": 2e-4, "atol": 2e-5}


class Convs(pm.Module):
    """Every form a convolution takes channels-last, with the ops between them."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)                 # conv2d (N·oh·ow > out)
        self.pool = nn.MaxPool2d(2)                               # where with a NaN
        self.point = nn.Conv2d(8, 16, 1)                          # 1×1
        self.point_strided = nn.Conv2d(16, 16, 1, stride=2, padding=1)
        self.bn = nn.BatchNorm2d(16)
        self.late = nn.Conv2d(16, 128, 3, padding=1, bias=False)  # im2col (N·oh·ow <= out)
        self.line = nn.Conv1d(128, 8, 1)                          # 1-D, 1×1

    def forward(self, X):
        h = self.pool(ops.relu(self.stem(X)))
        h = ops.relu(self.bn(self.point_strided(self.point(h))))
        h = ops.masked_fill(h, h > 0.5, 0.5)                      # a scalar operand, 4-D
        h = self.late(h)
        return self.line(ops.reshape(h, (h.shape[0], h.shape[1], -1)))


def _models(make, batch, image):
    """The model on Keras, the same on torch in float64, and an input."""
    pm.seed(0)
    net = make()
    X = np.random.default_rng(0).standard_normal((batch, 3, image, image)).astype(np.float32)
    net(pm.asarray(X, backend="keras"))
    pm.seed(0)
    oracle = make()
    oracle(pm.asarray(X, backend="torch"))
    oracle.load_state_dict(net.state_dict())
    oracle.to("torch", dtype="float64")
    return net, oracle, X


def _oracle_input(X):
    return pm.asarray(X, backend="torch", dtype="float64")


def _assert_gradients(got, want):
    """Each gradient within 2e-4 of the largest entry of its float64 value (or of the
    largest of all, for those that are zero: a bias before a BatchNorm)."""
    assert sorted(got) == sorted(want)
    want = {name: pm.to_numpy(value) for name, value in want.items()}
    largest = max(np.abs(value).max() for value in want.values())
    for name, value in want.items():
        scale = max(np.abs(value).max(), 1e-2 * largest)
        error = np.abs(pm.to_numpy(got[name]) - value).max() / scale
        assert error < 2e-4, f"{name}: {error:.1e} off"


CASES = {"convs-b1": (Convs, 1, 8), "convs-b4": (Convs, 4, 8),
         "resnet18-b4": (lambda: resnet.resnet18(num_classes=10), 4, 64)}


def _loss(call):
    return lambda m, X: ops.sum(call(X) ** 2)


def _layout_failures(capfd) -> list[str]:
    return [line for line in capfd.readouterr().err.splitlines() if "layout failed" in line]


@pytest.mark.parametrize("case", list(CASES))
def test_compiled_outputs_and_gradients_match_torch(case, capfd):
    net, oracle, X = _models(*CASES[case])
    fast = pm.compile(net)
    assert fast._function(False).polymod_channels_last
    for mode in ("eval", "train"):
        getattr(fast, mode)()
        getattr(oracle, mode)()
        Xk, Xt = pm.asarray(X, backend="keras"), _oracle_input(X)
        assert_same_numbers(fast(Xk), oracle(Xt), **TOLERANCE)
        if case.startswith("resnet") and mode == "eval":
            # With the running statistics of one batch, some early-layer gradients are
            # ill-conditioned: against float64, Keras eager (and compiled alike) is
            # 1.4e-2 off in layer1.0.conv1.weight, torch's float32 2e-6 to 5e-3 as the
            # statistics vary; the BatchNorm layout and the convolution path do not
            # change it. Not this file's subject: an open finding (docs/performance.md).
            continue
        value, grads = pm.value_and_grad(_loss(fast))(net, Xk)
        want_value, want = pm.value_and_grad(_loss(oracle))(oracle, Xt)
        assert_same_numbers(value, want_value, **TOLERANCE)
        _assert_gradients(grads, want)
    assert _layout_failures(capfd) == []


@pytest.mark.parametrize("case", ["convs-b4", "resnet18-b4"])
def test_compiled_model_inside_a_users_tf_function_step(case, capfd):
    import keras
    import tensorflow as tf

    net, oracle, X = _models(*CASES[case])
    fast = pm.compile(net)
    variables = pm.native(net).trainable_variables
    names = [name for name, _ in net.named_parameters()]
    Xk = pm.asarray(X, backend="keras")

    @tf.function
    def step(X):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(fast(X) ** 2)
        return loss, tape.gradient(loss, variables)

    loss, grads = step(Xk)
    want_value, want = pm.value_and_grad(_loss(oracle))(oracle, _oracle_input(X))
    assert_same_numbers(loss, want_value, **TOLERANCE)
    _assert_gradients(dict(zip(names, grads, strict=True)), want)
    opt = keras.optimizers.SGD(0.01)
    opt.apply(grads, variables)  # the compiled model reads the updated weights
    assert_same_numbers(fast(Xk), net(Xk), **TOLERANCE)
    assert _layout_failures(capfd) == []


def test_the_calls_ask_grappler_for_the_conversion():
    from polymod.backends.keras import layout
    from tensorflow.core.protobuf import config_pb2, rewriter_config_pb2
    from tensorflow.python.eager import context

    def conversion():
        config = config_pb2.ConfigProto()
        config.ParseFromString(context.context().function_call_options.config_proto_serialized)
        return config.graph_options.rewrite_options.cpu_layout_conversion

    before = conversion()
    with layout.channels_last():
        assert layout.active()
        assert conversion() == rewriter_config_pb2.RewriterConfig.NCHW_TO_NHWC
    assert not layout.active()
    assert conversion() == before


@pytest.mark.parametrize("options", [{"channels_last": False}, {"jit_compile": True}])
def test_channels_last_off_and_under_xla_gives_the_same_numbers(options):
    net, oracle, X = _models(*CASES["convs-b4"])
    fast = pm.compile(net, **options).eval()
    oracle.eval()
    assert_same_numbers(fast(pm.asarray(X, backend="keras")), oracle(_oracle_input(X)),
                        **TOLERANCE)


def test_the_twins_fit_and_predict_run_channels_last(capfd):
    import keras

    net, oracle, X = _models(*CASES["convs-b4"])
    model = pm.native(net)
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse", jit_compile=False)
    target = np.zeros((4, 8, 9), np.float32)
    model.fit(X, target, batch_size=4, epochs=1, verbose=0)
    assert model.train_function.polymod_channels_last
    got = model.predict(X, batch_size=4, verbose=0)
    assert model.predict_function.polymod_channels_last
    net.eval()  # fit wrote BatchNorm's running statistics: the eager model is the oracle
    assert_same_numbers(got, net(pm.asarray(X, backend="keras")), **TOLERANCE)
    assert _layout_failures(capfd) == []
    model.compile(optimizer="sgd", loss="mse", run_eagerly=True)
    model.fit(X, target, batch_size=4, epochs=1, verbose=0)
    assert not getattr(model.train_function, "polymod_channels_last", False)


def test_where_keeps_values_of_every_rank_in_graphs():
    import tensorflow as tf
    from polymod.backends.keras import layout

    x = tf.reshape(tf.range(24, dtype=tf.float32), (1, 2, 3, 4))
    cases = [(x > 5, 0.0, x), (x > 5, x, tf.constant(-1.0)),
             (tf.constant([True, False, True, False]), x, 7.0), (x[0] > 5, 1.0, 2.0)]
    for condition, a, b in cases:
        with layout.channels_last():  # where the Select form is taken
            got = tf.function(layout.where)(condition, a, b)
        assert_same_numbers(got, tf.where(condition, a, b))


def test_models_without_2d_convolutions_compile_as_before():
    """An encoder has nothing to convert: its compiled call stays inlinable into the
    caller's graph (non-inlined, a BERT training step at batch 1 took 1.42×)."""
    from polymod.backends.keras import layout

    net = nn.Sequential(nn.Linear(8, 8), nn.LayerNorm(8), nn.Conv1d(8, 4, 1))
    assert not layout.pays_for(net.to("keras"))
    assert layout.pays_for(Convs().to("keras"))
    X = pm.rand(2, 8, 8, backend="keras")
    net(X)
    assert pm.compile(net)._function(False).polymod_channels_last is False
    assert pm.compile(net, channels_last=True)._function(False).polymod_channels_last
