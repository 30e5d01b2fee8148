"""Moving data between NumPy and the backends' own tensors."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import registry, selection
from .dtypes import any_dtype
from .errors import BackendTypeError
from .random import normalize_shape


def to_numpy(x: Any) -> np.ndarray:
    """Copies any backend's tensor (or a NumPy array, list, number) into a NumPy array.

    Example:
        >>> import polymod as pm
        >>> pm.to_numpy(pm.ones(2, backend="numpy"))
        array([1., 1.], dtype=float32)
    """
    if isinstance(x, (list, tuple, int, float, bool)):
        return np.asarray(x)
    return registry.adapter_of(x).to_numpy(x)


def asarray(data: Any, backend: str | None = None, dtype: Any = None) -> Any:
    """Makes a native tensor of ``backend`` from NumPy data, a list or any backend's tensor.

    Float data becomes float32 unless ``dtype`` says otherwise; integer and bool
    data keep their dtype.

    Example:
        >>> import polymod as pm
        >>> pm.asarray([[1, 2.5]], backend="numpy").dtype
        dtype('float32')
    """
    try:
        array = to_numpy(data)
    except BackendTypeError:
        array = np.asarray(data)
    if dtype is not None:
        array = array.astype(any_dtype(dtype), copy=False)
    elif array.dtype.kind == "f" and array.dtype != np.float32:
        array = array.astype(np.float32)
    elif array.dtype.kind not in "biuf" and array.dtype.name != "bfloat16":
        raise BackendTypeError(
            f"Expected numeric data for pm.asarray; received dtype {array.dtype} (from "
            f"{type(data).__qualname__}).{registry.conversion_hint(data)}")
    return selection.chosen_adapter(backend).from_numpy(array)


def zeros(*shape: Any, backend: str | None = None, dtype: Any = "float32") -> Any:
    """A native tensor of zeros.

    Example:
        >>> import polymod as pm
        >>> pm.zeros(2, 3, backend="numpy").shape
        (2, 3)
    """
    array = np.zeros(normalize_shape(shape), any_dtype(dtype))
    return selection.chosen_adapter(backend).from_numpy(array)


def ones(*shape: Any, backend: str | None = None, dtype: Any = "float32") -> Any:
    """A native tensor of ones.

    Example:
        >>> import polymod as pm
        >>> pm.ones(3, backend="numpy")
        array([1., 1., 1.], dtype=float32)
    """
    array = np.ones(normalize_shape(shape), any_dtype(dtype))
    return selection.chosen_adapter(backend).from_numpy(array)
