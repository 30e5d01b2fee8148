"""Every layer class, bound and called, gives an unbound copy that pickles (what the docs
tell users to do instead of pickling a bound model), and the copy runs again."""

from __future__ import annotations

import inspect
import pickle

import numpy as np
import pytest

import polymod as pm
from polymod import nn

# One instance and one input per layer class; a new layer class must be added here
# (test_every_layer_class_is_covered fails otherwise).
X2 = np.random.default_rng(0).random((4, 6), dtype=np.float32)
X3 = np.random.default_rng(1).random((2, 3, 6), dtype=np.float32)
X4 = np.random.default_rng(2).random((2, 3, 6, 6), dtype=np.float32)
IDS = np.array([[0, 2, 1], [3, 1, 0]])
LAYERS = {
    "AdaptiveAvgPool2d": (lambda: nn.AdaptiveAvgPool2d((2, 3)), (X4,)),
    "AvgPool2d": (lambda: nn.AvgPool2d(2), (X4,)),
    "BCEWithLogitsLoss": (lambda: nn.BCEWithLogitsLoss(), (X2, X2)),
    "BatchNorm1d": (lambda: nn.BatchNorm1d(6), (X2,)),
    "BatchNorm2d": (lambda: nn.BatchNorm2d(3), (X4,)),
    "Conv1d": (lambda: nn.Conv1d(3, 4, 3), (X3,)),
    "Conv2d": (lambda: nn.Conv2d(3, 4, 3), (X4,)),
    "CrossEntropyLoss": (lambda: nn.CrossEntropyLoss(), (X2, np.array([0, 1, 2, 5]))),
    "Dropout": (lambda: nn.Dropout(0.5), (X2,)),
    "Embedding": (lambda: nn.Embedding(4, 5), (IDS,)),
    "Flatten": (lambda: nn.Flatten(), (X4,)),
    "GELU": (lambda: nn.GELU(), (X2,)),
    "GRU": (lambda: nn.GRU(6, 5), (X3,)),
    "Identity": (lambda: nn.Identity(), (X2,)),
    "LSTM": (lambda: nn.LSTM(6, 5, num_layers=2), (X3,)),
    "LayerNorm": (lambda: nn.LayerNorm(6), (X2,)),
    "LeakyReLU": (lambda: nn.LeakyReLU(0.1), (X2,)),
    "Linear": (lambda: nn.Linear(6, 3, activation="relu"), (X2,)),
    "LogSoftmax": (lambda: nn.LogSoftmax(), (X2,)),
    "MSELoss": (lambda: nn.MSELoss(), (X2, X2)),
    "MaxPool2d": (lambda: nn.MaxPool2d(2), (X4,)),
    "ModuleDict": (lambda: nn.ModuleDict({"a": nn.Linear(6, 2)}), None),
    "ModuleList": (lambda: nn.ModuleList([nn.Linear(6, 2)]), None),
    "MultiheadAttention": (lambda: nn.MultiheadAttention(6, 2, batch_first=True), (X3, X3, X3)),
    "Parallel": (lambda: nn.Parallel(nn.Linear(6, 2), nn.Linear(6, 3)), (X2,)),
    "RNN": (lambda: nn.RNN(6, 5, bidirectional=True), (X3,)),
    "ReLU": (lambda: nn.ReLU(), (X2,)),
    "Sequential": (lambda: nn.Sequential(nn.LazyLinear(4), nn.Tanh()), (X2,)),
    "SiLU": (lambda: nn.SiLU(), (X2,)),
    "Sigmoid": (lambda: nn.Sigmoid(), (X2,)),
    "Softmax": (lambda: nn.Softmax(), (X2,)),
    "Tanh": (lambda: nn.Tanh(), (X2,)),
    "TransformerEncoder": (lambda: nn.TransformerEncoder(
        nn.TransformerEncoderLayer(6, 2, 8, dropout=0.0, batch_first=True), 2), (X3,)),
    "TransformerEncoderLayer": (lambda: nn.TransformerEncoderLayer(
        6, 2, 8, dropout=0.0, batch_first=True, activation="gelu"), (X3,)),
    "AdaptiveAvgPool1d": (lambda: nn.AdaptiveAvgPool1d(4), (X3,)),
    "AvgPool1d": (lambda: nn.AvgPool1d(3, 2, 1), (X3,)),
    "ConvTranspose1d": (lambda: nn.ConvTranspose1d(3, 4, 3, stride=2), (X3,)),
    "ConvTranspose2d": (lambda: nn.ConvTranspose2d(3, 4, 2, stride=2, groups=1), (X4,)),
    "ELU": (lambda: nn.ELU(0.5), (X2,)),
    "GroupNorm": (lambda: nn.GroupNorm(3, 3), (X4,)),
    "Hardsigmoid": (lambda: nn.Hardsigmoid(), (X2,)),
    "Hardswish": (lambda: nn.Hardswish(), (X2,)),
    "InstanceNorm1d": (lambda: nn.InstanceNorm1d(3, affine=True), (X3,)),
    "InstanceNorm2d": (lambda: nn.InstanceNorm2d(3, track_running_stats=True), (X4,)),
    "MaxPool1d": (lambda: nn.MaxPool1d(2), (X3,)),
    "ReLU6": (lambda: nn.ReLU6(), (X2,)),
    "Softplus": (lambda: nn.Softplus(2.0), (X2,)),
    "Upsample": (lambda: nn.Upsample(scale_factor=2, mode="bilinear"), (X4,)),
}


def _layer_classes() -> set[str]:
    return {name for name, value in vars(nn).items()
            if inspect.isclass(value) and issubclass(value, pm.Module)}


def test_every_layer_class_is_covered():
    assert _layer_classes() - set(LAYERS) == set()


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_unbound_copy_of_a_used_layer_pickles(name, backend):
    factory, inputs = LAYERS[name]
    pm.seed(0)
    layer = factory()
    if inputs is None:
        layer.to(backend)
    else:
        layer(*[pm.asarray(x, backend=backend) for x in inputs])
    copy = pickle.loads(pickle.dumps(layer.unbound_copy()))
    assert copy.backend is None
    for (k1, v1), (k2, v2) in zip(layer.state_dict().items(), copy.state_dict().items(),
                                  strict=True):
        assert k1 == k2
        np.testing.assert_array_equal(v1, v2)
    if inputs is not None:  # the copy binds and runs again
        copy(*[pm.asarray(x, backend=backend) for x in inputs])
