"""Weights: safetensors files in the neutral (PyTorch) layout, and state-dict loading.

Writes are atomic and streamed: one temporary file beside the target, written
tensor by tensor, fsync'ed, then renamed over the target (``os.replace``), so a
crash or kill leaves the previous file intact. A save killed with SIGKILL
cannot remove its temporary file (``.polymod-<pid>@<host>-*.tmp``); it is never
read as weights, and the next ``save`` into the same folder on the same host
removes the ones whose process is gone.

Files are read with plain reads into fresh arrays; nothing is ever unpickled.
Before that, polymod reads the header itself with sanity limits
(header length within the file and at most 100 MB, no duplicate keys, known
dtypes, every tensor's bytes inside the file and matching its shape), and
``load`` checks names, shapes and dtypes against the model from the header
alone, so a hostile or mismatched file is refused without reading (or
allocating) its tensors, and the model is left unchanged.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import stat
import struct
from collections.abc import Mapping
from typing import Any

import numpy as np

from . import memory as _memory
from . import registry
from .errors import BackendTypeError, WeightsFileError
from .module import LoadResult, Module

FORMAT_VERSION = "1"
_DTYPES = {"float64": "F64", "float32": "F32", "float16": "F16", "int64": "I64",
           "int32": "I32", "int16": "I16", "int8": "I8", "uint8": "U8", "bool": "BOOL"}
_NUMPY_DTYPES = {code: np.dtype(name) for name, code in _DTYPES.items()}
# every dtype safetensors knows, with its item size (those NumPy cannot hold included)
_ITEMSIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1, "I64": 8,
             "I32": 4, "I16": 2, "I8": 1, "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1}
_MAX_HEADER = 100_000_000  # bytes; safetensors' own limit
_ORPHAN = re.compile(r"^\.polymod-(\d+)@(.+)-[A-Za-z0-9_]+\.tmp$")


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
    write_tensors(path, [(name, h.dtype, h.shape, h.numpy) for name, h in handles],
                  {"format": "polymod", "format_version": FORMAT_VERSION, "layout": "torch"})


def write_tensors(path: str | os.PathLike, tensors: list[tuple[str, np.dtype, tuple, Any]],
                  metadata: dict[str, str]) -> None:
    """Writes ``(name, dtype, shape, get_array)`` tensors to a safetensors file, atomically
    and streamed (each ``get_array()`` is called once, in order, while writing)."""
    header: dict[str, Any] = {"__metadata__": metadata}
    offset = 0
    for name, dtype, shape, _ in tensors:
        nbytes = int(np.prod(shape)) * dtype.itemsize
        header[name] = {"dtype": _DTYPES[dtype.name], "shape": list(shape),
                        "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise WeightsFileError(f"Cannot save to {path!r}: the folder {folder!r} does not "
                               f"exist. Create it first (os.makedirs).")
    _remove_orphans(folder)
    import tempfile  # lazily: import time budget

    fd, tmp = tempfile.mkstemp(prefix=f".polymod-{os.getpid()}@{_host()}-", suffix=".tmp",
                               dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(struct.pack("<Q", len(encoded)))
            f.write(encoded)
            for *_, get_array in tensors:  # one tensor in memory at a time
                f.write(memoryview(np.ascontiguousarray(get_array())).cast("B"))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _host() -> str:
    import socket

    return re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname()) or "host"


def _remove_orphans(folder: str) -> None:
    """Removes temp files of saves killed on this host whose process is gone."""
    if os.name != "posix":  # os.kill(pid, 0) would terminate the process on Windows
        return
    try:
        names = os.listdir(folder)
    except OSError:
        return
    host = _host()
    for name in names:
        match = _ORPHAN.match(name)
        if match is None or match[2] != host:
            continue
        pid = int(match[1])
        if pid == os.getpid():
            continue  # a save running in another thread of this process
        try:
            os.kill(pid, 0)
            continue  # alive (or pid reused): leave it
        except ProcessLookupError:
            pass
        except OSError:
            continue
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(folder, name))


def _file_error(path: str, why: str) -> WeightsFileError:
    return WeightsFileError(f"Cannot read weights file {path!r}: {why}. Expected a "
                            f"safetensors file written by pm.save or safetensors.")


def read_header(path: str | os.PathLike) -> dict[str, tuple[str, tuple[int, ...], list[int]]]:
    """The validated header of a safetensors file, without reading any tensor data.

    Returns:
        ``{name: (dtype code, shape, [begin, end])}`` in file order (``__metadata__`` left
        out).

    Raises:
        WeightsFileError: naming the file: not a regular file, too short, a header length
            beyond the file or over 100 MB, invalid JSON, duplicate keys, an unknown
            dtype, a bad shape, tensor bytes outside the file or not matching the shape,
            or tensors that overlap or leave gaps.
    """
    path = os.fspath(path)
    try:
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            raise _file_error(path, "it is a directory")
        if not stat.S_ISREG(info.st_mode):
            raise _file_error(path, "it is not a regular file")
        size = info.st_size
        if size < 8:
            raise _file_error(path, f"the file has {size} bytes, fewer than the 8-byte "
                                    f"header length")
        with open(path, "rb") as f:
            (length,) = struct.unpack("<Q", f.read(8))
            if length > size - 8 or length > _MAX_HEADER:
                raise _file_error(path, f"the header claims {length} bytes, but the file "
                                        f"has {size - 8} after the length field (limit "
                                        f"{_MAX_HEADER})")
            raw = f.read(length)
    except FileNotFoundError:
        raise _file_error(path, "no such file") from None
    except OSError as err:
        raise _file_error(path, err.strerror or str(err)) from None
    repeated: list[str] = []

    def no_duplicates(pairs: list) -> dict:
        out: dict = {}
        for key, value in pairs:
            if key in out:
                repeated.append(key)
            out[key] = value
        return out

    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=no_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise _file_error(path, f"the header is not valid UTF-8 JSON ({err})") from None
    if repeated:
        raise _file_error(path, f"the header repeats the keys {sorted(set(repeated))}")
    if not isinstance(header, dict):
        raise _file_error(path, f"the header is a JSON {type(header).__name__}, not an object")
    data_size = size - 8 - length
    entries: dict[str, tuple[str, tuple[int, ...], list[int]]] = {}
    for name, entry in header.items():
        if name == "__metadata__":
            if not isinstance(entry, dict) or not all(
                    isinstance(v, str) for v in entry.values()):
                raise _file_error(path, "__metadata__ must map strings to strings")
            continue
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise _file_error(path, f"tensor {name!r} must have exactly dtype, shape and "
                                    f"data_offsets")
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if dtype not in _ITEMSIZE:
            raise _file_error(path, f"tensor {name!r} has unknown dtype {dtype!r}")
        if not isinstance(shape, list) or not all(type(n) is int and n >= 0 for n in shape):
            raise _file_error(path, f"tensor {name!r} has shape {shape!r}; expected a list "
                                    f"of non-negative integers")
        if not (isinstance(offsets, list) and len(offsets) == 2
                and all(type(o) is int for o in offsets)
                and 0 <= offsets[0] <= offsets[1] <= data_size):
            raise _file_error(path, f"tensor {name!r} has data_offsets {offsets!r}, outside "
                                    f"the file's {data_size} data bytes")
        nbytes = math.prod(shape) * _ITEMSIZE[dtype]
        if offsets[1] - offsets[0] != nbytes:
            raise _file_error(path, f"tensor {name!r} of shape {shape} and dtype {dtype} needs "
                                    f"{nbytes} bytes; its data_offsets {offsets} hold "
                                    f"{offsets[1] - offsets[0]}")
        entries[name] = (dtype, tuple(shape), offsets)
    # as the safetensors format requires: the tensors tile the data, no gap and no overlap
    # (else a small file could name the same bytes many times and make a reader allocate more)
    end = 0
    for name, (_, _, (begin, stop)) in sorted(entries.items(), key=lambda e: e[1][2]):
        if begin != end:
            raise _file_error(path, f"tensor {name!r} starts at byte {begin} of the data; "
                                    f"the tensors before it end at {end} (tensors must not "
                                    f"overlap or leave gaps)")
        end = stop
    if end != data_size:
        raise _file_error(path, f"the tensors cover {end} of the file's {data_size} data bytes")
    return entries


def _read_tensors(path: str, header: dict, names: list[str]) -> dict[str, np.ndarray]:
    """The tensors ``names`` of a file whose ``header`` was validated, read into fresh arrays.

    Plain reads into preallocated (64-byte aligned) arrays, not a memory map: the peak is
    the arrays alone, and a framework that adopts aligned memory takes them as they are.
    """
    arrays = {}
    try:
        with open(path, "rb") as f:
            (length,) = struct.unpack("<Q", f.read(8))
            for name in names:
                code, shape, (begin, end) = header[name]
                array = _memory.aligned_empty(shape, _NUMPY_DTYPES[code])
                f.seek(8 + length + begin)
                if f.readinto(memoryview(array.reshape(-1).view(np.uint8))) != end - begin:
                    raise _file_error(path, f"the file ended inside tensor {name!r} (it "
                                            f"changed while being read)")
                arrays[name] = array
    except OSError as err:
        raise _file_error(path, err.strerror or str(err)) from None
    return arrays


def read(path: str | os.PathLike, names: list[str] | None = None) -> dict[str, np.ndarray]:
    """Reads a safetensors file (the tensors ``names``, or all) into NumPy arrays,
    validating it first (see ``read_header``).

    Raises:
        WeightsFileError: the file is missing, truncated, or not a valid safetensors file.
    """
    path = os.fspath(path)
    header = read_header(path)
    names = list(header) if names is None else names
    odd = [f"{k!r} ({header[k][0]})" for k in names if header[k][0] not in _NUMPY_DTYPES]
    if odd:
        raise _file_error(path, f"tensors {', '.join(odd)} have dtypes NumPy cannot hold")
    return _read_tensors(path, header, names)


def _compatible(file_dtype: np.dtype, model_dtype: np.dtype) -> bool:
    """Whether a file's dtype may be cast into the model's (same kind; ints and bools mix)."""
    return file_dtype.kind == model_dtype.kind or (
        file_dtype.kind in "iub" and model_dtype.kind in "iub")


def load(net: Module, path: str | os.PathLike, strict: bool = True) -> LoadResult:
    """Loads a safetensors file into ``net`` (on any backend); all-or-nothing.

    Every problem (missing or unexpected names, shapes, dtypes, a corrupt file) is
    checked first and reported in one ``WeightsFileError`` naming the file; the
    model is unchanged then. Names, shapes and dtypes are checked from the header,
    before any tensor is read, so a mismatched file costs no memory. Lazy shapes
    not known yet are taken from the file.
    """
    path = os.fspath(path)
    header = read_header(path)
    expected = _alias_names(net)
    state: dict[str, Any] = {}
    wanted = []
    for name, (code, shape, _) in header.items():
        handle = expected.get(name)
        dtype = _NUMPY_DTYPES.get(code)
        if handle is not None and dtype is None:
            raise _file_error(path, f"tensor {name!r} has dtype {code}, which NumPy cannot "
                                    f"hold; the model has {handle.dtype}")
        if handle is not None and _compatible(dtype, handle.dtype) and (
                not handle.materialized or handle.shape == shape):
            wanted.append(name)
            state[name] = None
        else:  # unexpected or mismatched: checked from the header, never read
            placeholder = np.zeros(1, dtype if dtype is not None else np.uint8)
            state[name] = np.lib.stride_tricks.as_strided(
                placeholder, shape=shape, strides=(0,) * len(shape), writeable=False)
    state.update(_read_tensors(path, header, wanted))
    return check_and_assign(net, state, strict, source=path)


def _alias_names(module: Module, prefix: str = "") -> dict[str, Any]:
    """Every name of every parameter, buffer and constant, aliases of shared ones too."""
    names = {f"{prefix}{name}": handle for name, handle in module._params.items()}
    for name, child in module._children(remove_duplicate=False):
        for alias, handle in _alias_names(child, f"{prefix}{name}.").items():
            names.setdefault(alias, handle)
    return names


def check_and_assign(net: Module, state: Mapping[str, Any], strict: bool,
                     source: str) -> LoadResult:
    """Validates ``state`` against ``net`` completely, then assigns (see ``load``)."""
    if not isinstance(state, Mapping):
        raise WeightsFileError(f"Expected a mapping of names to arrays; received "
                               f"{type(state).__qualname__}.")
    expected = dict(_handles(net))  # one name per parameter, buffer or constant
    aliases = _alias_names(net)  # every name, also the second name of a shared module
    present = {id(aliases[k]) for k in state if k in aliases}
    missing = [k for k, handle in expected.items() if id(handle) not in present]
    unexpected = [k for k in state if k not in aliases]
    problems = []
    if strict:
        problems += [f"missing {k!r}" for k in missing]
        problems += [f"unexpected {k!r}" for k in unexpected]
    arrays: dict[int, tuple[Any, np.ndarray]] = {}
    for name in state:
        handle = aliases.get(name)
        if handle is None:
            continue
        try:
            array = _to_numpy(state[name])
        except BackendTypeError:
            problems.append(f"{name!r}: not an array ({type(state[name]).__qualname__})")
            continue
        if handle.materialized and tuple(array.shape) != handle.shape:
            problems.append(f"{name!r}: shape {tuple(array.shape)} in {source}, model has "
                            f"{handle.shape}")
        elif not _compatible(array.dtype, handle.dtype):
            problems.append(f"{name!r}: dtype {array.dtype} in {source}, model has "
                            f"{handle.dtype}")
        arrays.setdefault(id(handle), (handle, array))
    if problems:
        raise WeightsFileError(
            f"Cannot load {source!r} into {type(net).__name__} ({len(problems)} problem"
            f"{'s' if len(problems) > 1 else ''}; the model is unchanged):\n  - "
            + "\n  - ".join(problems))
    for handle, array in arrays.values():
        handle.assign(array)
    return LoadResult(missing, unexpected)


def _to_numpy(value: Any) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    return registry.adapter_of(value).to_numpy(value)


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
    arrays = registry.adapter(name).export_weights(source)
    if isinstance(arrays, Mapping):
        return check_and_assign(net, arrays, True, source=type(source).__name__)
    names = [n for n, _ in net.named_parameters()]
    if len(arrays) != len(names):
        raise WeightsFileError(f"Cannot load {type(source).__name__}: it has {len(arrays)} "
                               f"weights, {type(net).__name__} has {len(names)} parameters "
                               f"({names}).")
    return check_and_assign(net, dict(zip(names, arrays, strict=True)), True,
                            source=type(source).__name__)
