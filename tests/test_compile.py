"""``pm.compile``: the framework's compiler over a polymod model, same numbers as eager.

Each model runs eagerly and compiled from the same weights; outputs, BatchNorm's running
statistics after a training-mode call, and gradients through the compiled function must
agree. On torch the chapter MLP goes through the default ``torch.compile`` (inductor);
the larger models use ``backend="aot_eager"`` (the same dynamo trace of polymod's code
and AOT autograd, without inductor's C++ build, which takes minutes on 2 cores).
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_same_numbers

import polymod as pm
from polymod import nn, ops
from polymod.examples import bert, chapter, resnet

# torch's own warning while inductor works (it imports torch.jit APIs)
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated"
                                        ":DeprecationWarning")
COMPILING = ("torch", "keras", "jax")
# outputs of a compiled graph may sum in another order than eager kernels
TOLERANCE = {"rtol": 2e-4, "atol": 2e-5}


class ConvBN(pm.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, 4)

    def forward(self, X):
        pooled = ops.mean(ops.relu(self.bn(self.conv(X))), axis=(2, 3))
        return self.fc(pooled)


def _mlp():
    return chapter.MLP(), np.random.default_rng(0).random((4, 20), dtype=np.float32)


def _conv_bn():
    return ConvBN(), np.random.default_rng(1).random((4, 3, 8, 8), dtype=np.float32)


def _resnet18():
    return resnet.resnet18(num_classes=10), np.random.default_rng(2).random(
        (4, 3, 64, 64), dtype=np.float32)  # n >= 16 per channel in BN: well conditioned


MODELS = {"mlp": _mlp, "conv_bn": _conv_bn, "resnet18": _resnet18}


def _compile(net, backend, heavy):
    if backend == "torch" and heavy:
        return pm.compile(net, backend="aot_eager")
    return pm.compile(net)


def _pair(make, backend):
    """The same model twice (same weights), bound to ``backend``, and an input."""
    pm.seed(0)
    eager, X = make()
    pm.seed(0)
    other, _ = make()
    Xb = pm.asarray(X, backend=backend)
    eager(Xb)
    other(Xb)
    other.load_state_dict(eager.state_dict())
    return eager, other, Xb


@pytest.mark.backends(*COMPILING)
@pytest.mark.parametrize("model", list(MODELS))
def test_compiled_forward_equals_eager_in_eval_and_training(backend, model):
    eager, net, X = _pair(MODELS[model], backend)
    fast = _compile(net, backend, heavy=model != "mlp")
    eager.eval()
    fast.eval()
    assert_same_numbers(fast(X), eager(X), **TOLERANCE)
    eager.train()
    fast.train()
    for _ in range(2):  # the second call sees the running statistics the first wrote
        assert_same_numbers(fast(X), eager(X), **TOLERANCE)
    for name, value in eager.state_dict().items():
        assert_same_numbers(net.state_dict()[name], value, **TOLERANCE)
    eager.eval()
    fast.eval()  # the running statistics written in training mode are used
    assert_same_numbers(fast(X), eager(X), **TOLERANCE)


@pytest.mark.backends("torch")
@pytest.mark.parametrize("model", ["conv_bn", "bert"])
def test_torch_compile_traces_polymod_without_graph_breaks(model):
    from torch._dynamo.eval_frame import explain  # torch._dynamo.explain, as defined

    if model == "bert":
        net = bert.BertModel(hidden_size=32, num_hidden_layers=1, intermediate_size=64,
                             vocab_size=50).to("torch")
        inputs = bert.bert_inputs(2, 8, vocab_size=50)
        args = [pm.asarray(inputs[k], backend="torch")
                for k in ("input_ids", "attention_mask", "token_type_ids")]
    else:
        net, X = _conv_bn()
        args = [pm.asarray(X, backend="torch")]
        net(*args)
    twin = pm.native(net)
    for training in (False, True):
        twin.train(training)
        explained = explain(twin)(*args)
        assert (explained.graph_count, explained.graph_break_count) == (1, 0), \
            [b.reason for b in explained.break_reasons]


@pytest.mark.backends(*COMPILING)
def test_compiled_bert_tiny_equals_eager(backend):
    def make():
        pm.seed(0)
        return bert.BertModel(hidden_size=32, num_hidden_layers=1, intermediate_size=64,
                              vocab_size=50)

    eager, net = make(), make().to(backend)
    inputs = bert.bert_inputs(2, 8, vocab_size=50)
    args = [pm.asarray(inputs[k], backend=backend)
            for k in ("input_ids", "attention_mask", "token_type_ids")]
    eager.eval()
    net.eval()
    expected = eager(*args)
    fast = _compile(net, backend, heavy=True)
    out = fast(*args)
    for key in ("last_hidden_state", "pooler_output"):
        assert_same_numbers(out[key], expected[key], **TOLERANCE)
    out = fast(args[0], attention_mask=args[1], token_type_ids=args[2])  # keywords too
    assert_same_numbers(out["pooler_output"], expected["pooler_output"], **TOLERANCE)


@pytest.mark.backends(*COMPILING)
@pytest.mark.parametrize("model", ["mlp", "conv_bn"])
def test_gradients_through_the_compiled_model_equal_eager(backend, model):
    eager, net, X = _pair(MODELS[model], backend)
    fast = _compile(net, backend, heavy=model != "mlp")

    def loss_of(call):
        return lambda m, X: ops.sum(call(X) * call(X))

    value, grads = pm.value_and_grad(loss_of(eager))(eager, X)
    fast_value, fast_grads = pm.value_and_grad(loss_of(fast))(net, X)
    assert_same_numbers(fast_value, value, **TOLERANCE)
    assert sorted(fast_grads) == sorted(grads)
    for name in grads:
        assert_same_numbers(fast_grads[name], grads[name], rtol=1e-3, atol=1e-4)


@pytest.mark.backends(*COMPILING)
def test_compiled_model_sees_updated_parameters(backend):
    eager, net, X = _pair(_mlp, backend)
    fast = pm.compile(net)
    fast(X)
    opt = pm.optim.SGD(net, lr=0.5)
    for _ in range(2):
        _, grads = pm.value_and_grad(lambda m, X: ops.sum(fast(X)))(net, X)
        opt.step(grads)
        assert_same_numbers(fast(X), net(X), **TOLERANCE)
    assert not np.allclose(pm.to_numpy(fast(X)), pm.to_numpy(eager(X)))


@pytest.mark.backends("torch")
def test_torch_compiled_module_trains_with_backward():
    import torch

    eager, net, X = _pair(_conv_bn, "torch")
    fast = pm.compile(net, backend="aot_eager")
    assert callable(pm.native)  # still the function: the adapter did not rebind the name
    for model in (eager, fast):
        model(X).square().sum().backward()
    for (name, p), q in zip(eager.named_parameters(), net.parameters(), strict=True):
        assert torch.allclose(p.native.grad, q.native.grad, rtol=1e-3, atol=1e-4), name


@pytest.mark.backends("keras")
def test_keras_compile_with_xla_equals_eager():
    eager, net, X = _pair(_conv_bn, "keras")
    eager.eval()
    fast = pm.compile(net, jit_compile=True).eval()
    assert_same_numbers(fast(X), eager(X), **TOLERANCE)


@pytest.mark.backends("jax")
def test_jax_compiled_dropout_draws_a_new_mask_each_call():
    pm.seed(0)
    net = nn.Sequential(nn.Linear(8, 8), nn.Dropout(0.5)).to("jax")
    fast = pm.compile(net)
    X = pm.ones(4, 8, backend="jax")
    a, b = pm.to_numpy(fast(X)), pm.to_numpy(fast(X))
    assert not np.array_equal(a == 0, b == 0)
    fast.eval()
    assert_same_numbers(fast(X), net(X))


class Looping(pm.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 4)

    def forward(self, X):
        while ops.sum(X) > 1:  # Python control flow on a tensor value
            X = X / 2
        return self.linear(X)


@pytest.mark.backends("keras", "jax")
def test_python_control_flow_on_tensors_gets_an_error_naming_the_backend(backend):
    net = Looping()
    X = pm.ones(2, 4, backend=backend)
    net(X)
    fast = pm.compile(net)
    with pytest.raises(pm.UnsupportedError, match=f"'{backend}' backend.*control flow"):
        fast(X)


@pytest.mark.backends("gluon", "numpy")
def test_backends_without_a_compiler_say_so(backend):
    net = chapter.MLP()
    net(pm.ones(2, 20, backend=backend))
    with pytest.raises(pm.UnsupportedError, match=f"'{backend}' backend cannot compile MLP"):
        pm.compile(net)


def test_wrong_objects_get_clear_errors():
    with pytest.raises(pm.BackendTypeError, match="polymod Module; received function"):
        pm.compile(lambda X: X)
    with pytest.raises(pm.StateError, match="bound to a backend"):
        pm.compile(nn.Linear(2, 2))
    with pytest.raises(pm.StateError, match="lazy"):
        pm.compile(chapter.MLP().to("numpy"))


@pytest.mark.backends("keras")
def test_compiled_module_keeps_the_model_interface():
    net = nn.Linear(4, 2).to("keras")
    fast = pm.compile(net)
    assert fast.eval() is fast and not fast.training and not net.training
    assert fast.train() is fast and net.training
    assert fast.module is net and fast.backend == "keras"
    assert [n for n, _ in fast.named_parameters()] == ["weight", "bias"]
    net.extra = nn.Linear(2, 2)  # a structural change: compiled again on the next call
    assert_same_numbers(fast(pm.ones(1, 4)), net(pm.ones(1, 4)))
