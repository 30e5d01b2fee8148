"""The new activations against torch on every backend, as ops and as layers: GELU (tanh),
ReLU6, Hardsigmoid, Hardswish, Softplus, ELU. Values and gradients, kinks included (the
gradient at 0 and 6 of ReLU6, at -3 and 3 of the hard ones), NaN and inf kept alike."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from layer_check import check_layer
from op_check import check_op

import polymod as pm
from polymod import nn, ops

KINKS = np.array([-7.0, -3.0, -2.5, -1.0, 0.0, 0.5, 2.9, 3.0, 3.5, 6.0, 6.5, 25.0],
                 np.float32).reshape(3, 4)
RNG = np.random.RandomState(0)
X = (RNG.randn(2, 3, 5) * 4).astype(np.float32)
ODD = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-30, 40.0, -40.0, 1e20, -1e20],
               np.float32)

ACTIVATIONS = {  # name: (ops call, torch call, layer factory, torch layer factory)
    "gelu_tanh": (lambda x: ops.gelu(x, approximate="tanh"),
                  lambda x: F.gelu(x, approximate="tanh"),
                  lambda: nn.GELU(approximate="tanh"), lambda: torch.nn.GELU("tanh")),
    "gelu": (ops.gelu, F.gelu, nn.GELU, torch.nn.GELU),
    "relu6": (ops.relu6, F.relu6, nn.ReLU6, torch.nn.ReLU6),
    "hardsigmoid": (ops.hardsigmoid, F.hardsigmoid, nn.Hardsigmoid, torch.nn.Hardsigmoid),
    "hardswish": (ops.hardswish, F.hardswish, nn.Hardswish, torch.nn.Hardswish),
    "softplus": (ops.softplus, F.softplus, nn.Softplus, torch.nn.Softplus),
    "softplus_beta": (lambda x: ops.softplus(x, beta=2.0, threshold=5.0),
                      lambda x: F.softplus(x, beta=2.0, threshold=5.0),
                      lambda: nn.Softplus(2.0, 5.0), lambda: torch.nn.Softplus(2.0, 5.0)),
    "elu": (ops.elu, F.elu, nn.ELU, torch.nn.ELU),
    "elu_alpha": (lambda x: ops.elu(x, alpha=0.3), lambda x: F.elu(x, alpha=0.3),
                  lambda: nn.ELU(alpha=0.3), lambda: torch.nn.ELU(alpha=0.3)),
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_ops_match_torch_at_the_kinks(backend, name):
    ours, theirs, _, _ = ACTIVATIONS[name]
    check_op(ours, theirs, [KINKS], backend, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_layers_match_torch(backend, name):
    _, _, ours, theirs = ACTIVATIONS[name]
    check_layer(ours, theirs, X, backend, rtol=1e-5, atol=2e-6)


# not "gelu": polymod's GELU(+inf) is +inf on every backend, where torch's kernel gives NaN
@pytest.mark.parametrize("name", sorted(set(ACTIVATIONS) - {"gelu"}))
def test_activations_of_nan_and_inf_match_torch(backend, name):
    ours, theirs, _, _ = ACTIVATIONS[name]
    check_op(ours, theirs, [ODD], backend, grads=False, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activations_on_an_empty_batch_and_1d(backend, name):
    ours = ACTIVATIONS[name][0]
    assert pm.to_numpy(ours(pm.zeros(0, 3))).shape == (0, 3)
    assert pm.to_numpy(ours(pm.zeros(3))).shape == (3,)


def test_activation_names_and_errors():
    from polymod.nn.activation import get

    for name, layer in [("relu6", nn.ReLU6), ("hardswish", nn.Hardswish), ("elu", nn.ELU),
                        ("softplus", nn.Softplus), ("hardsigmoid", nn.Hardsigmoid)]:
        assert type(get(name)) is layer
    with pytest.raises(ValueError, match="approximate"):
        nn.GELU(approximate="erf")
    with pytest.raises(ValueError, match="approximate"):
        ops.gelu(pm.ones(2, backend="numpy"), approximate="fast")
    with pytest.raises(TypeError, match="float tensor"):
        ops.relu6(pm.asarray(np.arange(3), backend="numpy"))
    assert repr(nn.Softplus(2.0)) == "Softplus(beta=2.0, threshold=20.0)"


class TorchDense(torch.nn.Linear):
    def __init__(self, activation):
        super().__init__(5, 4)
        self.act = activation()

    def forward(self, x):
        return self.act(super().forward(x))


@pytest.mark.parametrize("name, torch_layer", [
    ("relu6", torch.nn.ReLU6), ("hardswish", torch.nn.Hardswish), ("elu", torch.nn.ELU),
    ("hardsigmoid", torch.nn.Hardsigmoid), ("softplus", torch.nn.Softplus)])
def test_dense_with_a_new_activation_name_matches_torch(backend, name, torch_layer):
    x = (RNG.randn(3, 5) * 3).astype(np.float32)
    check_layer(lambda: nn.Dense(4, activation=name, in_units=5),
                lambda: TorchDense(torch_layer), x, backend, rtol=1e-5, atol=2e-6)


# Rows PyTorch turns all-NaN: a NaN, an infinite maximum, all -inf; a -inf among finite
# values (an attention mask) stays a plain row. Over the last axis and over the first.
SOFTMAX_ROWS = np.array([[np.nan, 1, 2], [np.inf, 1, 2], [np.inf, -np.inf, 1],
                         [-np.inf, -np.inf, -np.inf], [-np.inf, 1, 2], [1, 2, 3]], np.float32)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("axis", [-1, 0])
def test_softmax_rows_with_nan_and_inf_match_torch(backend, name, axis):
    rows = SOFTMAX_ROWS if axis == -1 else SOFTMAX_ROWS.T.copy()
    check_op(lambda x: getattr(ops, name)(x, axis=axis),
             lambda x: getattr(F, name)(x, dim=axis), [rows], backend, grads=False,
             rtol=1e-5, atol=1e-6)
