"""An adapter's FUSED kernels compute what polymod's composed form computes: each one
against the composition on the same backend (values and gradients), so the fused path
may stand in for it. The composition itself is tested against torch on every backend
in the op tests."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_same_numbers
from op_check import OpProbe

import polymod as pm
from polymod import nn, ops, registry

RNG = np.random.RandomState(0)
X4 = (RNG.randn(2, 4, 5, 6) * 3).astype(np.float32)
X3 = RNG.randn(2, 4, 9).astype(np.float32)
W4, B4 = RNG.randn(4).astype(np.float32), RNG.randn(4).astype(np.float32)
MASK = RNG.rand(5, 6) > 0.3
MASK[2] = False  # a fully masked row

CALLS = {  # FUSED name: (call, arrays)
    "hardswish": (lambda x: ops.hardswish(x), [X4]),
    "hardsigmoid": (lambda x: ops.hardsigmoid(x), [X4]),
    "std": (lambda x: ops.std(x, axis=(2, 3), keepdims=True, correction=1), [X4]),
    "layer_norm": (lambda x, w, b: ops.layer_norm(x, 4, w, b), [X4.transpose(0, 2, 3, 1), W4,
                                                                B4]),
    "group_norm": (lambda x, w, b: ops.group_norm(x, 2, w, b, eps=1e-3), [X4, W4, B4]),
    "instance_norm": (lambda x, w, b: ops.instance_norm(x, weight=w, bias=b), [X3, W4, B4]),
    "max_pool1d": (lambda x: ops.max_pool1d(x, 3, 2, 1), [X3]),
    "avg_pool1d": (lambda x: ops.avg_pool1d(x, 2), [X3]),
    "adaptive_avg_pool1d": (lambda x: ops.adaptive_avg_pool1d(x, 4), [X3]),
    "adaptive_avg_pool2d": (lambda x: ops.adaptive_avg_pool2d(x, (3, 4)), [X4]),
    "interpolate": (lambda x: ops.interpolate(x, scale_factor=1.5, mode="bilinear"), [X4]),
    # nn.BatchNorm2d's kernel (made per call: a layer reads FUSED when it binds), training
    # mode so batch statistics are used; running statistics: tests/test_layers_norm.py
    "batch_norm": (lambda x: nn.BatchNorm2d(4).to(pm.backend_of(x)).train()(x), [X4]),
    "scaled_dot_product_attention": (
        lambda q, k: ops.scaled_dot_product_attention(q, k, k, attn_mask=MASK),
        [RNG.randn(2, 3, 5, 4).astype(np.float32), RNG.randn(2, 3, 6, 4).astype(np.float32)]),
}


def _cases():
    for name in registry.FRAMEWORKS:
        if registry.is_installed(name):
            for op in registry.adapter(name).FUSED:
                yield name, op


@pytest.mark.parametrize("backend_name, op", list(_cases()))
def test_fused_kernel_matches_the_composition(backend_name, op, monkeypatch):
    assert op in CALLS, f"no test call for FUSED[{op!r}] of {backend_name}: add one"
    adapter = registry.adapter(backend_name)
    call, arrays = CALLS[op]
    net = OpProbe(call, [np.asarray(a) for a in arrays]).to(backend_name)

    def run():
        return pm.value_and_grad(lambda m: ops.sum(m() * 1.5))(net)

    fused_value, fused_grads = run()
    fused_out = pm.to_numpy(net())
    monkeypatch.setattr(adapter, "FUSED", {})
    value, grads = run()
    assert_same_numbers(net(), fused_out, rtol=1e-5, atol=1e-5)
    assert_same_numbers(fused_value, value, rtol=1e-5, atol=1e-4)
    for key in grads:
        assert_same_numbers(fused_grads[key], grads[key], rtol=1e-4, atol=1e-5)
