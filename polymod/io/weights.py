"""``pm.save``, ``pm.load``, ``pm.io.read`` and ``pm.load_native``: weights in the neutral
(PyTorch) layout, in safetensors files that every backend (and the safetensors library)
reads."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .. import registry
from ..errors import BackendTypeError, UninitializedParameterError, WeightsFileError
from ..module.state import LoadResult, compatible, load_into
from ..module.tree import KINDS_ALL
from .atomic import write_file
from .format import NUMPY_DTYPES, checked_path, file_error, read_header, read_tensors

FORMAT_VERSION = "1"


def save(net: Any, path: str | os.PathLike) -> None:
    """Writes the model's parameters, buffers and constants to a safetensors file.

    The write is atomic (a temporary file renamed over the target) and streamed (one
    tensor in memory at a time); the header's metadata records the format version and
    the layout.

    Raises:
        UninitializedParameterError: some parameters are still lazy.
        WeightsFileError: a bad path; ``WeightsFileOSError`` when the system refuses.

    Example:
        >>> import os, tempfile, polymod as pm
        >>> path = os.path.join(tempfile.mkdtemp(), "model.safetensors")
        >>> pm.save(pm.nn.Linear(3, 2), path)
        >>> sorted(pm.load(pm.nn.Linear(3, 2), path).missing_keys)
        []
    """
    handles = net.named_handles(KINDS_ALL)
    lazy = [name for name, h in handles if not h.materialized]
    if lazy:
        raise UninitializedParameterError(
            f"Cannot save {type(net).__name__}: parameters {lazy} are still lazy. Call the "
            f"model once (net(X)) or net.initialize(X) first.")
    entries = [(name, handle.dtype, handle.shape) for name, handle in handles]
    write_file(path, entries, [handle.numpy for _, handle in handles],
               {"format": "polymod", "format_version": FORMAT_VERSION, "layout": registry.NEUTRAL_LAYOUT})


def read(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Reads a safetensors file into NumPy arrays, validating it first (see ``read_header``).

    Raises:
        WeightsFileError: the file is missing, truncated, or not a valid safetensors file.
    """
    path = checked_path(path, "read weights file")
    header = read_header(path)
    odd = [f"{k!r} ({d})" for k, (d, _, _) in header.items() if d not in NUMPY_DTYPES]
    if odd:
        raise file_error(path, f"tensors {', '.join(odd)} have dtypes NumPy cannot hold")
    return read_tensors(path, header, list(header))


def load(net: Any, path: str | os.PathLike, strict: bool = True,
         dtype: Any = None) -> LoadResult:
    """Loads a safetensors file into ``net`` (on any backend); all-or-nothing.

    Every problem (missing or unexpected names, shapes, dtypes, a corrupt file) is
    checked first and reported in one ``WeightsFileError`` naming the file; the
    model is unchanged then. Names, shapes and dtypes are checked from the header,
    before any tensor is read, so a mismatched file costs no memory. Lazy shapes
    not known yet are taken from the file.

    The model keeps its dtype: the file's floats (F16, BF16, F32, F64) are cast into
    it, refused where a value would overflow. ``dtype`` ("bfloat16", ...) first casts
    the model (``net.to(dtype=...)``), so a bfloat16 file loads into a float32-built
    model without a float32 copy of the weights in the end.

    Example:
        >>> import os, tempfile, polymod as pm
        >>> path = os.path.join(tempfile.mkdtemp(), "half.safetensors")
        >>> pm.save(pm.nn.Linear(3, 2, dtype="bfloat16"), path)
        >>> net = pm.nn.Linear(3, 2)
        >>> _ = pm.load(net, path, dtype="bfloat16")
        >>> net.weight.dtype.name
        'bfloat16'
    """
    path = checked_path(path, "read weights file")
    header = read_header(path)
    if dtype is not None:
        net.to(dtype=dtype)
    expected = dict(net.named_handles(KINDS_ALL, remove_duplicate=False))
    state: dict[str, Any] = {}
    wanted = []
    for name, (code, shape, _) in header.items():
        handle = expected.get(name)
        dtype = NUMPY_DTYPES.get(code)
        if handle is not None and dtype is None:
            raise file_error(path, f"tensor {name!r} has dtype {code}, which NumPy cannot "
                                   f"hold; the model has {handle.dtype}")
        if handle is not None and compatible(dtype, handle.dtype) and (
                not handle.materialized or handle.shape == shape):
            wanted.append(name)
            state[name] = None
        else:  # unexpected or mismatched: checked from the header, never read
            placeholder = np.zeros(1, dtype if dtype is not None else np.uint8)
            state[name] = np.lib.stride_tricks.as_strided(
                placeholder, shape=shape, strides=(0,) * len(shape), writeable=False)
    state.update(read_tensors(path, header, wanted))
    return load_into(net, state, strict, source=path)


def load_native(net: Any, source: Any) -> LoadResult:
    """Imports weights from a framework object: a PyTorch ``state_dict`` (or module), a
    Keras model (kernels transposed to the neutral layout) or a Gluon block.

    PyTorch names are used as they are; Keras and Gluon weights are matched to
    the model's parameters in order (both list them in creation order), with
    every shape checked before anything is written. The framework is recognised
    from the object's classes, so subclasses (a user's ``torch.nn.Module``, a
    ``keras.Model`` subclass, torchvision's or Hugging Face's models) are accepted.

    Example:
        >>> import polymod as pm, torch
        >>> native_layer = torch.nn.Linear(3, 2)
        >>> net = pm.nn.Linear(3, 2)
        >>> _ = pm.load_native(net, native_layer.state_dict())
        >>> bool((net.weight == native_layer.weight.detach().numpy()).all())
        True
    """
    from collections.abc import Mapping

    if isinstance(source, Mapping):
        return load_into(net, source, True, source="state_dict")
    spec = registry.framework_of(source)
    if spec is None:
        kinds = ", ".join(s.name for s in registry.SPECS if not s.reference)
        raise BackendTypeError(f"load_native expects a state_dict or a model of a framework "
                               f"({kinds}); received {type(source).__qualname__}.")
    arrays = registry.adapter(spec.name).export_weights(source)
    if isinstance(arrays, Mapping):
        return load_into(net, arrays, True, source=type(source).__name__)
    names = [n for n, _ in net.named_parameters()]
    if len(arrays) != len(names):
        raise WeightsFileError(f"Cannot load {type(source).__name__}: it has {len(arrays)} "
                               f"weights, {type(net).__name__} has {len(names)} parameters "
                               f"({names}).")
    return load_into(net, dict(zip(names, arrays, strict=True)), True,
                     source=type(source).__name__)
