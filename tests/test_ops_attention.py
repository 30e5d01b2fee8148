"""ops.scaled_dot_product_attention against F.scaled_dot_product_attention on every
backend: masks (bool, float, broadcast, causal), scale, fully masked rows, NaN, dropout."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from op_check import check_op

import polymod as pm
from polymod import ops

RNG = np.random.RandomState(0)
Q = RNG.randn(2, 3, 4, 8).astype(np.float32)   # (N, heads, L, E)
K = RNG.randn(2, 3, 6, 8).astype(np.float32)   # (N, heads, S, E)
V = RNG.randn(2, 3, 6, 5).astype(np.float32)   # (N, heads, S, Ev)
KEEP = RNG.rand(4, 6) > 0.3
KEEP[:, 0] = True  # no row fully masked here
BIAS = RNG.randn(2, 1, 4, 6).astype(np.float32)

CASES = {  # name: (extra arrays, keyword arguments built from them)
    "plain": ([], lambda: {}),
    "scale": ([], lambda: {"scale": 0.2}),
    "causal": ([], lambda: {"is_causal": True}),
    "bool_mask": ([KEEP], lambda m: {"attn_mask": m}),
    "float_mask": ([BIAS], lambda m: {"attn_mask": m}),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_attention_matches_torch(backend, name):
    extra, kwargs = CASES[name]
    check_op(lambda q, k, v, *m: ops.scaled_dot_product_attention(q, k, v, **kwargs(*m)),
             lambda q, k, v, *m: F.scaled_dot_product_attention(q, k, v, **kwargs(*m)),
             [Q, K, V, *extra], backend, rtol=1e-5, atol=1e-5)


def test_attention_3d_and_causal_with_longer_keys(backend):
    q, k, v = Q[0], K[0], V[0]  # (heads, L, E): any leading axes
    check_op(lambda q, k, v: ops.scaled_dot_product_attention(q, k, v, is_causal=True),
             lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
             [q, k, v], backend, rtol=1e-5, atol=1e-5)


def test_fully_masked_rows_give_zeros_and_no_nan_gradient(backend):
    keep = KEEP.copy()
    keep[1] = False
    bias = BIAS.copy()
    bias[0, 0, 2] = -np.inf
    for mask in (keep, bias):
        check_op(lambda q, k, v, m: ops.scaled_dot_product_attention(q, k, v, attn_mask=m),
                 lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m),
                 [Q, K, V, mask], backend, rtol=1e-5, atol=1e-5)


def test_nan_in_a_query_stays_in_its_row(backend):
    q = Q.copy()
    q[0, 1, 2, 3] = np.nan
    check_op(lambda q, k, v: ops.scaled_dot_product_attention(q, k, v),
             lambda q, k, v: F.scaled_dot_product_attention(q, k, v), [q, K, V], backend,
             grads=False, rtol=1e-5, atol=1e-5)


def test_attention_dropout_is_seeded_and_the_same_on_every_backend():
    outs = {}
    for name in pm.available_backends():  # the installed ones
        pm.seed(5)
        q, k, v = (pm.asarray(a, backend=name) for a in (Q, K, V))
        outs[name] = pm.to_numpy(ops.scaled_dot_product_attention(q, k, v, dropout_p=0.5))
    plain = pm.to_numpy(ops.scaled_dot_product_attention(*(pm.asarray(a, backend="numpy")
                                                           for a in (Q, K, V))))
    for name, out in outs.items():
        np.testing.assert_allclose(out, outs["numpy"], rtol=1e-5, atol=1e-5, err_msg=name)
    assert not np.allclose(outs["numpy"], plain)


def test_attention_errors_and_numpy_masks(backend):
    q, k, v = (pm.asarray(a) for a in (Q, K, V))
    with pytest.raises(ValueError, match="not both"):
        ops.scaled_dot_product_attention(q, k, v, attn_mask=KEEP, is_causal=True)
    with pytest.raises(ValueError, match="same rank"):
        ops.scaled_dot_product_attention(q, pm.asarray(K[0]), v)
    out = ops.scaled_dot_product_attention(q, k, v, attn_mask=KEEP)  # NumPy mask: data
    assert pm.backend_of(out) == backend
    expected = F.scaled_dot_product_attention(*(torch.from_numpy(a) for a in (Q, K, V)),
                                              attn_mask=torch.from_numpy(KEEP))
    np.testing.assert_allclose(pm.to_numpy(out), expected.numpy(), rtol=1e-5, atol=1e-5)
