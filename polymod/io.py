"""Weights: safetensors files in the neutral (PyTorch) layout, and state-dict loading.

Writes are atomic and streamed: one temporary file beside the target, written
tensor by tensor, fsync'ed, then renamed over the target (``os.replace``), so a
crash or kill leaves the previous file intact. Files are read with the
safetensors library's validated loader; nothing is ever unpickled.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
from collections.abc import Mapping
from typing import Any

import numpy as np

from . import backend as _backend
from .errors import BackendTypeError, WeightsFileError
from .module import LoadResult, Module

FORMAT_VERSION = "1"
_DTYPES = {"float64": "F64", "float32": "F32", "float16": "F16", "int64": "I64",
           "int32": "I32", "int16": "I16", "int8": "I8", "uint8": "U8", "bool": "BOOL"}


def _handles(net: Module) -> list:
    return list(net._named_handles(("parameter", "buffer", "constant")))


def save(net: Module, path: str | os.PathLike) -> None:
    """Writes the model's parameters, buffers and constants to a safetensors file.

    Example:
        >>> import os, tempfile, polymod as pm
        >>> path = os.path.join(tempfile.mkdtemp(), "model.safetensors")
        >>> pm.save(pm.nn.Linear(3, 2), path)
        >>> sorted(pm.load(pm.nn.Linear(3, 2), path).missing_keys)
        []
    """
    handles = [(name, h) for name, h in _handles(net) if h.materialized]
    lazy = [name for name, h in _handles(net) if not h.materialized]
    if lazy:
        raise WeightsFileError(f"Cannot save {type(net).__name__}: parameters {lazy} are still "
                               f"lazy. Call the model once (net(X)) first.")
    header: dict[str, Any] = {"__metadata__": {"format": "polymod", "format_version":
                                               FORMAT_VERSION, "layout": "torch"}}
    offset = 0
    for name, handle in handles:
        nbytes = int(np.prod(handle.shape)) * handle.dtype.itemsize
        header[name] = {"dtype": _DTYPES[handle.dtype.name], "shape": list(handle.shape),
                        "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".polymod-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(struct.pack("<Q", len(encoded)))
            f.write(encoded)
            for _, handle in handles:  # one tensor in memory at a time
                f.write(memoryview(np.ascontiguousarray(handle.numpy())).cast("B"))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Reads a safetensors file into NumPy arrays, validating it first.

    Raises:
        WeightsFileError: the file is missing, truncated, or not a valid safetensors file.
    """
    from safetensors import SafetensorError, safe_open

    path = os.fspath(path)
    try:
        with safe_open(path, framework="np") as f:
            return {key: f.get_tensor(key) for key in f.keys()}
    except (SafetensorError, OSError, ValueError, TypeError) as err:
        raise WeightsFileError(f"Cannot read weights file {path!r}: {err}. Expected a "
                               f"safetensors file written by pm.save or safetensors.") from None


def load(net: Module, path: str | os.PathLike, strict: bool = True) -> LoadResult:
    """Loads a safetensors file into ``net`` (on any backend); all-or-nothing.

    Every problem (missing or unexpected names, shapes, dtypes, a corrupt file) is
    checked first and reported in one ``WeightsFileError`` naming the file; the
    model is unchanged then. Lazy shapes not known yet are taken from the file.
    """
    return check_and_assign(net, read(path), strict, source=os.fspath(path))


def check_and_assign(net: Module, state: Mapping[str, Any], strict: bool,
                     source: str) -> LoadResult:
    """Validates ``state`` against ``net`` completely, then assigns (see ``load``)."""
    if not isinstance(state, Mapping):
        raise WeightsFileError(f"Expected a mapping of names to arrays; received "
                               f"{type(state).__qualname__}.")
    expected = dict(_handles(net))
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    problems = []
    if strict:
        problems += [f"missing {k!r}" for k in missing]
        problems += [f"unexpected {k!r}" for k in unexpected]
    arrays = {}
    for name, handle in expected.items():
        if name not in state:
            continue
        try:
            array = _to_numpy(state[name])
        except BackendTypeError:
            problems.append(f"{name!r}: not an array ({type(state[name]).__qualname__})")
            continue
        if handle.materialized and tuple(array.shape) != handle.shape:
            problems.append(f"{name!r}: shape {tuple(array.shape)} in {source}, model has "
                            f"{handle.shape}")
        elif array.dtype.kind != handle.dtype.kind and not (
                array.dtype.kind in "iub" and handle.dtype.kind in "iub"):
            problems.append(f"{name!r}: dtype {array.dtype} in {source}, model has "
                            f"{handle.dtype}")
        arrays[name] = array
    if problems:
        raise WeightsFileError(
            f"Cannot load {source!r} into {type(net).__name__} ({len(problems)} problem"
            f"{'s' if len(problems) > 1 else ''}; the model is unchanged):\n  - "
            + "\n  - ".join(problems))
    for name, array in arrays.items():
        expected[name].assign(array)
    return LoadResult(missing, unexpected)


def _to_numpy(value: Any) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    return _backend.adapter_of(value).to_numpy(value)


def load_native(net: Module, source: Any) -> LoadResult:
    """Imports weights from a framework object: a PyTorch ``state_dict`` (or module), a
    Keras model (kernels transposed to the neutral layout) or a Gluon block.

    PyTorch names are used as they are; Keras and Gluon weights are matched to
    the model's parameters in order (both list them in creation order), with
    every shape checked before anything is written.

    Example:
        >>> import polymod as pm, torch
        >>> native_layer = torch.nn.Linear(3, 2)
        >>> net = pm.nn.Linear(3, 2)
        >>> _ = pm.load_native(net, native_layer.state_dict())
        >>> bool((net.weight == native_layer.weight.detach().numpy()).all())
        True
    """
    if isinstance(source, Mapping):
        return check_and_assign(net, source, True, source="state_dict")
    kind = type(source).__module__.partition(".")[0]
    name = {"torch": "torch", "keras": "keras", "tensorflow": "keras", "mxnet": "gluon"}.get(kind)
    if name is None:
        raise BackendTypeError(f"load_native expects a state_dict, a torch.nn.Module, a Keras "
                               f"model or a Gluon block; received {type(source).__qualname__}.")
    arrays = _backend.adapter(name).export_weights(source)
    if isinstance(arrays, Mapping):
        return check_and_assign(net, arrays, True, source=type(source).__name__)
    names = [n for n, _ in net.named_parameters()]
    if len(arrays) != len(names):
        raise WeightsFileError(f"Cannot load {type(source).__name__}: it has {len(arrays)} "
                               f"weights, {type(net).__name__} has {len(names)} parameters "
                               f"({names}).")
    return check_and_assign(net, dict(zip(names, arrays)), True, source=type(source).__name__)
