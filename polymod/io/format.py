"""The safetensors format, read with sanity limits: headers validated before any tensor
is read, tensors read with plain reads into fresh 64-byte aligned arrays (never a memory
map, never unpickled).

Limits: header length within the file and at most 100 MB, no duplicate keys, known
dtypes, at most 32 dimensions of at most 2**62 elements each, every tensor's bytes
inside the file and matching its shape, tensors tiling the data without gaps or
overlaps. So a hostile or truncated file is refused with a ``WeightsFileError`` naming
the file, before anything is allocated for it.
"""

from __future__ import annotations

import json
import math
import os
import stat
import struct
import sys

import numpy as np

from .. import aligned as _memory
from ..errors import WeightsFileError, WeightsFileOSError

#: NumPy dtype name -> safetensors code, for every dtype NumPy holds.
DTYPE_CODES = {"float64": "F64", "float32": "F32", "float16": "F16", "int64": "I64",
               "int32": "I32", "int16": "I16", "int8": "I8", "uint64": "U64", "uint32": "U32",
               "uint16": "U16", "uint8": "U8", "bool": "BOOL", "bfloat16": "BF16"}
NUMPY_DTYPES = {code: np.dtype(name) for name, code in DTYPE_CODES.items() if code != "BF16"}
try:  # BF16 through ml_dtypes' bfloat16 (installed with torch's extra, TensorFlow, JAX)
    import ml_dtypes
    NUMPY_DTYPES["BF16"] = np.dtype(ml_dtypes.bfloat16)
except ImportError:  # BF16 tensors are then refused by name ("NumPy cannot hold")
    pass
# every dtype safetensors knows, with its item size (those NumPy cannot hold included)
ITEMSIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1, "I64": 8,
            "I32": 4, "I16": 2, "I8": 1, "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1}
MAX_HEADER = 100_000_000  # bytes; safetensors' own limit
MAX_DIMS = 32  # NumPy's limit
MAX_DIM_SIZE = 2**62

Header = dict  # {name: (dtype code, shape, [begin, end])}


def file_error(path: str, why: str) -> WeightsFileError:
    """The error for a file that is not a valid safetensors file."""
    return WeightsFileError(f"Cannot read weights file {path!r}: {why}. Expected a "
                            f"safetensors file written by pm.save or safetensors.")


def os_error(path: str, err: OSError, doing: str = "read weights file") -> WeightsFileOSError:
    """The error for a file the operating system would not let us read or write."""
    error = WeightsFileOSError(f"Cannot {doing} {path!r}: {err.strerror or err}.")
    error.errno, error.strerror, error.filename = err.errno, err.strerror, path
    return error


def checked_path(path: str | bytes | os.PathLike, doing: str) -> str:
    """``path`` as a str, or a ``WeightsFileError`` naming it: not a path, empty, a NUL."""
    try:
        text = os.fsdecode(os.fspath(path))
    except TypeError:
        raise WeightsFileError(f"Cannot {doing}: expected a path (str or os.PathLike); "
                               f"received {type(path).__qualname__} {path!r}.") from None
    if not text or "\0" in text:
        raise WeightsFileError(f"Cannot {doing} {text!r}: "
                               f"{'the path is empty' if not text else 'the path holds a NUL byte'}.")
    return text


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
    path = checked_path(path, "read weights file")
    try:
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            raise file_error(path, "it is a directory")
        if not stat.S_ISREG(info.st_mode):
            raise file_error(path, "it is not a regular file")
        size = info.st_size
        if size < 8:
            raise file_error(path, f"the file has {size} bytes, fewer than the 8-byte "
                                    f"header length")
        with open(path, "rb") as f:
            (length,) = struct.unpack("<Q", f.read(8))
            if length > size - 8 or length > MAX_HEADER:
                raise file_error(path, f"the header claims {length} bytes, but the file "
                                        f"has {size - 8} after the length field (limit "
                                        f"{MAX_HEADER})")
            raw = f.read(length)
    except FileNotFoundError as err:
        raise os_error(path, err) from None
    except OSError as err:
        raise os_error(path, err) from None
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
        raise file_error(path, f"the header is not valid UTF-8 JSON ({err})") from None
    if repeated:
        raise file_error(path, f"the header repeats the keys {sorted(set(repeated))}")
    if not isinstance(header, dict):
        raise file_error(path, f"the header is a JSON {type(header).__name__}, not an object")
    data_size = size - 8 - length
    entries: dict[str, tuple[str, tuple[int, ...], list[int]]] = {}
    for name, entry in header.items():
        if name == "__metadata__":
            if not isinstance(entry, dict) or not all(
                    isinstance(v, str) for v in entry.values()):
                raise file_error(path, "__metadata__ must map strings to strings")
            continue
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise file_error(path, f"tensor {name!r} must have exactly dtype, shape and "
                                    f"data_offsets")
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if dtype not in ITEMSIZE:
            raise file_error(path, f"tensor {name!r} has unknown dtype {dtype!r}")
        if not isinstance(shape, list) or not all(type(n) is int and n >= 0 for n in shape):
            raise file_error(path, f"tensor {name!r} has shape {shape!r}; expected a list "
                                    f"of non-negative integers")
        if len(shape) > MAX_DIMS or any(n > MAX_DIM_SIZE for n in shape):
            raise file_error(path, f"tensor {name!r} has shape {shape!r}; at most "
                                    f"{MAX_DIMS} dimensions of at most 2**62 are supported")
        if math.prod(n for n in shape if n) * ITEMSIZE[dtype] > sys.maxsize:
            # NumPy checks the sizes without the zeros: [0, 2**62, 2**62] is "too big"
            raise file_error(path, f"tensor {name!r} has shape {shape!r}, whose sizes "
                                    f"multiply past what NumPy can address")
        if not (isinstance(offsets, list) and len(offsets) == 2
                and all(type(o) is int for o in offsets)
                and 0 <= offsets[0] <= offsets[1] <= data_size):
            raise file_error(path, f"tensor {name!r} has data_offsets {offsets!r}, outside "
                                    f"the file's {data_size} data bytes")
        nbytes = math.prod(shape) * ITEMSIZE[dtype]
        if offsets[1] - offsets[0] != nbytes:
            raise file_error(path, f"tensor {name!r} of shape {shape} and dtype {dtype} needs "
                                    f"{nbytes} bytes; its data_offsets {offsets} hold "
                                    f"{offsets[1] - offsets[0]}")
        entries[name] = (dtype, tuple(shape), offsets)
    # as the safetensors format requires: the tensors tile the data, no gap and no overlap
    # (else a small file could name the same bytes many times and make a reader allocate more)
    end = 0
    for name, (_, _, (begin, stop)) in sorted(entries.items(), key=lambda e: e[1][2]):
        if begin != end:
            raise file_error(path, f"tensor {name!r} starts at byte {begin} of the data; "
                                    f"the tensors before it end at {end} (tensors must not "
                                    f"overlap or leave gaps)")
        end = stop
    if end != data_size:
        raise file_error(path, f"the tensors cover {end} of the file's {data_size} data bytes")
    return entries


def read_tensors(path: str, header: dict, names: list[str]) -> dict[str, np.ndarray]:
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
                array = _memory.aligned_empty(shape, NUMPY_DTYPES[code])
                f.seek(8 + length + begin)
                if f.readinto(memoryview(array.reshape(-1).view(np.uint8))) != end - begin:
                    raise file_error(path, f"the file ended inside tensor {name!r} (it "
                                            f"changed while being read)")
                arrays[name] = array
    except OSError as err:
        raise os_error(path, err) from None
    return arrays


