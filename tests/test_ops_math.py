"""Elementwise math, reductions, scans and creation ops against torch, on every backend.

Values (dtype included) on every backend, gradients on the frameworks; NaN, inf, ties,
kinks, empty and 1-D inputs get the same outcome everywhere.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import assert_same_numbers
from op_check import check_op

import polymod as pm
from polymod import ops

RNG = np.random.RandomState(0)
X = RNG.randn(3, 4).astype(np.float32)
POS = (RNG.rand(3, 4) + 0.1).astype(np.float32)
EDGES = np.array([[-2.0, -1.0, -0.5, 0.0], [0.25, 1.0, 1.5, 3.0]], np.float32)  # clip bounds
ODD = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-30, 30.0, -30.0], np.float32)

UNARY = {
    "erf": (ops.erf, torch.erf, X),
    "sin": (ops.sin, torch.sin, X),
    "cos": (ops.cos, torch.cos, X),
    "rsqrt": (ops.rsqrt, torch.rsqrt, POS),
    "square": (ops.square, torch.square, X),
    "pow_scalar": (lambda x: ops.pow(x, 2.5), lambda x: torch.pow(x, 2.5), POS),
    "pow_int": (lambda x: ops.pow(x, 3), lambda x: torch.pow(x, 3), X),
    "rpow": (lambda x: ops.pow(2.0, x), lambda x: torch.pow(2.0, x), X),
    "clip": (lambda x: ops.clip(x, -0.5, 1.0), lambda x: torch.clamp(x, -0.5, 1.0), EDGES),
    "clip_min": (lambda x: ops.clip(x, min=0), lambda x: torch.clamp(x, min=0), EDGES),
    "clamp_max": (lambda x: ops.clamp(x, max=1.0), lambda x: torch.clamp(x, max=1.0), EDGES),
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_ops_match_torch(backend, name):
    ours, theirs, x = UNARY[name]
    check_op(ours, theirs, [x], backend, rtol=1e-5, atol=1e-6)


def test_binary_pow_and_tensor_bounds_match_torch(backend):
    check_op(ops.pow, torch.pow, [POS, X], backend, rtol=1e-5, atol=1e-6)
    low, high = -np.abs(X[0]), np.abs(X[1])
    check_op(lambda x, lo, hi: ops.clip(x, lo, hi),
             lambda x, lo, hi: torch.clamp(x, lo, hi), [X, low, high],
             backend)


@pytest.mark.parametrize("name", ["erf", "sin", "cos", "rsqrt", "square", "clip"])
def test_unary_ops_on_odd_values_match_torch(backend, name):
    ours, theirs, _ = UNARY[name]
    check_op(ours, theirs, [ODD], backend, grads=False, rtol=1e-5, atol=1e-6)


REDUCTIONS = {
    "var": (lambda x: ops.var(x), lambda x: torch.var(x, correction=0)),
    "var_axis1": (lambda x: ops.var(x, axis=1), lambda x: torch.var(x, 1, correction=0)),
    "var_unbiased_keep": (lambda x: ops.var(x, axis=0, keepdims=True, correction=1),
                          lambda x: torch.var(x, 0, keepdim=True)),
    "var_tuple_dim": (lambda x: ops.var(x, dim=(0, 1), correction=1),
                      lambda x: torch.var(x, (0, 1))),
    "std": (lambda x: ops.std(x, correction=1), lambda x: torch.std(x)),
    "std_axis": (lambda x: ops.std(x, axis=-1, keepdims=True),
                 lambda x: torch.std(x, -1, correction=0, keepdim=True)),
    "logsumexp": (lambda x: ops.logsumexp(x), lambda x: torch.logsumexp(x, (0, 1))),
    "logsumexp_axis": (lambda x: ops.logsumexp(x, axis=1, keepdims=True),
                       lambda x: torch.logsumexp(x, 1, keepdim=True)),
    "logsumexp_dim0": (lambda x: ops.logsumexp(x, dim=0), lambda x: torch.logsumexp(x, 0)),
    "cumsum": (lambda x: ops.cumsum(x, axis=1), lambda x: torch.cumsum(x, 1)),
    "cumsum_neg": (lambda x: ops.cumsum(x, dim=-2), lambda x: torch.cumsum(x, -2)),
}


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reductions_match_torch(backend, name):
    ours, theirs = REDUCTIONS[name]
    check_op(ours, theirs, [X * 3], backend, rtol=1e-5, atol=1e-5)


def test_std_of_a_constant_row_has_zero_gradient_like_torch(backend):
    x = np.array([[2.0, 2.0, 2.0], [1.0, 2.0, 4.0]], np.float32)
    check_op(lambda x: ops.std(x, axis=1, correction=1), lambda x: torch.std(x, 1), [x],
             backend)


@pytest.mark.filterwarnings("ignore:.*degrees of freedom is <= 0:UserWarning")
def test_variance_with_too_few_values_is_nan_like_torch(backend):
    x = np.array([[1.0], [2.0]], np.float32)
    check_op(lambda x: ops.var(x, axis=1, correction=1), lambda x: torch.var(x, 1), [x],
             backend, grads=False)
    check_op(lambda x: ops.std(x, axis=1, correction=1), lambda x: torch.std(x, 1), [x],
             backend, grads=False)


def test_reductions_on_nan_and_inf_match_torch(backend):
    rows = np.array([[1.0, np.nan, 2.0], [-np.inf, -np.inf, -np.inf], [np.inf, 1.0, 2.0],
                     [1.0, 2.0, 3.0]], np.float32)
    check_op(lambda x: ops.logsumexp(x, axis=1), lambda x: torch.logsumexp(x, 1), [rows],
             backend, grads=False)
    check_op(lambda x: ops.var(x, axis=1), lambda x: torch.var(x, 1, correction=0), [rows],
             backend, grads=False)
    check_op(lambda x: ops.cumsum(x, axis=1), lambda x: torch.cumsum(x, 1), [rows], backend,
             grads=False)


ARG = np.array([[1.0, 5.0, 5.0, 2.0], [np.nan, 3.0, np.nan, 1.0], [4.0, 9.0, np.nan, 9.0],
                [-1.0, -1.0, -3.0, -3.0]], np.float32)


@pytest.mark.parametrize("op", ["argmax", "argmin"])
@pytest.mark.parametrize("axis, keepdims", [(None, False), (None, True), (1, False),
                                            (0, True), (-1, True)])
def test_argmax_argmin_match_torch_with_ties_and_nan(backend, op, axis, keepdims):
    ours, theirs = getattr(ops, op), getattr(torch, op)

    def torch_call(x):
        out = theirs(x, dim=axis, keepdim=keepdims)
        return out.reshape((1,) * x.ndim) if axis is None and keepdims else out

    check_op(lambda x: ours(x, axis, keepdims), torch_call, [ARG], backend)
    flat = None if axis is None else 0  # 1-D input
    check_op(lambda x: ours(x, dim=flat), lambda x: theirs(x, dim=flat), [ARG[3]], backend)


def test_argmax_of_an_empty_axis_is_an_error(backend):
    with pytest.raises(ValueError, match="empty"):
        ops.argmax(pm.zeros(0, 3), axis=0)
    assert tuple(pm.to_numpy(ops.argmax(pm.zeros(0, 3), axis=1)).shape) == (0,)


@pytest.mark.parametrize("dtype", ["int32", "int64", "bool"])
def test_cumsum_of_integers_is_int64_like_torch(backend, dtype):
    x = (np.arange(6).reshape(2, 3) % 2).astype(dtype)
    check_op(lambda x: ops.cumsum(x, axis=1), lambda x: torch.cumsum(x, 1), [x], backend)


def test_cumsum_without_axis_only_for_1d():
    x = pm.asarray([1.0, 2.0], backend="numpy")
    assert ops.cumsum(x).tolist() == [1.0, 3.0]
    with pytest.raises(ValueError, match="axis"):
        ops.cumsum(pm.ones(2, 2, backend="numpy"))


@pytest.mark.filterwarnings("ignore:.*degrees of freedom is <= 0:UserWarning")  # torch's own
def test_empty_inputs_same_outcome_everywhere(backend):
    empty = pm.zeros(0, 3)
    for out, shape in [(ops.var(empty, axis=0), (3,)), (ops.logsumexp(empty, axis=0), (3,)),
                       (ops.cumsum(empty, axis=0), (0, 3)), (ops.erf(empty), (0, 3)),
                       (ops.clip(empty, 0, 1), (0, 3)), (ops.var(empty, axis=1), (0,))]:
        array = pm.to_numpy(out)
        assert array.shape == shape
    assert np.isnan(pm.to_numpy(ops.var(empty, axis=0))).all()
    assert np.isneginf(pm.to_numpy(ops.logsumexp(empty, axis=0))).all()


def test_clip_needs_a_bound():
    with pytest.raises(ValueError, match="min and max"):
        ops.clip(pm.ones(2, backend="numpy"))


def test_integer_input_to_float_math_is_refused_everywhere(backend):
    with pytest.raises(TypeError, match="float tensor"):
        ops.erf(pm.asarray(np.arange(3)))
    with pytest.raises(TypeError, match="float tensor"):
        ops.var(pm.asarray(np.arange(3)))


# -- creation -------------------------------------------------------------------------------
@pytest.mark.parametrize("args, kwargs", [((5,), {}), ((2, 9, 3), {}), ((0, 1, 0.1), {}),
                                          ((1.5, 4), {}), ((3,), {"dtype": "float32"}),
                                          ((5, 0, -2), {}), ((-1.0, 1.0, 0.25), {})])
def test_arange_matches_torch(backend, args, kwargs):
    out = ops.arange(*args, **kwargs)
    expected = torch.arange(*args, dtype=getattr(torch, kwargs.get("dtype", ""), None))
    assert pm.backend_of(out) == backend
    assert pm.to_numpy(out).dtype == expected.numpy().dtype
    assert_same_numbers(out, expected, rtol=0, atol=0)


def test_arange_and_full_follow_like(backend):
    like = pm.ones(2)
    for out in (ops.arange(3, like=like), ops.full((2, 3), -np.inf, like=like)):
        assert pm.backend_of(out) == backend
    assert pm.backend_of(ops.arange(3, backend="numpy")) == "numpy"
    assert pm.to_numpy(ops.full(2, 7)).dtype == np.int64
    assert pm.to_numpy(ops.full(2, True)).dtype == np.bool_
    assert pm.to_numpy(ops.full((1, 2), 0.5)).tolist() == [[0.5, 0.5]]
    with pytest.raises(ValueError, match="step"):
        ops.arange(0, 3, 0)


def test_the_portable_page_lists_every_op():
    """docs/portable.md's tables name every public op, so the list cannot drift."""
    import re
    from pathlib import Path

    page = (Path(__file__).parent.parent / "docs" / "portable.md").read_text()
    tables = page[page.index("## Every op"):]
    listed = set(re.findall(r"`([a-z_0-9]+)[`(]", tables))
    assert set(ops.__all__) - listed == set()
