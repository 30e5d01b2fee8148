"""BatchNorm, LayerNorm, Dropout, losses and activations against torch.nn, on every backend.

Also: identical BatchNorm running statistics and dropout masks across backends after a
seeded training step, and fresh dropout masks per step inside tf.function.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import assert_same_numbers
from layer_check import check_layer, torch_state

import polymod as pm
from polymod import nn, ops, registry

RNG = np.random.RandomState(0)
X4 = (RNG.randn(4, 3, 5, 5) * 2 + 1).astype(np.float32)
X3 = (RNG.randn(4, 3, 7) - 0.5).astype(np.float32)
X2 = RNG.randn(6, 3).astype(np.float32)
TN = torch.nn

BATCHNORMS = {
    "bn2d": (lambda: nn.BatchNorm2d(3), lambda: TN.BatchNorm2d(3), X4),
    "bn2d_momentum_eps": (lambda: nn.BatchNorm2d(3, eps=1e-3, momentum=0.3),
                          lambda: TN.BatchNorm2d(3, eps=1e-3, momentum=0.3), X4),
    "bn2d_cumulative": (lambda: nn.BatchNorm2d(3, momentum=None),
                        lambda: TN.BatchNorm2d(3, momentum=None), X4),
    "bn2d_no_affine": (lambda: nn.BatchNorm2d(3, affine=False),
                       lambda: TN.BatchNorm2d(3, affine=False), X4),
    "bn2d_no_stats": (lambda: nn.BatchNorm2d(3, track_running_stats=False),
                      lambda: TN.BatchNorm2d(3, track_running_stats=False), X4),
    "bn1d_2d_input": (lambda: nn.BatchNorm1d(3), lambda: TN.BatchNorm1d(3), X2),
    "bn1d_3d_input": (lambda: nn.BatchNorm1d(3), lambda: TN.BatchNorm1d(3), X3),
    "lazy_bn2d": (nn.LazyBatchNorm2d, TN.LazyBatchNorm2d, X4),
    "lazy_bn1d": (nn.LazyBatchNorm1d, TN.LazyBatchNorm1d, X3),
    "layernorm": (lambda: nn.LayerNorm(7), lambda: TN.LayerNorm(7), X3),
    "layernorm_2d": (lambda: nn.LayerNorm((3, 7), eps=1e-3), lambda: TN.LayerNorm((3, 7),
                                                                                  eps=1e-3), X3),
    "layernorm_plain": (lambda: nn.LayerNorm(7, elementwise_affine=False),
                        lambda: TN.LayerNorm(7, elementwise_affine=False), X3),
}


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("config", sorted(BATCHNORMS))
def test_norm_matches_torch(backend, config, train):
    ours, theirs, x = BATCHNORMS[config]
    check_layer(ours, theirs, x, backend, train=train, rtol=1e-4, atol=1e-5)


def test_batchnorm_eval_uses_loaded_running_statistics(backend):
    twin = TN.BatchNorm2d(3)
    with torch.no_grad():
        twin.running_mean.copy_(torch.tensor([0.5, -1.0, 2.0]))
        twin.running_var.copy_(torch.tensor([2.0, 0.5, 3.0]))
        twin.weight.copy_(torch.tensor([1.5, 0.5, -1.0]))
    twin.eval()
    bn = nn.BatchNorm2d(3)
    bn.load_state_dict({k: v.numpy() for k, v in twin.state_dict().items()}, strict=True)
    assert bn.state_dict()["num_batches_tracked"].dtype == np.int64
    out = bn.eval()(pm.asarray(X4))
    assert_same_numbers(out, twin(torch.from_numpy(X4)).detach(), rtol=1e-5, atol=1e-6)


def test_batchnorm_state_identical_across_backends_after_seeded_steps():
    states = {}
    for name in pm.available_backends():  # the installed ones
        pm.seed(0)
        bn = nn.BatchNorm2d(3).to(name)
        for _ in range(2):
            bn(pm.asarray(X4, backend=name))
        states[name] = bn.state_dict()
    for name, sd in states.items():
        assert int(sd["num_batches_tracked"]) == 2, name
        for key in ("running_mean", "running_var"):
            np.testing.assert_allclose(sd[key], states["numpy"][key], rtol=1e-5, atol=1e-6,
                                       err_msg=f"{name} {key}")


def test_batchnorm_fused_or_composed_has_torchs_numbers(backend):
    """torch, Keras and Gluon run their fused kernels (an empty batch falls back to the
    composed form on Keras and Gluon); the numbers are torch's either way."""
    if backend in ("torch", "keras", "gluon"):
        assert registry.adapter(backend).FUSED.get("batch_norm") is not None
    x = X4
    theirs = TN.BatchNorm2d(3, momentum=0.3)
    ours = nn.BatchNorm2d(3, momentum=0.3).to(backend)
    for step in range(2):
        xs = x * (step + 1)
        assert_same_numbers(ours(pm.asarray(xs, backend=backend)),
                            theirs(torch.from_numpy(xs)).detach(), rtol=1e-5, atol=1e-5)
    for key, value in theirs.state_dict().items():
        assert_same_numbers(ours.state_dict()[key], value, rtol=1e-5, atol=1e-6)
    ours.eval()
    theirs.eval()
    assert_same_numbers(ours(pm.asarray(x, backend=backend)), theirs(torch.from_numpy(x)).detach(),
                        rtol=1e-5, atol=1e-5)
    empty = ours(pm.asarray(x[:0], backend=backend))
    assert tuple(empty.shape) == (0, 3, 5, 5)


def test_batchnorm_single_value_per_channel_is_an_error():
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(3)(pm.rand(1, 3, backend="torch"))


def test_batchnorm_through_torch_native_twin_follows_its_flag():
    bn = nn.BatchNorm2d(3).to("torch")
    native = pm.native(bn)
    assert set(native.state_dict()) == {"weight", "bias", "running_mean", "running_var",
                                        "num_batches_tracked"}
    native.eval()
    native(torch.from_numpy(X4))
    assert int(bn.state_dict()["num_batches_tracked"]) == 0
    native.train()
    native(torch.from_numpy(X4))
    assert int(bn.state_dict()["num_batches_tracked"]) == 1


@pytest.mark.backends("keras")
def test_batchnorm_updates_inside_tf_function(backend):
    import tensorflow as tf

    bn = nn.BatchNorm2d(3).to("keras")
    step = tf.function(lambda x: bn(x))
    step(tf.constant(X4))
    step(tf.constant(X4))
    twin = TN.BatchNorm2d(3)
    twin(torch.from_numpy(X4))
    twin(torch.from_numpy(X4))
    for key, value in twin.state_dict().items():
        np.testing.assert_allclose(bn.state_dict()[key], value.numpy(), rtol=1e-5, atol=1e-6)


# -- dropout -------------------------------------------------------------------------------
def test_dropout_masks_identical_across_backends_and_eval_is_identity():
    outs = {}
    for name in pm.available_backends():  # the installed ones
        pm.seed(7)
        drop = nn.Dropout(0.3).to(name)
        outs[name] = pm.to_numpy(drop(pm.asarray(X4, backend=name)))
        assert_same_numbers(drop.eval()(pm.asarray(X4, backend=name)), X4, rtol=0, atol=0)
    for name, out in outs.items():
        np.testing.assert_array_equal(out, outs["numpy"], err_msg=name)
    kept = outs["numpy"] != 0
    assert 0.5 < kept.mean() < 0.9
    np.testing.assert_allclose(outs["numpy"][kept], X4[kept] / 0.7, rtol=1e-6)


@pytest.mark.backends(*registry.FRAMEWORKS)
def test_dropout_training_step_identical_across_backends(backend):
    def make():
        return nn.Sequential(nn.Linear(3, 8), nn.Dropout(0.5), nn.ReLU(), nn.Linear(8, 1))

    def loss(m, x):
        return ops.mean(m(x) ** 2)

    pm.seed(1)
    ref = make().to("torch")
    _, ref_grads = pm.value_and_grad(loss)(ref, pm.asarray(X2, backend="torch"))
    pm.seed(1)
    net = make().to(backend)
    _, grads = pm.value_and_grad(loss)(net, pm.asarray(X2, backend=backend))
    for key, g in ref_grads.items():
        assert_same_numbers(grads[key], g, rtol=1e-5, atol=1e-6)


def test_dropout_p_edges(backend):
    x = pm.asarray(X2)
    assert_same_numbers(nn.Dropout(0.0)(x), X2, rtol=0, atol=0)
    assert_same_numbers(nn.Dropout(1.0)(x), np.zeros_like(X2), rtol=0, atol=0)
    with pytest.raises(ValueError, match="p must be"):
        nn.Dropout(1.5)


@pytest.mark.backends("keras")
def test_dropout_gets_a_fresh_mask_each_tf_function_step(backend):
    import tensorflow as tf

    drop = nn.Dropout(0.5).to("keras")
    step = tf.function(lambda x: drop(x))
    x = tf.ones((64, 64))
    first, second = step(x).numpy(), step(x).numpy()
    assert step.experimental_get_tracing_count() == 1
    assert (first != second).any()
    assert 0.3 < (first != 0).mean() < 0.7


@pytest.mark.backends("torch")
def test_dropout_under_torch_tracing_draws_from_torch(backend, monkeypatch):
    from polymod.backends import torch as adapter

    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    pm.seed(0)
    before = pm.random.generator().bit_generator.state
    out = adapter.dropout(torch.ones(32, 32), 0.5)
    assert pm.random.generator().bit_generator.state == before  # polymod's RNG untouched
    assert 0.3 < (out != 0).float().mean() < 0.7


# -- losses and activations ----------------------------------------------------------------
LOGITS = RNG.randn(5, 4).astype(np.float32)
LABELS = np.array([0, 3, 1, 1, 2], np.int64)
PROBS = np.abs(RNG.randn(5, 4)).astype(np.float32)
PROBS /= PROBS.sum(1, keepdims=True)
LOGITS_K = RNG.randn(2, 4, 3).astype(np.float32)
LABELS_K = np.array([[0, 3, 1], [2, 2, 0]], np.int64)
TARGET01 = RNG.rand(5, 4).astype(np.float32)
F = torch.nn.functional


def _torch_loss(fn, x, t):
    xt = torch.tensor(x, requires_grad=True)
    out = fn(xt, torch.from_numpy(t))
    out.sum().backward()
    return out.detach(), xt.grad


LOSSES = {
    "ce_mean": (nn.CrossEntropyLoss(), TN.CrossEntropyLoss(), LOGITS, LABELS),
    "ce_sum": (nn.CrossEntropyLoss(reduction="sum"), TN.CrossEntropyLoss(reduction="sum"),
               LOGITS, LABELS),
    "ce_none": (nn.CrossEntropyLoss(reduction="none"), TN.CrossEntropyLoss(reduction="none"),
                LOGITS, LABELS),
    "ce_probs": (nn.CrossEntropyLoss(), TN.CrossEntropyLoss(), LOGITS, PROBS),
    "ce_kdim": (nn.CrossEntropyLoss(), TN.CrossEntropyLoss(), LOGITS_K, LABELS_K),
    "mse": (nn.MSELoss(), TN.MSELoss(), LOGITS, TARGET01),
    "mse_none": (nn.MSELoss(reduction="none"), TN.MSELoss(reduction="none"), LOGITS, TARGET01),
    "bce": (nn.BCEWithLogitsLoss(), TN.BCEWithLogitsLoss(), LOGITS * 10, TARGET01),
    "bce_sum": (nn.BCEWithLogitsLoss(reduction="sum"), TN.BCEWithLogitsLoss(reduction="sum"),
                LOGITS, TARGET01),
}


@pytest.mark.parametrize("config", sorted(LOSSES))
def test_loss_matches_torch(backend, config):
    ours, theirs, x, t = LOSSES[config]
    expected, expected_grad = _torch_loss(theirs, x, t)
    got = ours.unbound_copy()(pm.asarray(x), t)
    assert_same_numbers(got, expected, rtol=1e-5, atol=1e-6)
    if backend != "numpy":
        probe = _InputProbe(x)
        _, grads = pm.value_and_grad(lambda m: ops.sum(ours.unbound_copy()(m.x, t)))(
            probe.to(backend))
        assert_same_numbers(grads["x"], expected_grad, rtol=1e-5, atol=1e-6)


class _InputProbe(pm.Module):
    def __init__(self, x):
        super().__init__()
        self.x = pm.Parameter(x)

    def forward(self):
        return self.x


ACTS = {
    "silu": (nn.SiLU(), TN.SiLU(), ops.silu),
    "leaky_relu": (nn.LeakyReLU(0.2), TN.LeakyReLU(0.2), lambda x: ops.leaky_relu(x, 0.2)),
    "softmax": (nn.Softmax(dim=1), TN.Softmax(dim=1), lambda x: ops.softmax(x, 1)),
    "log_softmax": (nn.LogSoftmax(dim=1), TN.LogSoftmax(dim=1), lambda x: ops.log_softmax(x, 1)),
    "gelu": (nn.GELU(), TN.GELU(), ops.gelu),
}


@pytest.mark.parametrize("config", sorted(ACTS))
def test_activation_matches_torch_nan_included(backend, config):
    ours, theirs, op = ACTS[config]
    x = LOGITS.copy()
    x[1, 2] = np.nan
    x[3, 0] = -np.inf
    expected = theirs(torch.from_numpy(x))
    assert_same_numbers(ours.unbound_copy()(pm.asarray(x)), expected, rtol=1e-5, atol=1e-6)
    assert_same_numbers(op(pm.asarray(x)), expected, rtol=1e-5, atol=1e-6)
    if backend != "numpy":
        check_layer(ours.unbound_copy, lambda: theirs, LOGITS, backend)


def test_losses_propagate_nan_like_torch(backend):
    x = LOGITS.copy()
    x[2, 1] = np.nan
    for ours, theirs, t in [(nn.CrossEntropyLoss(reduction="none"),
                             TN.CrossEntropyLoss(reduction="none"), LABELS),
                            (nn.BCEWithLogitsLoss(reduction="none"),
                             TN.BCEWithLogitsLoss(reduction="none"), TARGET01)]:
        expected = theirs(torch.from_numpy(x), torch.from_numpy(t))
        assert_same_numbers(ours.unbound_copy()(pm.asarray(x), t), expected, rtol=1e-5,
                            atol=1e-6)


def test_torch_state_dict_round_trip_names():
    bn = nn.BatchNorm1d(4)
    twin = TN.BatchNorm1d(4)
    twin.load_state_dict(torch_state(bn.state_dict()), strict=True)
    assert list(bn.state_dict()) == list(twin.state_dict())
