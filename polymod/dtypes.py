"""The float dtypes a model may hold, and the one function that reads a dtype argument.

A model's parameters are float16, bfloat16, float32 (the default) or float64. NumPy has
no bfloat16: it comes from ``ml_dtypes`` (installed with TensorFlow and JAX), which
registers it as a NumPy dtype, so the core keeps using ``np.dtype`` everywhere.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import BackendTypeError, DTypeError

#: The names a model dtype may be given by, and what they mean.
FLOAT_NAMES = ("float16", "bfloat16", "float32", "float64")
_ALIASES = {"half": "float16", "fp16": "float16", "f16": "float16", "bf16": "bfloat16",
            "float": "float32", "fp32": "float32", "f32": "float32", "single": "float32",
            "double": "float64", "fp64": "float64", "f64": "float64"}
_parsed: dict[Any, np.dtype] = {}


def bfloat16() -> np.dtype:
    """NumPy's bfloat16 dtype (from ``ml_dtypes``).

    Raises:
        DTypeError: ``ml_dtypes`` is not installed.
    """
    try:
        import ml_dtypes
    except ImportError:
        raise DTypeError("bfloat16 needs the ml_dtypes package (pip install ml_dtypes; "
                               "TensorFlow and JAX install it).") from None
    return np.dtype(ml_dtypes.bfloat16)


def float_dtype(dtype: Any, where: str = "dtype") -> np.dtype:
    """A model dtype from a name (``"bfloat16"``, ``"half"``, ``"torch.float16"``), a NumPy
    dtype or type, or a framework's dtype object (``torch.bfloat16``, ``tf.float16``).

    Args:
        dtype: what the user passed.
        where: the argument's name, for the error message.

    Raises:
        BackendTypeError: not one of float16, bfloat16, float32, float64.

    Example:
        >>> import polymod as pm
        >>> pm.float_dtype("half")
        dtype('float16')
        >>> pm.float_dtype("bf16").name
        'bfloat16'
    """
    try:
        return _parsed[dtype]
    except (KeyError, TypeError):
        pass
    name = _name_of(dtype)
    name = _ALIASES.get(name, name)
    if name not in FLOAT_NAMES:
        raise DTypeError(f"{where} must be one of {', '.join(FLOAT_NAMES)}; received "
                               f"{dtype!r}.")
    out = bfloat16() if name == "bfloat16" else np.dtype(name)
    if isinstance(dtype, (str, np.dtype, type)):
        # only these are cached: a framework's dtype object seen first while torch.compile
        # traces would make the cache write a side effect dynamo cannot replay
        _parsed[dtype] = out
    return out


def any_dtype(dtype: Any) -> np.dtype:
    """A dtype for a creator (``pm.zeros(..., dtype=...)``): a model dtype by any of its
    names, or any other NumPy dtype (``"int64"``, ``bool``)."""
    try:
        return float_dtype(dtype)
    except BackendTypeError:
        pass
    try:
        return np.dtype(_name_of(dtype))
    except TypeError:
        raise DTypeError(f"Unknown dtype {dtype!r}; expected a NumPy dtype or one of "
                               f"{', '.join(FLOAT_NAMES)}.") from None


def _name_of(dtype: Any) -> str:
    if isinstance(dtype, str):
        return dtype.lower().rpartition(".")[2]  # a framework's printed name: "<fw>.float16"
    name = getattr(dtype, "name", None)  # np.dtype, tf.DType, ml_dtypes' type's dtype
    if isinstance(name, str) and not isinstance(dtype, type):
        return name.lower()
    if isinstance(dtype, type) or hasattr(dtype, "dtype"):  # np.float16, jnp.bfloat16
        try:
            return np.dtype(dtype).name
        except TypeError:
            pass
    return str(dtype).lower().rpartition(".")[2]  # a framework's dtype prints "<fw>.float16"


def is_model_float(dtype: np.dtype) -> bool:
    """Whether ``dtype`` is one of the float dtypes a model may hold (what ``to(dtype=)``
    casts: integer buffers such as ``num_batches_tracked`` are left alone)."""
    return dtype.name in FLOAT_NAMES


def is_float(dtype: np.dtype) -> bool:
    """Whether ``dtype`` holds floats: NumPy's kind "f", and bfloat16 (kind "V")."""
    return dtype.kind == "f" or dtype.name == "bfloat16"


def eps(dtype: np.dtype) -> float:
    """The machine epsilon of a float dtype, bfloat16 included (2**-7)."""
    if dtype.name == "bfloat16":
        return 2.0 ** -7
    return float(np.finfo(dtype).eps)


def max_value(dtype: np.dtype) -> float:
    """The largest finite value of a float dtype, bfloat16 included."""
    if dtype.name == "bfloat16":
        return (2 - 2.0 ** -7) * 2.0 ** 127
    return float(np.finfo(dtype).max)
