"""Writing a safetensors file atomically, streamed tensor by tensor.

One temporary file beside the target (through a symlink: beside the link's target),
written tensor by tensor from zero-copy views, fsync'ed, then renamed over the target
(``os.replace``): a crash or kill leaves the previous file intact, and the peak memory
is one tensor. A new file gets the mode the umask gives; a replaced file keeps its own.

The writer holds an exclusive ``flock`` on its temporary file while it writes. A
save killed with SIGKILL cannot remove its temporary file
(``.polymod-<pid>@<host>-*.tmp``); it is never read as weights, and the next save
into the same folder removes the temporary files nobody holds a lock on (a writer in
another process, or in another container sharing the volume, holds its lock: it is
left alone; so are files of other hosts, and empty ones younger than two seconds,
which may belong to a writer between creating and locking its file).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import stat
import struct
import tempfile
import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from ..errors import WeightsFileError
from .format import DTYPE_CODES, checked_path, os_error

try:
    import fcntl
except ImportError:  # Windows: no flock, so no orphan clean-up (temps are left alone)
    fcntl = None

ORPHAN = re.compile(r"^\.polymod-(\d+)@(.+)-[A-Za-z0-9_]+\.tmp$")
# An empty temp file this young may belong to a writer between creating and locking it.
MIN_EMPTY_AGE_S = 2.0


def host() -> str:
    """This machine's name, as temp files carry it."""
    return re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname()) or "host"


def header_bytes(entries: list[tuple[str, np.dtype, tuple[int, ...]]],
                 metadata: dict[str, str]) -> bytes:
    """The 8-byte length and the JSON header of tensors written in ``entries``' order."""
    header: dict[str, Any] = {"__metadata__": metadata}
    offset = 0
    for name, dtype, shape in entries:
        if name == "__metadata__":
            raise WeightsFileError("A tensor cannot be named '__metadata__' in a safetensors "
                                   "file (the format reserves that key); rename the "
                                   "attribute.")
        code = DTYPE_CODES.get(np.dtype(dtype).name)
        if code is None:
            raise WeightsFileError(f"Cannot write tensor {name!r} of dtype {dtype}: "
                                   f"safetensors has no such dtype.")
        nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
        header[name] = {"dtype": code, "shape": list(shape),
                        "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    return struct.pack("<Q", len(encoded)) + encoded


def write_file(path: str | os.PathLike, entries: list[tuple[str, np.dtype, tuple[int, ...]]],
               tensors: Iterable[Callable[[], np.ndarray]], metadata: dict[str, str]) -> None:
    """Writes a safetensors file atomically.

    Args:
        path: the target file.
        entries: ``(name, dtype, shape)`` of each tensor, in file order.
        tensors: for each entry, a function returning its array (called one at a time,
            so only one tensor is in memory).
        metadata: the header's ``__metadata__`` (strings to strings).

    Raises:
        WeightsFileError: a bad path or name; ``WeightsFileOSError`` (also an OSError)
            when the system refuses (no folder, permissions, disk full). Nothing is left
            behind then.
    """
    target = os.path.realpath(checked_path(path, "save to"))
    head = header_bytes(entries, metadata)
    folder = os.path.dirname(target)
    if not os.path.isdir(folder):
        raise WeightsFileError(f"Cannot save to {os.fspath(path)!r}: the folder {folder!r} "
                               f"does not exist. Create it first (os.makedirs).")
    if os.path.isdir(target):
        raise WeightsFileError(f"Cannot save to {os.fspath(path)!r}: it is a directory.")
    if os.path.exists(target) and not os.path.isfile(target):  # a device, a FIFO, a socket
        raise WeightsFileError(f"Cannot save to {os.fspath(path)!r}: it is not a regular "
                               f"file (a save replaces the file it writes).")
    remove_orphans(folder)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".polymod-{os.getpid()}@{host()}-", suffix=".tmp",
                                   dir=folder)
    except OSError as err:
        raise os_error(os.fspath(path), err, "save to") from None
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        if hasattr(os, "fchmod"):
            os.fchmod(fd, _mode_for(target))
        with os.fdopen(fd, "wb") as f:
            f.write(head)
            for make in tensors:  # one tensor in memory at a time
                f.write(np.ascontiguousarray(make()).reshape(-1).view(np.uint8).data)
            f.flush()
            os.fsync(f.fileno())
            os.replace(tmp, target)  # still locked: a cleaner never takes it for an orphan
    except BaseException as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(err, OSError) and not isinstance(err, WeightsFileError):
            raise os_error(os.fspath(path), err, "save to") from None
        raise


def _mode_for(target: str) -> int:
    """The mode of the file being replaced, or what the umask gives a new file."""
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def remove_orphans(folder: str) -> None:
    """Removes temp files of killed saves on this host: those nobody holds a lock on."""
    if fcntl is None:
        return
    try:
        names = os.listdir(folder)
    except OSError:
        return
    me, now = host(), time.time()
    for name in names:
        match = ORPHAN.match(name)
        if match is None or match[2] != me:
            continue
        path = os.path.join(folder, name)
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            info = os.fstat(fd)
            if info.st_size == 0 and now - info.st_mtime < MIN_EMPTY_AGE_S:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # a live writer holds it
            with contextlib.suppress(OSError):
                os.unlink(path)
        finally:
            os.close(fd)
