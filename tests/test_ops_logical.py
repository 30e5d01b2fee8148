"""``ops.logical_and / or / xor / not`` against torch's on every backend: booleans,
numbers (nonzero is true, NaN too) and broadcasting; the result is bool."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from op_check import check_op  # noqa: E402

from polymod import ops  # noqa: E402

A = np.array([[True, False, True, False]])
B = np.array([[True], [False]])
F = np.array([[0.0, 1.5, np.nan, -2.0], [0.0, 0.0, 3.0, 0.0]], np.float32)
N = np.array([[0, 2, 0, -1]], np.int64)


@pytest.mark.parametrize("name", ["logical_and", "logical_or", "logical_xor"])
@pytest.mark.parametrize("pair", ["bool", "numbers", "mixed"])
def test_binary_logical_ops_match_torch(backend, name, pair):
    arrays = {"bool": [A, B], "numbers": [F, N], "mixed": [B, F]}[pair]
    check_op(getattr(ops, name), getattr(torch, name), arrays, backend, grads=False)


@pytest.mark.parametrize("x", [A, F, N], ids=["bool", "float", "int"])
def test_logical_not_matches_torch(backend, x):
    check_op(ops.logical_not, torch.logical_not, [x], backend, grads=False)


def test_a_python_bool_on_one_side(backend):
    check_op(lambda a: ops.logical_and(a, True), lambda a: torch.logical_and(
        a, torch.tensor(True)), [A], backend, grads=False)
    check_op(lambda a: ops.logical_or(a, False), lambda a: torch.logical_or(
        a, torch.tensor(False)), [A], backend, grads=False)
