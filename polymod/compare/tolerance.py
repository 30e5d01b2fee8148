"""When two arrays count as the same numbers: the tolerance rule of ``compare``.

A leaf (an output, a submodule's output, a parameter's gradient) agrees with its
reference when every element satisfies

    |actual - expected| <= atol + max(rtol * scale, NOISE_FACTOR * noise)

* ``scale`` is the largest finite ``|expected|`` of the whole leaf, not of each
  element. Frameworks sum in different orders, so a float32 result is off by a few
  units in the last place of the *largest* partial sums: an element that comes out
  near zero by cancellation (a BatchNorm output, a residual sum) carries an error
  of the leaf's scale, and an element-wise relative test flags it although nothing
  is wrong (a healthy ResNet-18 was flagged at ``bn1`` that way).
* ``noise`` is what rounding alone does at that point of the model, measured only
  when the first test fails: the reference runs again with every submodule's
  output multiplied by ``1 ± u`` (``u`` the dtype's unit roundoff, random signs),
  and ``noise`` is the largest change that causes. Most models keep rounding
  errors near ``u``; some amplify them (BatchNorm in training mode over a few
  values per channel: ResNet-50's last stage at 64x64 and batch 2 normalises 8
  values per channel and turns float32 rounding into 1e-3 of the scale). There a
  difference is flagged only if it exceeds ten times what rounding does there
  (a hundred times for gradients: ``GRAD_NOISE_FACTOR``).
* For gradients, the scale is at least ``GRAD_SCALE_FLOOR`` (1e-3) of the model's
  largest gradient: a gradient that is zero in exact arithmetic comes out as
  different rounding noise on every framework.
* NaN must be NaN on both sides and infinities must match; integer and bool
  leaves must be equal.

Defaults by dtype (``rtol``; ``atol`` is 0): float32 1e-5, float64 1e-12; the 16-bit
types ``LOW_PRECISION_EPS`` (8) times their machine epsilon: float16 7.8e-3, bfloat16
6.25e-2 (a handful of roundings of the output's scale; measured on the chapter MLP,
ResNet-18 and BERT: outputs 0.4-1.8 eps of bfloat16 and up to 5 eps of float16 from the
NumPy reference, see docs/dtypes.md). With float32, a change of 1e-4 of a layer's output
is 10x the tolerance at that layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..dtypes import eps, is_float

#: How many times the measured rounding noise an output difference may reach.
NOISE_FACTOR = 10.0
#: The same for gradients: the nudge perturbs the values (and, through the product,
#: the gradients) at submodule boundaries, but not the backward pass's own long
#: reductions (a weight gradient sums over batch and positions, in an order each
#: framework chooses). Measured: differences up to 4x the estimate on outputs, and
#: on gradients 2x (ResNet-18 train, BERT), but 67x in ResNet-50's last stage in
#: training mode at 64x64, batch 2, where float32 gradients are 4-40 % off the
#: float64 ones on every framework.
GRAD_NOISE_FACTOR = 100.0
#: A parameter's gradient is compared at the larger of its own scale and this fraction
#: of the model's largest gradient: a gradient that is zero in exact arithmetic (the
#: key bias of an attention: softmax ignores a constant added to all scores) comes out
#: as rounding noise of ~1e-9, different on every framework, and means nothing.
GRAD_SCALE_FLOOR = 1e-3

#: The default rtol of float16 and bfloat16, in units of the dtype's machine epsilon.
LOW_PRECISION_EPS = 8
_RTOL = {"float64": 1e-12, "float32": 1e-5, "float16": LOW_PRECISION_EPS * 2.0 ** -10,
         "bfloat16": LOW_PRECISION_EPS * 2.0 ** -7}


def default_rtol(dtype: object) -> float:
    """The default ``rtol`` for leaves of ``dtype`` (float32's for anything unknown).

    Example:
        >>> from polymod.compare.tolerance import default_rtol
        >>> default_rtol("float32"), default_rtol("float64")
        (1e-05, 1e-12)
    """
    name = str(dtype)
    try:
        name = np.dtype(dtype).name
    except TypeError:  # bfloat16 without ml_dtypes
        pass
    return _RTOL.get(name, 1e-5)


def unit_roundoff(dtype: object) -> float:
    """Half the machine epsilon of a float dtype (the size of one rounding)."""
    try:
        return eps(np.dtype(dtype)) / 2
    except (TypeError, ValueError):  # a dtype NumPy does not know (bfloat16 without
        return 2.0 ** -8               # ml_dtypes): bfloat16's


@dataclass
class Diff:
    """How far one leaf is from its reference.

    ``max_abs``: largest ``|actual - expected|``; ``rel``: ``max_abs / scale``;
    ``limit``: the largest difference the rule allows; ``ok``: within it.
    """

    max_abs: float
    rel: float
    scale: float
    limit: float
    ok: bool


def scale_of(expected: np.ndarray) -> float:
    """The largest finite ``|value|`` of a leaf (0 for an empty or all-NaN leaf)."""
    if expected.dtype.kind not in "fc" and not is_float(expected.dtype):
        return float(np.abs(expected).max()) if expected.size else 0.0
    finite = np.abs(expected[np.isfinite(expected)])
    return float(finite.max()) if finite.size else 0.0


def difference(actual: np.ndarray, expected: np.ndarray, rtol: float, atol: float,
               noise: float = 0.0, noise_factor: float = NOISE_FACTOR,
               scale_floor: float = 0.0) -> Diff:
    """Applies the rule to one leaf (``noise``: the measured rounding noise, if any).

    Example:
        >>> import numpy as np
        >>> from polymod.compare.tolerance import difference
        >>> d = difference(np.array([1.0, 1e-9]), np.array([1.0, 2e-9]), rtol=1e-5, atol=0)
        >>> d.ok, d.max_abs
        (True, 1e-09)
    """
    actual, expected = np.asarray(actual), np.asarray(expected)
    if actual.shape != expected.shape:
        return Diff(float("inf"), float("inf"), float("nan"), 0.0, False)
    scale = max(scale_of(expected), scale_floor)
    limit = atol + max(rtol * scale, noise_factor * noise)
    if actual.size == 0:
        return Diff(0.0, 0.0, scale, limit, True)
    if expected.dtype.kind in "biu" and actual.dtype.kind in "biu":
        wrong = actual != expected
        err = float(np.abs(actual.astype(np.float64) - expected.astype(np.float64)).max())
        return Diff(err, err / scale if scale else (0.0 if not err else float("inf")), scale,
                    0.0, not wrong.any())
    a = actual.astype(np.float64)
    b = expected.astype(np.float64)
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    inf_mismatch = (np.isinf(a) | np.isinf(b)) & (a != b) & ~(nan_a | nan_b)
    if (nan_a != nan_b).any() or inf_mismatch.any():
        return Diff(float("inf"), float("inf"), scale, limit, False)
    finite = np.isfinite(a) & np.isfinite(b)
    err = float(np.abs(a[finite] - b[finite]).max()) if finite.any() else 0.0
    rel = err / scale if scale else (0.0 if not err else float("inf"))
    return Diff(err, rel, scale, limit, err <= limit)


def allclose(actual: np.ndarray, expected: np.ndarray, rtol: float, atol: float) -> bool:
    """Element-wise ``np.allclose`` with NaN equal to NaN and shapes equal (the rule of
    ``polymod compare --from-torch``, ``polymod.convert.cli``)."""
    a, b = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True))


def max_differences(actual: np.ndarray, expected: np.ndarray) -> tuple[float, float]:
    """``(max |a - b|, max |a - b| / scale)`` of two arrays (inf for a shape mismatch)."""
    diff = difference(actual, expected, 0.0, 0.0)
    return diff.max_abs, diff.rel
