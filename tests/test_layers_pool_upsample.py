"""1-D pooling, adaptive pooling and Upsample/interpolate against torch on every backend:
outputs and gradients, NaN spread and odd sizes alike."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from layer_check import check_layer
from op_check import check_op

import polymod as pm
from polymod import nn, ops

RNG = np.random.RandomState(0)
X1 = RNG.randn(2, 3, 11).astype(np.float32)
X2 = RNG.randn(2, 3, 5, 7).astype(np.float32)
TN = torch.nn

POOLS = {
    "max2": (nn.MaxPool1d, TN.MaxPool1d, (2,)),
    "max3_s2_p1": (nn.MaxPool1d, TN.MaxPool1d, (3, 2, 1)),
    "avg2": (nn.AvgPool1d, TN.AvgPool1d, (2,)),
    "avg4_s3_p2": (nn.AvgPool1d, TN.AvgPool1d, (4, 3, 2)),
    "adaptive_1": (nn.AdaptiveAvgPool1d, TN.AdaptiveAvgPool1d, (1,)),
    "adaptive_uneven": (nn.AdaptiveAvgPool1d, TN.AdaptiveAvgPool1d, (4,)),
    "adaptive_divides": (nn.AdaptiveAvgPool1d, TN.AdaptiveAvgPool1d, (11,)),
    "adaptive_larger": (nn.AdaptiveAvgPool1d, TN.AdaptiveAvgPool1d, (13,)),
}


@pytest.mark.parametrize("config", sorted(POOLS))
def test_1d_pooling_matches_torch(backend, config):
    ours, theirs, args = POOLS[config]
    check_layer(lambda: ours(*args), lambda: theirs(*args), X1, backend)


def test_1d_pooling_functional_and_nan(backend):
    x = X1.copy()
    x[0, 1, 4] = np.nan
    check_op(lambda x: ops.max_pool1d(x, 3, 2, 1), lambda x: F.max_pool1d(x, 3, 2, 1), [x],
             backend, grads=False)
    check_op(lambda x: ops.avg_pool1d(x, 2), lambda x: F.avg_pool1d(x, 2), [x], backend,
             grads=False)
    check_op(lambda x: ops.adaptive_avg_pool1d(x, 3), lambda x: F.adaptive_avg_pool1d(x, 3),
             [x], backend, grads=False)
    check_op(lambda x: ops.adaptive_avg_pool2d(x, (2, None)),
             lambda x: F.adaptive_avg_pool2d(x, (2, None)), [X2], backend)


def test_pooling_options_polymod_lacks_are_refused():
    with pytest.raises(ValueError, match="ceil_mode"):
        nn.MaxPool1d(2, ceil_mode=True)
    with pytest.raises(ValueError, match="count_include_pad"):
        nn.AvgPool1d(2, count_include_pad=False)
    with pytest.raises(ValueError, match="at most half"):
        nn.MaxPool1d(2, padding=2)
    with pytest.raises(ValueError, match="at most half"):
        ops.max_pool2d(pm.ones(1, 1, 4, 4, backend="numpy"), 2, padding=2)
    with pytest.raises(ValueError, match="3-D input"):
        nn.MaxPool1d(2)(pm.ones(1, 1, 4, 4, backend="numpy"))


@pytest.mark.backends("torch", "keras", "gluon")
def test_1d_pooling_on_an_empty_batch(backend):
    for layer in (nn.MaxPool1d(2), nn.AvgPool1d(3, 1, 1), nn.AdaptiveAvgPool1d(3)):
        assert pm.to_numpy(layer(pm.zeros(0, 3, 8))).shape[:2] == (0, 3)


UPSAMPLES = {  # name: (input, Upsample keywords)
    "nearest_x2": (X2, dict(scale_factor=2)),
    "nearest_size": (X2, dict(size=(7, 10))),
    "nearest_shrink": (X2, dict(size=(3, 4))),
    "nearest_x1.7": (X2, dict(scale_factor=1.7)),
    "nearest_tuple": (X2, dict(scale_factor=(2, 3))),
    "nearest_exact": (X2, dict(size=(8, 5), mode="nearest-exact")),
    "nearest_1d": (X1, dict(size=15)),
    "bilinear_x2": (X2, dict(scale_factor=2, mode="bilinear")),
    "bilinear_corners": (X2, dict(scale_factor=2, mode="bilinear", align_corners=True)),
    "bilinear_size": (X2, dict(size=(9, 4), mode="bilinear")),
    "bilinear_x1.5": (X2, dict(scale_factor=1.5, mode="bilinear")),
    "bilinear_to_1": (X2, dict(size=(1, 3), mode="bilinear", align_corners=True)),
    "linear_1d": (X1, dict(size=20, mode="linear")),
    "linear_1d_corners": (X1, dict(scale_factor=0.6, mode="linear", align_corners=True)),
}


@pytest.mark.parametrize("name", sorted(UPSAMPLES))
def test_upsample_matches_torch(backend, name):
    x, kw = UPSAMPLES[name]
    check_layer(lambda: nn.Upsample(**kw), lambda: TN.Upsample(**kw), x, backend, rtol=1e-5,
                atol=1e-6)


def test_interpolate_spreads_nan_as_torch(backend):
    x = X2.copy()
    x[0, 0, 2, 3] = np.nan
    for kw in (dict(scale_factor=2), dict(size=(9, 4), mode="bilinear"),
               dict(scale_factor=2, mode="bilinear", align_corners=True)):
        check_op(lambda x, kw=kw: ops.interpolate(x, **kw),
                 lambda x, kw=kw: F.interpolate(x, **kw), [x], backend, grads=False)


def test_fixed_mode_upsampling_layers(backend):
    check_layer(lambda: nn.UpsamplingNearest2d(scale_factor=2),
                lambda: TN.UpsamplingNearest2d(scale_factor=2), X2, backend)
    check_layer(lambda: nn.UpsamplingBilinear2d(size=(6, 9)),
                lambda: TN.UpsamplingBilinear2d(size=(6, 9)), X2, backend, rtol=1e-5,
                atol=1e-6)


def test_interpolate_errors_and_repr():
    x = pm.ones(1, 1, 4, 4, backend="numpy")
    with pytest.raises(ValueError, match="exactly one"):
        ops.interpolate(x, size=2, scale_factor=2)
    with pytest.raises(ValueError, match="mode"):
        ops.interpolate(x, size=2, mode="bicubic")
    with pytest.raises(ValueError, match="3-D"):
        ops.interpolate(x, size=2, mode="linear")
    with pytest.raises(ValueError, match="align_corners"):
        ops.interpolate(x, size=2, align_corners=True)
    with pytest.raises(ValueError, match="positive"):
        ops.interpolate(x, scale_factor=0.1)
    with pytest.raises(ValueError, match="exactly one"):
        nn.Upsample()
    assert repr(nn.Upsample(scale_factor=2, mode="bilinear")) == (
        "Upsample(scale_factor=2, mode='bilinear')")


@pytest.mark.backends("torch", "keras", "gluon")
def test_upsample_on_an_empty_batch(backend):
    for mode in ("nearest", "bilinear"):
        out = nn.Upsample(scale_factor=2, mode=mode)(pm.zeros(0, 3, 4, 4))
        assert pm.to_numpy(out).shape == (0, 3, 8, 8)
